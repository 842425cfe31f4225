"""kill -9 of a real ``robe run`` at random moments, each followed by a restart, while a person
edits the queue files (issue 17, "Reliability with real processes"): the small version of
bench/kill_run.py, which holds the procedure and the checks (200 tasks, 10 kills).

Every task must end COMPLETE exactly once (one COMPLETE result in completed/archive/, one
monitor transition to COMPLETE in the events), every queue file must parse after every kill,
and every note, added task and title change of the person must be in the files at the end.
"""

import os
import shutil
import sys
import time

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench")


@pytest.fixture
def kill_run(monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    monkeypatch.syspath_prepend(BENCH)
    import kill_run

    return kill_run


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("seed", [1])
def test_kill_9_of_robe_run_loses_nothing_and_runs_nothing_twice(kill_run, seed):
    t0 = time.monotonic()
    r = kill_run.run(tasks=200, kills=10, wizards=4, seed=seed, edits=40, pace=(0.1, 0.4), kill_wait=20.0,
                     timeout=60.0, keep=True)
    took = time.monotonic() - t0
    print(kill_run.describe(r), f"\n({took:.1f} s; the fleet, kept when the test fails: {r['folder']})",
          file=sys.stderr)
    assert r["kills"] == 10 and r["runs"] == 11
    assert r["kills_with_work_left"] >= 5, "the kills must land while there is work left"
    assert r["notes"] and r["title_edits"] and r["person_tasks"], "the person must have edited meanwhile"
    assert r["problems"] == []
    shutil.rmtree(r["folder"], ignore_errors=True)
