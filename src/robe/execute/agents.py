"""The agents a wizard can run a task with (DESIGN.md §8): hermes, openai, command, echo.

Each adapter takes one ``Job`` and returns an ``AgentRun``: the answer as bytes (already cut
at the cap) and the outcome. None of them ever passes task text through a shell: the
``command`` template is filled in element by element, in one pass, so a title such as
``$(touch /tmp/pwned)`` or ``{prompt_file}`` arrives as those very characters.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Callable

from ..fleet.homes import KEY_NAME, read_env
from ..house import Claim, House
from .process import ProcessResult, run_process
from .usage import AGENT_FILE, HERMES, OPENAI, TaskCap, read_usage_file, spend

#: exit code meaning "rate-limited, run me later" (Hermes' convention, sysexits' EX_TEMPFAIL)
EXIT_RETRY = 75
COMPLETE, FAILED, RETRY, CANCELLED = "COMPLETE", "FAILED", "RETRY", "CANCELLED"
#: environment variables Hermes reads to override a home's api_server settings
_API_SERVER_ENV = ("API_SERVER_PORT", "API_SERVER_HOST", "API_SERVER_KEY", "API_SERVER_ENABLED")
_TEMPLATE_RE = re.compile(r"\{(prompt_file|task_id|title|wizard)\}")


@dataclass
class Job:
    """Everything an adapter needs to run one claim."""

    claim: Claim
    wizard: object  # robe.fleet.config.Wizard
    house: House
    prompt: str
    scratch: str
    timeout: float
    cap: int
    grace: float
    cancel: threading.Event
    on_start: Callable[[int], None] | None = None
    retries: int = 4
    backoff: float = 1.0


@dataclass
class AgentRun:
    status: str
    answer: bytes
    exit_code: int | None = None
    error: str | None = None
    dropped: int = 0
    #: stopped by the executor's shutdown: no result is written, the claim stays
    cancelled: bool = False
    extra: dict = field(default_factory=dict)


def build_prompt(claim: Claim, house: House) -> str:
    """The task as the person wrote it, plus its ID and where the answer goes."""
    answer = os.path.join(house.completed, claim.id + ".txt")
    return (f"{claim.prompt.rstrip()}\n\n"
            f"Task ID: {claim.id}\n"
            f"Reply with your complete answer to this task; robe saves your reply to {answer}.\n")


def _seconds(n: float) -> str:
    return f"{n:g}"


def _last_line(data: bytes, limit: int = 300) -> str:
    lines = [ln.strip() for ln in data.decode("utf-8", errors="replace").splitlines() if ln.strip()]
    text = lines[-1] if lines else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(data: bytes, limit: int = 300) -> str:
    for ln in data.decode("utf-8", errors="replace").splitlines():
        if ln.strip():
            ln = ln.strip()
            return ln if len(ln) <= limit else ln[: limit - 1] + "…"
    return ""


def agent_env(job: Job, *, hermes: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    if hermes:
        for k in _API_SERVER_ENV:  # the home's config.yaml and .env decide, not the caller's shell
            env.pop(k, None)
    env["HERMES_HOME"] = job.wizard.home
    env["ROBE_TASK_ID"] = job.claim.id
    env["ROBE_WIZARD"] = job.wizard.name
    env["ROBE_ATTEMPT"] = str(job.claim.attempt)
    return env


def _from_process(p: ProcessResult, job: Job, what: str) -> AgentRun:
    """The common reading of a finished agent process."""
    if p.start_error:
        return AgentRun(FAILED, b"", None, p.start_error)
    run = AgentRun(COMPLETE, p.stdout, p.exit_code, None, p.dropped, p.cancelled)
    if p.cancelled:
        run.status, run.error = FAILED, "stopped: the executor shut down"
    elif p.stopped:
        run.status, run.error = FAILED, p.stopped
    elif p.timed_out:
        run.status, run.error = FAILED, f"timed out after {_seconds(job.timeout)} s"
    elif p.exit_code == EXIT_RETRY:
        run.status, run.error = RETRY, f"{what} exited with code 75 (rate-limited): run it again later"
    elif p.exit_code != 0:
        why = _last_line(p.stderr) or _last_line(p.stdout)
        code = f"signal {-p.exit_code}" if p.exit_code is not None and p.exit_code < 0 else f"code {p.exit_code}"
        run.status, run.error = FAILED, f"{what} exited with {code}" + (f": {why}" if why else "")
    return run


# ---------------------------------------------------------------------------------------------
# command


def fill_template(argv: tuple[str, ...] | list[str], values: dict[str, str]) -> list[str]:
    """Each element with its placeholders replaced in one pass (a value is never re-read)."""
    return [_TEMPLATE_RE.sub(lambda m: values[m.group(1)], a) for a in argv]


def write_prompt_file(job: Job) -> str:
    path = os.path.join(job.scratch, "prompt.md")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(job.prompt)
    return path


def _tokens_per_task(job: Job) -> int | None:
    budget = getattr(job.wizard, "budget", None)
    return getattr(budget, "tokens_per_task", None)


def run_command(job: Job) -> AgentRun:
    """The agent may report its usage in ``$ROBE_USAGE_FILE`` (docs/contracts.md); with the
    wizard's ``tokens_per_task``, it is stopped once that file reports more."""
    argv = job.wizard.agent.argv
    if not argv:
        return AgentRun(FAILED, b"", None, f"wizard {job.wizard.name} has agent kind 'command' but no argv; "
                                           "add agent.argv to fleet.yaml")
    values = {"task_id": job.claim.id, "title": job.claim.title, "wizard": job.wizard.name, "prompt_file": ""}
    if any("{prompt_file}" in a for a in argv):
        values["prompt_file"] = write_prompt_file(job)
    cmd = fill_template(argv, values)
    usage_path = os.path.join(job.scratch, "usage.json")
    env = agent_env(job)
    env["ROBE_USAGE_FILE"] = usage_path
    cap = _tokens_per_task(job)
    watch = TaskCap(usage_path, cap, job.wizard.name).check if cap else None
    p = run_process(cmd, env=env, cwd=job.scratch, timeout=job.timeout, cap=job.cap,
                    grace=job.grace, cancel=job.cancel, on_start=job.on_start, watch=watch)
    run = _from_process(p, job, f"the agent {os.path.basename(cmd[0])!r}")
    usage = read_usage_file(usage_path)
    if usage is not None:
        run.extra["spend"] = spend(usage, AGENT_FILE, cap)
    return run


# ---------------------------------------------------------------------------------------------
# hermes


def hermes_command() -> str:
    """$ROBE_HERMES, else ``hermes`` on PATH (Hermes lives in a virtualenv of its own)."""
    return os.environ.get("ROBE_HERMES") or shutil.which("hermes") or "hermes"


def run_hermes(job: Job) -> AgentRun:
    usage_path = os.path.join(job.scratch, "usage.json")
    argv = [hermes_command(), "-z", job.prompt, "--usage-file", usage_path]
    p = run_process(argv, env=agent_env(job, hermes=True), cwd=job.scratch, timeout=job.timeout, cap=job.cap,
                    grace=job.grace, cancel=job.cancel, on_start=job.on_start)
    run = _from_process(p, job, "hermes")
    # Hermes writes its usage file even when the turn failed: what it spent counts either way.
    usage = read_usage_file(usage_path)
    if usage is not None:
        run.extra["usage"] = {k: usage.get(k) for k in ("model", "provider", "api_calls", "input_tokens",
                                                         "output_tokens", "total_tokens", "estimated_cost_usd",
                                                         "cost_status")}
        run.extra["spend"] = spend(usage, HERMES, _tokens_per_task(job))
    if run.status != COMPLETE:
        return run
    # Exit 0 is not enough: Hermes 0.19 prints its error as the "answer" and exits 0 when
    # its model cannot be reached. Its usage file says whether the turn really completed.
    if usage is None:
        run.status = FAILED
        run.error = "hermes wrote no usage file, so robe cannot tell whether the task was done"
        return run
    if usage.get("failed") or not usage.get("completed"):
        reason = usage.get("failure") or _first_line(p.stdout) or _last_line(p.stderr)
        word = "failed" if usage.get("failed") else "did not complete the task"
        run.status = FAILED
        run.error = f"hermes {word}" + (f": {reason}" if reason else "")
    return run


# ---------------------------------------------------------------------------------------------
# openai


def _own_gateway(base_url: str, port: int) -> bool:
    u = urllib.parse.urlsplit(base_url)
    return u.hostname in ("127.0.0.1", "localhost", "::1") and u.port == port


def _api_key(job: Job) -> tuple[str | None, str | None]:
    """(key, error). The env var the config names; for the wizard's own Hermes gateway, its .env."""
    a = job.wizard.agent
    if a.api_key_env:
        key = os.environ.get(a.api_key_env)
        if key:
            return key, None
    if a.base_url and _own_gateway(a.base_url, job.wizard.port):
        key = read_env(job.wizard.env_file).get(KEY_NAME)
        if key:
            return key, None
    if a.api_key_env:
        return None, (f"the environment variable {a.api_key_env} (agent.api_key_env of wizard "
                      f"{job.wizard.name}) is not set; export it for the executor")
    return None, None


def _soul(job: Job) -> str | None:
    try:
        with open(job.wizard.soul_file, encoding="utf-8", errors="replace") as f:
            text = f.read(256 * 1024).strip()
        return text or None
    except OSError:
        return None


def _retry_after(headers, fallback: float) -> float:
    v = headers.get("Retry-After") if headers is not None else None
    try:
        return min(max(float(v), 0.0), 60.0) if v is not None else fallback
    except ValueError:
        return fallback


def run_openai(job: Job) -> AgentRun:
    a = job.wizard.agent
    if not a.base_url:
        return AgentRun(FAILED, b"", None, f"wizard {job.wizard.name} has agent kind 'openai' but no base_url; "
                                           "add agent.base_url to fleet.yaml")
    key, err = _api_key(job)
    if err:
        return AgentRun(FAILED, b"", None, err)
    messages = []
    soul = _soul(job)
    if soul:
        messages.append({"role": "system", "content": soul})
    messages.append({"role": "user", "content": job.prompt})
    body = json.dumps({"model": a.model or "default", "messages": messages, "stream": False}).encode("utf-8")
    url = a.base_url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "robe-executor"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    deadline = time.monotonic() + job.timeout
    delay = job.backoff
    tries = 0
    last = "no request was made"
    rate_limited = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return AgentRun(FAILED, b"", None, f"timed out after {_seconds(job.timeout)} s ({last})")
        if job.cancel.is_set():
            return AgentRun(FAILED, b"", None, "stopped: the executor shut down", cancelled=True)
        tries += 1
        wait = delay
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=max(left, 0.01)) as resp:
                data = resp.read(16 * 1024 * 1024)
            status = 200
        except urllib.error.HTTPError as e:
            status = e.code
            detail = _first_line(e.read(2000) or b"")
            e.close()
            last = f"HTTP {status} from {url}" + (f": {detail}" if detail else "")
            if status == 429 or status >= 500:
                rate_limited = status == 429
                wait = _retry_after(e.headers, delay)
            else:
                hint = " (check the key)" if status in (401, 403) else ""
                return AgentRun(FAILED, b"", None, last + hint, extra={"http_status": status})
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            reason = getattr(e, "reason", None) or e
            last = f"cannot reach {url}: {reason}"
            rate_limited = False
            status = None
        if status == 200:
            try:
                reply = json.loads(data)
                content = reply["choices"][0]["message"]["content"]
                if not isinstance(content, str):
                    raise TypeError
            except (ValueError, KeyError, IndexError, TypeError):
                return AgentRun(FAILED, data[: job.cap], None, f"{url} answered HTTP 200 without a message",
                                extra={"http_status": 200})
            answer = content.encode("utf-8")
            run = AgentRun(COMPLETE, answer[: job.cap], None, None, max(len(answer) - job.cap, 0),
                           extra={"http_status": 200})
            if isinstance(reply.get("usage"), dict):
                run.extra["usage"] = reply["usage"]
                run.extra["spend"] = spend(reply["usage"], OPENAI, _tokens_per_task(job))
            return run
        if tries > job.retries:
            if rate_limited:
                return AgentRun(RETRY, b"", None, f"{last}; still rate-limited after {tries} tries: run it again later",
                                extra={"http_status": 429})
            return AgentRun(FAILED, b"", None, f"{last} (gave up after {tries} tries)",
                            extra={"http_status": status})
        # Back off, but never past the deadline, and wake at once on shutdown.
        if job.cancel.wait(min(wait, max(deadline - time.monotonic(), 0))):
            return AgentRun(FAILED, b"", None, "stopped: the executor shut down", cancelled=True)
        delay = min(delay * 2, 30.0)


# ---------------------------------------------------------------------------------------------
# echo


def run_echo(job: Job) -> AgentRun:
    """Built in and deterministic: the answer repeats the ID, the title and the prompt."""
    text = (f"{job.claim.id}: {job.claim.title}\n\n"
            f"echo agent of wizard {job.wizard.name}, attempt {job.claim.attempt}. The prompt was:\n\n"
            f"{job.prompt}")
    answer = text.encode("utf-8")
    return AgentRun(COMPLETE, answer[: job.cap], 0, None, max(len(answer) - job.cap, 0))


ADAPTERS: dict[str, Callable[[Job], AgentRun]] = {
    "hermes": run_hermes,
    "openai": run_openai,
    "command": run_command,
    "echo": run_echo,
}
