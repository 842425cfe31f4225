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
from . import displaced
from .edits import Change, NewTask, add_text, apply_changes, priority_change
from .events import append_event, events_path
from .model import LockTimeout, QueueError, Snapshot, Status
from .scan import parse

log = logging.getLogger(__name__)

#: The largest queue robe reads: 100,000 tasks take about 15 MiB.
MAX_BYTES = 64 * 1024 * 1024
LOCK_TIMEOUT = 30.0
#: a file changed less than this long ago (and not by robe) may still be being saved
QUIET_S = 2.0
#: how long robe waits for a file that keeps changing before it gives up
MAX_WAIT_S = 60.0
#: a file that lost most of its tasks less than this long ago is not written over
SHRINK_WINDOW_S = 60.0
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


def wait_quiet(path: str, quiet: float = QUIET_S, max_wait: float = MAX_WAIT_S) -> None:
    """Return once nobody seems to be writing the file at ``path``: it is exactly the file robe
    last wrote, or it has not changed for ``quiet`` seconds (by its mtime, or, for a file
    dated in the future, by watching it). An editor that saves in place truncates the file and
    writes it in pieces; robe must not read it, or write over it, half way. QueueError when it
    is still changing after ``max_wait`` seconds."""
    if quiet <= 0:
        return
    last = displaced.last_write(real_path(path))
    deadline = time.monotonic() + max_wait
    seen, steady_since = None, time.monotonic()
    while True:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return  # the reader says so
        sig = displaced.signature(st)
        if last is not None and sig == last.get("wrote"):
            return
        if sig != seen:
            seen, steady_since = sig, time.monotonic()
        age = time.time() - st.st_mtime
        if age >= quiet or time.monotonic() - steady_since >= quiet:
            return
        if time.monotonic() >= deadline:
            raise QueueError(f"{path} is still being written (it changed again {max(age, 0):.1f} s ago, and has "
                             f"kept changing for {max_wait:g} s); nothing was changed; try again once the save is done")
        time.sleep(min(max(quiet - age, 0.05), 0.2))


def read_quiet(path: str, quiet: float = QUIET_S) -> str:
    """``read_text`` once the file is quiet (``wait_quiet``): what dispatch and monitor act on."""
    wait_quiet(path, quiet)
    return read_text(path)


def _temp_copy(target: str, data: bytes) -> tuple[str, list[int]]:
    """``data`` in a temp file beside ``target`` with its mode (and owner, where allowed),
    fsynced; the temp file's path and signature."""
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
        why = "the disk is full" if e.errno == errno.ENOSPC else e.strerror
        raise QueueError(f"cannot write in {folder}: {why}; nothing was changed") from None
    try:
        write_all(fd, data)
        os.fchmod(fd, mode)
        if owner and owner != (os.geteuid(), os.getegid()):
            try:
                os.fchown(fd, *owner)
            except PermissionError:
                pass
        os.fsync(fd)
        return tmp, displaced.signature(os.fstat(fd))
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        os.close(fd)


def _swap(path: str, data: bytes, read_fd: int | None, read_data: bytes | None,
          check: Callable[[], None] | None = None) -> tuple[list[int], str | None, list[int] | None]:
    """Put ``data`` in place of the queue and keep the file it displaces (robe.queue.displaced).

    The new file is swapped in with an atomic exchange, so the displaced file survives: if it
    is not the file robe read (``read_fd``: an editor saved by rename after ``check``), or its
    bytes are no longer ``read_data`` (an editor wrote into it after ``check``), it goes back
    in place at once, with whatever that editor still writes into it, and _Changed is raised
    for the caller to start again. Returns the new file's signature and where the displaced
    file went (name and signature; None on a file system without the exchange).
    """
    target = real_path(path)
    tmp, new_sig = _temp_copy(target, data)
    try:
        if check is not None:
            check()
        if os.path.lexists(target) and exchange(tmp, target):
            if read_fd is not None:
                here, ours = os.lstat(tmp), os.fstat(read_fd)
                if (here.st_dev, here.st_ino) != (ours.st_dev, ours.st_ino) or _read_fd(read_fd) != read_data:
                    os.rename(tmp, target)  # theirs back in place; ours goes with the rename
                    raise _Changed
            name, sig = displaced.keep(target, tmp)
        else:
            os.replace(tmp, target)
            name = sig = None
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):
            why = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
            raise QueueError(f"could not write {path}: {why}; nothing was changed") from None
        raise
    fsync_dir(os.path.dirname(target) or ".")
    return new_sig, name, sig


def replace_file(path: str, data: bytes) -> None:
    """Replace a file people edit (fleet.yaml) with ``data``, keeping its mode and the version
    it displaces (in ``logs/displaced/`` beside it). QueueError when it cannot be written."""
    _swap(path, data, None, None)


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


def _check_shrink(path: str, snapshot: Snapshot, st: os.stat_result) -> None:
    """Refuse to write a file that lost most of its tasks a moment ago: a save still being
    written (cut short) looks just like that, and robe must not make it final."""
    last = displaced.last_write(real_path(path))
    if last is None or displaced.signature(st) == last.get("wrote"):
        return
    before, now, age = last.get("tasks") or 0, len(snapshot.all_ids), time.time() - st.st_mtime
    if before >= 10 and now < before / 2 and age < SHRINK_WINDOW_S:
        raise QueueError(f"{path} holds {now} tasks where robe last saw {before}, and it changed {max(age, 0):.0f} s "
                         "ago: it looks cut short (a save still being written?), so robe changes nothing now; if "
                         f"you removed them on purpose, robe writes again once it has been quiet for "
                         f"{SHRINK_WINDOW_S:g} s. Earlier versions are in {displaced.folder_of(real_path(path))}")


def _reapply(snapshot: Snapshot, changes: list[dict], parse_kwargs: dict) -> tuple[str, int]:
    """The text of ``snapshot`` with robe's recorded ``changes`` made again (refused ones are
    left out), and its number of tasks."""
    text, tasks = snapshot.text, len(snapshot.all_ids)
    for c in changes:
        snap = parse(text, snapshot.path, **parse_kwargs)
        if "set" in c:
            change = Change(c["set"], Status(c["status"]), tuple(Status(s) for s in c.get("expect") or ()))
            text, _ = apply_changes(snap, [change])
        elif "priority" in c:
            try:
                expect = [Status(x) for x in c.get("expect") or ()]
                changed, _ = priority_change(snap, c["priority"], c["value"], expect, c.get("expect_priority"))
            except (QueueError, TypeError, ValueError):
                continue
            text = changed or text
        elif "add" in c and c.get("id") not in snap.all_ids:
            try:
                new = NewTask(**c["add"])
                new = new._replace(depends=tuple(new.depends), tags=tuple(new.tags), status=Status(new.status),
                                   fields=tuple(tuple(f) for f in new.fields))
                text, _ = add_text(snap, new, c.get("style"), c.get("id"))
                tasks += 1
            except (QueueError, TypeError, ValueError):
                continue
    return text, tasks


def _recover(path: str, parse_kwargs: dict) -> None:
    """A person's save that landed in a file robe had displaced (their editor went on writing
    into it) becomes the queue again, with robe's changes since made on it. Under the lock."""
    target = real_path(path)
    try:
        queue_mtime = os.stat(target).st_mtime
    except FileNotFoundError:
        return
    for e in displaced.landed(target, queue_mtime):
        wait_quiet(e["path"])
        try:
            snap = parse(decode(read_bytes(e["path"]), path), path, **parse_kwargs)
        except QueueError:
            continue
        text, tasks = _reapply(snap, e["changes"], parse_kwargs)
        new_sig, name, sig = _swap(path, text.encode("utf-8"), None, None)
        displaced.record(target, {"recovered": e["displaced"]})
        displaced.record(target, {"wrote": new_sig, "tasks": tasks, "change": e["changes"], "displaced": name,
                                  "displaced_sig": sig, "from": e["displaced"]})
        log.warning("queue %s: a save landed in %s after robe had replaced the file; it is the queue again, "
                    "with robe's changes made on it", path, e["path"])
        append_event(events_path(path), None, None, None, by="robe", event="recovered",
                     detail=f"a save landed in {e['displaced']} after robe replaced the file; restored")


def update(path: str, change: Callable[[Snapshot], tuple[str | None, T]], *, timeout: float = LOCK_TIMEOUT,
           parse_kwargs: dict | None = None, known: Snapshot | None = None, record: list[dict] | None = None,
           quiet: float = QUIET_S, written: Callable[[str, list[int]], None] | None = None,
           _hook: Callable[[str], None] | None = None, attempts: int = 5) -> T:
    """The one writer path: lock, wait until the file is quiet, read it fresh,
    ``change(snapshot) -> (new_text or None, result)``, swap the new text in.

    ``change`` must compute its new text from the snapshot it is given (never from an earlier
    read) and raise ConflictError when its precondition does not hold there. When it returns
    None as the text, nothing is written. Returns ``change``'s result. ``record`` describes
    the change as data (``{"set": ID, "status": S, "expect": [...]}``, ``{"priority": ID,
    "value": P, "expect": [...], "expect_priority": P}`` or ``{"add": {...}, "id": ID, "style":
    S}``), so it can be made again on a person's save that lands in the file this write
    displaces (``_recover``).

    A person's editor does not take robe's lock. So robe waits until the file is quiet before
    it reads (``wait_quiet``), compares the file with what it read just before the swap, and
    after the swap looks at the file it displaced: an editor that saved in any of these
    moments gets its file back in place, and the change is made again on it. (``_hook(stage)``
    lets tests act at "read" and "checked".) Every displaced file is kept in
    ``logs/displaced/`` beside the queue.

    ``known``: a snapshot the caller parsed earlier; while the file's bytes are still exactly
    its text, it is used instead of parsing the file again; once they differ, the parse starts
    from it (``parse(after=known)``). ``written(real_path, signature)``
    is told of each file this call swapped in (robe run tells its own writes from a person's).
    """
    parse_kwargs = parse_kwargs or {}
    wait_quiet(path, quiet)  # before the lock too, so other robe writers are not kept waiting
    with locked(path, timeout):
        target = real_path(path)
        _sweep_temps(target)
        _recover(path, parse_kwargs)
        for _ in range(attempts):
            wait_quiet(path, quiet)
            fd, data = _open_checked(path)
            try:
                same = known is not None and data == known.text.encode("utf-8")
                if known is not None and not same and quiet < QUIET_S:
                    # The caller saw a finished save (quiet < QUIET_S), but the file changed
                    # since: an editor may be writing it in place right now. Wait as for any
                    # save robe did not see end, then read it again.
                    quiet = QUIET_S
                    continue
                snapshot = known if same else parse(decode(data, path), path, after=known, **parse_kwargs)
                new_text, result = change(snapshot)
                if new_text is None or new_text == snapshot.text:
                    return result
                _check_shrink(path, snapshot, os.fstat(fd))
                if _hook is not None:
                    _hook("read")

                def unchanged(expected=data):
                    if read_bytes(path) != expected:
                        raise _Changed
                    if _hook is not None:
                        _hook("checked")

                try:
                    new_sig, name, sig = _swap(path, new_text.encode("utf-8"), fd, data, check=unchanged)
                except _Changed:
                    log.info("queue %s: a person saved it while robe was writing; applying again", path)
                    continue
                adds = sum(1 for c in record or () if "add" in c)
                displaced.record(target, {"wrote": new_sig, "tasks": len(snapshot.all_ids) + adds,
                                          "change": record or [], "displaced": name, "displaced_sig": sig})
                if written is not None:
                    written(target, new_sig)
                return result
            finally:
                os.close(fd)
    raise QueueError(f"{path} kept changing while robe tried to write it ({attempts} tries); nothing was changed")
