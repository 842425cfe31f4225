"""Git checkpoints of a house (or of the fleet root): the seed's hourly ``git add -A && git commit``,
made safe.

- The folder becomes a repository on first use: ``.git`` at 0700, a default ``.gitignore``
  that keeps out ``.env``, keys, cloud and git credentials, databases, logs, caches,
  virtualenvs and temp files (a ``*.tmp`` is an atomic write half-way: never committed), and a
  local git identity, so no global git config is needed.
- Every new or changed file is read whole and scanned (robe.checkpoint.secrets); one that
  seems to hold a secret is not committed and is named in a warning.
- What is committed is exactly the bytes that were scanned: they are written into the
  repository by ``git fast-import`` and staged by their object ids, so a file that changes
  after its scan is committed as scanned (the next checkpoint sees the change), and nothing
  refused ever reaches ``.git/objects``. Only what git would not store byte for byte (a
  symlink, a file under a conversion attribute such as ``text``) is staged by ``git add``,
  after its scan.
- Queue files are read while holding the queue's writer lock, so a dispatcher or monitor
  writing at that moment cannot leave a half-updated queue in a commit.
- A commit is made only when something changed; its message names the tasks whose status
  changed and how many results came in.

GitPython is imported here only when a checkpoint is made.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import stat
import subprocess
from dataclasses import asdict, dataclass, replace
from typing import Callable

from ..clock import now as _now
from ..queue import locked, parse
from .secrets import clean, secret_in

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
.aws/
.git-credentials
.netrc
_netrc
.npmrc
.pypirc
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

#: a file larger than this is not scanned, so not committed (it is named in a warning)
MAX_SCAN = 64 * 1024 * 1024
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


def _snapshot(path: str) -> tuple[bytes, int] | str | None:
    """The bytes and mode of the regular file ``path``; "link" for a symlink (git stores its
    target); None when it is gone; a sentence when it cannot be scanned (too large, unreadable)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError:
        return "link" if os.path.islink(path) else "it cannot be read"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "it is not a regular file"
        if st.st_size > MAX_SCAN:
            return f"it is larger than the {MAX_SCAN >> 20} MiB robe scans"
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_SCAN:
                return f"it is larger than the {MAX_SCAN >> 20} MiB robe scans"
        return b"".join(chunks), st.st_mode
    except OSError:
        return "it cannot be read"
    finally:
        os.close(fd)


class _Stager:
    """Scans the changed files of one checkpoint and stages exactly the bytes it scanned."""

    def __init__(self, repo, folder: str, queue_rel: dict):
        self.repo, self.folder, self.queue_rel = repo, folder, queue_rel
        cfg = _config(repo, r"^core\.(autocrlf|filemode)$")
        self.autocrlf = cfg.get("core.autocrlf", "false") not in _FALSE
        self.executable_bit = cfg.get("core.filemode", "true") not in _FALSE
        self.refused: list[Refused] = []
        self.blobs: list[tuple[str, str, bytes]] = []  # (mode, path, bytes) to write and stage
        self.by_git: list[str] = []                   # scanned, then staged by git itself
        self.removed: list[str] = []

    def take(self, xy: str, rel: str, converted: set[str]) -> None:
        if "D" in xy or (snap := self._read(rel)) is None:
            self.removed.append(rel)
            return
        if isinstance(snap, str) and snap != "link":
            self.refused.append(Refused(rel, snap))
            return
        if snap == "link":  # git stores the link's target: that is what is scanned
            target = os.readlink(os.path.join(self.folder, rel)).encode("utf-8", "surrogateescape")
            why = secret_in(target)
            if why:
                self.refused.append(Refused(rel, why))
            else:
                self.by_git.append(rel)
            return
        data, mode = snap
        if rel in converted or self.autocrlf:  # git would not store these bytes as they are
            why = secret_in(data)
            if why:
                self.refused.append(Refused(rel, why))
            else:
                self.by_git.append(rel)
            return
        self.blobs.append(("100755" if self.executable_bit and mode & stat.S_IXUSR else "100644", rel, data))

    def _read(self, rel: str):
        path = os.path.join(self.folder, rel)
        if rel in self.queue_rel:
            with locked(self.queue_rel[rel]):  # a writer of the queue waits: its bytes are read whole
                return _snapshot(path)
        return _snapshot(path)

    def scan(self) -> None:
        """Drop the blobs that hold a secret, searching many files at a time."""
        kept, batch, size = [], [], 0
        for item in self.blobs + [None]:
            if item is not None:
                batch.append(item)
                size += len(item[2])
            if batch and (item is None or size >= 1 << 20):
                if clean([d for _, _, d in batch]):
                    kept += batch
                else:
                    for b in batch:
                        why = secret_in(b[2])
                        if why:
                            self.refused.append(Refused(b[1], why))
                        else:
                            kept.append(b)
                batch, size = [], 0
        self.blobs = kept

    def write(self) -> None:
        """The scanned bytes into the repository (fast-import), then into the index by id."""
        if self.blobs:
            ids = _fast_import(self.repo, [data for _, _, data in self.blobs])
            info = "".join(f"{mode} {ids[n]}\t{rel}\0" for n, (mode, rel, _) in enumerate(self.blobs))
            _pipe(self.repo, ["update-index", "--add", "-z", "--index-info"], info.encode("utf-8", "surrogateescape"))
        if self.by_git:
            self.repo.git.execute(["git", "add", "-A", "--", *[f":(literal){p}" for p in self.by_git]])
        refused = [r.path for r in self.refused]
        if refused and self.repo.head.is_valid():  # the index keeps what HEAD has of them, if anything
            self.repo.git.execute(["git", "reset", "-q", "--", *[f":(literal){p}" for p in refused]])
            refused = []
        gone = self.removed + refused  # (a refused file someone staged before the first commit goes too)
        if gone:
            _pipe(self.repo, ["update-index", "--force-remove", "-z", "--stdin"],
                  ("\0".join(gone) + "\0").encode("utf-8", "surrogateescape"))


def _fast_import(repo, datas: list[bytes]) -> list[str]:
    """Write ``datas`` as blobs into the repository; their object ids, in order."""
    marks = os.path.join(repo.git_dir, f"robe-marks-{os.getpid()}")
    stream = b"".join(b"blob\nmark :%d\ndata %d\n%s\n" % (n, len(d), d) for n, d in enumerate(datas, 1))
    try:
        _pipe(repo, ["fast-import", "--quiet", "--done", "--depth=0", f"--export-marks={marks}"], stream + b"done\n")
        with open(marks, encoding="ascii") as f:
            ids = dict(line.split() for line in f)
    finally:
        try:
            os.unlink(marks)
        except FileNotFoundError:
            pass
    return [ids[f":{n}"] for n in range(1, len(datas) + 1)]


def _stage(repo, folder: str, name: str, entries, queue_rel: dict, warn) -> list[Refused]:
    """Scan every changed file and stage the clean ones; the refused files."""
    files = []
    for xy, rel in entries:
        if rel.endswith("/"):  # a repository of its own inside (a house checkpointed alone)
            warn(f"warning: {name}: leaving out {rel}: it is a git repository of its own")
        else:
            files.append((xy, rel))
    raw = _pipe(repo, ["check-attr", "--all", "--stdin", "-z"],
                ("\0".join(rel for _, rel in files) + "\0").encode("utf-8", "surrogateescape"))
    bits = raw.decode("utf-8", "surrogateescape").split("\0")
    converted = {bits[i] for i in range(0, len(bits) - 2, 3) if bits[i + 1] in _CONVERTING}
    stager = _Stager(repo, folder, queue_rel)
    for xy, rel in files:
        stager.take(xy, rel, converted)
    stager.scan()
    stager.write()
    _warn_refused(stager.refused, name, folder, warn)
    return stager.refused


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

        for stale in os.listdir(repo.git_dir):  # left by a run that was killed
            if stale.startswith("robe-marks-"):
                os.unlink(os.path.join(repo.git_dir, stale))
        refused = _stage(repo, folder, name, _status(repo), queue_rel, warn)

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
