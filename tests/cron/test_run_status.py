"""'robe status' and 'robe wizard show' see the executors 'robe run' runs (issue 16, point 8):
robe run writes logs/executor.json in every house it serves, and the two commands read it."""

from __future__ import annotations

import json
import os
import subprocess

from .conftest import ROBE, robe_env, stop, wait_for


def robe(fleet, *args) -> subprocess.CompletedProcess:
    return subprocess.run([ROBE, *args, "--fleet", fleet.path], capture_output=True, text=True, env=robe_env(),
                          timeout=60)


def test_status_and_wizard_show_see_robe_runs_executors(make_fleet, tmp_path):
    fleet = make_fleet({"ezra": {}, "bob": {}})
    before = json.loads(robe(fleet, "status", "--json").stdout)
    assert [(s["wizard"], s["state"], s["executor"]["alive"]) for s in before] == [("ezra", "Dead", False),
                                                                                   ("bob", "Dead", False)]
    with open(tmp_path / "run.err", "wb") as err:
        run = subprocess.Popen([ROBE, "run", "--fleet", fleet.path], stdin=subprocess.DEVNULL, stdout=err,
                               stderr=err, env=robe_env(), cwd=str(tmp_path))
    try:
        for w in fleet.wizards:
            wait_for(lambda: os.path.exists(w.executor_file), 20, what=f"robe run's executor in {w.name}'s house")
            with open(w.executor_file) as f:
                beat = json.load(f)
            assert beat["pid"] == run.pid and beat["wizards"] == ["bob", "ezra"]
        now = json.loads(robe(fleet, "status", "--json").stdout)
        assert [(s["wizard"], s["state"], s["executor"]["alive"], s["executor"]["pid"]) for s in now] == [
            ("ezra", "Robed", True, run.pid), ("bob", "Robed", True, run.pid)]
        text = robe(fleet, "status").stdout.splitlines()
        assert text[1].split()[:4] == ["ezra", "Robed", "none", "up"]
        show = robe(fleet, "wizard", "show", "bob").stdout
        assert f"\nexecutor       pid {run.pid}, beat " in show and "\nstate          Robed\n" in show
    finally:
        assert stop(run) == 0
    after = json.loads(robe(fleet, "status", "--json").stdout)
    assert [s["executor"]["alive"] for s in after] == [False, False]
