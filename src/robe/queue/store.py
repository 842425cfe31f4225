"""Reading WORK-QUEUE.md safely, and the one path by which robe writes it.

Every write goes through :func:`update`: take an flock on ``WORK-QUEUE.md.lock`` (never the
queue itself: the rename swaps its inode), read the file afresh, let the caller compute the
new text from that fresh read, write a temp file in the same folder, fsync it, and swap it in
for the queue, then fsync the folder. Just before the swap the file is compared with what was
read; if a person's editor saved it meanwhile, the change is computed again on their text,
so their edit is kept.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from ..plumbing import exchange, flock_wait, fsync_dir, write_all
from .model import LockTimeout, QueueError, Snapshot
from .scan import parse

log = logging.getLogger(__name__)

#: The largest queue robe reads: 100,000 tasks take about 15 MiB.
MAX_BYTES = 64 * 1024 * 1024
LOCK_TIMEOUT = 30.0
T = TypeVar("T")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def _open_checked(path: str) -> tuple[int, bytes]:
    """An open descriptor on the queue file and its bytes, after checking it is a readable
    regular file of a sane size; QueueError with one plain sentence otherwise. A FIFO or a
    device at the path is refused without blocking on it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise QueueError(f"{path} does not exist; create it, or pass the queue's path with -f") from None
    except PermissionError:
        raise QueueError(f"cannot read {path}: permission denied") from None
    except OSError as e:
        raise QueueError(f"cannot read {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise QueueError(f"{path} is a folder, not a queue file; pass the WORK-QUEUE.md inside it with -f")
        if not stat.S_ISREG(st.st_mode):
            raise QueueError(f"{path} is not a regular file (a pipe or a device?); robe reads queues only from "
                             "ordinary files")
        if st.st_size > MAX_BYTES:
            raise QueueError(f"{path} is {_size(st.st_size)}, more than the {MAX_BYTES // 2**20} MiB robe reads; "
                             "move finished tasks to another file")
        return fd, _read_fd(fd)
    except BaseException:
        os.close(fd)
        raise


def _read_fd(fd: int) -> bytes:
    chunks, pos = [], 0
    while pos <= MAX_BYTES:
        chunk = os.pread(fd, 1 << 20, pos)
        if not chunk:
            break
        chunks.append(chunk)
        pos += len(chunk)
    return b"".join(chunks)


def read_bytes(path: str) -> bytes:
    """The file's bytes, after checking it is a readable regular file of a sane size."""
    fd, data = _open_checked(path)
    os.close(fd)
    return data


def decode(data: bytes, path: str) -> str:
    """The queue's text (BOM included); QueueError when it is too large, binary or not UTF-8."""
    if len(data) > MAX_BYTES:
        raise QueueError(f"{path} is more than the {MAX_BYTES // 2**20} MiB robe reads; "
                         "move finished tasks to another file")
    if b"\0" in data:
        raise QueueError(f"{path} looks like a binary file (it contains NUL bytes), not a markdown queue")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise QueueError(f"{path} is not valid UTF-8 (line {line}, column {column}); save it as UTF-8") from None


def read_text(path: str) -> str:
    """The file's text, BOM included; QueueError with one plain sentence if it is unusable."""
    return decode(read_bytes(path), path)


def load(path: str, **parse_kwargs) -> Snapshot:
    """Read and parse a queue file (``parse_kwargs``: default_priority, known_assignees)."""
    return parse(read_text(path), path, **parse_kwargs)


def real_path(path: str) -> str:
    """The file a (possibly symlinked) queue path stands for: robe writes the target."""
    return os.path.realpath(path)


@contextmanager
def locked(path: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the queue's writer lock (``<queue>.lock``), waiting up to ``timeout`` seconds."""
    lock_path = real_path(path) + ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except PermissionError:
        raise QueueError(f"cannot create the lock file {lock_path}: permission denied") from None
    except FileNotFoundError:
        raise QueueError(f"{path} does not exist; create it, or pass the queue's path with -f") from None
    try:
        if not flock_wait(fd, timeout):
            raise LockTimeout(f"{path} stayed locked by another robe process for {timeout:g} s; "
                              f"try again, or check what holds {lock_path}")
        yield
    finally:
        os.close(fd)  # closing releases the flock


class _Changed(Exception):
    """The file changed under us between the read and the replace."""


def replace_file(path: str, data: bytes, *, check: Callable[[], None] | None = None,
                 expect: tuple[int, int] | None = None) -> None:
    """Replace the queue at ``path`` with ``data``: temp file in the same folder, fsync, swap,
    fsync the folder. Keeps the file's mode (and owner, where allowed). ``check`` runs just
    before the swap and may raise to abandon the write. On any failure the temp file is
    removed and the queue is untouched.

    ``expect`` is the (device, inode) of the file the caller read. Then the new file is
    swapped in with an atomic exchange instead of renamed over the old one, so the file it
    displaces survives under the temp name: if it is not the one read (an editor saved by
    rename after ``check``), it is put back and _Changed is raised for the caller to apply
    its change again. A plain rename would have deleted that save unseen.
    """
    target = real_path(path)
    folder = os.path.dirname(target) or "."
    try:
        st = os.stat(target)
        mode, owner = stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)
    except FileNotFoundError:
        mode, owner = 0o644, None
    tmp = os.path.join(folder, f".{os.path.basename(target)}.{os.getpid()}.{time.monotonic_ns() % 10**9}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise QueueError(f"cannot write in {folder}: {e.strerror}; nothing was changed") from None
    try:
        try:
            write_all(fd, data)
            os.fchmod(fd, mode)
            if owner and owner != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(fd, *owner)
                except PermissionError:
                    pass
            os.fsync(fd)
        finally:
            os.close(fd)
        if check is not None:
            check()
        if expect is not None and exchange(tmp, target):
            displaced = os.lstat(tmp)
            if (displaced.st_dev, displaced.st_ino) != expect:
                os.replace(tmp, target)  # theirs back over ours: their save wins, ours is redone
                raise _Changed
            os.unlink(tmp)  # the file we read, now replaced
        else:
            os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):
            why = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
            raise QueueError(f"could not write {path}: {why}; nothing was changed") from None
        raise
    fsync_dir(folder)


def _sweep_temps(target: str) -> None:
    """Remove temp files a killed writer left. Called under the lock: no live writer has one."""
    folder, base = os.path.split(target)
    prefix = f".{base}."
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(".tmp"):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


def update(path: str, change: Callable[[Snapshot], tuple[str | None, T]], *, timeout: float = LOCK_TIMEOUT,
           parse_kwargs: dict | None = None, known: Snapshot | None = None,
           _hook: Callable[[str], None] | None = None, attempts: int = 5) -> T:
    """The one writer path: lock, read fresh, ``change(snapshot) -> (new_text or None, result)``,
    replace.

    ``change`` must compute its new text from the snapshot it is given (never from an earlier
    read) and raise ConflictError when its precondition does not hold there. When it returns
    None as the text, nothing is written. Returns ``change``'s result.

    A person's editor does not take robe's lock. So just before the swap robe compares the
    file with what it read, and just after, it looks at the inode it read through a
    descriptor it kept: an editor that saved in either moment is caught, its text put back,
    and the change applied to it again. (``_hook(stage)`` lets tests act at "read" and
    "checked".)

    ``known``: a snapshot the caller parsed earlier; while the file's bytes are still exactly
    its text, it is used instead of parsing the file again.
    """
    parse_kwargs = parse_kwargs or {}
    with locked(path, timeout):
        _sweep_temps(real_path(path))
        for _ in range(attempts):
            fd, data = _open_checked(path)
            try:
                if known is not None and data == known.text.encode("utf-8"):
                    snapshot = known
                else:
                    snapshot = parse(decode(data, path), path, **parse_kwargs)
                new_text, result = change(snapshot)
                if new_text is None or new_text == snapshot.text:
                    return result
                if _hook is not None:
                    _hook("read")

                def unchanged(expected=data):
                    if read_bytes(path) != expected:
                        raise _Changed
                    if _hook is not None:
                        _hook("checked")

                st = os.fstat(fd)
                try:
                    replace_file(path, new_text.encode("utf-8"), check=unchanged, expect=(st.st_dev, st.st_ino))
                except _Changed:
                    pass
                else:
                    late = _read_fd(fd)
                    if late == data:
                        return result
                    # Someone wrote into the file we read after our check: their text lives
                    # only in that old inode now. Put it back, then apply the change again.
                    replace_file(path, late)
            finally:
                os.close(fd)
            log.info("queue %s: changed while robe was writing; applying again", path)
    raise QueueError(f"{path} kept changing while robe tried to write it ({attempts} tries); nothing was changed")
