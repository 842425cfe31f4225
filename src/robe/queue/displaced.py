"""Every version of a queue file that robe's writer replaced, kept where a person can find it.

When robe writes WORK-QUEUE.md it swaps its new file in with an atomic exchange, so the file it
displaces survives. That file goes to ``logs/displaced/`` beside the queue, named
``WORK-QUEUE.md.<UTC time>.<pid>``; the newest ``KEEP`` of them (and no more than ``KEEP_BYTES``
in all) are kept, so any save can be recovered by hand.

``logs/displaced/WORK-QUEUE.md.index.jsonl`` records each of robe's writes: the file robe wrote
(inode, size, mtime: while the queue still matches it, nobody has written it since), how many
tasks it held, the change robe made (so it can be made again on another text), and where the
displaced file went with its size and mtime at that moment. If a person's editor was still
writing into the displaced file, it grows or changes after robe moved it: ``landed`` finds such
files, and the writer (robe.queue.store) makes the person's text the queue again, with robe's
change applied to it.
"""

from __future__ import annotations

import json
import os
import threading
import time

from ..clock import stamp

FOLDER = os.path.join("logs", "displaced")
KEEP = 20
KEEP_BYTES = 256 * 1024 * 1024
#: index lines kept when the index is trimmed
INDEX_LINES = 200
#: a displaced file a save landed in is recovered only within this time
RECOVER_WITHIN_S = 24 * 3600


def folder_of(queue_path: str) -> str:
    """``logs/displaced/`` beside the (real) queue file."""
    return os.path.join(os.path.dirname(queue_path), FOLDER)


def index_of(queue_path: str) -> str:
    return os.path.join(folder_of(queue_path), os.path.basename(queue_path) + ".index.jsonl")


def signature(st: os.stat_result) -> list[int]:
    """What robe compares to tell whether a file changed: inode, size, mtime."""
    return [st.st_ino, st.st_size, st.st_mtime_ns]


#: what ``entries`` read of each index so far, by its path: (device, inode, bytes read,
#: entries). The index only grows by whole lines until it is trimmed (a new inode), so a
#: read parses just the lines appended since: robe run writes a queue many times a second.
_read: dict[str, tuple[int, int, int, tuple[dict, ...]]] = {}
_read_lock = threading.Lock()


def entries(queue_path: str) -> list[dict]:
    """The index, oldest first; a torn or foreign line is skipped."""
    path = index_of(queue_path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        with _read_lock:
            _read.pop(path, None)
        return []
    with f:
        st = os.fstat(f.fileno())
        with _read_lock:
            hit = _read.get(path)
        if hit is not None and hit[:2] == (st.st_dev, st.st_ino) and hit[2] <= st.st_size:
            done, out = hit[2], list(hit[3])
        else:
            done, out = 0, []
        f.seek(done)
        data = f.read()
    end = data.rfind(b"\n") + 1  # a line still being appended is read next time
    for line in data[:end].splitlines():
        try:
            e = json.loads(line.decode("utf-8", "replace"))
        except ValueError:
            continue
        if isinstance(e, dict):
            out.append(e)
    with _read_lock:
        _read[path] = (st.st_dev, st.st_ino, done + end, tuple(out))
    return out


def last_write(queue_path: str) -> dict | None:
    """The index entry of robe's latest write of this queue, if any."""
    for e in reversed(entries(queue_path)):
        if "wrote" in e:
            return e
    return None


def record(queue_path: str, entry: dict) -> None:
    """Append one entry (one write, O_APPEND: whole lines) and trim the index now and then."""
    path = index_of(queue_path)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    entry = {"ts": stamp(), **entry}
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size > 512 * 1024:
        _trim(path)


def _trim(path: str) -> None:
    """Keep the newest INDEX_LINES lines (called under the queue's lock: no other writer)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.readlines()[-INDEX_LINES:]
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(tmp, path)


def keep(queue_path: str, displaced_tmp: str) -> tuple[str, list[int]]:
    """Move the file robe displaced (now at ``displaced_tmp``, beside the queue) into the
    folder; its new name and its signature. Old versions beyond the bounds are removed."""
    folder = folder_of(queue_path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    name = f"{os.path.basename(queue_path)}.{stamp().replace(':', '')}.{os.getpid()}"
    dst = os.path.join(folder, name)
    n = 0
    while os.path.lexists(dst):
        n += 1
        dst = os.path.join(folder, f"{name}.{n}")
    # A hard link and an unlink rather than a rename: a rename out of the queue's folder is an
    # IN_MOVED_FROM without its IN_MOVED_TO there, and watchdog holds every later event of the
    # folder for half a second waiting for the pair (robe run would see saves late).
    try:
        os.link(displaced_tmp, dst)
        os.unlink(displaced_tmp)
    except OSError:  # a file system without hard links
        os.rename(displaced_tmp, dst)
    sig = signature(os.lstat(dst))
    _prune(queue_path)
    return os.path.basename(dst), sig


def _prune(queue_path: str) -> None:
    folder = folder_of(queue_path)
    prefix = os.path.basename(queue_path) + "."
    versions = []
    for n in os.listdir(folder):
        if n.startswith(prefix) and not n.endswith((".jsonl", ".tmp")):
            try:
                st = os.lstat(os.path.join(folder, n))
            except FileNotFoundError:
                continue
            versions.append((st.st_mtime, n, st.st_size))
    versions.sort(reverse=True)
    total = 0
    for k, (_, n, size) in enumerate(versions):
        total += size
        if k >= 3 and (k >= KEEP or total > KEEP_BYTES):  # the newest three stay whatever they weigh
            try:
                os.unlink(os.path.join(folder, n))
            except FileNotFoundError:
                pass


def landed(queue_path: str, queue_mtime: float) -> list[dict]:
    """Index entries of displaced files that changed after robe moved them (a person's editor
    went on writing into the file robe replaced) and are newer than the queue as it is now;
    oldest first, each with the robe writes made since (``after``: their changes)."""
    all_entries = entries(queue_path)
    recovered = {e["recovered"] for e in all_entries if "recovered" in e}
    try:
        kept = set(os.listdir(folder_of(queue_path)))  # (only the newest KEEP versions are)
    except FileNotFoundError:
        return []
    out = []
    now = time.time()
    for i, e in enumerate(all_entries):
        name = e.get("displaced")
        if not name or name not in kept or name in recovered or not isinstance(e.get("displaced_sig"), list):
            continue
        path = os.path.join(folder_of(queue_path), name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if signature(st) == e["displaced_sig"] or st.st_mtime <= queue_mtime or now - st.st_mtime > RECOVER_WITHIN_S:
            continue
        later = [x.get("change") or [] for x in all_entries[i:] if "wrote" in x]
        out.append({**e, "path": path, "changes": [c for group in later for c in group]})
    return out
