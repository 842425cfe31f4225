"""A wizard's house: the files the parts of robe share, read and written here and nowhere else.

docs/contracts.md fixes their content. The dispatcher makes claims (``work/<ID>.active``), the
executor runs them under a per-claim lock (``work/<ID>.lock``), keeps a heartbeat
(``work/<ID>.heartbeat``) and writes the result (``completed/<ID>.txt`` then ``.json``) and its
own liveness (``logs/executor.json``); the monitor folds results and moves claims and results
into ``work/archive/`` and ``completed/archive/``. ``logs/dispatch.lock`` says who works on the
wizard's claims right now.

Every path here is built from a task ID that passed ``is_valid_id``, inside folders that are
checked to lie inside the house: nothing a claim says or an agent prints can make robe read
or write another task's files, or files outside the house.
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import json
import os
import re
import signal
import stat
import threading
import time
from typing import NamedTuple

from .clock import now, parse_stamp, stamp
from .errors import RobeError
from .plumbing import (
    UnsafePath,
    atomic_write,
    fsync_dir,
    host,
    inside,
    json_bytes,
    listdir,
    mtime,
    pid_alive,
    private_dir,
    process_start_ticks,
    read_json,
    read_regular,
    take_lock,
    write_all,
)
from .queue import Status, Task, is_valid_id
from .queue.asks import ask_of

#: the answer is cut here unless the executor is told otherwise
DEFAULT_OUTPUT_CAP = 1024 * 1024
#: a claim file larger than this is not one the dispatcher wrote
MAX_CLAIM_BYTES = 4 * 1024 * 1024
#: an executor whose logs/executor.json is older than this is taken for dead
EXECUTOR_STALE_S = 30.0
#: a bare completed/<ID>.txt (an external agent's answer) counts once it is this old
BARE_GRACE_S = 5.0
COMPLETE, FAILED, RETRY, CANCELLED = "COMPLETE", "FAILED", "RETRY", "CANCELLED"
_ARCHIVED_CLAIM_RE = re.compile(r"\A([A-Z][A-Z0-9]*-[0-9]+)\.([0-9]{1,9})\.active\Z")
#: an outcome in completed/ (``<ID>.json``) or in its archive (``<ID>.<attempt>.json``, or
#: ``<ID>.<attempt>.<n>.json`` when that name was taken)
_OUTCOME_RE = re.compile(r"\A([A-Z][A-Z0-9]*-[0-9]+)(?:\.([0-9]{1,9})(?:\.[0-9]{1,9})?)?\.json\Z")


class HouseError(RobeError):
    """A house that robe must not use as it is (a folder that leads outside it)."""


class ClaimError(RobeError):
    """A claim file that cannot be run as it is (its reason goes into a FAILED result)."""


class Claim(NamedTuple):
    """A claim as the executor runs it."""

    id: str
    title: str
    prompt: str
    wizard: str
    attempt: int
    lease_s: int | None = None
    priority: str | None = None
    raw: dict = {}  # the claim as written (never changed)


class Result(NamedTuple):
    """A result in completed/: its status (COMPLETE, FAILED, RETRY or CANCELLED), the reason, the
    attempt its outcome names (None for a bare .txt) and the whole outcome."""

    status: str
    error: str
    attempt: int | None
    outcome: dict = {}  # the outcome as written (never changed)


class Executor(NamedTuple):
    """Whether the house's executor is alive, its pid and a sentence saying why."""

    alive: bool
    pid: int | None
    detail: str

    def to_dict(self) -> dict:
        return {"alive": self.alive, "pid": self.pid, "detail": self.detail}


class ActiveClaim(NamedTuple):
    """A claim in work/ as ``robe status`` and the report show it."""

    task: str
    age_s: float
    attempt: int | None

    def to_dict(self) -> dict:
        return {"task": self.task, "age_s": round(self.age_s, 1), "attempt": self.attempt}


def positive_int(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def new_claim(task: Task, *, wizard: str, attempt: int, lease_s: int, queue: str) -> dict:
    """The content of a claim on ``task`` (docs/contracts.md)."""
    record = {"id": task.id, "title": task.title, "priority": task.priority, "body": task.body, "prompt": task.prompt,
              "wizard": wizard, "attempt": attempt, "claimed_at": stamp(), "claimed_by": f"{host()}:{os.getpid()}",
              "lease_s": lease_s, "queue": os.path.realpath(queue)}
    ask = ask_of(task)
    if ask is not None:  # a question from another wizard: the executor runs it beside the others
        record["ask"] = {"asked_by": ask.asked_by, "chain": list(ask.chain), "task": ask.task}
    return record


class House:
    """One wizard's house folder and the files in it."""

    def __init__(self, root: str, wizard: str = ""):
        self.root = os.path.realpath(root)
        self.wizard = wizard or os.path.basename(self.root)
        self.work = os.path.join(self.root, "work")
        self.completed = os.path.join(self.root, "completed")
        self.logs = os.path.join(self.root, "logs")
        self.scratch = os.path.join(self.root, "scratch")
        self.work_archive = os.path.join(self.work, "archive")
        self.completed_archive = os.path.join(self.completed, "archive")
        self.events = os.path.join(self.logs, "events.jsonl")
        self.executor_file = os.path.join(self.logs, "executor.json")
        self.dispatch_lock_file = os.path.join(self.logs, "dispatch.lock")

    def __repr__(self) -> str:
        return f"House({self.root!r}, wizard={self.wizard!r})"

    # -- the folders
    def ensure(self) -> None:
        """Create the folders robe writes in (0700) and refuse any that leads outside the house
        (a symlinked work/ or completed/ could point robe's writes anywhere)."""
        if not os.path.isdir(self.root):
            raise HouseError(f"the house of wizard {self.wizard} ({self.root}) does not exist; "
                             f"create it with 'robe wizard create {self.wizard}'")
        for d in (self.work, self.completed, self.logs, self.scratch):
            try:
                os.mkdir(d, 0o700)
            except FileExistsError:
                pass
        self.check()

    def check(self) -> None:
        """HouseError when a folder robe writes in (or the event log) is a link or leads outside
        the house: a symlinked work/ or completed/ could point robe's writes anywhere."""
        # The root is a real path and each folder is looked at after its parent, so a folder
        # that is no link is inside the house: one lstat each.
        for d in (self.work, self.completed, self.logs, self.scratch, self.work_archive, self.completed_archive):
            try:
                link = stat.S_ISLNK(os.lstat(d).st_mode)
            except FileNotFoundError:
                continue
            if link:
                raise HouseError(f"{d} is a link (or leads outside the house of wizard {self.wizard}); "
                                 "make it a plain folder inside the house")
        if os.path.islink(self.events):
            raise HouseError(f"{self.events} is a link; robe appends its event log only to a plain file there")

    def path(self, folder: str, task_id: str, suffix: str) -> str:
        """``folder/<ID><suffix>`` for a validated ID (UnsafePath otherwise)."""
        if not is_valid_id(task_id):
            raise UnsafePath(f"{task_id!r} is not a task ID (IDs look like TASK-001); it never becomes a file name")
        return os.path.join(folder, task_id + suffix)

    def claim_path(self, task_id: str) -> str:
        return self.path(self.work, task_id, ".active")

    def lock_path(self, task_id: str) -> str:
        return self.path(self.work, task_id, ".lock")

    def heartbeat_path(self, task_id: str) -> str:
        return self.path(self.work, task_id, ".heartbeat")

    def answer_path(self, task_id: str) -> str:
        return self.path(self.completed, task_id, ".txt")

    def outcome_path(self, task_id: str) -> str:
        return self.path(self.completed, task_id, ".json")

    def scratch_dir(self, task_id: str) -> str:
        return self.path(self.scratch, task_id, "")

    # -- claims
    def claim_ids(self) -> list[str]:
        """IDs of the claims in work/, sorted."""
        return sorted(n[:-7] for n in listdir(self.work)
                      if n.endswith(".active") and not n.startswith(".") and is_valid_id(n[:-7]))

    def create_claim(self, record: dict, sync_folder: bool = True) -> bool:
        """Create ``work/<ID>.active`` holding ``record``, atomically with its content (a temp
        file linked to the claim's name); False if a claim already exists. ``sync_folder=False``:
        the caller fsyncs work/ itself, once for several claims."""
        target = self.claim_path(record["id"])
        private_dir(self.work)
        tmp = inside(self.work, f".{record['id']}.active.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            write_all(fd, json_bytes(record))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        if sync_folder:
            fsync_dir(self.work)
        return True

    def remove_claim(self, task_id: str) -> None:
        try:
            os.unlink(self.claim_path(task_id))
        except FileNotFoundError:
            pass
        fsync_dir(self.work)

    def claim_record(self, task_id: str) -> dict | None:
        """A claim's content as written, or None when it is missing or unreadable (a
        hand-made trigger, as the seed's ``touch``)."""
        return read_json(self.claim_path(task_id), MAX_CLAIM_BYTES)

    def read_claim(self, task_id: str) -> Claim:
        """The claim to run; ClaimError says why it cannot be run; FileNotFoundError if gone."""
        path = self.claim_path(task_id)
        try:
            data = read_regular(path, MAX_CLAIM_BYTES)
        except OSError as e:
            if e.errno == errno.ENOENT:
                raise
            raise ClaimError(f"the claim {path} is not a regular file") from None
        if len(data) > MAX_CLAIM_BYTES:
            raise ClaimError(f"the claim {path} is larger than 4 MiB")
        raw = read_json_bytes(data)
        if raw is None:
            raise ClaimError(f"the claim {path} is not the JSON robe's dispatcher writes (an empty trigger from a "
                             "hand-made script?); dispatch the task with 'robe dispatch'")
        if raw.get("id") != task_id:
            # A claim must not be able to name another task: its result would land there.
            raise ClaimError(f"the claim {path} names task {raw.get('id')!r}, not {task_id}")
        if raw.get("wizard") not in (None, self.wizard):
            raise ClaimError(f"the claim {path} is for wizard {raw.get('wizard')!r}, not {self.wizard}")
        title = raw.get("title") if isinstance(raw.get("title"), str) else ""
        prompt = raw.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            body = raw.get("body") if isinstance(raw.get("body"), str) else ""
            prompt = f"{task_id}: {title}\n\n{body}".rstrip() + "\n"
        lease = raw.get("lease_s")
        return Claim(task_id, title, prompt, self.wizard, positive_int(raw.get("attempt"), 1),
                     lease if isinstance(lease, int) and not isinstance(lease, bool) else None,
                     raw.get("priority") if isinstance(raw.get("priority"), str) else None, raw)

    def claim_attempt(self, task_id: str) -> int:
        """The attempt a claim names (1 when it cannot be read)."""
        return positive_int((self.claim_record(task_id) or {}).get("attempt"), 1)

    def pending_ids(self) -> list[str]:
        """IDs of the claims in work/ without a result, oldest first (what an executor runs)."""
        found = []
        for task_id in self.claim_ids():
            if self.has_result(task_id):
                continue
            m = mtime(self.claim_path(task_id))
            if m is not None:
                found.append((m, task_id))
        return [t for _, t in sorted(found)]

    def sweep_claim_temps(self, older_than: float = 60.0) -> None:
        """Remove claim temp files left by a dispatcher killed mid-claim (never a real claim)."""
        cutoff = time.time() - older_than
        for n in listdir(self.work):
            if n.startswith(".") and ".active." in n and n.endswith(".tmp"):
                try:
                    p = inside(self.work, n)
                    if os.lstat(p).st_mtime < cutoff:
                        os.unlink(p)
                except (OSError, UnsafePath):
                    pass

    def archived_attempts(self) -> dict[str, int]:
        """The highest archived claim attempt per task (the next attempt is this + 1)."""
        out: dict[str, int] = {}
        for n in listdir(self.work_archive):
            m = _ARCHIVED_CLAIM_RE.match(n)
            if m and int(m.group(2)) > out.get(m.group(1), 0):
                out[m.group(1)] = int(m.group(2))
        return out

    def claim_archived(self, task_id: str, attempt: int) -> bool:
        return os.path.lexists(os.path.join(self.work_archive, f"{task_id}.{attempt}.active"))

    # -- liveness of claims and of the executor
    def last_sign(self, task_id: str) -> float | None:
        """When the claim last showed life: its heartbeat's or its own mtime, the later."""
        signs = [m for m in (mtime(self.heartbeat_path(task_id)), mtime(self.claim_path(task_id))) if m is not None]
        return max(signs) if signs else None

    def claim_live(self, task_id: str, lease_s: int, executor_alive: bool, at: float | None = None) -> bool:
        """A claim is live while its executor lives. Else its heartbeat decides: written on this
        host, it is live while the executor it names still runs (the same process: pid and start
        time), whatever the timestamps say (a clock stepped back dates a heartbeat
        in the future); otherwise while its last sign of life is younger than its lease."""
        if executor_alive:
            return True
        beat = read_json(self.heartbeat_path(task_id), 64 * 1024)
        if beat is not None and beat.get("host") == host() and isinstance(beat.get("start"), int):
            return _same_process(beat.get("pid"), beat.get("start"))  # (an agent it left behind is no life)
        sign = self.last_sign(task_id)
        now = time.time() if at is None else at
        return sign is not None and 0 <= now - sign <= lease_s

    def executor(self, *, at: _dt.datetime | None = None, stale_after: float = EXECUTOR_STALE_S) -> Executor:
        """Alive = written on this host, its pid alive, and a heartbeat younger than ``stale_after``."""
        if not os.path.lexists(self.executor_file):
            return Executor(False, None, "no executor has run")
        d = read_json(self.executor_file)
        if d is None:
            return Executor(False, None, f"{self.executor_file} is unreadable")
        pid = d.get("pid") if isinstance(d.get("pid"), int) else None
        if d.get("host") and d.get("host") != host():
            return Executor(False, pid, f"last seen on host {d.get('host')}, not this one")
        if pid is None or not pid_alive(pid):
            return Executor(False, pid, f"pid {pid} is gone" if pid else "no pid recorded")
        beat = parse_stamp(d.get("heartbeat_at"))
        if beat is None:
            return Executor(False, pid, "no heartbeat recorded")
        age = ((at or now()) - beat).total_seconds()
        if age > stale_after:
            return Executor(False, pid, f"pid {pid} last beat {age:.0f} s ago")
        return Executor(True, pid, f"pid {pid}, beat {max(age, 0):.0f} s ago")

    def write_executor(self, data: dict) -> None:
        atomic_write(self.executor_file, json_bytes(data), sync=False)

    def clear_executor(self, pid: int) -> None:
        """Remove logs/executor.json if the executor ``pid`` wrote it."""
        d = read_json(self.executor_file)
        if d is not None and d.get("pid") == pid:
            try:
                os.unlink(self.executor_file)
            except FileNotFoundError:
                pass

    def active_claims(self, *, at: _dt.datetime | None = None) -> list[ActiveClaim]:
        """Every claim in work/ with its age (from ``claimed_at``, else the file's mtime)."""
        moment = at or now()
        out = []
        for tid in self.claim_ids():
            rec = self.claim_record(tid) or {}
            claimed = parse_stamp(rec.get("claimed_at"))
            if claimed is None:
                m = mtime(self.claim_path(tid))
                if m is None:
                    continue
                claimed = _dt.datetime.fromtimestamp(m, _dt.timezone.utc)
            attempt = rec.get("attempt") if isinstance(rec.get("attempt"), int) else None
            out.append(ActiveClaim(tid, (moment - claimed).total_seconds(), attempt))
        return out

    def kill_leftover_agent(self, task_id: str) -> int | None:
        """Kill the process group of an agent that an earlier executor on this host started for
        this claim and left running when it died; its pid, if one was killed. Only when the
        heartbeat names this host and the pid still has the recorded start time: a pid reused
        by an unrelated process is never signalled."""
        old = read_json(self.heartbeat_path(task_id), 64 * 1024)
        if old is None or old.get("host") != host():
            return None
        pid, start = old.get("agent_pid"), old.get("agent_start")
        if not isinstance(pid, int) or pid <= 1 or not isinstance(start, int) or process_start_ticks(pid) != start:
            return None
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return None
        return pid

    # -- results
    def has_result(self, task_id: str) -> bool:
        """A .json (the executor's) or a bare .txt (an external agent's, as in the seed)."""
        return os.path.lexists(self.outcome_path(task_id)) or os.path.lexists(self.answer_path(task_id))

    def result_ids(self) -> list[str]:
        """IDs with a ``.txt`` or ``.json`` in completed/, sorted."""
        ids = set()
        for n in listdir(self.completed):
            stem, dot, ext = n.rpartition(".")
            if dot and ext in ("txt", "json") and is_valid_id(stem):
                ids.add(stem)
        return sorted(ids)

    def write_result(self, task_id: str, answer: bytes, outcome: dict) -> None:
        """completed/<ID>.txt, then completed/<ID>.json: a .json means both are whole."""
        atomic_write(self.answer_path(task_id), answer)
        atomic_write(self.outcome_path(task_id), json_bytes(outcome))

    def read_result(self, task_id: str, *, at: float | None = None, bare_grace: float = BARE_GRACE_S) -> Result | None:
        """The result of ``task_id``; None when there is none, or only a bare .txt younger than
        ``bare_grace`` (it may still be being written)."""
        if os.path.lexists(self.outcome_path(task_id)):
            meta = read_json(self.outcome_path(task_id))
            if meta is None:
                return Result(FAILED, f"completed/{task_id}.json is not the JSON object robe's executor writes", None)
            status = str(meta.get("status") or "").upper()
            attempt = positive_int(meta.get("attempt"), 0) or None
            error = meta.get("error") if isinstance(meta.get("error"), str) else ""
            if status in (COMPLETE, RETRY, CANCELLED):
                return Result(status, error, attempt, meta)
            if status != FAILED:
                error = f"the result says status {meta.get('status')!r}" + (f": {error}" if error else "")
            return Result(FAILED, error or f"exit code {meta.get('exit_code')}", attempt, meta)
        m = mtime(self.answer_path(task_id))
        if m is None or (time.time() if at is None else at) - m < bare_grace:
            return None
        return Result(COMPLETE, "", None)

    def archived_result_attempts(self, task_id: str, exts=("txt", "json")) -> list[int]:
        """The attempts whose result is in completed/archive/ (``<ID>.<attempt>.txt`` or ``.json``;
        ``exts`` says which), sorted."""
        self.path(self.completed_archive, task_id, "")  # UnsafePath for a bad ID, as everywhere here
        found = {int(n.split(".")[1]) for n in listdir(self.completed_archive)
                 if n.startswith(task_id + ".") and n.count(".") == 2 and n.split(".")[1].isdigit()
                 and n.rsplit(".", 1)[1] in exts}
        return sorted(found)

    def archived_result(self, task_id: str, attempt: int) -> Result | None:
        """The result of an earlier ``attempt`` as archived (``completed/archive/<ID>.<attempt>.*``)."""
        meta = read_json(self.path(self.completed_archive, task_id, f".{attempt}.json"))
        if meta is not None:
            status = str(meta.get("status") or "").upper()
            return Result(status if status in (COMPLETE, RETRY, CANCELLED) else FAILED,
                          meta.get("error") if isinstance(meta.get("error"), str) else "", attempt, meta)
        if os.path.lexists(self.path(self.completed_archive, task_id, f".{attempt}.txt")):
            return Result(COMPLETE, "", attempt)
        return None

    def result_attempt(self, task_id: str, fallback: int) -> int:
        """The attempt a result's outcome names, else ``fallback``."""
        return positive_int((read_json(self.outcome_path(task_id)) or {}).get("attempt"), fallback)

    def read_answer(self, task_id: str, attempt: int | None = None, limit: int = DEFAULT_OUTPUT_CAP * 2) -> str | None:
        """The answer of the current result, or of an archived ``attempt``; None if there is none."""
        path = (self.answer_path(task_id) if attempt is None
                else self.path(self.completed_archive, task_id, f".{attempt}.txt"))
        try:
            return read_regular(path, limit)[:limit].decode("utf-8", errors="replace")
        except OSError:
            return None

    def latest_answer(self, task_id: str) -> tuple[int | None, str, dict | None] | None:
        """The newest answer to a task: the current result's, else its highest archived attempt's,
        as (attempt, text, outcome); None when it has none."""
        text = self.read_answer(task_id)
        if text is not None:
            meta = read_json(self.outcome_path(task_id))
            return positive_int((meta or {}).get("attempt"), 0) or None, text, meta
        attempts = self.archived_result_attempts(task_id, ("txt",))
        if not attempts:
            return None
        best = max(attempts)
        meta = read_json(self.path(self.completed_archive, task_id, f".{best}.json"))
        return best, self.read_answer(task_id, best) or "", meta

    def retried_attempts(self) -> dict[str, set[int]]:
        """Per task, the archived attempts that count no failure: RETRY (exit 75) and CANCELLED."""
        out: dict[str, set[int]] = {}
        for n in listdir(self.completed_archive):
            parts = n.split(".")
            if len(parts) == 3 and parts[2] == "json" and parts[1].isdigit() and is_valid_id(parts[0]):
                meta = read_json(os.path.join(self.completed_archive, n))
                if meta and str(meta.get("status")).upper() in (RETRY, CANCELLED):
                    out.setdefault(parts[0], set()).add(int(parts[1]))
        return out

    def outcomes(self, *, since: float | None = None, task_id: str | None = None) -> list[dict]:
        """Every outcome the executor wrote here, current and archived (what spend is counted
        from), each with ``id``. ``since`` (epoch seconds): only files written at or after it; an
        outcome is written once, when its attempt ends, and archiving keeps its mtime."""
        out = []
        for folder in (self.completed, self.completed_archive):
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                m = _OUTCOME_RE.match(entry.name)
                if not m or (task_id is not None and m.group(1) != task_id) or (folder == self.completed) != (
                        m.group(2) is None):
                    continue
                try:
                    if since is not None and entry.stat(follow_symlinks=False).st_mtime < since:
                        continue
                except OSError:
                    continue
                meta = read_json(entry.path)
                if meta is not None and meta.get("id") == m.group(1):
                    out.append(meta)
        return out

    def claim_queue(self, task_id: str, attempt: int | None) -> str | None:
        """The queue file a claim on ``task_id`` named: its archived claim of ``attempt``, else the
        claim in work/; None when neither says."""
        paths = [self.path(self.work_archive, task_id, f".{attempt}.active")] if attempt else []
        for p in paths + [self.claim_path(task_id)]:
            rec = read_json(p, MAX_CLAIM_BYTES)
            if rec is not None and isinstance(rec.get("queue"), str) and (p in paths or rec.get("attempt") == attempt):
                return rec["queue"]
        return None

    # -- marks and cancels
    def mark_claim(self, task_id: str, record: dict | None = None) -> None:
        """Note in the claim that the queue says IN_PROGRESS for it now (dispatch's mark was
        written): from then on a PENDING in the queue is a person's cancel, not a dispatch cut
        short between claim and mark. Not fsynced: a mark lost in a power cut only makes the
        next dispatch repair the task instead of cancelling it. ``record``: the claim's content
        when the caller has it (it just wrote it)."""
        if record is not None and not os.path.lexists(self.claim_path(task_id)):
            return  # (released meanwhile: never made again)
        rec = dict(record) if record is not None else self.claim_record(task_id)
        if rec is None or rec.get("marked_at"):
            return
        rec["marked_at"] = stamp()
        atomic_write(self.claim_path(task_id), json_bytes(rec), sync=False)

    def cancel_path(self, task_id: str) -> str:
        return self.path(self.work, task_id, ".cancel")

    def request_cancel(self, task_id: str, reason: str, by: str) -> None:
        """``work/<ID>.cancel``: the executor running the claim stops its agent (``robe cancel``)."""
        atomic_write(self.cancel_path(task_id), json_bytes({"id": task_id, "reason": reason, "by": by,
                                                            "at": stamp()}))

    def withdraw_cancel(self, task_id: str) -> None:
        try:
            os.unlink(self.cancel_path(task_id))
        except FileNotFoundError:
            pass

    def cancel_request(self, task_id: str) -> str | None:
        """The reason of a cancel asked for with ``request_cancel``, or None."""
        if not os.path.lexists(self.cancel_path(task_id)):
            return None
        rec = read_json(self.cancel_path(task_id), 64 * 1024) or {}
        return rec.get("reason") if isinstance(rec.get("reason"), str) and rec["reason"] else "cancelled"

    # -- archives
    def archive_claim(self, task_id: str, attempt: int, sync: bool = True) -> list[str]:
        """``work/<ID>.active`` (and its heartbeat) to ``work/archive/<ID>.<attempt>.*``; a cancel
        request for it is done with."""
        moved = [_move_keep(self.claim_path(task_id), self.work_archive, f"{task_id}.{attempt}", ".active"),
                 _move_keep(self.heartbeat_path(task_id), self.work_archive, f"{task_id}.{attempt}", ".heartbeat")]
        try:
            os.unlink(self.cancel_path(task_id))
        except FileNotFoundError:
            pass
        if sync:
            _fsync_dirs(self.work, self.work_archive)
        return [p for p in moved if p]

    def archive_result(self, task_id: str, attempt: int, sync: bool = True) -> list[str]:
        """``completed/<ID>.txt`` and ``.json`` to ``completed/archive/<ID>.<attempt>.*`` (.json last:
        it says the pair is whole)."""
        moved = [_move_keep(self.path(self.completed, task_id, ext), self.completed_archive, f"{task_id}.{attempt}",
                            ext) for ext in (".txt", ".json")]
        if sync:
            _fsync_dirs(self.completed, self.completed_archive)
        return [p for p in moved if p]

    # -- locks
    def dispatch_lock(self, timeout: float = 0.0) -> int | None:
        """``logs/dispatch.lock``: held by a dispatch run, and by the monitor while it moves
        claims; an fd to close when done, or None when another holder kept it."""
        return take_lock(self.dispatch_lock_file, timeout)


def cancel_reason(status: Status | None, record: dict | None) -> str | None:
    """Why a claim's agent must stop, given its task's status in the queue now: BLOCKED or
    FAILED written by a person, or PENDING once dispatch had marked the task IN_PROGRESS
    (before the mark, PENDING only means a dispatch was cut short: the next one repairs it)."""
    if status in (Status.BLOCKED, Status.FAILED):
        return f"set to {status.value} in the queue"
    if status is Status.PENDING and record is not None and record.get("marked_at"):
        return "set back to PENDING in the queue"
    return None


def _same_process(pid, start) -> bool:
    """Whether ``pid`` still runs and is the process that started at ``start`` (clock ticks)."""
    return (isinstance(pid, int) and pid > 1 and isinstance(start, int) and pid_alive(pid)
            and process_start_ticks(pid) == start)


def read_json_bytes(data: bytes) -> dict | None:
    try:
        value = json.loads(data.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _move_keep(src: str, folder: str, stem: str, ext: str) -> str | None:
    """Move ``src`` into ``folder`` as ``stem+ext`` (or ``stem.N+ext`` if taken), never replacing
    a file there; None if ``src`` is gone. A move an earlier run left half done (linked, not
    yet unlinked: the same inode is already there) is finished, not made twice."""
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        return None
    private_dir(folder)
    n = 0
    while True:
        dst = os.path.join(folder, f"{stem}{ext}" if n == 0 else f"{stem}.{n}{ext}")
        try:
            os.link(src, dst, follow_symlinks=False)
            break
        except FileExistsError:
            try:
                there = os.lstat(dst)
            except FileNotFoundError:
                continue
            if (there.st_ino, there.st_dev) == (st.st_ino, st.st_dev):
                break
            n += 1
        except FileNotFoundError:
            return None  # someone else moved it meanwhile
    try:
        os.unlink(src)
    except FileNotFoundError:
        pass
    return dst


def _fsync_dirs(*folders: str) -> None:
    for folder in folders:
        try:
            fsync_dir(folder)
        except FileNotFoundError:
            pass


class ClaimLock:
    """flock(LOCK_EX | LOCK_NB) on ``work/<ID>.lock``, held while the claim runs.

    The lock file is removed, still locked, once the result is written, so work/ does not fill
    with them; whoever opened the old file then finds it unlinked (the inode check) and tries
    the new one, and whoever holds the new one finds the result and skips.
    """

    def __init__(self, path: str):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> bool:
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return False
                raise
            try:
                same = os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return True
            os.close(fd)  # the file was removed by the holder before us: take the new one
        return False

    def release(self, remove: bool = False) -> None:
        if self.fd is None:
            return
        if remove:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        os.close(self.fd)
        self.fd = None


class Heartbeat:
    """``work/<ID>.heartbeat``: written by ``begin``, then touched every ``interval`` seconds.

    For an agent process, ``begin`` runs just after the spawn (with its pid), so the file
    writes and the thread start stay off the path from claim to agent start; until then the
    claim's own mtime is its liveness.
    """

    def __init__(self, path: str, interval: float, started_at: str):
        self.path = path
        self.interval = interval
        self.content = {"pid": os.getpid(), "start": process_start_ticks(os.getpid()), "host": host(),
                        "started_at": started_at}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def write(self) -> None:
        # Liveness only: no fsync, a heartbeat lost to a power cut is a stale one anyway.
        atomic_write(self.path, json_bytes(self.content), sync=False)

    def begin(self, **extra) -> None:
        if extra.get("agent_pid"):
            # With the start time, a later executor can tell this agent from a reused pid.
            extra["agent_start"] = process_start_ticks(extra["agent_pid"])
        self.content.update(extra)
        self.write()
        if self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._beat, name=f"heartbeat {os.path.basename(self.path)}",
                                            daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                try:
                    self.write()
                except OSError:
                    pass
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> "Heartbeat":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
