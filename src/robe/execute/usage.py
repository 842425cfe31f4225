"""What an agent says one attempt spent: tokens in and out, and the cost where it reports one.

Three reports are read into one shape, the result's ``spend`` (docs/contracts.md):

- Hermes' usage file (``hermes -z --usage-file F``): ``input_tokens``, ``output_tokens``,
  ``total_tokens``, ``estimated_cost_usd`` with ``cost_status`` ("unknown" when Hermes has no
  price for the model: then robe records no cost rather than a false 0);
- the ``usage`` of an OpenAI-compatible chat completion: ``prompt_tokens``,
  ``completion_tokens``, ``total_tokens``, and ``cost`` where the server reports one (OpenRouter);
- the usage file a ``command`` agent may write to ``$ROBE_USAGE_FILE``, in either shape, as often
  as it likes: robe reads it when the agent is done and, for a wizard with ``tokens_per_task``,
  every half second while it runs, and stops the agent once it reports more.

A value the agent did not report stays None: robe never guesses tokens or prices. The agent's
wall-clock seconds are added by the executor for every attempt.
"""

from __future__ import annotations

import json
import os

#: how a usage file may be read (a runaway agent's file is not read whole)
MAX_USAGE_BYTES = 1024 * 1024
#: who reported the tokens, as the result's ``spend.reported_by`` says it
HERMES, OPENAI, AGENT_FILE = "hermes usage file", "openai usage", "agent usage file"


def _count(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
        return None
    return int(value)


def _money(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
        return None
    return float(value)


def tokens_and_cost(usage) -> dict:
    """``{input_tokens, output_tokens, total_tokens, cost_usd}`` from any of the three reports."""
    u = usage if isinstance(usage, dict) else {}
    tin = _count(u.get("input_tokens"))
    tin = _count(u.get("prompt_tokens")) if tin is None else tin
    tout = _count(u.get("output_tokens"))
    tout = _count(u.get("completion_tokens")) if tout is None else tout
    total = _count(u.get("total_tokens"))
    if total is None and (tin is not None or tout is not None):
        total = (tin or 0) + (tout or 0)
    cost = None
    if u.get("cost_status") != "unknown":
        for key in ("cost_usd", "estimated_cost_usd", "cost"):
            cost = _money(u.get(key))
            if cost is not None:
                break
    return {"input_tokens": tin, "output_tokens": tout, "total_tokens": total, "cost_usd": cost}


def spend(usage, reported_by: str | None, tokens_per_task: int | None = None) -> dict:
    """The attempt's spend as the agent reported it (the executor adds ``seconds``). With the
    wizard's ``tokens_per_task``, an attempt that reported more is marked ``over_task_budget``."""
    out = tokens_and_cost(usage)
    out["reported_by"] = reported_by if any(v is not None for v in out.values()) else None
    if tokens_per_task and out["total_tokens"] is not None and out["total_tokens"] > tokens_per_task:
        out["over_task_budget"] = True
    return out


def with_seconds(reported: dict | None, seconds: float) -> dict:
    """The result's ``spend``: what the agent reported (or nothing) and its seconds, always."""
    out = dict(reported) if isinstance(reported, dict) else spend(None, None)
    out["seconds"] = seconds
    return out


def read_usage_file(path: str) -> dict | None:
    """A usage file as a dict; None when it is missing, too large or not a JSON object."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        data = os.read(fd, MAX_USAGE_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > MAX_USAGE_BYTES:
        return None
    try:
        value = json.loads(data.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class TaskCap:
    """Watches a running agent's usage file against ``tokens_per_task``: ``check()`` gives the
    reason to stop it (one sentence) once the file reports more, else None."""

    def __init__(self, path: str, limit: int, wizard: str):
        self.path, self.limit, self.wizard = path, limit, wizard
        self._seen: float | None = None

    def check(self) -> str | None:
        try:
            m = os.stat(self.path).st_mtime_ns
        except OSError:
            return None
        if m == self._seen:
            return None
        self._seen = m
        total = tokens_and_cost(read_usage_file(self.path))["total_tokens"]
        if total is not None and total > self.limit:
            return (f"stopped: the agent reported {total:,} tokens, over the tokens_per_task budget of "
                    f"{self.limit:,} for wizard {self.wizard}; raise it in fleet.yaml to let such a task finish")
        return None
