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
from robe.monitor.checkpoint import GITIGNORE, checkpoint, looks_secret

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
    assert refused["notes.md"] == "an API key (sk-...)"
    assert refused["config/settings.env.txt"] == "a key assignment (NAME_KEY=value)"
    assert all(w.startswith("warning: ezra: not committing ") for w in warnings) and len(warnings) == 3
    assert "notes.md" in warnings[1] or any("notes.md" in w for w in warnings)
    # A private key under a name no rule knows is refused by its content.
    write(house / "backup" / "deploy-key.txt", read(house / "id_rsa"))
    assert [x.why for x in checkpoint(str(house)).refused if x.path == "backup/deploy-key.txt"] == [
        "a private key block"]
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
        p = write(tmp_path / f"f{i}", text)
        assert bool(looks_secret(p)) is secret, text


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
