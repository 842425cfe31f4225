"""Which wizard takes a task: Assignee, first matching route (each key), default, sole reader."""

from __future__ import annotations


from .dispatch_helpers import claims_in, events, read, write, write_fleet

from robe.routing import route_task, routed_tasks
from robe.fleet.config import load_fleet
from robe.queue import load

QUEUE = """
# Work

## P0 — Critical

### TASK-001: Assigned to ezra
- Assignee: Ezra
- Tags: research

### TASK-002: Research without assignee
- Tags: nostr, research

## Chores

- [ ] BUG-7 P3 PENDING A bug in the list

### TASK-003: A chore
- Priority: P1

| ID | Status | Task | Assignee |
|----|--------|------|----------|
| TASK-010 | PENDING | Named nobody | merlin |
| TASK-011 | PENDING | Named an alias | research-team |
"""


def fleet_with(tmp_path, routes, default=None, shared=True):
    wizards = {"ezra": {}, "allegro": {}, "primus": {}}
    if shared:
        for w in wizards.values():
            w["queue"] = "WORK-QUEUE.md"
    path = write_fleet(tmp_path, wizards, routes=routes, default=default)
    q = write(tmp_path / "WORK-QUEUE.md", QUEUE)
    return load_fleet(path), load(q)


def where(fleet, queue):
    return {t.id: route_task(fleet, queue.path, t).wizard for t in queue.tasks}


def test_assignee_wins_over_routes_and_is_case_insensitive(tmp_path):
    fleet, q = fleet_with(tmp_path, [({"tags": ["research"]}, "primus")], default="allegro")
    got = where(fleet, q)
    assert got["TASK-001"] == "ezra"
    assert route_task(fleet, q.path, q.get("TASK-001")).how == "assignee"


def test_tags_match_any_of(tmp_path):
    fleet, q = fleet_with(tmp_path, [({"tags": ["gitea", "nostr"]}, "primus")])
    got = where(fleet, q)
    assert got["TASK-002"] == "primus"
    assert got["TASK-003"] is None  # no default, several readers: nobody


def test_priority_key(tmp_path):
    fleet, q = fleet_with(tmp_path, [({"priority": ["P1", "P3"]}, "primus")], default="allegro")
    got = where(fleet, q)
    assert got["TASK-003"] == "primus" and got["BUG-7"] == "primus"
    assert got["TASK-002"] == "allegro"


def test_section_key_is_the_enclosing_heading(tmp_path):
    fleet, q = fleet_with(tmp_path, [({"section": ["chores"]}, "primus")], default="allegro")
    got = where(fleet, q)
    assert got["TASK-003"] == "primus" and got["BUG-7"] == "primus"
    assert got["TASK-002"] == "allegro"  # under "P0 — Critical"


def test_id_key_is_a_glob(tmp_path):
    fleet, q = fleet_with(tmp_path, [({"id": ["bug-*"]}, "primus")], default="allegro")
    got = where(fleet, q)
    assert got["BUG-7"] == "primus"
    assert got["TASK-003"] == "allegro"


def test_all_keys_of_a_match_must_fit(tmp_path):
    fleet, q = fleet_with(tmp_path, [({"priority": ["P0"], "tags": ["nostr"]}, "primus")], default="allegro")
    got = where(fleet, q)
    assert got["TASK-002"] == "primus"  # P0 (inherited from the heading) and tagged nostr
    assert got["TASK-003"] == "allegro"


def test_first_matching_route_wins(tmp_path):
    fleet, q = fleet_with(tmp_path, [({"tags": ["nostr"]}, "ezra"), ({"tags": ["research"]}, "primus")])
    assert where(fleet, q)["TASK-002"] == "ezra"
    fleet, q = fleet_with(tmp_path, [({"tags": ["research"]}, "primus"), ({"tags": ["nostr"]}, "ezra")])
    assert where(fleet, q)["TASK-002"] == "primus"


def test_an_assignee_route_maps_a_name_that_is_no_wizard(tmp_path):
    fleet, q = fleet_with(tmp_path, [({"assignee": ["research-team"]}, "ezra")], default="allegro")
    got = where(fleet, q)
    assert got["TASK-011"] == "ezra"
    assert got["TASK-010"] is None  # merlin: unknown, not handed to the default
    assert route_task(fleet, q.path, q.get("TASK-010")).how == "unknown"


def test_a_route_without_assignee_key_never_reinterprets_a_named_person(tmp_path):
    fleet, q = fleet_with(tmp_path, [({"section": ["chores"]}, "primus")], default="allegro")
    assert route_task(fleet, q.path, q.get("TASK-010")).wizard is None


def test_default_wizard_then_sole_reader(tmp_path):
    fleet, q = fleet_with(tmp_path, [], default="primus")
    assert where(fleet, q)["TASK-003"] == "primus"
    # Each wizard reads its own house's queue: the only reader takes what nothing else claims.
    path = write_fleet(tmp_path, {"ezra": {}, "allegro": {}})
    fleet = load_fleet(path)
    own = write(tmp_path / "allegro" / "WORK-QUEUE.md", "### TASK-001: mine\n")
    q = load(own)
    r = route_task(fleet, q.path, q.get("TASK-001"))
    assert (r.wizard, r.how) == ("allegro", "owner")


def test_routed_tasks_in_file_order(tmp_path):
    fleet, q = fleet_with(tmp_path, [({"tags": ["research"]}, "ezra")], default="allegro")
    assert [t.id for t in routed_tasks(fleet, q, "ezra")] == ["TASK-001", "TASK-002"]
    assert [t.id for t in routed_tasks(fleet, q, "allegro")] == ["BUG-7", "TASK-003"]


def test_unknown_assignee_is_skipped_and_reported_every_run(tmp_path, dispatch_run):
    wizards = {"ezra": {"queue": "WORK-QUEUE.md", "max_active": 10}}
    path = write_fleet(tmp_path, wizards, default="ezra")
    write(tmp_path / "WORK-QUEUE.md", """
    - [ ] TASK-001 P0 PENDING For merlin
      - Assignee: merlin
    - [ ] TASK-002 P1 PENDING For anyone
    """)
    for n in (1, 2):
        run = dispatch_run(path)
        assert run.report.exit_code == 0
        assert [c.id for c in run.report.claims] == (["TASK-002"] if n == 1 else [])
        assert any("TASK-001 is assigned to 'merlin', which is not a wizard of this fleet" in e for e in run.err)
        assert [s["id"] for s in run.report.skipped] == ["TASK-001"]
    assert claims_in(tmp_path / "ezra") == ["TASK-002"]
    skipped = [e for e in events(tmp_path) if e.get("event") == "skipped"]
    assert [e["task"] for e in skipped] == ["TASK-001", "TASK-001"]
    assert "PENDING For merlin" in read(tmp_path / "WORK-QUEUE.md")
