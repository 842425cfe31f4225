"""File-system and process plumbing that every part of robe shares.

Atomic writes (temp file, fsync, rename, fsync of the folder), flock'd lock files, the atomic
exchange of two names (Linux ``renameat2``), private folders, paths that must stay inside a
folder, small JSON files, and whether a process is alive. Nothing here knows what a queue,
a house or a wizard is.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import stat
import threading
import time

#: A JSON file robe reads (a claim, a result's outcome, a heartbeat) is never larger than this.
MAX_JSON_BYTES = 1 << 20


class UnsafePath(ValueError):
    """A name that is not one plain file name, or a path that would leave its folder."""


def host() -> str:
    """This machine's name, as claims, heartbeats and executors record it."""
    return os.uname().nodename


# --- writing ---------------------------------------------------------------------------------


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_dir(folder: str) -> None:
    """Make a rename or a new file in ``folder`` durable."""
    fd = os.open(folder or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, *, mode: int = 0o600, sync: bool = True) -> None:
    """Replace ``path`` with ``data``: a temp file beside it, fsync, rename over it (a symlink
    there is replaced, never followed), fsync the folder. ``sync=False`` for files whose loss
    in a power cut costs nothing (a heartbeat).

    The writer of robe's own files. The queue, which people edit too, has its own writer in
    ``robe.queue.store``, with the checks and the exchange that protect a person's save.
    """
    folder = os.path.dirname(path)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            write_all(fd, data)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if sync:
        fsync_dir(folder)


def json_bytes(data) -> bytes:
    """``data`` as the JSON robe writes in its files (one value, a newline at the end)."""
    return (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2():
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # no glibc, or one older than 2.28
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


_exchange_fn = _renameat2()


def exchange(a: str, b: str) -> bool:
    """Swap the names ``a`` and ``b`` atomically (Linux ``renameat2(RENAME_EXCHANGE)``).

    False when the system or the file system cannot; the caller then falls back to a rename.
    Unlike a rename, the file that was at ``b`` survives (now at ``a``), so a writer can look
    at what it displaced.
    """
    if _exchange_fn is None:
        return False
    if _exchange_fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), b)


# --- locks -----------------------------------------------------------------------------------


def flock_wait(fd: int, timeout: float) -> bool:
    """Take an exclusive flock on ``fd``, waiting up to ``timeout`` seconds; False if it stayed held."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def take_lock(path: str, timeout: float = 0.0) -> int | None:
    """An open descriptor holding an exclusive flock on the lock file ``path`` (created 0600,
    its folder 0700), waiting up to ``timeout`` seconds; None when another holder kept it.
    Closing the descriptor releases the lock."""
    private_dir(os.path.dirname(path))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    if flock_wait(fd, timeout):
        return fd
    os.close(fd)
    return None


# --- folders, paths and small files ------------------------------------------------------------


def private_dir(path: str) -> None:
    """Create ``path`` (and its parents) as 0700 if it is missing: houses are private."""
    if path and not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
        try:
            os.chmod(path, 0o700)  # makedirs' mode passes through the umask
        except OSError:
            pass


def is_inside(path: str, folder: str) -> bool:
    """Whether the resolved ``path`` is ``folder`` or lies under it (both already resolved)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def inside(folder: str, name: str) -> str:
    """``folder/name``, refused (UnsafePath) unless ``name`` is one plain file name that
    resolves inside ``folder``."""
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise UnsafePath(f"{name!r} is not a plain file name")
    base = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(base, name))
    if os.path.dirname(path) != base:
        raise UnsafePath(f"{name!r} resolves outside {folder}")
    return path


def read_regular(path: str, limit: int) -> bytes:
    """The bytes of the regular file at ``path`` (never through a symlink, never blocking on a
    FIFO), at most ``limit`` + 1 of them so a caller can tell an oversized file.
    OSError when it is missing or not a regular file (``errno.EINVAL``)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_json(path: str, limit: int = MAX_JSON_BYTES) -> dict | None:
    """The JSON object in the regular file ``path``; None when it is missing, unreadable, too
    large, or not an object."""
    try:
        data = read_regular(path, limit)
        if len(data) > limit:
            return None
        value = json.loads(data)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def mtime(path: str) -> float | None:
    """The file's modification time, or None when it is gone."""
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def listdir(path: str) -> list[str]:
    """The names in folder ``path``; none when it is missing."""
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


# --- processes -------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rfind(b")") + 2:][:1] != b"Z"
    except OSError:
        return True


def process_start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (/proc/PID/stat field 22); None if it is
    gone. With the pid, it names one process: a reused pid has another start time."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def shown_path(path: str) -> str:
    """A file as a person at this terminal reads it: relative when it lies under the current
    folder, else absolute."""
    try:
        rel = os.path.relpath(path)
    except (ValueError, OSError):  # (no current folder any more)
        return path
    return path if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


#: How long watchdog holds an inotify "moved from" to pair it with its "moved to" (its default
#: is 0.5 s). Both halves of a rename come from one system call, so they are a microsecond
#: apart; but watchdog's reader takes a lone "moved from" at the head of its queue and then
#: sleeps the whole wait even when the pair arrives at once (watchdog issues #390 and #649),
#: holding every later event with it. robe's writer and people's editors rename files in the
#: watched folders on every save: with 0.5 s, one save in about a hundred reached robe run
#: half a second late (run_bench, `command` agent). A move still unpaired after this is
#: reported as a file deleted and one created: robe then reads the queue once it is quiet.
MOVE_PAIRING_S = 0.02


def observer():
    """A watchdog Observer (a daemon thread) whose move pairing waits ``MOVE_PAIRING_S``."""
    from watchdog.observers import Observer
    from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper

    InotifyMoveEventGrouper.delay = MOVE_PAIRING_S
    obs = Observer()
    obs.daemon = True
    return obs
