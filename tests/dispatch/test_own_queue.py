"""A wizard's own queue goes to that wizard (issue 16, point 1), through the CLI as a user types it.

Routing: Assignee, else the first route that fits, else the queue's one wizard, else
default_wizard. Every dispatch line names the queue file and the line; and 'robe queue list
--wizard W --ready' lists exactly what 'robe dispatch --wizard W --dry-run' takes, in the same
order, on generated fleets and queues.
"""

from __future__ import annotations

import json
import os
import tempfile

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robe.cli import cli
from robe.house import House, new_claim
from robe.queue import load

from ..support import settle
from .dispatch_helpers import write


def robe(*args, cwd=None):
    """``robe ARGS`` in-process, from ``cwd`` (so paths print as a person there sees them)."""
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(old)


def test_tasks_in_a_wizards_own_queue_go_to_it_not_to_default_wizard(tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    assert robe("init", tmp_path, "--agent", "echo").exit_code == 0  # default_wizard: allegro
    assert robe("wizard", "create", "ezra", "--agent", "echo", cwd=tmp_path).exit_code == 0
    assert robe("wizard", "set", "ezra", "max_active=2", cwd=tmp_path).exit_code == 0
    write(tmp_path / "ezra" / "WORK-QUEUE.md", """
    # Tasks for ezra

    - [ ] TASK-001 P1 Summarise the logs
    - [ ] TASK-002 P0 Rotate the keys
    """)
    settle(tmp_path / "ezra" / "WORK-QUEUE.md", tmp_path / "allegro" / "WORK-QUEUE.md")
    r = robe("dispatch", "--wizard", "ezra", "--dry-run", cwd=tmp_path)
    assert (r.exit_code, r.stdout) == (0, "ezra: would dispatch TASK-002 (P0) attempt 1 from ezra/WORK-QUEUE.md:4\n"
                                          "ezra: would dispatch TASK-001 (P1) attempt 1 from ezra/WORK-QUEUE.md:3\n")
    r = robe("dispatch", "-w", "allegro", "--dry-run", cwd=tmp_path)  # allegro's own example queue only
    assert r.stdout == "allegro: would dispatch TASK-001 (P1) attempt 1 from allegro/WORK-QUEUE.md:8\n"
    r = robe("dispatch", "-w", "ezra", cwd=tmp_path)
    assert r.stdout.splitlines() == ["ezra: dispatched TASK-002 (P0) attempt 1 from ezra/WORK-QUEUE.md:4",
                                     "ezra: dispatched TASK-001 (P1) attempt 1 from ezra/WORK-QUEUE.md:3"]
    assert sorted(os.listdir(tmp_path / "ezra" / "work")) == ["TASK-001.active", "TASK-002.active"]
    assert os.listdir(tmp_path / "allegro" / "work") == []


def test_a_shared_queue_still_goes_to_default_wizard_and_an_assignee_or_route_wins(tmp_path):
    fleet = write(tmp_path / "fleet.yaml", """
    root: .
    ports: {first: 20410, last: 20420}
    default_wizard: allegro
    wizards:
      ezra: {port: 20410, agent: echo, queue: WORK-QUEUE.md, max_active: 5}
      allegro: {port: 20411, agent: echo, queue: WORK-QUEUE.md, max_active: 5}
      bob: {port: 20412, agent: echo, max_active: 5}
    routes:
      - match: {tags: [research]}
        wizard: ezra
    """)
    write(tmp_path / "WORK-QUEUE.md", """
    - [ ] TASK-1 P1 shared, nobody named: default_wizard
    - [ ] TASK-2 P1 named
      - Assignee: ezra
    - [ ] TASK-3 P1 a route
      - Tags: research
    """)
    write(tmp_path / "bob" / "WORK-QUEUE.md", """
    - [ ] TASK-1 P2 bob's own
    - [ ] TASK-9 P2 research in bob's queue: the route wins over the owner
      - Tags: research
    """)
    settle(tmp_path / "WORK-QUEUE.md", tmp_path / "bob" / "WORK-QUEUE.md")
    r = robe("dispatch", "--fleet", fleet, "--dry-run", cwd=tmp_path)
    assert r.stdout.splitlines() == [
        "ezra: would dispatch TASK-2 (P1) attempt 1 from WORK-QUEUE.md:2",
        "ezra: would dispatch TASK-3 (P1) attempt 1 from WORK-QUEUE.md:4",
        "ezra: would dispatch TASK-9 (P2) attempt 1 from bob/WORK-QUEUE.md:2",
        "allegro: would dispatch TASK-1 (P1) attempt 1 from WORK-QUEUE.md:1",
        "bob: would dispatch TASK-1 (P2) attempt 1 from bob/WORK-QUEUE.md:1",
    ]
    # queue list -w shows the same routing, from every queue of the fleet
    r = robe("queue", "list", "--fleet", fleet, "-w", "ezra", "--ready", "--json", cwd=tmp_path)
    assert [(t["id"], os.path.relpath(t["queue"], tmp_path)) for t in json.loads(r.stdout)] == [
        ("TASK-2", "WORK-QUEUE.md"), ("TASK-3", "WORK-QUEUE.md"), ("TASK-9", os.path.join("bob", "WORK-QUEUE.md"))]


# --- the property: queue list --ready == dispatch --dry-run -----------------------------------

NAMES = ["ezra", "allegro", "bob"]


@st.composite
def fleets(draw):
    """(fleet.yaml text, {queue file: queue text}, [(wizard, queue file, task ID, marked)] claims,
    {wizard: max_active})."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    lines = ["root: .", "ports: {first: 20500, last: 20599}"]
    default = draw(st.sampled_from([None] + names))
    if default:
        lines.append(f"default_wizard: {default}")
    lines.append("wizards:")
    queue_of, max_active = {}, {}
    for i, n in enumerate(names):
        shared = draw(st.sampled_from([None, "WORK-QUEUE.md", "team/WORK-QUEUE.md"]))
        queue_of[n] = shared or f"{n}/WORK-QUEUE.md"
        max_active[n] = draw(st.integers(1, 6))
        floor = draw(st.sampled_from(["P0", "P1", "P2", "P3", "P3"]))
        lines.append(f"  {n}: {{port: {20500 + i}, agent: echo, max_active: {max_active[n]}, dispatch_floor: {floor}"
                     + (f", queue: {shared}}}" if shared else "}"))
    routes = draw(st.lists(st.tuples(st.sampled_from(["tags", "priority", "assignee"]), st.sampled_from(names)),
                           max_size=2))
    if routes:
        lines.append("routes:")
        for key, who in routes:
            want = {"tags": "[research]", "priority": "[P1]", "assignee": "[team]"}[key]
            lines += [f"  - match: {{{key}: {want}}}", f"    wizard: {who}"]
    queues = {}
    for path in dict.fromkeys(queue_of.values()):
        queues[path] = draw(queue_texts(names))
    claims = []
    for path, text in queues.items():
        for tid in draw(st.lists(st.sampled_from([f"TASK-{k}" for k in range(1, 9)]), max_size=2, unique=True)):
            if f"### {tid}:" in text:  # (marked False: a dispatcher died between the claim and the mark)
                claims.append((draw(st.sampled_from(names)), path, tid, draw(st.booleans())))
    return "\n".join(lines) + "\n", queues, claims, max_active


@st.composite
def queue_texts(draw, names):
    out = []
    for k in range(1, draw(st.integers(0, 8)) + 1):
        out.append(f"### TASK-{k}: task {k}")
        out.append(f"- Priority: {draw(st.sampled_from(['P0', 'P1', 'P2', 'P3']))}")
        out.append(f"- Status: {draw(st.sampled_from(['PENDING'] * 4 + ['COMPLETE', 'BLOCKED', 'FAILED']))}")
        who = draw(st.sampled_from([None, None, "team", "merlin"] + names))
        if who:
            out.append(f"- Assignee: {who}")
        if draw(st.booleans()):
            out.append("- Tags: research")
        if k > 1 and draw(st.integers(0, 3)) == 0:
            out.append(f"- Depends: TASK-{draw(st.integers(1, k - 1))}")
        out.append("")
    return "\n".join(out)


def _plant(folder, claims, queues) -> dict[str, int]:
    """Claims as the dispatcher makes them (the task marked IN_PROGRESS in its queue, unless the
    dispatcher died first); the live ones per wizard."""
    live: dict[str, int] = {}
    for wizard, qpath, tid, marked in claims:
        path = os.path.join(folder, qpath)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        head = text.index(f"### {tid}:")
        status_at = text.index("- Status: ", head)
        end = text.index("\n", status_at)
        if marked:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text[:status_at] + "- Status: IN_PROGRESS" + text[end:])
        task = load(path).get(tid)
        house = House(os.path.join(folder, wizard), wizard)
        os.makedirs(house.work, exist_ok=True)
        if house.create_claim(new_claim(task, wizard=wizard, attempt=1, lease_s=600, queue=path)):
            live[wizard] = live.get(wizard, 0) + 1
    return live


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleets())
def test_queue_list_ready_is_exactly_what_a_dry_run_takes(case):
    fleet_text, queues, claims, max_active = case
    with tempfile.TemporaryDirectory() as folder:
        fleet = os.path.join(folder, "fleet.yaml")
        with open(fleet, "w") as f:
            f.write(fleet_text)
        for qpath, text in queues.items():
            os.makedirs(os.path.dirname(os.path.join(folder, qpath)), exist_ok=True)
            with open(os.path.join(folder, qpath), "w") as f:
                f.write(text)
        live = _plant(folder, claims, queues)
        settle(*(os.path.join(folder, q) for q in queues))
        for name in max_active:
            listed = robe("queue", "list", "--fleet", fleet, "--wizard", name, "--ready", "--json")
            assert listed.exit_code == 0, listed.output
            ready = [(t["id"], t["queue"]) for t in json.loads(listed.stdout)]
            dry = robe("dispatch", "--fleet", fleet, "--wizard", name, "--dry-run", "--no-gateway", "--json")
            taken = [(c["id"], c["queue"]) for w in json.loads(dry.stdout)["wizards"] for c in w["claims"]]
            room = max(max_active[name] - live.get(name, 0), 0)
            assert taken == ready[:room], (name, fleet_text, queues, claims)
            # ... and in the same order the dry run prints them
            assert [line.split(" ")[3] for line in robe("dispatch", "--fleet", fleet, "-w", name, "--dry-run",
                                                        "--no-gateway").stdout.splitlines()] == [i for i, _ in taken]
