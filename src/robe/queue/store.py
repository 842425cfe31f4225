"""Reading WORK-QUEUE.md safely and the one path by which robe writes it.

Every write goes through :func:`update`: take an flock on ``WORK-QUEUE.md.lock`` (never the
queue itself: the rename swaps its inode), read the file afresh, let the caller compute the
new text from that fresh read, write a temp file in the same folder, fsync it, and
``os.replace`` it over the queue, then fsync the folder. Just before the replace the file is
compared with what was read; if a person's editor saved it meanwhile, the change is computed
again on their text, so their edit is kept.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from .model import DEFAULT_PRIORITY, LockTimeout, Queue, QueueError

#: The largest queue robe reads. 10,000 tasks take ~1.5 MB; 8 MiB leaves ample room.
MAX_BYTES = 8 * 1024 * 1024
LOCK_TIMEOUT = 30.0
T = TypeVar("T")


def _describe_size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def _open_checked(path: str) -> tuple[int, bytes]:
    """An open descriptor on the queue file and its bytes, after checking it is a readable
    regular file of a sane size; QueueError with one plain sentence otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
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
            raise QueueError(f"{path} is not a regular file; robe reads queues only from ordinary files")
        if st.st_size > MAX_BYTES:
            raise QueueError(f"{path} is {_describe_size(st.st_size)}, more than the {MAX_BYTES // 2**20} MiB "
                             "robe reads; move finished tasks to another file")
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


class TextMemo:
    """Something worked out from a text, for the latest few texts this process handles, by
    the text's id() (each entry holds its text, so the id stays its own). A long-running
    process (the executor, the monitor) reads queues again and again: only the latest
    ``kept`` are remembered."""

    def __init__(self, kept: int):
        self.kept = kept
        self.memo: dict[int, tuple[str, object]] = {}

    def get(self, text: str):
        known = self.memo.get(id(text))
        return known[1] if known is not None and known[0] is text else None

    def put(self, text: str, value) -> None:
        memo = self.memo
        memo.pop(id(text), None)
        memo[id(text)] = (text, value)
        while len(memo) > self.kept:
            try:  # (another thread may trim it at the same time)
                memo.pop(next(iter(memo)), None)
            except (RuntimeError, StopIteration):
                break


# The UTF-8 bytes of the texts robe last read or wrote: encoding a 1,000-task queue (~1 M
# instructions with one non-ASCII character in it) was done three times by each dispatch run
# (to compare the file with the parse it knew, to write it, and to keep the new parse).
_encoded = TextMemo(2)


def encoded(text: str) -> bytes:
    """``text.encode("utf-8")``, known without encoding for a text robe just read or wrote."""
    data = _encoded.get(text)
    if data is None:
        data = text.encode("utf-8")
        _encoded.put(text, data)
    return data


def read_bytes(path: str) -> bytes:
    """The file's bytes, after checking it is a readable regular file of a sane size."""
    fd, data = _open_checked(path)
    os.close(fd)
    return data


def read_text(path: str) -> str:
    """The file's text, BOM included; QueueError with one plain sentence if it is unusable."""
    return decode(read_bytes(path), path)


def decode(data: bytes, path: str) -> str:
    if len(data) > MAX_BYTES:
        raise QueueError(f"{path} is more than the {MAX_BYTES // 2**20} MiB robe reads; move finished tasks to another file")
    if b"\0" in data:
        raise QueueError(f"{path} looks like a binary file (it contains NUL bytes), not a markdown queue")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise QueueError(f"{path} is not valid UTF-8 (line {line}, column {column}); save it as UTF-8") from None
    if type(data) is bytes:
        _encoded.put(text, data)  # valid UTF-8 encodes back to the same bytes
    return text


def load(path: str, **kwargs) -> Queue:
    """Read and parse a queue file (a whole-file parse: kept for the next run, robe.queue.cache)."""
    text = read_text(path)
    if "only" in kwargs:
        from .scan import parse

        return parse(text, path, **kwargs)
    queue, _ = _cached(path, text, kwargs)
    if queue is None:
        from . import cache
        from .scan import parse

        queue = parse(text, path, **kwargs)
        if "known_assignees" not in kwargs:
            cache.put(queue)
    return queue


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


def fsync_dir(folder: str) -> None:
    """Make a rename or a new file in ``folder`` durable."""
    fd = os.open(folder or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_atomic(path: str, data: bytes, *, mode: int = 0o600, sync: bool = True) -> None:
    """Temp file beside ``path``, fsync, rename over ``path`` (a symlink there is replaced,
    never followed), fsync the folder; ``sync=False`` for files that are only a shortcut.

    The plain writer of robe's own files (claims, results, heartbeats, caches). The queue,
    which people edit too, has ``atomic_write`` with its checks and exchange."""
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


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2

_renameat2: list = []  # [function, get_errno] once looked up; [None, None] when the system has none


def _renameat2_from_libc():
    """renameat2 from the C library as a callable, and a get_errno; (None, None) without it.

    Built from ``_ctypes``, the part of ctypes written in C: ``import ctypes`` costs ~3 ms
    more, paid by every ``robe queue set`` and dispatch, for class definitions robe does not
    need. The three classes below are the ones ctypes defines as c_int, c_uint and c_char_p.
    """
    try:
        import _ctypes

        class Int(_ctypes._SimpleCData):
            _type_ = "i"

        class UInt(_ctypes._SimpleCData):
            _type_ = "I"

        class CharP(_ctypes._SimpleCData):
            _type_ = "z"

        class Function(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
            _restype_ = Int

        fn = Function(_ctypes.dlsym(_ctypes.dlopen(None, os.RTLD_NOW), "renameat2"))
        fn.argtypes = (Int, CharP, Int, CharP, UInt)
        return fn, _ctypes.get_errno
    except (ImportError, AttributeError, OSError):
        return None, None


def _exchange(a: str, b: str) -> bool:
    """Swap the names ``a`` and ``b`` atomically (Linux renameat2 RENAME_EXCHANGE).

    False when the system or the file system cannot; then the caller falls back to a rename.
    The function is looked up on the first write, not at start-up.
    """
    if not _renameat2:
        _renameat2.extend(_renameat2_from_libc())
    fn, get_errno = _renameat2
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), b)


def atomic_write(path: str, data: bytes, *, mode: int | None = None, check: Callable[[], None] | None = None,
                 expect: tuple[int, int] | None = None) -> None:
    """Replace ``path`` with ``data``: temp file in the same folder, fsync, rename, fsync folder.

    Keeps the file's mode (and owner, where allowed). ``check`` runs just before the rename
    and may raise to abandon the write. On any failure the temp file is removed and the
    original is untouched.

    ``expect`` is the (device, inode) of the file the caller read. Then the new file is
    swapped in with RENAME_EXCHANGE instead of renamed over the old one, so the file it
    displaces survives under the temp name: if it is not the one read (an editor saved by
    rename after ``check``), it is put back and _Changed is raised for the caller to apply
    its change again. A plain rename would have deleted that save unseen.
    """
    target = real_path(path)
    folder = os.path.dirname(target) or "."
    try:
        st = os.stat(target)
        keep_mode, owner = stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)
    except FileNotFoundError:
        keep_mode, owner = (0o644 if mode is None else mode), None
    base = os.path.basename(target)
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.{time.monotonic_ns() % 10**9}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise QueueError(f"cannot write in {folder}: {e.strerror}; nothing was changed") from None
    try:
        try:
            write_all(fd, data)
            os.fchmod(fd, keep_mode)
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
        if expect is not None and _exchange(tmp, target):
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
        if isinstance(e, OSError) and not isinstance(e, QueueError):
            why = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
            raise QueueError(f"could not write {path}: {why}; nothing was changed") from None
        raise
    fsync_dir(folder)


class _Changed(Exception):
    """The file changed under us between the read and the replace."""


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


def _cached(path: str, text: str, parse_kwargs: dict) -> tuple[Queue | None, tuple | None]:
    """A whole-file parse of exactly ``text`` kept by an earlier run (robe.queue.cache), if any.

    An edit that asks for a partial parse (``only``) takes the whole one too when it is kept,
    so that the writer can keep the parse of what it wrote: cron's next dispatch then need not
    parse the whole file. (At 10,000 tasks this costs the edit itself more than its partial
    parse, ~130 against ~65 ms; at 1,000 they are even.) Not for a check of assignees, which
    the kept parse was not made with. Else a hint for a partial parse (cache.lookup).
    """
    if "known_assignees" in parse_kwargs:
        return None, None
    from . import cache

    return cache.lookup(path, text, parse_kwargs.get("default_priority", DEFAULT_PRIORITY))


def update(path: str, change: Callable[[Queue], tuple[str | None, T]], *, timeout: float = LOCK_TIMEOUT,
           parse_kwargs: dict | None = None, known: Queue | None = None,
           _hook: Callable[[str], None] | None = None, attempts: int = 5) -> T:
    """The one writer path: lock, read fresh, ``change(queue) -> (new_text or None, result)``, replace.

    ``change`` must compute its new text from the queue it is given (never from an earlier
    read) and raise ConflictError when its precondition does not hold there. When it
    returns None as the text, nothing is written. Returns ``change``'s result.

    A person's editor does not take robe's lock. So just before the rename robe compares the
    file with what it read, and just after, it looks at the inode it read through a
    descriptor it kept: an editor that saved in either moment is caught, its text put back,
    and the change applied to it again. (``_hook(stage)`` lets tests act at "read" and
    "checked".)

    ``known``: a Queue the caller parsed earlier. When the file's bytes are still exactly its
    text, that parse is used instead of parsing again (a 10,000-task file costs ~200 ms);
    any difference and the fresh text is parsed as usual.
    """
    known_bytes = encoded(known.text) if known is not None else None
    parse_kwargs = parse_kwargs or {}
    log = None
    with locked(path, timeout):
        _sweep_temps(real_path(path))
        for _ in range(attempts):
            fd, data = _open_checked(path)
            try:
                if data == known_bytes:
                    queue = known
                else:
                    text = decode(data, path)
                    queue, hint = _cached(path, text, parse_kwargs)
                    if queue is None:
                        from .scan import parse

                        queue = parse(text, path, **parse_kwargs, hint=hint)
                new_text, result = change(queue)
                if new_text is None or new_text == queue.text:
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
                    atomic_write(path, encoded(new_text), check=unchanged, expect=(st.st_dev, st.st_ino))
                except _Changed:
                    pass
                else:
                    late = _read_fd(fd)
                    if late == data:
                        return result
                    # Someone wrote into the file we read after our check: their text lives
                    # only in that old inode now. Put it back, then apply the change again.
                    atomic_write(path, late)
            finally:
                os.close(fd)
            if log is None:
                import logging  # rare path: keep the import off every command's start-up

                log = logging.getLogger(__name__)
            log.info("queue %s: changed while robe was writing; applying again", path)
    raise QueueError(f"{path} kept changing while robe tried to write it ({attempts} tries); nothing was changed")
