"""cron's commands keep nothing outside the fleet: with HOME and XDG_CACHE_HOME pointed at empty
folders, a whole round (dispatch, execute, monitor, report, checkpoint) writes nothing there,
and a leftover ~/.cache/robe from an older robe is neither read nor touched."""

from __future__ import annotations

import os
import subprocess

from ..support import bin_path, write, write_fleet


def tree(folder) -> list[str]:
    out = []
    for dirpath, dirs, files in os.walk(folder):
        out += [os.path.relpath(os.path.join(dirpath, n), folder) for n in dirs + files]
    return sorted(out)


def test_a_cron_round_writes_nothing_in_home_or_the_cache(tmp_path):
    fleet = tmp_path / "fleet"
    path = write_fleet(fleet, {"ezra": {"max_active": 5}})
    write(fleet / "ezra" / "WORK-QUEUE.md", "- [ ] TASK-1 P1 PENDING one\n- [ ] TASK-2 P1 PENDING two\n")
    home, cache = tmp_path / "home", tmp_path / "xdg-cache"
    home.mkdir()
    cache.mkdir()
    # What an older robe left: kept parses and compiled patterns. Garbage now, and ignored.
    old = write(home / ".cache" / "robe" / "queue" / "0123456789abcdef.marshal", "not a parse")
    before_old = os.stat(old).st_mtime_ns
    env = dict(os.environ, HOME=str(home), XDG_CACHE_HOME=str(cache), ROBE_FLEET=path)
    env.pop("ROBE_CACHE_DIR", None)
    for argv in (["openclaw-work"], ["robe", "execute", "--once"], ["task-monitor"], ["progress-report"],
                 ["robe", "checkpoint"], ["robe", "status"], ["robe", "queue", "list", "-f",
                                                              str(fleet / "ezra" / "WORK-QUEUE.md")]):
        r = subprocess.run([bin_path(argv[0])] + argv[1:], env=env, cwd=str(tmp_path), capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, (argv, r.stdout, r.stderr)
    with open(fleet / "ezra" / "WORK-QUEUE.md") as f:
        assert f.read().count("COMPLETE") == 2
    assert tree(home) == [".cache", ".cache/robe", ".cache/robe/queue", ".cache/robe/queue/0123456789abcdef.marshal"]
    assert os.stat(old).st_mtime_ns == before_old
    assert tree(cache) == []


def test_robe_has_no_cache_folder_any_more():
    import robe

    src = os.path.dirname(robe.__file__)
    for dirpath, _, files in os.walk(src):
        for n in files:
            if n.endswith(".py"):
                with open(os.path.join(dirpath, n), encoding="utf-8") as f:
                    text = f.read()
                assert "XDG_CACHE_HOME" not in text and "ROBE_CACHE_DIR" not in text, n
    # robe.queue.cache is robe run's parses kept in memory (Snapshots), not a folder on disk:
    # the round above is what shows nothing is written outside the fleet.
