"""Git checkpoints of a house (or of the fleet root): the seed's hourly ``git add -A && git commit``,
made safe.

- The folder becomes a repository on first use: ``.git`` at 0700, a default ``.gitignore``
  that keeps out ``.env``, keys, databases, logs, caches, virtualenvs and temp files (a
  ``*.tmp`` is an atomic write half-way: never committed), and a local git identity, so no
  global git config is needed.
- Every new or changed file is read before it is staged; one that looks like it holds a
  secret (a private key block, an ``sk-...`` key, ``SOMETHING_KEY=value``) is not committed
  and is named in a warning. The rest is committed.
- Queue files are staged while holding the queue's writer lock, so a dispatcher or monitor
  writing at that moment cannot leave a half-updated queue in a commit.
- A commit is made only when something changed; its message names the tasks whose status
  changed and how many results came in.

GitPython is imported here only, so ``robe --version`` stays fast.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from typing import Callable, NamedTuple

from ..queue.events import now as _now

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
MAX_SCAN = 1 << 20
IDENTITY = ("robe", "robe@localhost")
#: a result's answer, in a house's completed/ or its archive (with --root: under <house>/)
_RESULT_RE = re.compile(r"(?:\A|/)completed/(?:archive/)?([A-Z][A-Z0-9]*-[0-9]+)(?:\.[0-9]+)*\.txt\Z")


class Refused(NamedTuple):
    path: str
    why: str


class CheckpointResult(NamedTuple):
    name: str                 # the wizard, or "root"
    folder: str
    commit: str | None = None
    message: str = ""
    refused: tuple = ()
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
                "refused": [r._asdict() for r in self.refused], "created": self.created, "pushed": self.pushed,
                "error": self.error or None}


def looks_secret(path: str) -> str | None:
    """What secret ``path`` seems to hold, or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        data = os.read(fd, MAX_SCAN)
    except OSError:
        return None
    finally:
        os.close(fd)
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
    from ..queue import parse

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

    from ..queue import locked

    folder = os.path.realpath(folder)
    name = name or os.path.basename(folder)
    if not os.path.isdir(folder):
        return CheckpointResult(name, folder, error=f"{folder} does not exist; nothing to checkpoint")
    try:
        repo, created = open_repo(folder)
    except (git.GitError, OSError) as e:
        return CheckpointResult(name, folder, error=f"cannot open or create a git repository in {folder}: {e}")
    queue_rel = {}
    for q in queues:
        rq = os.path.realpath(q)
        if rq.startswith(folder + os.sep):
            queue_rel[os.path.relpath(rq, folder)] = q

    refused: list[Refused] = []
    add: list[str] = []
    add_queues: list[str] = []
    for xy, rel in _status(repo):
        if rel.endswith("/"):  # a repository of its own inside (a house checkpointed alone)
            warn(f"warning: {name}: leaving out {rel}: it is a git repository of its own")
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
    for r in refused:
        warn(f"warning: {name}: not committing {r.path}: it looks like it holds a secret ({r.why}); "
             f"move the secret out of it, or add it to {os.path.join(folder, '.gitignore')}")
    if add:
        _stage(repo, add, excluded=[r.path for r in refused] + list(queue_rel))
    for rel in add_queues:
        with locked(queue_rel[rel]):  # a writer of the queue waits: no half-updated queue is staged
            repo.git.add("-A", "--", rel)

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
        result = result._replace(**_push(repo, remote))
    return result


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
