"""Claims as the executor sees them: reading ``work/<ID>.active``, the per-claim lock, the
heartbeat, and the result files in ``completed/`` (docs/contracts.md).

Every path here is built from a task ID that passed ``is_valid_id`` and is checked to stay
inside the wizard's house, and results are written under the ID of the claim's *file name*:
nothing an agent prints or a claim says can make robe write another task's result.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import stat
import threading
from dataclasses import dataclass, field

from ..errors import RobeError
from ..queue import is_valid_id
from ..queue.store import write_atomic  # noqa: F401 - the executor's writes (loop.py imports it here)

CLAIM_SUFFIX = ".active"
#: the answer is cut here unless the executor is told otherwise (contracts: 1 MiB)
DEFAULT_OUTPUT_CAP = 1024 * 1024
#: a claim file larger than this is not one the dispatcher wrote
MAX_CLAIM_BYTES = 4 * 1024 * 1024
HOST = os.uname().nodename  # as robe.fleet.status and robe.dispatch compare it


class ClaimError(RobeError):
    """A claim file that cannot be run as it is (its reason goes into a FAILED result)."""


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    prompt: str
    wizard: str
    attempt: int
    lease_s: int | None = None
    priority: str | None = None
    raw: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class House:
    """The folders of one wizard's house that the executor touches, resolved once."""

    wizard: str
    root: str
    work: str
    completed: str
    logs: str
    scratch: str

    @classmethod
    def of(cls, name: str, house: str) -> "House":
        root = os.path.realpath(house)
        return cls(name, root, os.path.join(root, "work"), os.path.join(root, "completed"),
                   os.path.join(root, "logs"), os.path.join(root, "scratch"))

    def ensure(self) -> None:
        if not os.path.isdir(self.root):
            raise RobeError(f"the house of wizard {self.wizard} ({self.root}) does not exist; "
                            f"create it with 'robe wizard create {self.wizard}'")
        for d in (self.work, self.completed, self.logs, self.scratch):
            try:
                os.mkdir(d, 0o700)
            except FileExistsError:
                pass
            # A symlinked work/ or completed/ could point robe's writes anywhere.
            if not _inside(os.path.realpath(d), self.root):
                raise RobeError(f"{d} leads outside the house of wizard {self.wizard}; "
                                "make it a plain folder inside the house")

    # -- paths, each from a validated ID
    def path(self, folder: str, task_id: str, suffix: str) -> str:
        if not is_valid_id(task_id):
            raise ClaimError(f"{task_id!r} is not a task ID (IDs look like TASK-001)")
        # A valid ID has no '/' and no '..', and ``ensure`` checked that the folders are inside
        # the house, so the path is too (no realpath per call: it sits between claim and agent).
        return os.path.join(folder, task_id + suffix)

    def claim_path(self, task_id: str) -> str:
        return self.path(self.work, task_id, CLAIM_SUFFIX)

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

    @property
    def executor_file(self) -> str:
        return os.path.join(self.logs, "executor.json")

    @property
    def events_file(self) -> str:
        return os.path.join(self.logs, "events.jsonl")

    def has_result(self, task_id: str) -> bool:
        """A .json (ours) or a bare .txt (an external agent's, as in the seed) is a result."""
        return os.path.lexists(self.outcome_path(task_id)) or os.path.lexists(self.answer_path(task_id))

    def pending_ids(self) -> list[str]:
        """IDs of the claims in work/ without a result, oldest first."""
        found = []
        try:
            it = os.scandir(self.work)
        except FileNotFoundError:
            return []
        with it:
            for e in it:
                name = e.name
                if not name.endswith(CLAIM_SUFFIX) or name.startswith("."):
                    continue
                task_id = name[: -len(CLAIM_SUFFIX)]
                if not is_valid_id(task_id) or self.has_result(task_id):
                    continue
                try:
                    found.append((e.stat(follow_symlinks=False).st_mtime_ns, task_id))
                except FileNotFoundError:
                    continue
        return [t for _, t in sorted(found)]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def id_of_claim_file(name: str) -> str | None:
    """The task ID of a file name in work/, or None if it is not a claim robe may run."""
    if name.startswith(".") or not name.endswith(CLAIM_SUFFIX):
        return None
    task_id = name[: -len(CLAIM_SUFFIX)]
    return task_id if is_valid_id(task_id) else None


def read_claim(house: House, task_id: str) -> Claim:
    """The claim for ``task_id``; ClaimError says why it cannot be run; FileNotFoundError if gone."""
    path = house.claim_path(task_id)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ClaimError(f"{path} is not a regular file")
        data = b""
        while len(data) <= MAX_CLAIM_BYTES:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    if len(data) > MAX_CLAIM_BYTES:
        raise ClaimError(f"the claim {path} is larger than 4 MiB")
    try:
        raw = json.loads(data.decode("utf-8", errors="replace"))
    except ValueError:
        raise ClaimError(f"the claim {path} is not the JSON robe's dispatcher writes "
                         "(an empty trigger from a hand-made script?); dispatch the task with 'robe dispatch'") from None
    if not isinstance(raw, dict):
        raise ClaimError(f"the claim {path} is not a JSON object")
    if raw.get("id") != task_id:
        # A claim must not be able to name another task: its result would land there.
        raise ClaimError(f"the claim {path} names task {raw.get('id')!r}, not {task_id}")
    if raw.get("wizard") not in (None, house.wizard):
        raise ClaimError(f"the claim {path} is for wizard {raw.get('wizard')!r}, not {house.wizard}")
    title = raw.get("title")
    title = title if isinstance(title, str) else ""
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        body = raw.get("body") if isinstance(raw.get("body"), str) else ""
        prompt = f"{task_id}: {title}\n\n{body}".rstrip() + "\n"
    attempt = raw.get("attempt")
    attempt = attempt if isinstance(attempt, int) and not isinstance(attempt, bool) and attempt > 0 else 1
    lease = raw.get("lease_s")
    lease = lease if isinstance(lease, int) and not isinstance(lease, bool) else None
    prio = raw.get("priority") if isinstance(raw.get("priority"), str) else None
    return Claim(task_id, title, prompt, house.wizard, attempt, lease, prio, raw)


def claim_attempt(house: House, task_id: str) -> int:
    """The attempt of a claim whose content cannot be read (for its FAILED result)."""
    try:
        with open(house.claim_path(task_id), "rb") as f:
            raw = json.loads(f.read(MAX_CLAIM_BYTES))
        a = raw.get("attempt") if isinstance(raw, dict) else None
        return a if isinstance(a, int) and a > 0 else 1
    except (OSError, ValueError):
        return 1


# ---------------------------------------------------------------------------------------------
# The per-claim lock


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


# ---------------------------------------------------------------------------------------------
# Writing files


def json_bytes(data: dict) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def write_result(house: House, task_id: str, answer: bytes, outcome: dict) -> None:
    """completed/<ID>.txt, then completed/<ID>.json: a .json means both are whole."""
    write_atomic(house.answer_path(task_id), answer)
    write_atomic(house.outcome_path(task_id), json_bytes(outcome))


class Heartbeat:
    """``work/<ID>.heartbeat``: written by ``begin``, then touched every ``interval`` seconds.

    For an agent process, ``begin`` runs just after the spawn (with its pid), so the file
    writes and the thread start stay off the path from claim to agent start; until then the
    claim's own mtime is its liveness (docs/contracts.md).
    """

    def __init__(self, path: str, interval: float, started_at: str):
        self.path = path
        self.interval = interval
        self.content = {"pid": os.getpid(), "host": HOST, "started_at": started_at}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def write(self) -> None:
        # Liveness only: no fsync, a lost heartbeat after a power cut is a stale one anyway.
        write_atomic(self.path, json_bytes(self.content), sync=False)

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

    def __enter__(self) -> "Heartbeat":
        return self

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

    def __exit__(self, *exc) -> None:
        self.stop()

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def process_start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (/proc/PID/stat field 22); None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def kill_leftover_agent(heartbeat_path: str) -> int | None:
    """Kill the process group of an agent that an earlier executor on this host started for
    this claim and left running when it died; its pid, if one was killed.

    Only when the heartbeat names this host and the pid still has the recorded start time:
    a pid reused by an unrelated process is never signalled.
    """
    try:
        with open(heartbeat_path, "rb") as f:
            old = json.loads(f.read(64 * 1024))
    except (OSError, ValueError):
        return None
    if not isinstance(old, dict) or old.get("host") != HOST:
        return None
    pid, start = old.get("agent_pid"), old.get("agent_start")
    if not isinstance(pid, int) or pid <= 1 or not isinstance(start, int) or process_start_ticks(pid) != start:
        return None
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return None
    return pid
