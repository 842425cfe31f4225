"""Queue files in a run: each parsed once, missing or broken ones reported, others still served."""

from __future__ import annotations

import robe.queue
import robe.queue.scan as scan
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
    real_parse, real_atomic = scan.parse, store.atomic_write

    def counting_parse(*a, **k):
        parses.append(k.get("only"))
        return real_parse(*a, **k)

    def counting_write(*a, **k):
        writes.append(a[0])
        return real_atomic(*a, **k)
    monkeypatch.setattr(scan, "parse", counting_parse)  # robe imports it from there when it needs it
    monkeypatch.setattr(store, "atomic_write", counting_write)
    monkeypatch.setattr(robe.queue, "atomic_write", counting_write)
    run = dispatch_run(path)
    assert len(run.report.claims) == 9
    assert parses == [None], "one full parse, no second parse for the write"
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


def test_cron_runs_reuse_the_parse_robe_kept_and_see_a_persons_edit(tmp_path):
    # Each run writes the queue and keeps the parse of what it wrote (robe.queue.cache); the
    # next run uses it without importing the scanner. A person's edit is seen at once.
    import os
    import subprocess
    import sys

    (tmp_path / "fleet.yaml").write_text("root: .\nwizards:\n  ezra:\n    port: 8651\n    agent: echo\n"
                                         "    max_active: 5\n")
    (tmp_path / "ezra").mkdir()
    queue = tmp_path / "ezra" / "WORK-QUEUE.md"
    queue.write_text("## P0\n\n### TASK-001: one\n- Status: PENDING\n\n- [ ] TASK-002 PENDING two\n\n"
                     "| ID | Status | Task |\n|----|--------|------|\n| TASK-003 | PENDING | three |\n")
    probe = ("import sys\nfrom robe.cli import openclaw_work\n"
             "try:\n    openclaw_work(['--fleet', 'fleet.yaml', '--no-gateway', '--max', '1'])\nexcept SystemExit:\n"
             "    pass\nprint('scanner', 'robe.queue.scan' in sys.modules)\n")
    env = dict(os.environ, ROBE_CACHE_DIR=str(tmp_path / "cache"))

    def run():
        r = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout

    first, second, third = run(), run(), run()
    assert "dispatched TASK-001" in first and first.strip().endswith("scanner True")
    assert "dispatched TASK-002" in second and second.strip().endswith("scanner False")
    assert "dispatched TASK-003" in third and third.strip().endswith("scanner False")
    text = queue.read_text()
    assert text.count("IN_PROGRESS") == 3 and "[ ] TASK-002" in text
    # A person adds a task and fixes a typo: the kept parse is not of this text, so the scanner
    # re-reads where they differ (or parses).
    queue.write_text(text.replace("two", "2") + "| TASK-004 | PENDING | four |\n")
    fourth = run()
    assert "dispatched TASK-004" in fourth and fourth.strip().endswith("scanner True")
    assert "PENDING two" not in queue.read_text() and "TASK-004 | IN_PROGRESS" in queue.read_text()


def test_after_a_person_s_edit_the_kept_parse_is_re_read_not_parsed_again(tmp_path, dispatch_run, monkeypatch):
    from robe.queue import cache

    path = write_fleet(tmp_path, {"ezra": {"max_active": 9}})
    queue = tmp_path / "ezra" / "WORK-QUEUE.md"
    write(queue, "## P1\n\n" + "".join(f"### TASK-{i}: task {i}\n- Status: PENDING\n\nbody {i}\n\n" for i in range(1, 9)))
    parses = []
    real_parse = scan.parse
    monkeypatch.setattr(scan, "parse", lambda *a, **k: (parses.append(k.get("only")), real_parse(*a, **k))[1])
    assert [c.id for c in dispatch_run(path, max_claims=1).report.claims] == ["TASK-1"]
    assert parses == [None]
    # A person fixes a typo in one body and appends a task; cron's next run re-reads.
    text = queue.read_text()
    write(queue, text.replace("body 5", "body five") + "### TASK-9: appended\n- Status: PENDING\n")
    assert [c.id for c in dispatch_run(path, max_claims=1).report.claims] == ["TASK-2"]
    assert parses == [None], "no second parse: the kept parse was re-read"
    final = queue.read_text()
    assert "body five" in final and "TASK-9: appended" in final and final.count("IN_PROGRESS") == 2
    kept = cache.get(str(queue), final, "P2")
    assert kept is not None and kept == real_parse(final, str(queue))
