"""Consistent flags (issue 16, point 8): 'robe queue list' in a fleet's folder lists every queue
with the wizard each task goes to; 'robe queue add --wizard W' writes to W's queue; -w works
wherever a wizard is named."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from robe.cli import cli
from robe.queue import load

from ..support import read, write


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    """Three echo wizards: ezra and bob with their own queues, allegro and ezra-two sharing one."""
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    monkeypatch.delenv("ROBE_QUEUE", raising=False)
    write(tmp_path / "fleet.yaml", """
    root: .
    ports: {first: 20600, last: 20610}
    default_wizard: allegro
    wizards:
      ezra: {port: 20600, agent: echo}
      bob: {port: 20601, agent: echo}
      allegro: {port: 20602, agent: echo, queue: shared/WORK-QUEUE.md}
      ezra-two: {port: 20603, agent: echo, queue: shared/WORK-QUEUE.md}
    """)
    write(tmp_path / "ezra" / "WORK-QUEUE.md", "# Tasks for ezra\n\n- [ ] TASK-001 P1 Summarise the logs\n")
    write(tmp_path / "bob" / "WORK-QUEUE.md", "# Tasks for bob\n\n- [ ] TASK-001 P2 Count to three\n")
    write(tmp_path / "shared" / "WORK-QUEUE.md", "- [ ] TASK-001 P0 PENDING For whoever\n"
                                                 "- [ ] TASK-002 P1 PENDING For ezra-two\n  - Assignee: ezra-two\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_queue_list_in_a_fleet_folder_lists_every_queue_with_a_wizard_column(fleet):
    assert not os.path.exists("WORK-QUEUE.md")
    r = invoke("queue", "list")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "WIZARD    ID        PRI  STATUS   ASSIGNEE  WHERE                   TITLE",
        "ezra      TASK-001  P1   PENDING  -         ezra/WORK-QUEUE.md:3    Summarise the logs",
        "bob       TASK-001  P2   PENDING  -         bob/WORK-QUEUE.md:3     Count to three",
        "allegro   TASK-001  P0   PENDING  -         shared/WORK-QUEUE.md:1  For whoever",
        "ezra-two  TASK-002  P1   PENDING  ezra-two  shared/WORK-QUEUE.md:2  For ezra-two",
    ]
    data = json.loads(invoke("queue", "list", "--json").stdout)
    assert [(t["wizard"], t["id"], os.path.relpath(t["queue"])) for t in data][:2] == [
        ("ezra", "TASK-001", os.path.join("ezra", "WORK-QUEUE.md")),
        ("bob", "TASK-001", os.path.join("bob", "WORK-QUEUE.md"))]
    # Filters and -w still apply; one file is still one file.
    assert [t["wizard"] for t in json.loads(invoke("queue", "list", "--priority", "P0", "--json").stdout)] == \
        ["allegro"]
    assert [t["id"] for t in json.loads(invoke("queue", "list", "-w", "ezra-two", "--json").stdout)] == ["TASK-002"]
    one = invoke("queue", "list", "-f", "bob/WORK-QUEUE.md")
    assert one.stdout.splitlines()[0].startswith("ID ") and "Count to three" in one.stdout


def test_queue_list_with_neither_a_queue_nor_a_fleet_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)
    monkeypatch.chdir(tmp_path)
    r = invoke("queue", "list")
    assert r.exit_code == 1
    assert "WORK-QUEUE.md does not exist; create it, or pass the queue's path with -f" in r.stderr


def test_queue_add_wizard_writes_to_its_queue_and_assigns_it_in_a_shared_one(fleet):
    r = invoke("queue", "add", "Rotate the keys", "--wizard", "bob", "-p", "P1")
    assert (r.exit_code, r.stdout) == (0, "added TASK-002 (P1, PENDING) at bob/WORK-QUEUE.md:4\n")
    task = load("bob/WORK-QUEUE.md").get("TASK-002")
    assert task.assignee is None  # bob's own queue: routing sends it to bob without one
    r = invoke("queue", "add", "Summarise the week", "-w", "ezra-two")
    assert r.exit_code == 0, r.output
    added = load("shared/WORK-QUEUE.md").get("TASK-003")
    assert added.assignee == "ezra-two"  # a shared queue: it needs the name
    r = invoke("dispatch", "-w", "ezra-two", "--dry-run")
    assert "ezra-two: would dispatch TASK-002 (P1)" in r.stdout
    listed = json.loads(invoke("queue", "list", "-w", "ezra-two", "--json").stdout)
    assert [t["id"] for t in listed] == ["TASK-002", "TASK-003"]
    # -w and -f name two different files: say so
    r = CliRunner().invoke(cli, ["queue", "add", "x", "-w", "bob", "-f", "ezra/WORK-QUEUE.md"])
    assert r.exit_code == 2 and "give --wizard (its queue) or -f (a file), not both" in r.output
    assert "x" not in read("ezra/WORK-QUEUE.md").split("\n")[-2]


@pytest.mark.parametrize("args", [
    ["dispatch", "-w", "ezra", "--dry-run"], ["monitor", "-w", "ezra"], ["report", "-w", "ezra"],
    ["status", "-w", "ezra"], ["metrics", "-w", "ezra"], ["history", "-w", "ezra"], ["cron", "show", "-w", "ezra"],
    ["gateway", "status", "-w", "ezra"], ["queue", "list", "-w", "ezra"], ["queue", "show", "TASK-001", "-w", "ezra"],
    ["answer", "TASK-001", "-w", "ezra"], ["execute", "-w", "ezra", "--once"], ["checkpoint", "-w", "ezra"],
], ids=lambda a: " ".join(a[:2]))
def test_dash_w_names_a_wizard_everywhere(fleet, args):
    r = CliRunner().invoke(cli, args)
    assert "No such option" not in r.output and r.exit_code != 2, r.output
    bad = CliRunner().invoke(cli, [a if a != "ezra" else "ezrah" for a in args])
    assert bad.exit_code == 1 and "there is no wizard named 'ezrah' (did you mean 'ezra'?)" in bad.output

