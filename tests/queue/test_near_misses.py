"""Near misses are warned about (issue 16, point 7): 'robe queue validate' and 'robe dispatch'
name the line, say what robe reads instead, and keep the task usable."""

from __future__ import annotations

import json

from click.testing import CliRunner

from robe.cli import cli

from ..support import settle, write, write_fleet

QUEUE = """\
## P1 — Soon

- [ ] TASK-1 PENDNG Write the digest
- [ ] TASK-2 P7 BLOCKED Rotate the keys
- [ ] TASK-3 BLOKED Wait for the keys
- [ ] TASK-4 **Complte** Wrapped in bold
- [ ] TASK-5 Complete the migration
- [ ] TASK-6 P1 DONE Said the usual way

### TASK-7: Nobody's
- Assignee: nobody

### TASK-8: None at all
- Assignee: none

| ID | Status | Task | Assignee |
|----|--------|------|----------|
| TASK-9 | PENDING | a table's dash is plain none | - |
| TASK-10 | PENDING | but a word is said | nobody |
"""


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_validate_warns_at_each_near_miss_and_says_what_robe_reads(tmp_path):
    q = write(tmp_path / "WORK-QUEUE.md", QUEUE)
    r = invoke("queue", "validate", "-f", q, "--json")
    assert r.exit_code == 0  # warnings alone
    data = json.loads(r.stdout)
    assert data["errors"] == [] and data["tasks"] == 10
    found = {(w["line"], w["task"]): w["message"] for w in data["warnings"] if w["code"] == "near-miss"}
    assert found == {
        (3, "TASK-1"): "TASK-1: 'PENDNG' is not a status (did you mean PENDING?); robe reads it as the first word of "
                       "the title, and the task as PENDING",
        (4, "TASK-2"): "TASK-2: 'P7' is not a priority; robe leaves it out of the title and gives the task its "
                       "heading's P1",
        (5, "TASK-3"): "TASK-3: 'BLOKED' is not a status (did you mean BLOCKED?); robe reads it as the first word of "
                       "the title, and the task as PENDING, so it may be dispatched",
        (6, "TASK-4"): "TASK-4: 'Complte' is not a status (did you mean COMPLETE?); robe reads it as the first word "
                       "of the title, and the task as PENDING, so it may be dispatched",
        (8, "TASK-6"): "TASK-6: 'DONE' is not a status (did you mean COMPLETE?); robe reads it as the first word of "
                       "the title, and the task as PENDING, so it may be dispatched",
        (11, "TASK-7"): "TASK-7's Assignee 'nobody' means no assignee: robe routes it like a task without one (the "
                        "first route that fits, else the queue's own wizard, else default_wizard)",
        (14, "TASK-8"): "TASK-8's Assignee 'none' means no assignee: robe routes it like a task without one (the "
                        "first route that fits, else the queue's own wizard, else default_wizard)",
        (19, "TASK-10"): "TASK-10's Assignee 'nobody' means no assignee: robe routes it like a task without one (the "
                         "first route that fits, else the queue's own wizard, else default_wizard)",
    }
    # TASK-5's "Complete" is a title (a bare status word must be upper case); TASK-9's "-" is plain.
    text = invoke("queue", "validate", "-f", q).stdout
    assert f"{q}:3: warning: TASK-1: 'PENDNG' is not a status (did you mean PENDING?)" in text
    assert "  hint: write PENDING if that is the status; statuses are PENDING, IN_PROGRESS, COMPLETE, FAILED, " \
           "BLOCKED" in text
    assert text.rstrip().endswith("10 tasks ok, 0 errors, 8 warnings")


def test_what_robe_reads_around_a_near_miss(tmp_path):
    q = write(tmp_path / "WORK-QUEUE.md", QUEUE)
    rows = {t["id"]: t for t in json.loads(invoke("queue", "list", "-f", q, "--json").stdout)}
    assert (rows["TASK-1"]["status"], rows["TASK-1"]["title"]) == ("PENDING", "PENDNG Write the digest")
    # P7 is no priority: the heading's P1, and the status after it is still read.
    assert (rows["TASK-2"]["priority"], rows["TASK-2"]["status"], rows["TASK-2"]["title"]) == \
        ("P1", "BLOCKED", "Rotate the keys")
    assert rows["TASK-7"]["assignee"] is None and rows["TASK-9"]["assignee"] is None


def test_the_dispatcher_prints_the_near_misses_of_the_queues_it_reads(tmp_path):
    path = write_fleet(tmp_path, {"ezra": {"max_active": 3}})
    q = write(tmp_path / "ezra" / "WORK-QUEUE.md", """\
    - [ ] TASK-1 BLOKED Wait for the keys
    - [ ] TASK-2 P7 Rotate them
    """)
    settle(q)
    r = invoke("dispatch", "--fleet", path, "--dry-run")
    assert r.exit_code == 0
    assert f"{q}:1: warning: TASK-1: 'BLOKED' is not a status (did you mean BLOCKED?); robe reads it as the first " \
           "word of the title, and the task as PENDING, so it may be dispatched\n" in r.stderr
    assert f"{q}:2: warning: TASK-2: 'P7' is not a priority; robe leaves it out of the title and gives the task " \
           "the default priority\n" in r.stderr
    assert [line.split(" ")[3] for line in r.stdout.splitlines()] == ["TASK-1", "TASK-2"]
    # --quiet keeps routine notes out of cron mail, not these
    assert "'BLOKED' is not a status" in invoke("dispatch", "--fleet", path, "--dry-run", "--quiet").stderr
