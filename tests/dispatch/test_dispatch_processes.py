"""Reliability with real openclaw-work processes: at once, killed at random, beside a person's edits."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time

import pytest
from .dispatch_helpers import bin_path, events, read, write, write_fleet

from robe.routing import route_task
from robe.fleet.config import load_fleet
from robe.queue import load

WIZARDS = ("ezra", "allegro", "primus")


def shared_fleet(tmp_path, n: int, max_active: int = 1000) -> tuple[str, str]:
    """A fleet of 3 wizards sharing one queue of ``n`` tasks in the three styles, routed 4 ways."""
    wizards = {w: {"queue": "WORK-QUEUE.md", "max_active": max_active} for w in WIZARDS}
    path = write_fleet(tmp_path, wizards, routes=[({"tags": ["research"]}, "ezra"), ({"id": ["BUG-*"]}, "primus")],
                       default="allegro")
    parts = ["# Shared queue\n\n## P1\n\n"]
    rows = []
    for i in range(1, n + 1):
        prefix = "BUG" if i % 5 == 0 else "TASK"
        tid = f"{prefix}-{i:03d}"
        kind = i % 3
        if kind == 0:
            tags = "research" if i % 2 else "chores"
            parts.append(f"### {tid}: Section task {i}\n- Status: PENDING\n- Tags: {tags}\n\nBody of {i}.\n\n")
        elif kind == 1:
            who = "\n  - Assignee: primus" if i % 7 == 0 else ""
            parts.append(f"- [ ] {tid} P{i % 4} PENDING List task {i}{who}\n\n")
        else:
            rows.append(f"| {tid} | PENDING | Table task {i} |\n")
    parts.append("## Table\n\n| ID | Status | Task |\n|----|--------|------|\n" + "".join(rows))
    qpath = write(tmp_path / "WORK-QUEUE.md", "".join(parts))
    old = time.time() - 3600  # written long ago: robe need not wait for the save to settle
    os.utime(qpath, (old, old))
    return path, qpath


def expected_routes(fleet_path, qpath) -> dict[str, str]:
    fleet = load_fleet(fleet_path)
    q = load(qpath)
    return {t.id: route_task(fleet, q.path, t).wizard for t in q.tasks}


def all_claims(tmp_path) -> dict[str, list[str]]:
    """task ID -> the wizards whose house holds a claim on it."""
    out: dict[str, list[str]] = {}
    for w in WIZARDS:
        work = tmp_path / w / "work"
        for n in (os.listdir(work) if os.path.isdir(work) else []):
            if n.endswith(".active"):
                out.setdefault(n[:-7], []).append(w)
    return out


def env():
    e = {k: v for k, v in os.environ.items() if k not in ("ROBE_FLEET", "PYTHONDONTWRITEBYTECODE")}
    return e


def statuses(qpath) -> dict[str, str]:
    q = load(qpath)
    assert not q.errors, q.errors
    return {t.id: t.status.value for t in q.tasks}


def assert_consistent(tmp_path, qpath, routes, n):
    claims = all_claims(tmp_path)
    st = statuses(qpath)
    assert len(st) == n
    twice = {t: ws for t, ws in claims.items() if len(ws) > 1}
    assert not twice, f"claimed twice: {twice}"
    wrong = {t: ws[0] for t, ws in claims.items() if ws[0] != routes[t]}
    assert not wrong, f"claimed by the wrong wizard: {wrong}"
    in_progress = {t for t, s in st.items() if s == "IN_PROGRESS"}
    records = {t: json.loads(read(tmp_path / w / "work" / f"{t}.active")) for t, (w,) in claims.items()}
    # A claim on a task that says PENDING is one a person's save set back after dispatch marked
    # it (a cancel, issue 16): its claim says it was marked.
    cancelled = {t for t in set(claims) - in_progress if st.get(t) == "PENDING" and records[t].get("marked_at")}
    assert in_progress == set(claims) - cancelled, (
        f"markdown and triggers disagree: IN_PROGRESS without a claim {sorted(in_progress - set(claims))}, "
        f"claims on other statuses {sorted(set(claims) - in_progress - cancelled)}")
    for t, (w,) in claims.items():
        rec = records[t]
        assert rec["id"] == t and rec["wizard"] == w and rec["attempt"] == 1
    dispatched: dict[str, int] = {}
    for w in WIZARDS:
        for e in events(tmp_path / w):
            if e.get("event") == "dispatch":
                dispatched[e["task"]] = dispatched.get(e["task"], 0) + 1
    assert not {t: k for t, k in dispatched.items() if k > 1}, "a dispatch event twice for one task"
    return claims, st


def test_eight_processes_at_once_claim_every_task_exactly_once(tmp_path):
    fleet, qpath = shared_fleet(tmp_path, 40, max_active=40)
    routes = expected_routes(fleet, qpath)
    assert set(routes.values()) == set(WIZARDS)
    exe = bin_path("openclaw-work")
    procs = [subprocess.Popen([exe, "--fleet", fleet], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env()) for _ in range(8)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [o[1] for o in outs]
    lines = [line for out, _ in outs for line in out.splitlines()]
    claimed = [line.split()[2] for line in lines]
    assert sorted(claimed) == sorted(routes), "every task dispatched exactly once"
    for line in lines:
        wizard, _, tid = line.split()[:3]
        assert wizard.rstrip(":") == routes[tid]
    claims, st = assert_consistent(tmp_path, qpath, routes, 40)
    assert set(claims) == set(routes) and set(st.values()) == {"IN_PROGRESS"}


@pytest.mark.slow
def test_sigkill_at_random_points_of_200_runs_loses_nothing(tmp_path):
    n = 240
    fleet, qpath = shared_fleet(tmp_path, n)
    routes = expected_routes(fleet, qpath)
    exe = bin_path("openclaw-work")
    rng = random.Random(4)
    # Learn how long a claiming run takes here, then kill anywhere from its start to a little past it.
    spans = []
    for _ in range(3):
        t0 = time.monotonic()
        subprocess.run([exe, "--fleet", fleet, "--max", "1"], env=env(), capture_output=True, timeout=60, check=True)
        spans.append(time.monotonic() - t0)
    span = max(spans)
    killed = 0
    for i in range(200):
        p = subprocess.Popen([exe, "--fleet", fleet, "--max", "1"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env())
        try:
            p.wait(timeout=rng.uniform(0.2, 1.3) * span)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=30)
            killed += 1
        # The file always parses, whole.
        q = load(qpath)
        assert not q.errors and len(q.tasks) == n, f"run {i}: {q.errors[:3]}"
        claims = all_claims(tmp_path)
        assert not {t: ws for t, ws in claims.items() if len(ws) > 1}, f"run {i}: a task claimed twice"
    assert killed >= 20 and 200 - killed >= 5, f"kills should land at varied points (killed {killed} of 200)"
    before = all_claims(tmp_path)
    clean = subprocess.run([exe, "--fleet", fleet, "--max", "0"], env=env(), capture_output=True, text=True,
                           timeout=60)
    assert clean.returncode == 0, clean.stderr
    claims, st = assert_consistent(tmp_path, qpath, routes, n)
    assert set(claims) == set(before), "the clean run neither lost nor made a trigger"
    assert len(claims) >= 100


def _person_edits(qpath, stop: threading.Event, done: list, rng: random.Random) -> None:
    """An editor: read, change, save (temp file + rename), a few times a second."""
    k = 0
    while not stop.is_set() and k < 12:
        k += 1
        text = read(qpath)
        if k % 2:
            text = text.rstrip("\n") + f"\n\n### NEW-{k}: Appended by a person\n- Status: BLOCKED\n\nnote {k}\n"
        else:
            target = f"Body of {k * 3}."
            assert target in text or f"Body of {k * 3} fixed." in text
            text = text.replace(target, f"Body of {k * 3} fixed.")
        tmp = str(qpath) + f".edit{k}"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, qpath)
        done.append(k)
        time.sleep(rng.uniform(0.05, 0.3))


def test_a_persons_edits_survive_four_dispatchers(tmp_path):
    n = 120
    fleet, qpath = shared_fleet(tmp_path, n)
    routes = expected_routes(fleet, qpath)
    exe = bin_path("openclaw-work")
    stop = threading.Event()
    failures: list = []

    def dispatcher():
        while not stop.is_set():
            p = subprocess.run([exe, "--fleet", fleet, "--max", "1"], env=env(), capture_output=True, text=True,
                               timeout=60)
            if p.returncode != 0:
                failures.append(p.stderr)

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for t in threads:
        t.start()
    done: list = []
    try:
        time.sleep(0.5)
        _person_edits(qpath, stop, done, random.Random(7))
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert not failures, failures[:2]
    assert len(done) == 12
    # one more run once the person is done (theirs kept the file from being quiet for long)
    subprocess.run([exe, "--fleet", fleet, "--max", "2"], env=env(), capture_output=True, timeout=60, check=True)
    text = read(qpath)
    for k in range(1, 13):
        if k % 2:
            assert f"### NEW-{k}: Appended by a person" in text, f"append {k} lost"
        else:
            assert f"Body of {k * 3} fixed." in text, f"typo fix {k} lost"
    claims, st = assert_consistent(tmp_path, qpath, routes, n + 6)
    assert len(claims) >= 4
