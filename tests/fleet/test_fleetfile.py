"""Registering a wizard splices its lines into fleet.yaml; every other byte stays."""

from __future__ import annotations

import pytest

from robe.fleet.config import FleetError, parse_fleet
from robe.fleet.fleetfile import add_wizard_text, remove_wizard_text

PERSONAL = """\
# My fleet. Do not reorder: ezra first.
root: .   # houses here
ports: {first: 9000, last: 9099}

wizards:
  # the grandfather
  ezra:
    port: 9000   # fixed, clients know it
    schedule:
      dispatch: "*/20 * * * *"

  allegro:
    port: 9001
    agent: {kind: echo}
# routing below
routes:
  - match: {tags: [research]}
    wizard: ezra   # research goes to ezra
"""

NEW = {"role": "Student: autonomous", "port": 9002, "agent": {"kind": "hermes"},
       "gateway": {"start": ["hermes", "gateway", "run"]}}


def test_add_keeps_every_other_byte():
    out = add_wizard_text(PERSONAL, "allegro-primus", NEW)
    cut = PERSONAL.index("# routing below")
    assert out.startswith(PERSONAL[:cut])
    assert out.endswith(PERSONAL[cut:])
    added = out[cut:len(out) - len(PERSONAL) + cut]
    assert added == ("  allegro-primus:\n"
                     "    role: 'Student: autonomous'\n"
                     "    port: 9002\n"
                     "    agent: {kind: hermes}\n"
                     "    gateway: {start: [hermes, gateway, run]}\n")
    fleet = parse_fleet(out, "/x/fleet.yaml")
    assert fleet.names == ["ezra", "allegro", "allegro-primus"]
    assert fleet.wizard("allegro-primus").role == "Student: autonomous"


def test_remove_takes_only_the_wizards_lines():
    out = remove_wizard_text(PERSONAL, "allegro")
    assert out == PERSONAL.replace("  allegro:\n    port: 9001\n    agent: {kind: echo}\n", "")
    assert parse_fleet(out, "/x/fleet.yaml").names == ["ezra"]
    assert remove_wizard_text(add_wizard_text(PERSONAL, "allegro-primus", NEW), "allegro-primus") == PERSONAL


def test_add_follows_the_files_indentation():
    text = "wizards:\n    ezra:\n        port: 9000\n"
    out = add_wizard_text(text, "b", {"port": 9001})
    assert out == text + "    b:\n        port: 9001\n"


def test_add_to_empty_or_missing_wizards():
    assert add_wizard_text("root: .\nwizards:\n", "a", {"port": 9000}) == "root: .\nwizards:\n  a:\n    port: 9000\n"
    assert add_wizard_text("root: .\nwizards: {}   # none yet\n", "a", {"port": 9000}) == \
        "root: .\nwizards:    # none yet\n  a:\n    port: 9000\n"
    assert add_wizard_text("root: .", "a", {"port": 9000}) == "root: .\nwizards:\n  a:\n    port: 9000\n"
    assert add_wizard_text("", "a", {"port": 9000}) == "wizards:\n  a:\n    port: 9000\n"


def test_crlf_files_stay_crlf():
    text = "root: .\r\nwizards:\r\n  ezra:\r\n    port: 9000\r\n"
    out = add_wizard_text(text, "b", {"port": 9001})
    assert out == text + "  b:\r\n    port: 9001\r\n"


def test_last_wizard_ending_without_newline():
    text = "wizards:\n  ezra:\n    port: 9000"
    assert add_wizard_text(text, "b", {"port": 9001}) == text + "\n  b:\n    port: 9001\n"


def test_flow_style_wizards_is_refused_not_rewritten():
    with pytest.raises(FleetError, match="flow style"):
        add_wizard_text("wizards: {ezra: {port: 9000}}\n", "b", {"port": 9001})
