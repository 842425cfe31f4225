"""Queue files in a run: each parsed once, missing or broken ones reported, others still served."""

from __future__ import annotations

import robe.queue.cache as cache
import robe.queue.store as store

from .dispatch_helpers import claims_in, write, write_fleet


def test_a_shared_queue_is_parsed_once_per_run_and_marked_in_one_write(tmp_path, dispatch_run, monkeypatch):
    wizards = {n: {"queue": "WORK-QUEUE.md", "max_active": 3} for n in ("ezra", "allegro", "primus")}
    path = write_fleet(tmp_path, wizards, routes=[({"tags": ["research"]}, "ezra"), ({"id": ["BUG-*"]}, "primus")],
                       default="allegro")
    write(tmp_path / "WORK-QUEUE.md", "".join(
        f"- [ ] {'BUG' if i % 3 == 0 else 'TASK'}-{i} P1 PENDING task {i}\n" + ("  - Tags: research\n" if i % 3 == 1 else "")
        for i in range(1, 13)))
    parses, writes = [], []
    real_parse, real_swap = cache.parse, store._swap

    def counting_parse(*a, **k):
        parses.append(a[1])
        return real_parse(*a, **k)

    def counting_write(*a, **k):
        writes.append(a[0])
        return real_swap(*a, **k)
    monkeypatch.setattr(cache, "parse", counting_parse)
    monkeypatch.setattr(store, "parse", counting_parse)
    monkeypatch.setattr(store, "_swap", counting_write)
    run = dispatch_run(path)
    assert len(run.report.claims) == 9
    assert len(parses) == 1, "one parse, none again for the write (the file is still what was parsed)"
    assert len(writes) == 1, "all three wizards' claims marked in one write"


def test_a_missing_queue_is_reported_and_the_others_are_served(tmp_path, dispatch_run):
    path = write_fleet(tmp_path, {"ezra": {}, "allegro": {}})
    write(tmp_path / "allegro" / "WORK-QUEUE.md", "- [ ] TASK-1 P1 PENDING one\n")
    run = dispatch_run(path)
    assert run.out == ["allegro: dispatched TASK-1 (P1) attempt 1"]
    assert f"ezra: no queue at {tmp_path}/ezra/WORK-QUEUE.md; nothing to dispatch from it" in run.err
    assert run.report.exit_code == 0


def test_an_unreadable_queue_fails_the_run_but_not_the_other_wizards(tmp_path, dispatch_run):
    path = write_fleet(tmp_path, {"ezra": {}, "allegro": {}})
    write(tmp_path / "allegro" / "WORK-QUEUE.md", "- [ ] TASK-1 P1 PENDING one\n")
    (tmp_path / "ezra").mkdir()
    (tmp_path / "ezra" / "WORK-QUEUE.md").write_bytes(b"- [ ] TASK-1 P1 PENDING \xff\xfe\n")
    run = dispatch_run(path)
    assert run.out == ["allegro: dispatched TASK-1 (P1) attempt 1"]
    assert any("is not valid UTF-8" in e for e in run.err)
    assert run.report.exit_code == 1
    assert claims_in(tmp_path / "ezra") == []


def test_tasks_no_rule_routes_are_named_once_per_run(tmp_path, dispatch_run):
    wizards = {n: {"queue": "WORK-QUEUE.md"} for n in ("ezra", "allegro")}
    path = write_fleet(tmp_path, wizards)  # shared, no routes, no default: nobody takes unassigned tasks
    write(tmp_path / "WORK-QUEUE.md", "- [ ] TASK-1 P1 PENDING one\n- [ ] TASK-2 P1 PENDING two\n"
                                      "- [ ] TASK-3 P1 PENDING three\n  - Assignee: ezra\n")
    run = dispatch_run(path)
    assert run.out == ["ezra: dispatched TASK-3 (P1) attempt 1"]
    assert (f"2 PENDING tasks route to no wizard (TASK-1, TASK-2); give them an Assignee, or add a route or "
            f"default_wizard to {path}") in run.err
