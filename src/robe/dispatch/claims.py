"""Claims (``work/<ID>.active``), attempts and archived results, exactly as docs/contracts.md says.

A claim is made atomically with its content: write ``work/.<ID>.active.<pid>.tmp``, fsync,
``os.link`` it to ``work/<ID>.active`` (EEXIST: someone else holds the claim) and unlink the
temp name. Task IDs are validated before they become paths, and every path is checked to
resolve inside its folder.
"""

from __future__ import annotations

import os
import re
import time

from ..queue import Task, fsync_dir, is_valid_id
from ..queue.events import to_json
from ..queue.store import write_all
from ..records import record

_ARCHIVED = r"\A([A-Z][A-Z0-9]*-[0-9]+)\.([0-9]{1,9})\.active\Z"  # compiled on first use (re's cache)


class UnsafePath(ValueError):
    """A task ID that is not an ID, or a path that would leave its folder."""


def inside(folder: str, name: str) -> str:
    """``folder/name``, refused unless ``name`` is one plain file name resolving inside ``folder``."""
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise UnsafePath(f"{name!r} is not a plain file name")
    base = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(base, name))
    if os.path.dirname(path) != base:
        raise UnsafePath(f"{name!r} resolves outside {folder}")
    return path


def claim_path(work_dir: str, task_id: str) -> str:
    if not is_valid_id(task_id):
        raise UnsafePath(f"{task_id!r} is not a task ID; it never becomes a file name")
    return inside(work_dir, f"{task_id}.active")


def make_private_dir(path: str) -> None:
    """Create ``path`` (and parents) 0700 if missing; houses are private (DESIGN §9)."""
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
        try:
            os.chmod(path, 0o700)  # makedirs' mode passes through the umask
        except OSError:
            pass


def host() -> str:
    return os.uname().nodename


def prompt_of(task: Task) -> str:
    body = task.body.strip("\n")
    head = f"{task.id}: {task.title}"
    return f"{head}\n\n{body}" if body.strip() else head


def claim_record(task: Task, *, wizard, attempt: int, queue_path: str, claimed_at: str) -> dict:
    return {
        "id": task.id, "title": task.title, "priority": task.priority, "body": task.body,
        "prompt": prompt_of(task), "wizard": wizard.name, "attempt": attempt, "claimed_at": claimed_at,
        "claimed_by": f"{host()}:{os.getpid()}", "lease_s": wizard.lease, "queue": os.path.realpath(queue_path),
    }


def create_claim(work_dir: str, record: dict) -> bool:
    """Create ``work/<ID>.active`` holding ``record``; False if a claim already exists."""
    target = claim_path(work_dir, record["id"])
    tmp = inside(work_dir, f".{record['id']}.active.{os.getpid()}.tmp")
    data = (to_json(record, compact=False) + "\n").encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, target)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    fsync_dir(work_dir)
    return True


def remove_claim(work_dir: str, task_id: str) -> None:
    try:
        os.unlink(claim_path(work_dir, task_id))
    except FileNotFoundError:
        pass
    fsync_dir(work_dir)


def read_claim(work_dir: str, task_id: str) -> dict | None:
    try:
        with open(claim_path(work_dir, task_id), "rb") as f:
            raw = f.read(1 << 20)
        import json  # only when a claim exists: a run that finds none need not import it

        data = json.loads(raw)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def sweep_temps(work_dir: str, names: list[str], older_than: float = 60.0) -> None:
    """Remove claim temp files left by a dispatcher killed mid-claim (never a real claim)."""
    cutoff = time.time() - older_than
    for n in names:
        if n.startswith(".") and ".active." in n and n.endswith(".tmp"):
            try:
                p = inside(work_dir, n)
                if os.lstat(p).st_mtime < cutoff:
                    os.unlink(p)
            except (OSError, UnsafePath):
                pass


# --- attempts and archives -------------------------------------------------------------------


def archived_attempts(work_dir: str) -> dict[str, int]:
    """The highest archived attempt per task ID (``work/archive/<ID>.<attempt>.active``)."""
    out: dict[str, int] = {}
    try:
        names = os.listdir(os.path.join(work_dir, "archive"))
    except (FileNotFoundError, NotADirectoryError):
        return out
    for n in names:
        m = re.match(_ARCHIVED, n)
        if m:
            tid, k = m.group(1), int(m.group(2))
            if k > out.get(tid, 0):
                out[tid] = k
    return out


def _move_keep(src: str, folder: str, stem: str, ext: str) -> str:
    """Move ``src`` to ``folder/stem.ext`` without ever replacing a file already there."""
    make_private_dir(folder)
    n = 0
    while True:
        name = f"{stem}{ext}" if n == 0 else f"{stem}.{n}{ext}"
        dst = inside(folder, name)
        try:
            os.link(src, dst)
            break
        except FileExistsError:
            n += 1
    os.unlink(src)
    return dst


def archive_result(completed_dir: str, task_id: str, fallback_attempt: int) -> list[str]:
    """Move ``completed/<ID>.txt`` and ``.json`` to ``completed/archive/<ID>.<attempt>.*``.

    The attempt is the one the result's .json records, else ``fallback_attempt``.
    """
    if not is_valid_id(task_id):
        raise UnsafePath(f"{task_id!r} is not a task ID")
    txt = inside(completed_dir, f"{task_id}.txt")
    js = inside(completed_dir, f"{task_id}.json")
    attempt = fallback_attempt
    try:
        with open(js, "rb") as f:
            raw = f.read(1 << 20)
        import json

        meta = json.loads(raw)
        if isinstance(meta, dict) and isinstance(meta.get("attempt"), int) and meta["attempt"] > 0:
            attempt = meta["attempt"]
    except (OSError, ValueError):
        pass
    archive = os.path.join(completed_dir, "archive")
    moved = []
    for src, ext in ((txt, ".txt"), (js, ".json")):  # the .json last: it says the pair is whole
        if os.path.lexists(src):
            moved.append(_move_keep(src, archive, f"{task_id}.{attempt}", ext))
    fsync_dir(completed_dir)
    return moved


# --- liveness --------------------------------------------------------------------------------


class ClaimState(record("ClaimState", "task_id finished live")):
    __slots__ = ()
    # Fields:
    #   task_id: str
    #   the agent's answer is in completed/: the work is done, waiting for the monitor
    #   finished: bool
    #   heartbeat (or claim) younger than the lease, or the house's executor alive
    #   live: bool


def claim_states(work_dir: str, work_names: list[str], completed_names: set[str], lease_s: int,
                 executor_up: bool, now: float | None = None) -> list[ClaimState]:
    """The state of every claim in ``work_dir`` (from one listing of it and of completed/)."""
    now = time.time() if now is None else now
    names = set(work_names)
    out = []
    for n in work_names:
        if not n.endswith(".active"):
            continue
        tid = n[:-7]
        if not is_valid_id(tid):
            continue
        finished = f"{tid}.json" in completed_names or f"{tid}.txt" in completed_names
        live = executor_up
        if not live and not finished:
            beat = f"{tid}.heartbeat"
            try:
                st = os.stat(os.path.join(work_dir, beat if beat in names else n))
                live = now - st.st_mtime < lease_s
            except OSError:
                live = False
        out.append(ClaimState(tid, finished, live))
    return out
