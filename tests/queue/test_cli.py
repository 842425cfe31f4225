"""``robe queue`` commands: exact output, JSON shapes, events for a person's changes."""

import json
import os

from click.testing import CliRunner

from robe.cli import cli

DOC = """## P0

### TASK-001: Wire the gateway
- Status: PENDING
- Assignee: ezra
- Tags: gateway

Connect it.

## P1

- [ ] TASK-002 IN_PROGRESS Write the digest

## Done

| ID | Status | Task |
|----|--------|------|
| TASK-003 | COMPLETE | Rotate logs |
"""


def setup(tmp_path, text=DOC):
    p = tmp_path / "WORK-QUEUE.md"
    p.write_text(text)
    return str(p)


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_list_table_and_filters(tmp_path):
    p = setup(tmp_path)
    r = run("queue", "list", "-f", p)
    assert r.exit_code == 0
    assert r.output == (
        "ID        PRI  STATUS       ASSIGNEE  TITLE\n"
        "TASK-001  P0   PENDING      ezra      Wire the gateway\n"
        "TASK-002  P1   IN_PROGRESS  -         Write the digest\n"
        "TASK-003  P2   COMPLETE     -         Rotate logs\n")
    r = run("queue", "list", "-f", p, "--status", "complete", "--status", "PENDING", "--priority", "p2")
    assert [line.split()[0] for line in r.output.splitlines()[1:]] == ["TASK-003"]
    r = run("queue", "list", "-f", p, "--assignee", "EZRA")
    assert [line.split()[0] for line in r.output.splitlines()[1:]] == ["TASK-001"]


def test_list_json_fields(tmp_path):
    p = setup(tmp_path)
    data = json.loads(run("queue", "list", "-f", p, "--json").output)
    assert [d["id"] for d in data] == ["TASK-001", "TASK-002", "TASK-003"]
    assert data[0] == {"id": "TASK-001", "priority": "P0", "status": "PENDING", "title": "Wire the gateway",
                       "assignee": "ezra", "depends": [], "tags": ["gateway"], "fields": {}, "body": "Connect it.",
                       "line": 3, "style": "section", "section": "P0"}


def test_list_notes_left_out_tasks_on_stderr(tmp_path):
    p = setup(tmp_path, DOC + "\n### TASK-004: bad\n- Status: DONE\n")
    r = CliRunner().invoke(cli, ["queue", "list", "-f", p])
    assert r.exit_code == 0
    assert "TASK-004" not in r.stdout
    assert r.stderr == f"{p}: 1 place with errors left out; run 'robe queue validate -f {p}'\n"


def test_show(tmp_path):
    p = setup(tmp_path)
    r = run("queue", "show", "TASK-001", "-f", p)
    assert r.output == ("TASK-001  Wire the gateway\n"
                        "  priority  P0 (from the heading or default)\n"
                        "  status    PENDING\n"
                        "  assignee  ezra\n"
                        "  depends   -\n"
                        "  tags      gateway\n"
                        "  section   P0\n"
                        f"  where     {p}:3 (section)\n"
                        "\nConnect it.\n")
    r = CliRunner().invoke(cli, ["queue", "show", "TASK-404", "-f", p])
    assert r.exit_code == 1 and r.stderr == f"Error: TASK-404 is not in {p}; 'robe queue list -f {p}' shows what is\n"
    assert json.loads(run("queue", "show", "TASK-002", "-f", p, "--json").output)["problems"] == []


def test_validate_reports_and_exits_1_on_errors(tmp_path):
    p = setup(tmp_path)
    r = run("queue", "validate", "-f", p)
    assert (r.exit_code, r.output) == (0, f"{p}: 3 tasks ok\n")
    p = setup(tmp_path, DOC + "\n### TASK-003: again\n- Depends: TASK-099\n")
    r = CliRunner().invoke(cli, ["queue", "validate", "-f", p])
    assert r.exit_code == 1
    assert r.output == (
        f"{p}:20: error: TASK-003 depends on TASK-099, which is not in the queue\n"
        "  hint: add TASK-099 or remove it from TASK-003's Depends\n"
        f"{p}:20: error: TASK-003 is defined twice (first at line 18); neither copy is used until one is renamed\n"
        "  hint: give one of them a new ID, for example TASK-004\n"
        f"{p}: 2 tasks ok, 2 errors, 0 warnings; 2 tasks left out until fixed\n")
    data = json.loads(CliRunner().invoke(cli, ["queue", "validate", "-f", p, "--json"]).output)
    assert (data["tasks"], data["left_out"], [e["code"] for e in data["errors"]]) == (2, 2, ["depends", "duplicate"])


def test_add_then_set_log_a_persons_changes(tmp_path):
    p = setup(tmp_path)
    r = CliRunner().invoke(cli, ["queue", "add", "Check the backups", "-f", p, "--body", "Look at last night's run."])
    assert r.exit_code == 1 and "keeps tasks in a table, which has no room for a body" in r.stderr
    r = run("queue", "add", "Check the backups", "-f", p, "-p", "P1", "-a", "ezra", "-d", "TASK-001", "-t", "ops,nightly",
            "--body", "Look at last night's run.", "--style", "section")
    assert r.output == f"added TASK-004 (P1, PENDING) at {p}:20\n"
    r = run("queue", "add", "Rotate keys", "-f", p, "--style", "table")
    assert r.output == f"added TASK-005 (P2, PENDING) at {p}:19\n"
    with open(p) as f:
        assert "| TASK-005 | PENDING | Rotate keys |\n" in f.read()
    r = run("queue", "set", "TASK-004", "complete", "-f", p, "--reason", "did it by hand")
    assert r.output == "TASK-004: PENDING -> COMPLETE\n"
    r = run("queue", "set", "TASK-004", "COMPLETE", "-f", p)
    assert r.output == "TASK-004 is already COMPLETE; nothing changed\n"
    r = CliRunner().invoke(cli, ["queue", "set", "TASK-004", "PENDING", "-f", p, "--expect", "FAILED"])
    assert (r.exit_code, r.stderr) == (1, "Error: TASK-004 is COMPLETE now, not FAILED; nothing was changed\n")
    with open(os.path.join(tmp_path, "logs", "events.jsonl")) as f:
        events = [json.loads(line) for line in f]
    assert [(e["task"], e["from"], e["to"], e["detail"]) for e in events] == [
        ("TASK-004", None, "PENDING", "added"),
        ("TASK-005", None, "PENDING", "added"),
        ("TASK-004", "PENDING", "COMPLETE", "did it by hand")]
    assert events[2]["manual"] is True and events[2]["by"].startswith("person:")


def test_body_file_from_stdin(tmp_path):
    p = setup(tmp_path, "")
    r = CliRunner().invoke(cli, ["queue", "add", "From stdin", "-f", p, "--body-file", "-"], input="line one\nline two\n")
    assert r.exit_code == 0
    data = json.loads(run("queue", "show", "TASK-001", "-f", p, "--json").output)
    assert data["body"] == "line one\nline two"


def test_queue_from_environment(tmp_path, monkeypatch):
    p = setup(tmp_path)
    monkeypatch.setenv("ROBE_QUEUE", p)
    r = run("queue", "list", "--json")
    assert len(json.loads(r.output)) == 3
