"""robe checkpoint: a git repository per house, commits only on change, no secrets, push, no half files."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import threading

import git
from click.testing import CliRunner

from robe.cli import cli
from robe.checkpoint.commit import GITIGNORE, checkpoint
from robe.checkpoint.secrets import secret_in

from .helpers import T0, bin_path, read, write, write_result

UTC = dt.timezone.utc


def tracked(folder) -> list[str]:
    return sorted(git.Repo(str(folder)).git.ls_files().splitlines())


def test_first_checkpoint_creates_a_private_repository_with_a_gitignore(one_wizard):
    s = one_wizard
    house = s.house()
    write(house / "logs" / "events.jsonl", "{}\n")
    write(house / "home" / "state.db", "x")
    write(house / "home" / "SOUL.md", "# Ezra\n")
    r = checkpoint(str(house), name="ezra", queues=(s.qpath,), now=T0)
    assert r.created and r.commit and not r.failed
    assert stat.S_IMODE(os.stat(house / ".git").st_mode) == 0o700
    assert read(house / ".gitignore") == GITIGNORE
    assert tracked(house) == [".gitignore", "WORK-QUEUE.md", "home/SOUL.md"]
    assert r.message == "checkpoint 2026-11-22 06:00 UTC — first checkpoint, 3 files"
    repo = git.Repo(str(house))
    assert repo.head.commit.author.name == "robe" and repo.head.commit.message.strip() == r.message
    # Nothing changed: no commit.
    again = checkpoint(str(house), name="ezra", queues=(s.qpath,))
    assert again.commit is None and len(list(repo.iter_commits())) == 1
    assert again.line() == "ezra: nothing changed since the last checkpoint"


def test_message_names_status_changes_and_results(one_wizard):
    s = one_wizard
    house = s.house()
    checkpoint(str(house), queues=(s.qpath,))
    s.dispatch()
    write_result(house, "TASK-001")
    write_result(house, "TASK-002")
    s.monitor()
    r = checkpoint(str(house), queues=(s.qpath,), now=T0)
    assert r.message == ("checkpoint 2026-11-22 06:00 UTC — TASK-001 COMPLETE, TASK-002 COMPLETE, "
                         "TASK-003 IN_PROGRESS, 2 results")
    assert "completed/archive/TASK-001.1.txt" in tracked(house)


def test_secrets_are_never_committed_and_are_named(one_wizard, tmp_path):
    s = one_wizard
    house = s.house()
    key = "A" * 40
    write(house / ".env", f"API_SERVER_KEY={key}\n")
    write(house / "id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
    write(house / "notes.md", "Remember: the key is sk-proj-" + "x1" * 16 + "\n")
    write(house / "config" / "settings.env.txt", f"export OPENAI_API_KEY='{key}'\n")
    write(house / "home" / "config.yaml", f"platforms:\n  api_server:\n    extra:\n      key: {key}\n")
    write(house / "plain.md", "API_KEY= \nThe API_KEY is set in .env\nsk-short\n")
    # A .gitignore that forgot .env and keys: robe's rules in .git/info/exclude still keep them
    # out, and the scan refuses the secrets in files no rule names.
    write(house / ".gitignore", "logs/\n")
    warnings = []
    r = checkpoint(str(house), name="ezra", queues=(s.qpath,), warn=warnings.append)
    files = tracked(house)
    assert files == [".gitignore", "WORK-QUEUE.md", "plain.md"]
    refused = {x.path: x.why for x in r.refused}
    assert set(refused) == {"notes.md", "config/settings.env.txt", "home/config.yaml"}
    assert refused["notes.md"] == "API key (sk-...)"
    assert refused["config/settings.env.txt"] == "key assignment (NAME_KEY=value)"
    assert all(w.startswith("warning: ezra: not committing ") for w in warnings) and len(warnings) == 3
    assert "notes.md" in warnings[1] or any("notes.md" in w for w in warnings)
    # A private key under a name no rule knows is refused by its content.
    write(house / "backup" / "deploy-key.txt", read(house / "id_rsa"))
    assert [x.why for x in checkpoint(str(house)).refused if x.path == "backup/deploy-key.txt"] == [
        "Private Key"]
    # Nothing of any secret is anywhere in the repository's objects.
    out = subprocess.run(["git", "-C", str(house), "log", "-p", "--all"], capture_output=True, text=True).stdout
    assert key not in out and "sk-proj" not in out and "PRIVATE KEY" not in out
    # A file that was clean, committed, then gets a secret: the new version is not committed.
    write(house / "plain.md", "now: sk-" + "z" * 30 + "\n")
    r2 = checkpoint(str(house), queues=(s.qpath,))
    assert r2.commit is None and "plain.md" in [x.path for x in r2.refused]


def test_default_gitignore_keeps_out_env_keys_dbs_logs_caches(tmp_path):
    house = tmp_path / "h"
    for rel in (".env", "id_ed25519", "server.pem", "home/state.db", "home/state.db-wal", "logs/x.log",
                "__pycache__/a.pyc", ".venv/bin/python", "work/.TASK-001.active.12.tmp", "WORK-QUEUE.md.lock",
                "home/.cache/x", "notes.md"):
        write(house / rel, "harmless\n")
    checkpoint(str(house))
    assert tracked(house) == [".gitignore", "notes.md"]


def test_push_to_a_bare_remote_and_a_rejected_push(one_wizard, tmp_path):
    s = one_wizard
    house = s.house()
    bare = tmp_path / "remote.git"
    git.Repo.init(str(bare), bare=True)
    r = checkpoint(str(house), queues=(s.qpath,))
    git.Repo(str(house)).create_remote("origin", str(bare))
    write(house / "notes.md", "one\n")
    r = checkpoint(str(house), queues=(s.qpath,), push=True)
    assert r.pushed is True and not r.failed
    assert git.Repo(str(bare)).head.commit.hexsha == r.commit
    # Someone else pushed meanwhile: our push is rejected and said so plainly.
    other = tmp_path / "other"
    clone = git.Repo.clone_from(str(bare), str(other))
    with clone.config_writer() as w:
        w.set_value("user", "name", "x")
        w.set_value("user", "email", "x@localhost")
    write(other / "theirs.md", "theirs\n")
    clone.index.add(["theirs.md"])
    clone.index.commit("theirs")
    clone.remote("origin").push()
    write(house / "notes.md", "two\n")
    r = checkpoint(str(house), queues=(s.qpath,), push=True)
    assert r.commit and r.pushed is False and r.failed
    assert "push to origin was rejected" in r.error and "pull them in first" in r.error


def test_no_remote_is_a_plain_error(one_wizard):
    s = one_wizard
    write(s.house() / "notes.md", "x\n")
    r = checkpoint(str(s.house()), queues=(s.qpath,), push=True)
    assert r.commit and r.failed and "no remote named 'origin'" in r.error


def test_a_checkpoint_while_a_writer_rewrites_the_queue_never_commits_a_half_file(one_wizard):
    from robe.queue import Change, Status, load, set_statuses

    s = one_wizard
    house = s.house()
    big = "# Queue\n\n" + "".join(f"### TASK-{i:03d}: Task {i}\n- Status: PENDING\n\n{'body ' * 200}\n\n"
                                   for i in range(1, 151))
    write(s.qpath, big)
    stop = threading.Event()

    def writer():
        k = 0
        while not stop.is_set():
            k += 1
            st = Status.IN_PROGRESS if k % 2 else Status.PENDING
            set_statuses(s.qpath, [Change(f"TASK-{i:03d}", st) for i in range(1, 151)])
            stop.wait(0.01)

    t = threading.Thread(target=writer)
    t.start()
    try:
        commits = 0
        for _ in range(8):
            write(house / "notes.md", f"{commits}\n")
            if checkpoint(str(house), queues=(s.qpath,)).commit:
                commits += 1
    finally:
        stop.set()
        t.join()
    repo = git.Repo(str(house))
    assert commits >= 6
    for c in repo.iter_commits():
        text = (c.tree / "WORK-QUEUE.md").data_stream.read().decode()
        q = __import__("robe.queue", fromlist=["parse"]).parse(text, "q")
        assert len(q.tasks) == 150 and not q.errors
        assert len({t.status for t in q.tasks}) == 1, "a queue caught half-way through one write"
    assert load(s.qpath).tasks


def test_cli_checkpoint_and_root(one_wizard, tmp_path):
    s = one_wizard
    r = CliRunner().invoke(cli, ["checkpoint", "--fleet", s.fleet_path], catch_exceptions=False)
    assert r.exit_code == 0 and r.output.startswith("ezra: committed ")
    r = CliRunner().invoke(cli, ["checkpoint", "--fleet", s.fleet_path], catch_exceptions=False)
    assert r.output == "ezra: nothing changed since the last checkpoint\n"
    # --root: one repository for the fleet root; the house, a repository of its own, is left out.
    r = CliRunner().invoke(cli, ["checkpoint", "--fleet", s.fleet_path, "--root", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert tracked(s.root) == [".gitignore", "fleet.yaml"]


def test_looks_secret_patterns(tmp_path):
    cases = {"API_SERVER_KEY=abcdef0123456789\n": True, "  export GITEA_TOKEN=\"abcdefgh\"\n": True,
             "api_key: abcdefghijklmnop1234\n": True, "sk-abcdefghijklmnopqrstuv\n": True,
             "-----BEGIN RSA PRIVATE KEY-----\n": True, "API_KEY=\n": False, "keys are in .env\n": False,
             "task-sk-1 notes\n": False, "- Status: PENDING\n": False}
    for i, (text, secret) in enumerate(cases.items()):
        assert bool(secret_in(text.encode())) is secret, text


def test_task_monitor_and_checkpoint_as_processes(one_wizard):
    s = one_wizard
    p = subprocess.run([bin_path("robe"), "checkpoint", "--fleet", s.fleet_path], capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k not in ("HOME", "GIT_CONFIG_GLOBAL")} |
                       {"HOME": str(s.root), "GIT_CONFIG_NOSYSTEM": "1"})
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("ezra: committed ")


def test_root_checkpoint_counts_results_in_every_house(one_wizard):
    s = one_wizard
    checkpoint(str(s.root), name="root", queues=(s.qpath,))
    s.dispatch()
    write_result(s.house(), "TASK-001")
    s.monitor()
    r = checkpoint(str(s.root), name="root", queues=(s.qpath,), now=T0)
    assert r.message == ("checkpoint 2026-11-22 06:00 UTC — TASK-001 COMPLETE, TASK-002 IN_PROGRESS, "
                         "TASK-003 IN_PROGRESS, 1 result")


# --- what is committed is exactly what was scanned ---------------------------------------------

import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from robe.checkpoint import commit as cp  # noqa: E402
from robe.checkpoint import secrets  # noqa: E402

SECRET_KEY = "sk-proj-" + "Q7" * 20


def objects_text(folder) -> bytes:
    """Every object in the repository's database, contents included."""
    return subprocess.run(["git", "-C", str(folder), "cat-file", "--batch-all-objects", "--batch"],
                          capture_output=True, check=True).stdout


def tree_of(folder) -> str:
    return subprocess.run(["git", "-C", str(folder), "ls-tree", "-r", "HEAD"], capture_output=True, text=True,
                          check=True).stdout


def make_big_house(house, n: int) -> None:
    """n results plus every kind of file a checkpoint must hand to git or refuse."""
    for i in range(1, n + 1):
        write(house / "completed" / "archive" / f"TASK-{i:05d}.1.txt", f"The answer to TASK-{i:05d}.\n")
    write(house / "notes" / "leak.md", f"the key: {SECRET_KEY}\n")
    write(house / "deep" / "settings.yaml", "token: " + "t0K3n" * 8 + "\n")
    write(house / "run.sh", "#!/bin/sh\necho hi\n")
    os.chmod(house / "run.sh", 0o755)
    os.symlink("notes/plain.md", house / "link.md")
    write(house / "notes" / "plain.md", "nothing to see\n")
    write(house / "big.txt", "x" * (2 << 20) + "\n")
    write(house / "big-leak.txt", "y" * (2 << 20) + "\nOPENAI_API_KEY=" + "A" * 40 + "\n")  # past the first MiB
    write(house / ".gitattributes", "*.crlf text eol=lf\n")
    with open(house / "dos.crlf", "wb") as f:
        f.write(b"one\r\ntwo\r\n")
    git.Repo.init(str(house / "sub"))
    write(house / "sub" / "inner.md", "its own repository\n")


def test_a_big_house_commits_what_git_add_would_less_what_it_refuses(one_wizard, tmp_path):
    s = one_wizard
    n = 1200
    house = tmp_path / "robe" / "ezra"
    make_big_house(house, n)
    write(house / "WORK-QUEUE.md", read(s.qpath))
    warnings = []
    r = checkpoint(str(house), name="ezra", queues=(str(house / "WORK-QUEUE.md"),), now=T0, warn=warnings.append)
    refused = {"notes/leak.md", "deep/settings.yaml", "big-leak.txt"}
    assert {x.path for x in r.refused} == refused
    assert all(any(p in w for w in warnings) for p in refused)
    # The same tree as git add -A makes of the same folder without the refused files.
    plain = tmp_path / "git" / "ezra"
    make_big_house(plain, n)
    write(plain / "WORK-QUEUE.md", read(s.qpath))
    for p in refused:
        os.unlink(plain / p)
    with open(plain / ".gitignore", "w") as f:
        f.write(GITIGNORE)
    repo = git.Repo.init(str(plain))
    repo.git.add("-A", "--", ".", ":(exclude)sub")
    repo.git.execute(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x"])
    assert tree_of(house) == tree_of(plain)
    tree = tree_of(house)
    assert "100755 blob" in next(x for x in tree.splitlines() if x.endswith("\trun.sh"))
    assert "120000 blob" in next(x for x in tree.splitlines() if x.endswith("\tlink.md"))
    assert "\tbig.txt" in tree and "\tsub" not in tree and "\tWORK-QUEUE.md" in tree
    dos = git.Repo(str(house)).git.show("HEAD:dos.crlf", strip_newline_in_stdout=False)
    assert dos == "one\ntwo\n"  # converted by git itself, under the .gitattributes rule
    assert r.message == f"checkpoint 2026-11-22 06:00 UTC — first checkpoint, {n + 8} files, {n} results"
    # No secret reached .git/objects; nothing of the run is left in .git; the index is clean.
    blob = objects_text(house)
    assert SECRET_KEY.encode() not in blob and b"t0K3n" not in blob and b"OPENAI_API_KEY" not in blob
    assert not [x for x in os.listdir(house / ".git") if x.startswith("robe-marks-")]
    assert stat.S_IMODE(os.stat(house / ".git").st_mode) == 0o700
    ours = git.Repo(str(house))
    assert ours.git.diff("--cached", "--name-only", "HEAD") == ""
    assert checkpoint(str(house), queues=(str(house / "WORK-QUEUE.md"),)).commit is None


def test_a_file_changed_after_its_scan_is_committed_as_scanned_and_its_secret_never_reaches_git(
        one_wizard, monkeypatch):
    s = one_wizard
    house = s.house()
    make_big_house(house, 300)
    target = str(house / "completed" / "archive" / "TASK-00007.1.txt")
    real = cp._snapshot

    def snapshot_then_write(path):
        got = real(path)
        if path == target:  # a writer puts a secret in just after the scan read the file
            with open(path, "w") as f:
                f.write(f"now with {SECRET_KEY}\n")
        return got

    monkeypatch.setattr(cp, "_snapshot", snapshot_then_write)
    r = checkpoint(str(house), queues=(s.qpath,))
    assert r.commit
    repo = git.Repo(str(house))
    assert repo.git.show("HEAD:completed/archive/TASK-00007.1.txt") == "The answer to TASK-00007."
    assert SECRET_KEY.encode() not in objects_text(house)
    # The change is seen by the next checkpoint, which refuses it and keeps the committed version.
    monkeypatch.setattr(cp, "_snapshot", real)
    again = checkpoint(str(house), queues=(s.qpath,))
    assert "completed/archive/TASK-00007.1.txt" in [x.path for x in again.refused]
    assert SECRET_KEY.encode() not in objects_text(house)
    assert repo.git.show("HEAD:completed/archive/TASK-00007.1.txt") == "The answer to TASK-00007."


def test_a_failed_checkpoint_stages_nothing_and_the_next_one_sweeps_stale_marks(one_wizard, monkeypatch):
    s = one_wizard
    house = s.house()
    make_big_house(house, 700)
    real = cp._snapshot
    seen = []

    def breaks(path):
        seen.append(path)
        if len(seen) == 600:
            raise OSError("the disk went away")
        return real(path)

    monkeypatch.setattr(cp, "_snapshot", breaks)
    with pytest.raises(OSError, match="the disk went away"):
        checkpoint(str(house), queues=(s.qpath,))
    git_dir = house / ".git"
    assert not [x for x in os.listdir(git_dir) if x.startswith("robe-marks-")]
    assert not os.path.exists(git_dir / "index") and not git.Repo(str(house)).head.is_valid()
    # A run killed outright leaves its marks file behind: the next one removes it.
    write(git_dir / "robe-marks-99999", ":1 " + "0" * 40 + "\n")
    monkeypatch.setattr(cp, "_snapshot", real)
    r = checkpoint(str(house), queues=(s.qpath,))
    assert r.commit and not os.path.exists(git_dir / "robe-marks-99999")
    assert "\tcompleted/archive/TASK-00600.1.txt" in tree_of(house)


def test_core_autocrlf_files_are_scanned_then_staged_by_git(one_wizard):
    s = one_wizard
    house = s.house()
    make_big_house(house, 10)
    with open(house / "notes" / "dos.md", "wb") as f:
        f.write(b"a\r\nb\r\n")
    repo = git.Repo.init(str(house))
    with repo.config_writer() as w:
        w.set_value("core", "autocrlf", "input")
    r = checkpoint(str(house), queues=(s.qpath,))
    assert r.commit and "notes/leak.md" in [x.path for x in r.refused]
    assert repo.git.show("HEAD:notes/dos.md", strip_newline_in_stdout=False) == "a\nb\n"
    assert SECRET_KEY.encode() not in objects_text(house)


_FRAGMENTS = [b"sk-", b"x" * 20, b"KEY", b"_KEY", b"=", b"'", b"\n", b" ", b"\t", b"export ", b"key", b": ",
              b"token", b"PASSWORD", b"-----BEGIN ", b"RSA ", b"PRIVATE KEY-----", b"A", b"abc", b"-", b"TASK-1",
              b"password", b"secret", b"SECRET", b"#", b"\r", b"api_key", b"0123456789abcdef", b"AKIA",
              b"ABCDEFGHIJKLMNOP", b"hf_", b"\0", "\ufeff".encode("utf-16")[:2]]


# Derandomized, as tests/queue/test_properties.py's: a run cannot fail on luck or on a slow machine.
@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map(b"".join), max_size=6))
def test_scanning_files_together_finds_what_scanning_them_one_by_one_finds(datas):
    if any(secrets.secret_in(d) for d in datas):
        assert not secrets.clean(datas)


def test_a_secret_anywhere_in_a_file_in_any_encoding_is_found():
    line = f"key = {SECRET_KEY}\n"
    assert secrets.secret_in(b"y" * (5 << 20) + line.encode())  # far past the first MiB
    for codec in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"):
        assert secrets.secret_in(("notes\n" + line).encode(codec)), codec
    assert secrets.secret_in(b"") is None and secrets.secret_in("plain words, ünïcode ✓\n".encode("utf-16")) is None


def test_a_checkpoint_killed_half_way_leaves_a_folder_the_next_one_commits_whole(tmp_path):
    house = tmp_path / "h"
    n = 2000
    for i in range(1, n + 1):
        write(house / "completed" / "archive" / f"TASK-{i:05d}.1.txt",
              f"The answer to TASK-{i:05d}, in enough words to make about a hundred bytes of text.\n")
    write(house / "notes" / "leak.md", f"the key: {SECRET_KEY}\n")
    killer = ("import os, sys\n"
              "from robe.checkpoint import commit as cp\n"
              "real, seen = cp._fast_import, []\n"
              "def blobs(repo, datas):\n"
              "    ids = real(repo, datas)\n"
              "    os._exit(9)\n"  # written into the repository, not yet staged
              "cp._fast_import = blobs\n"
              "cp.checkpoint(sys.argv[1])\n")
    p = subprocess.run([os.sys.executable, "-c", killer, str(house)], capture_output=True, text=True)
    assert p.returncode == 9, p.stderr
    assert not os.path.exists(house / ".git" / "index")  # nothing was staged: the next run starts afresh
    r = checkpoint(str(house))
    assert r.commit and [x.path for x in r.refused] == ["notes/leak.md"]
    assert subprocess.run(["git", "-C", str(house), "fsck", "--no-progress"], capture_output=True).returncode == 0
    assert len(tracked(house)) == n + 1  # the results and .gitignore
    assert SECRET_KEY.encode() not in objects_text(house)
