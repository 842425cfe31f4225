"""Git checkpoints of a house (or of the fleet root): the seed's hourly ``git add -A && git commit``,
made safe.

- The folder becomes a repository on first use: ``.git`` at 0700, a default ``.gitignore``
  that keeps out ``.env``, keys, databases, logs, caches, virtualenvs and temp files (a
  ``*.tmp`` is an atomic write half-way: never committed), and a local git identity, so no
  global git config is needed.
- Every new or changed file is read before it is staged; one that looks like it holds a
  secret (a private key block, an ``sk-...`` key, ``SOMETHING_KEY=value``) is not committed
  and is named in a warning. The rest is committed.
- The first checkpoint of a big folder (STREAM_MIN files or more, no commit and no index
  yet) streams the very bytes it scanned into ``git fast-import`` while it reads the next
  files, and stages them by object id: git never reads those files itself, so what is
  committed is exactly what was scanned, and nothing refused is ever written to
  ``.git/objects``. It is several times faster than ``git add`` of tens of thousands of new
  files (whose bulk check-in compares every new object with every earlier one).
- Queue files are staged while holding the queue's writer lock, so a dispatcher or monitor
  writing at that moment cannot leave a half-updated queue in a commit.
- A commit is made only when something changed; its message names the tasks whose status
  changed and how many results came in.

GitPython is imported here only, so ``robe --version`` stays fast.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import os
import re
import stat
import subprocess
from dataclasses import asdict, dataclass, replace
from typing import Callable

from ..clock import now as _now
from ..queue import locked, parse

GITIGNORE = """\
# Written by robe checkpoint. Secrets, state and noise never go into a checkpoint.
.env
.env.*
*.env
*.pem
*.key
*.p12
*.pfx
id_rsa*
id_dsa*
id_ecdsa*
id_ed25519*
.ssh/
*.db
*.db-*
*.sqlite
*.sqlite3
state.db*
logs/
*.log
*.lock
*.tmp
*.pid
scratch/
__pycache__/
*.pyc
.cache/
.pytest_cache/
.venv/
venv/
.virtualenvs/
node_modules/
"""

#: (pattern, what it looks like) — checked on the first MAX_SCAN bytes of every file staged
SECRETS = (
    (re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"), "a private key block"),
    (re.compile(rb"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{16,}"), "an API key (sk-...)"),
    (re.compile(rb"(?m)^[ \t]*(?:export[ \t]+)?[A-Z][A-Z0-9_]*(?:KEY|SECRET|TOKEN|PASSWORD|PASSWD)[A-Z0-9_]*"
                rb"[ \t]*=[ \t]*['\"]?[^\s'\"#]{4,}"), "a key assignment (NAME_KEY=value)"),
    (re.compile(rb"(?m)^[ \t]*(?:api_key|apikey|key|secret|token|password)[ \t]*:[ \t]*['\"]?[A-Za-z0-9_+/=.-]{16,}"),
     "a key in YAML (key: value)"),
)
_ANY_SECRET = re.compile(b"|".join(b"(?:" + p.pattern.replace(b"(?m)", b"") + b")" for p, _ in SECRETS), re.M)
#: literals of which every match of SECRETS holds one (checked by tests/monitor/test_checkpoint.py)
_HINTS = (b"-----BEGIN ", b"sk-", b"KEY", b"SECRET", b"TOKEN", b"PASS", b"key", b"secret", b"token", b"password")
MAX_SCAN = 1 << 20
#: a first checkpoint of at least this many files takes the streamed path (see the module's doc)
STREAM_MIN = 1000
#: the attributes under which ``git add`` would not store a file's bytes as they are (convert.c)
_CONVERTING = frozenset({"crlf", "ident", "filter", "eol", "text", "working-tree-encoding"})
_FALSE = frozenset({"false", "no", "off", "0", ""})
IDENTITY = ("robe", "robe@localhost")
#: a result's answer, in a house's completed/ or its archive (with --root: under <house>/)
_RESULT_RE = re.compile(r"(?:\A|/)completed/(?:archive/)?([A-Z][A-Z0-9]*-[0-9]+)(?:\.[0-9]+)*\.txt\Z")


@dataclass(frozen=True, order=True)
class Refused:
    """A file a checkpoint did not commit, and why."""

    path: str
    why: str


@dataclass(frozen=True)
class CheckpointResult:
    """What one checkpoint did."""

    name: str  # the wizard, or "root"
    folder: str
    commit: str | None = None
    message: str = ""
    refused: tuple[Refused, ...] = ()
    created: bool = False
    pushed: bool | None = None
    error: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error)

    def line(self) -> str:
        if self.error and not self.commit:
            return f"{self.name}: {self.error}"
        text = (f"{self.name}: committed {self.commit[:10]} {self.message}" if self.commit
                else f"{self.name}: nothing changed since the last checkpoint")
        if self.pushed:
            text += " (pushed)"
        if self.error:
            text += f"; {self.error}"
        return text

    def to_dict(self) -> dict:
        return {"name": self.name, "folder": self.folder, "commit": self.commit, "message": self.message,
                "refused": [asdict(r) for r in self.refused], "created": self.created, "pushed": self.pushed,
                "error": self.error or None}


def looks_secret(path: str) -> str | None:
    """What secret ``path`` seems to hold, or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        data = _read(fd, MAX_SCAN, os.fstat(fd).st_size)
    except OSError:
        return None
    finally:
        os.close(fd)
    return secret_in(data)


def _read(fd: int, limit: int, size: int) -> bytes:
    """Up to ``limit`` bytes of the open file ``fd`` whose size fstat gave as ``size``.

    os.read allocates the buffer it is asked for: asking a 100-byte file for MAX_SCAN bytes
    costs a 1 MiB allocation and its page faults, three times the read itself. So the first
    read asks for one byte more than ``size``; only a file that grew or read short reads on.
    """
    data = os.read(fd, min(size + 1, limit))
    if len(data) == size or len(data) >= limit:
        return data
    parts, n = [data], len(data)
    while n < limit:
        more = os.read(fd, min(limit - n, 1 << 16))
        if not more:
            break
        parts.append(more)
        n += len(more)
    return b"".join(parts)


def secret_in_any(datas: list[bytes]) -> bool:
    """Whether any of ``datas`` holds what :func:`secret_in` refuses, in one search of them all.

    No secret pattern matches across a line break, so the files joined by newlines match
    exactly when one of them does; and every match holds one of _HINTS, so bytes without
    any of those are clean without running the regular expression.
    """
    joined = b"\n".join(datas)
    return any(h in joined for h in _HINTS) and _ANY_SECRET.search(joined) is not None


def secret_in(data: bytes) -> str | None:
    """What secret the bytes ``data`` seem to hold, or None."""
    if not _ANY_SECRET.search(data):  # one pass over the bytes for the common, clean case
        return None
    for pattern, what in SECRETS:
        if pattern.search(data):
            return what
    return None


def open_repo(folder: str):
    """The repository at ``folder``, created (0700, .gitignore, local identity) when missing."""
    import git

    created = False
    if os.path.isdir(os.path.join(folder, ".git")):
        repo = git.Repo(folder)
    else:
        repo = git.Repo.init(folder)
        created = True
    os.chmod(os.path.join(folder, ".git"), 0o700)
    ignore = os.path.join(folder, ".gitignore")
    if not os.path.exists(ignore):
        with open(ignore, "w", encoding="utf-8") as f:
            f.write(GITIGNORE)
    # The same rules in .git/info/exclude, so they hold even when a person rewrites .gitignore.
    exclude = os.path.join(repo.git_dir, "info", "exclude")
    try:
        with open(exclude, encoding="utf-8") as f:
            current = f.read()
    except FileNotFoundError:
        current = ""
    if GITIGNORE not in current:
        os.makedirs(os.path.dirname(exclude), exist_ok=True)
        with open(exclude, "a", encoding="utf-8") as f:
            f.write(("\n" if current and not current.endswith("\n") else "") + GITIGNORE)
    with repo.config_reader("repository") as r:
        has_name = r.has_option("user", "name")
        has_email = r.has_option("user", "email")
    if not (has_name and has_email):
        with repo.config_writer("repository") as w:
            w.set_value("user", "name", IDENTITY[0])
            w.set_value("user", "email", IDENTITY[1])
    return repo, created


def _stage_scanned(repo, folder: str, name: str, entries, queue_rel: dict, warn) -> list[Refused]:
    """Scan every changed file, then let git stage the ones that passed; the refused files."""
    refused: list[Refused] = []
    add: list[str] = []
    add_queues: list[str] = []
    nested: list[str] = []
    for xy, rel in entries:
        if rel.endswith("/"):  # a repository of its own inside (a house checkpointed alone)
            warn(f"warning: {name}: leaving out {rel}: it is a git repository of its own")
            nested.append(rel.rstrip("/"))  # and out of git add's reach (one without a commit fails it)
            continue
        path = os.path.join(folder, rel)
        if "D" not in xy and os.path.isfile(path) and not os.path.islink(path):
            why = looks_secret(path)
            if why:
                refused.append(Refused(rel, why))
                if xy[0] not in " ?":
                    repo.git.reset("-q", "--", rel)  # staged by someone earlier: take it back out
                continue
        (add_queues if rel in queue_rel else add).append(rel)
    _warn_refused(refused, name, folder, warn)
    if add:
        _stage(repo, add, excluded=[r.path for r in refused] + list(queue_rel) + nested)
    for rel in add_queues:
        with locked(queue_rel[rel]):  # a writer of the queue waits: no half-updated queue is staged
            repo.git.add("-A", "--", rel)
    return refused


def _warn_refused(refused: list[Refused], name: str, folder: str, warn) -> None:
    for r in refused:
        warn(f"warning: {name}: not committing {r.path}: it looks like it holds a secret ({r.why}); "
             f"move the secret out of it, or add it to {os.path.join(folder, '.gitignore')}")


def _pipe(repo, args: list[str], data: bytes) -> bytes:
    """Run ``git *args`` through GitPython with ``data`` on its stdin; its stdout."""
    import git

    proc = repo.git.execute(["git", *args], istream=subprocess.PIPE, as_process=True)
    out, err = proc.proc.communicate(data)
    if proc.proc.returncode:
        raise git.GitCommandError(["git", *args], proc.proc.returncode, err)
    return out


def _config(repo, pattern: str) -> dict[str, str]:
    """The repository's effective git config values whose names match ``pattern`` (lower case)."""
    import git

    try:
        raw = repo.git.config("-z", "--get-regexp", pattern)
    except git.GitCommandError:  # exit 1: nothing set
        return {}
    out = {}
    for item in raw.split("\0"):
        key, _, value = item.partition("\n")
        if key:
            out[key.lower()] = value.strip().lower()  # the last one wins, as in git
    return out


def _snapshot(path: str) -> tuple[bytes, int] | None | bool:
    """The bytes and mode of the regular file ``path`` if it holds at most MAX_SCAN bytes;
    False if it is gone; None if it is something else (a symlink, a bigger file), for git to stage."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return False
    except OSError:  # a symlink (ELOOP), or unreadable: git's own add decides
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        data = _read(fd, MAX_SCAN + 1, st.st_size)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > MAX_SCAN:
        return None
    return data, st.st_mode


def _stage_streamed(repo, folder: str, name: str, entries, queue_rel: dict, warn) -> list[Refused] | None:
    """The first checkpoint of a big folder: stage exactly the bytes scanned; the refused files.

    Each file is read once: its bytes are scanned and, when clean, written to ``git
    fast-import`` (blobs only, no deltas), which packs them on the other core while the next
    files are read. The index is then built from the blobs' ids (``update-index
    --index-info``), so git never reads these files again to stage them and a file changed
    after its scan is committed as scanned; the next checkpoint sees the change. A refused
    file's bytes never reach git. Files git would not store byte for byte (symlinks, files
    over MAX_SCAN, files under a conversion attribute such as ``text`` or ``filter``) are
    scanned and then staged by git itself, as on the ordinary path. Queue files are read
    while holding their writer lock. None when the folder needs the ordinary path
    (``core.autocrlf`` on, or conversion attributes on most files).
    """
    import git

    if any(xy != "??" for xy, _ in entries):  # not a fresh folder after all
        return None
    cfg = _config(repo, r"^core\.(autocrlf|filemode)$")
    if cfg.get("core.autocrlf", "false") not in _FALSE:
        return None
    executable_bit = cfg.get("core.filemode", "true") not in _FALSE
    files = [rel for _, rel in entries if not rel.endswith("/")]
    raw = _pipe(repo, ["check-attr", "--all", "--stdin", "-z"], ("\0".join(files) + "\0").encode())
    bits = raw.split(b"\0")
    converted = {bits[i].decode() for i in range(0, len(bits) - 2, 3) if bits[i + 1].decode() in _CONVERTING}
    if len(converted) * 2 > len(files):
        return None
    for _, rel in entries:
        if rel.endswith("/"):
            warn(f"warning: {name}: leaving out {rel}: it is a git repository of its own")
    for stale in os.listdir(repo.git_dir):  # left by a run that was killed
        if stale.startswith("robe-marks-"):
            os.unlink(os.path.join(repo.git_dir, stale))

    refused: list[Refused] = []
    blobs: list[tuple[str, str]] = []  # (mode, path); the n-th blob is fast-import's mark :n
    by_git: list[str] = []             # scanned, then staged by git itself
    batch: list[tuple[str, bytes, int]] = []
    size = 0
    marks = os.path.join(repo.git_dir, f"robe-marks-{os.getpid()}")
    # MALLOC_TRIM_THRESHOLD_: fast-import sets up zlib (~250 KiB) for every blob; glibc would
    # hand that back to the kernel after each one and fault it in again (3x the time).
    proc = repo.git.execute(["git", "fast-import", "--quiet", "--done", "--depth=0", f"--export-marks={marks}"],
                            istream=subprocess.PIPE, as_process=True, with_stdout=False,
                            env={"MALLOC_TRIM_THRESHOLD_": str(64 << 20)})

    def flush() -> None:
        """Scan the batch; write its clean files to fast-import."""
        nonlocal size
        clean = batch if not secret_in_any([data for _, data, _ in batch]) else []
        if not clean:
            for item in batch:
                why = secret_in(item[1])
                if why:
                    refused.append(Refused(item[0], why))
                else:
                    clean.append(item)
        out = []
        for rel, data, st_mode in clean:
            blobs.append(("100755" if executable_bit and st_mode & stat.S_IXUSR else "100644", rel))
            out.append(b"blob\nmark :%d\ndata %d\n%s\n" % (len(blobs), len(data), data))
        proc.proc.stdin.write(b"".join(out))
        batch.clear()
        size = 0

    def take(rel: str, snap) -> bool:
        """One file's snapshot into the batch; False when git must stage the file itself."""
        nonlocal size
        if snap is False:  # gone since git status
            return True
        if snap is not None and rel not in converted:
            batch.append((rel, snap[0], snap[1]))
            size += len(snap[0])
            if size >= 1 << 16:
                flush()
            return True
        if snap is not None:
            why = secret_in(snap[0])
        else:  # as on the ordinary path: a regular file is scanned, a symlink is not
            path = os.path.join(folder, rel)
            why = looks_secret(path) if os.path.isfile(path) and not os.path.islink(path) else None
        if why:
            refused.append(Refused(rel, why))
            return True
        return False

    try:
        try:  # room for 1 MiB in the pipe: reading and scanning go on while fast-import catches up
            fcntl.fcntl(proc.proc.stdin.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
        except OSError:
            pass
        base = folder + os.sep
        for rel in files:
            if rel not in queue_rel and not take(rel, _snapshot(base + rel)):
                by_git.append(rel)
        for rel in files:
            if rel in queue_rel:
                with locked(queue_rel[rel]):  # a writer of the queue waits: its bytes are read whole
                    if not take(rel, _snapshot(base + rel)):
                        repo.git.add("-A", "--", rel)
        flush()
        proc.proc.stdin.write(b"done\n")
        proc.proc.stdin.close()
        err = proc.proc.stderr.read()
        if proc.proc.wait():
            raise git.GitCommandError(["git", "fast-import"], proc.proc.returncode, err)
        with open(marks, encoding="ascii") as f:
            ids = dict(line.split() for line in f)
    except BrokenPipeError:  # fast-import stopped early: say why
        err = proc.proc.stderr.read()
        raise git.GitCommandError(["git", "fast-import"], proc.proc.wait(), err) from None
    finally:
        if proc.proc.poll() is None:  # robe failed half-way
            proc.proc.kill()
            proc.proc.wait()
        for pipe in (proc.proc.stdin, proc.proc.stderr):
            try:
                pipe.close()
            except OSError:  # BrokenPipeError flushing what fast-import never read
                pass
        try:
            os.unlink(marks)
        except FileNotFoundError:
            pass
    _warn_refused(refused, name, folder, warn)
    if blobs:
        _pipe(repo, ["update-index", "--add", "-z", "--index-info"],
              "".join(f"{mode} {ids[f':{n}']}\t{rel}\0" for n, (mode, rel) in enumerate(blobs, 1)).encode())
    if by_git:
        _pipe(repo, ["update-index", "--add", "--remove", "-z", "--stdin"], ("\0".join(by_git) + "\0").encode())
    return refused


def _stage(repo, paths: list[str], excluded: list[str]) -> None:
    """Stage exactly ``paths`` (the files scanned), fast for tens of thousands of files.

    ``git add -A`` with the few excluded paths as pathspecs is linear, where naming 30,000
    paths as pathspecs is quadratic; ``core.bigFileThreshold=1`` (for this command only)
    streams the blobs into one pack instead of 30,000 loose object files. A file that
    appeared after the scan is staged by that too: it is taken out again, for the next
    checkpoint to scan.
    """
    want = set(paths)
    specs = ["."] + [f":(exclude,literal){p}" for p in excluded]
    big = ["-c", "core.bigFileThreshold=1"] if len(paths) > 200 else []
    repo.git.execute(["git", *big, "add", "-A", "--", *specs])
    raw = repo.git.diff("--cached", "--name-only", "-z", "--no-renames")
    extra = [p for p in raw.split("\0") if p and p not in want and p not in excluded]
    if extra:
        repo.git.execute(["git", "reset", "-q", "--", *[f":(literal){p}" for p in extra]])


def _status(repo) -> list[tuple[str, str]]:
    """(XY, path) of every change in the work tree, untracked files one by one."""
    raw = repo.git.status("--porcelain=v1", "-z", "--untracked-files=all", "--no-renames")
    out = []
    for entry in raw.split("\0"):
        if len(entry) > 3:
            out.append((entry[:2], entry[3:]))
    return out


def _parse_statuses(text: str | None, path: str) -> dict[str, str]:
    if text is None:
        return {}
    return {t.id: t.status.value for t in parse(text, path).tasks}


def _show(repo, spec: str) -> str | None:
    import git

    try:
        return repo.git.show(spec, strip_newline_in_stdout=False)
    except git.GitCommandError:
        return None


def _message(repo, staged: list[tuple[str, str]], queues: list[str], moment: _dt.datetime) -> str:
    changes = []
    has_head = repo.head.is_valid()
    staged_paths = {p for _, p in staged}
    for rel in queues:
        if rel not in staged_paths or not has_head:  # the first checkpoint: every task would be news
            continue
        old = _parse_statuses(_show(repo, f"HEAD:{rel}") if has_head else None, rel)
        new = _parse_statuses(_show(repo, f":{rel}"), rel)
        changes += [f"{tid} {st}" for tid, st in new.items() if old.get(tid) != st]
    gone = {m.group(1) for s, p in staged if s == "D" and (m := _RESULT_RE.search(p))}
    results = sum(1 for s, p in staged if s == "A" and (m := _RESULT_RE.search(p)) and m.group(1) not in gone)
    parts = changes[:6] + ([f"{len(changes) - 6} more tasks"] if len(changes) > 6 else [])
    if not has_head:
        parts.append(f"first checkpoint, {len(staged)} file{'s' if len(staged) != 1 else ''}")
    if results:
        parts.append(f"{results} result{'s' if results != 1 else ''}")
    if not changes and has_head and not results:
        parts.append(f"{len(staged)} file{'s' if len(staged) != 1 else ''} changed")
    return f"checkpoint {moment.strftime('%Y-%m-%d %H:%M')} UTC — " + ", ".join(parts)


def checkpoint(folder: str, *, name: str = "", queues: tuple[str, ...] = (), push: bool = False,
               remote: str = "origin", now: _dt.datetime | None = None,
               warn: Callable[[str], None] = lambda _l: None) -> CheckpointResult:
    """Commit what changed in ``folder``; ``queues`` are queue files to stage under their lock."""
    import git

    folder = os.path.realpath(folder)
    name = name or os.path.basename(folder)
    if not os.path.isdir(folder):
        return CheckpointResult(name, folder, error=f"{folder} does not exist; nothing to checkpoint")
    try:
        repo, created = open_repo(folder)
    except (git.GitError, OSError) as e:
        return CheckpointResult(name, folder, error=f"cannot open or create a git repository in {folder}: {e}")
    try:  # closing ends GitPython's persistent cat-file processes, not left to the garbage collector
        queue_rel = {}
        for q in queues:
            rq = os.path.realpath(q)
            if rq.startswith(folder + os.sep):
                queue_rel[os.path.relpath(rq, folder)] = q

        entries = _status(repo)
        refused = None
        if (len(entries) >= STREAM_MIN and not repo.head.is_valid()
                and not os.path.exists(os.path.join(repo.git_dir, "index"))):
            refused = _stage_streamed(repo, folder, name, entries, queue_rel, warn)
        if refused is None:
            refused = _stage_scanned(repo, folder, name, entries, queue_rel, warn)

        staged = []
        raw = repo.git.diff("--cached", "--name-status", "-z", "--no-renames")
        bits = raw.split("\0")
        for i in range(0, len(bits) - 1, 2):
            staged.append((bits[i][:1], bits[i + 1]))
        if not staged:
            return CheckpointResult(name, folder, refused=tuple(refused), created=created)
        message = _message(repo, staged, list(queue_rel), now or _now())
        repo.git(c="commit.gpgsign=false").commit("-q", "--no-verify", "-m", message)
        sha = repo.head.commit.hexsha
        result = CheckpointResult(name, folder, sha, message, tuple(refused), created)
        if push:
            result = replace(result, **_push(repo, remote))
        return result
    finally:
        repo.close()


def _push(repo, remote: str) -> dict:
    import git

    try:
        target = repo.remote(remote)
    except ValueError:
        return {"pushed": False, "error": f"push failed: the repository has no remote named {remote!r}; add one with "
                                          f"'git -C {repo.working_tree_dir} remote add {remote} URL'"}
    branch = repo.active_branch.name
    try:
        infos = target.push(refspec=f"HEAD:refs/heads/{branch}")
    except git.GitCommandError as e:
        detail = (e.stderr or str(e)).strip().splitlines()
        return {"pushed": False, "error": f"push to {remote} failed: {detail[-1] if detail else e}"}
    bad = git.PushInfo.ERROR | git.PushInfo.REJECTED | git.PushInfo.REMOTE_REJECTED | git.PushInfo.REMOTE_FAILURE
    for info in infos:
        if info.flags & bad:
            why = info.summary.strip() or "rejected"
            return {"pushed": False, "error": f"push to {remote} was rejected ({why}): the remote has commits this "
                                              "checkpoint does not; pull them in first, then checkpoint again"}
    if not infos:
        return {"pushed": False, "error": f"push to {remote} failed: git reported nothing pushed"}
    return {"pushed": True}


def checkpoint_fleet(fleet, wizards=None, *, root: bool = False, push: bool = False, remote: str = "origin",
                     now: _dt.datetime | None = None, err: Callable[[str], None] = lambda _l: None) -> list[CheckpointResult]:
    """One checkpoint per chosen wizard's house, or one of the fleet root with ``root``."""
    chosen = [fleet.wizard(n) for n in dict.fromkeys(wizards)] if wizards else list(fleet.wizards)
    if root:
        return [checkpoint(fleet.root, name="root", queues=tuple(dict.fromkeys(w.queue for w in fleet.wizards)),
                           push=push, remote=remote, now=now, warn=err)]
    return [checkpoint(w.house, name=w.name, queues=(w.queue,), push=push, remote=remote, now=now, warn=err)
            for w in chosen]
