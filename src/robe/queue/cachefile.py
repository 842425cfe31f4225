"""Private cache files: robe's folder for derived data that is only ever a shortcut.

``$ROBE_CACHE_DIR``, else ``$XDG_CACHE_HOME/robe``, else ``~/.cache/robe``. The folders are
private (0700) and the files 0600. A file not owned by this user, writable by others, larger
than asked, or a symlink is never read; any fault reading or writing is ignored, because
a miss is only slower. Callers check that what they read is what they asked for.
"""

from __future__ import annotations

import os


def cache_dir() -> str:
    given = os.environ.get("ROBE_CACHE_DIR")
    if given:
        return given
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "robe")


def entry(kind: str, name: str, suffix: str = ".marshal") -> str:
    """The cache file of ``kind`` (a sub-folder) for ``name`` (a path, usually)."""
    return os.path.join(cache_dir(), kind, f"{_fnv1a(name.encode('utf-8', 'surrogateescape')):016x}{suffix}")


def _fnv1a(data: bytes) -> int:
    """The 64-bit FNV-1a hash of ``data``: a stable file name for a path (zlib's crc32 would
    cost its import, ~1 ms of every command that reads a cache)."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def read(path: str, limit: int) -> bytes | None:
    """The file's bytes, or None when it is missing, foreign, too open or over ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o022 or st.st_size > limit:
            return None
        chunks = []
        left = st.st_size + 1
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def write(path: str, data: bytes) -> None:
    """Replace the file with ``data`` (temp file + rename, no fsync); silently does nothing on failure."""
    from .store import write_atomic

    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        write_atomic(path, data, sync=False)
    except OSError:
        pass
