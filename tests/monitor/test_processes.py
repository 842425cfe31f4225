"""Real processes: task-monitor beside 4 dispatchers and an executor; task-monitor SIGKILLed and restarted."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time

from .conftest import Setup
from .helpers import bin_path, events, ls, monitor_events, queue_text, read, statuses, write, write_fleet, write_result

WIZARDS = ("ezra", "allegro")


def env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("ROBE_FLEET", "PYTHONDONTWRITEBYTECODE")}


def test_monitor_four_dispatchers_and_an_executor_finish_200_tasks_exactly_once(tmp_path):
    n = 200
    fleet = write_fleet(tmp_path, {w: {"queue": "WORK-QUEUE.md", "max_active": 25} for w in WIZARDS},
                        extra="routes:\n  - match: {tags: [research]}\n    wizard: ezra\n", default="allegro")
    text = "# Shared queue\n\n## P1\n\n"
    for i in range(1, n + 1):
        tags = "research" if i % 3 == 0 else "chores"
        if i % 2:
            text += f"### TASK-{i:03d}: Task {i}\n- Status: PENDING\n- Tags: {tags}\n\nBody {i}.\n\n"
        else:
            text += f"- [ ] TASK-{i:03d} P1 PENDING List task {i}\n  - Tags: {tags}\n\n"
    qpath = write(tmp_path / "WORK-QUEUE.md", text)
    stop = threading.Event()
    failures: list[str] = []

    def loop(argv):
        while not stop.is_set():
            p = subprocess.run(argv, env=env(), capture_output=True, text=True, timeout=60)
            if p.returncode != 0:
                failures.append(f"{argv[0]}: {p.stderr}")

    executor = subprocess.Popen([bin_path("robe"), "execute", "--fleet", fleet, "--scan-interval", "0.2",
                                 "--heartbeat-interval", "1", "--quiet"], env=env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    threads = [threading.Thread(target=loop, args=([bin_path("openclaw-work"), "--fleet", fleet, "--no-gateway"],))
               for _ in range(4)]
    threads.append(threading.Thread(target=loop, args=([bin_path("task-monitor"), "--fleet", fleet],)))
    for t in threads:
        t.start()
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if set(statuses(qpath).values()) == {"COMPLETE"}:
                break
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=70)
        executor.send_signal(signal.SIGTERM)
        _, executor_err = executor.communicate(timeout=30)
    assert not failures, failures[:3]
    assert executor.returncode == 0, executor_err
    st = statuses(qpath)
    assert len(st) == n and set(st.values()) == {"COMPLETE"}, {k: v for k, v in st.items() if v != "COMPLETE"}

    completed_events: dict[str, int] = {}
    ran: dict[str, int] = {}
    archived_claims, archived_results = [], []
    for w in WIZARDS:
        house = tmp_path / w
        for e in monitor_events(house):
            if e["to"] == "COMPLETE" and e["event"] == "result":
                completed_events[e["task"]] = completed_events.get(e["task"], 0) + 1
        for e in events(house):
            if str(e.get("by", "")).startswith("executor:") and e.get("step") == "result":
                ran[e["task"]] = ran.get(e["task"], 0) + 1
        assert [x for x in ls(house / "work") if x.endswith((".active", ".heartbeat"))] == []
        assert ls(house / "completed") == ["archive"]
        archived_claims += ls(house / "work" / "archive")
        archived_results += ls(house / "completed" / "archive")
    # Every task COMPLETE exactly once, run exactly once, and everything of it archived.
    assert sorted(completed_events) == sorted(st) and set(completed_events.values()) == {1}
    assert set(ran.values()) == {1} and len(ran) == n
    assert sorted(archived_claims) == sorted(f"{t}.1.active" for t in st)
    assert sorted(archived_results) == sorted(f"{t}.1.{x}" for t in st for x in ("json", "txt"))
    # The markdown agrees with the files: every list task's checkbox is ticked.
    assert "- [ ]" not in read(qpath)


def test_monitor_sigkilled_mid_run_and_restarted_loses_nothing_and_applies_nothing_twice(tmp_path):
    rounds, per_round = 8, 120
    fleet = write_fleet(tmp_path, {"ezra": {"max_active": per_round}})
    qpath = write(tmp_path / "ezra" / "WORK-QUEUE.md", queue_text(rounds * per_round))
    s = Setup(tmp_path, fleet, qpath)
    house = s.house()
    exe = bin_path("task-monitor")
    rng = random.Random(6)
    expected: dict[str, str] = {}
    attempts: set[tuple[str, int]] = set()
    kinds = ("COMPLETE", "RETRY", "COMPLETE")  # RETRY: back to PENDING, dispatched again in a later round
    killed = 0
    span = None
    for r in range(rounds):
        rep = s.dispatch(max_claims=per_round)
        for i, c in enumerate(rep.claims):
            kind = kinds[(r + i) % 3]
            write_result(house, c.id, kind, attempt=c.attempt, error=None if kind == "COMPLETE" else "later",
                         exit_code=0 if kind == "COMPLETE" else 75)
            expected[c.id] = "COMPLETE" if kind == "COMPLETE" else "PENDING"
            attempts.add((c.id, c.attempt))
        if span is None:  # learn how long a whole run takes here, on a copy of the work
            t0 = time.monotonic()
            p = subprocess.run([exe, "--fleet", fleet, "--json"], env=env(), capture_output=True, text=True,
                               timeout=60)
            span = time.monotonic() - t0
            assert p.returncode == 0, p.stderr
            assert len(json.loads(p.stdout)["transitions"]) == per_round
            continue
        for _ in range(3):  # kill up to three times in this round, anywhere in the run
            t0 = time.monotonic()
            p = subprocess.Popen([exe, "--fleet", fleet], env=env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            try:
                p.wait(timeout=rng.uniform(0.3, 1.1) * span)
                # It finished first: a run takes at most this long now (the first, measured one
                # may have been slowed by a busy machine), so later kills still land mid-run.
                span = min(span, max(time.monotonic() - t0, 0.05))
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.wait(timeout=30)
                killed += 1
            assert not statuses(qpath) is None  # the file always parses
        done = subprocess.run([exe, "--fleet", fleet], env=env(), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    assert killed >= 5, f"kills should land mid-run (killed {killed})"
    st = statuses(qpath)
    assert {t: st[t] for t in expected} == expected
    folded: dict[tuple, int] = {}
    for e in monitor_events(house):
        if e["event"] in ("result", "retry"):
            key = (e["task"], e["attempt"])
            folded[key] = folded.get(key, 0) + 1
    assert sorted(folded) == sorted(attempts), "every result folded"
    assert set(folded.values()) == {1}, "no result folded twice"
    assert ls(house / "work") == ["archive"] and ls(house / "completed") == ["archive"]
    archived = ls(house / "completed" / "archive")
    assert sorted(archived) == sorted(f"{t}.{a}.{x}" for t, a in attempts for x in ("json", "txt")), "no copy twice"
    assert sorted(ls(house / "work" / "archive")) == sorted(f"{t}.{a}.active" for t, a in attempts)
    assert max(a for _, a in attempts) >= 2
