"""The body: the watchdog executor and the agent adapters (hermes, openai, command, echo).

``Executor`` watches each wizard's work/ and turns every claim into a result in completed/;
``robe execute`` is a thin skin over it. See docs/contracts.md for the files.
"""

from .agents import ADAPTERS, COMPLETE, EXIT_RETRY, FAILED, RETRY, AgentRun, Job, build_prompt, fill_template
from .loop import Executor, Options, install_signal_handlers
from .process import ProcessResult, run_process

__all__ = [
    "ADAPTERS", "COMPLETE", "EXIT_RETRY", "FAILED", "RETRY", "AgentRun", "Job", "build_prompt", "fill_template",
    "Executor", "Options", "install_signal_handlers", "ProcessResult", "run_process",
]
