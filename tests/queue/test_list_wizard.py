"""``robe queue list --wizard W [--ready]``: the dispatcher's routing and order, from the CLI."""

import json

from click.testing import CliRunner

from robe.cli import cli

FLEET = """\
root: .
default_wizard: allegro
wizards:
  ezra:
    port: 8643
    queue: WORK-QUEUE.md
  allegro:
    port: 8644
    queue: WORK-QUEUE.md
    dispatch_floor: P1
routes:
  - match: {tags: [research]}
    wizard: ezra
"""

QUEUE = """\
## P0

### TASK-1: research the relays
- Tags: research

### TASK-2: for allegro, waits on 1
- Depends: TASK-1

## P2

- [ ] TASK-3 PENDING routed to allegro by default, below its floor
- [ ] TASK-4 P0 PENDING allegro's most urgent
- [ ] TASK-5 P1 COMPLETE already done
"""


def setup(tmp_path):
    (tmp_path / "fleet.yaml").write_text(FLEET)
    (tmp_path / "WORK-QUEUE.md").write_text(QUEUE)
    return str(tmp_path / "fleet.yaml")


def ids(result):
    assert result.exit_code == 0, result.output
    return [t["id"] for t in json.loads(result.output)]


def test_wizard_lists_what_routes_to_it_and_ready_in_order(tmp_path):
    fleet = setup(tmp_path)
    run = CliRunner().invoke
    assert ids(run(cli, ["queue", "list", "--fleet", fleet, "--wizard", "ezra", "--json"])) == ["TASK-1"]
    assert ids(run(cli, ["queue", "list", "--fleet", fleet, "--wizard", "allegro", "--json"])) == [
        "TASK-2", "TASK-3", "TASK-4", "TASK-5"]
    # Ready: PENDING, dependencies complete, at or above the floor (P1), most urgent first.
    assert ids(run(cli, ["queue", "list", "--fleet", fleet, "--wizard", "allegro", "--ready", "--json"])) == ["TASK-4"]
    assert ids(run(cli, ["queue", "list", "--fleet", fleet, "--wizard", "ezra", "--ready", "--json"])) == ["TASK-1"]


def test_ready_needs_a_wizard_and_unknown_wizards_are_named(tmp_path):
    fleet = setup(tmp_path)
    r = CliRunner().invoke(cli, ["queue", "list", "--ready", "-f", str(tmp_path / "WORK-QUEUE.md")])
    assert r.exit_code == 2 and "--ready needs --wizard" in r.output
    r = CliRunner().invoke(cli, ["queue", "list", "--fleet", fleet, "--wizard", "ezrah"])
    assert r.exit_code == 1 and "ezrah" in r.stderr and "ezra" in r.stderr
