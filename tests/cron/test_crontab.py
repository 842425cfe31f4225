"""robe cron show|install|remove against the real crontab: robe's block between marker lines,
and every byte of everyone else's crontab kept through install, reinstall and remove."""

import os
import shlex
import subprocess

from click.testing import CliRunner

from robe.cli import cli
from robe.cron import crontab as ct
from robe.cron.schedule import fleet_schedule

from .conftest import ROBE, crontab_bytes, set_crontab

OTHERS = (
    b"# m h  dom mon dow   command -- the team's own jobs, do not touch\n"
    b"MAILTO=ops@example.org\n"
    b"SHELL=/bin/bash\n"
    b"\n"
    b"   # an indented comment with trailing spaces   \n"
    b"*/7 * * * * /usr/local/bin/backup --quiet  >/dev/null 2>&1\n"
    b"@reboot  echo 'caf\xc3\xa9 %s' | logger\n"
    b"\t\n"
    b"0 3 * * 1 /opt/rotate.sh # weekly"
)


def invoke(*args):
    r = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return r


def test_show_prints_one_absolute_self_contained_line_per_job(make_fleet):
    fleet = make_fleet({"ezra": {}, "allegro": {"schedule": {"report": "off"}}})
    r = invoke("cron", "show", "--fleet", fleet.path)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "# robe wizard: ezra"
    jobs = [l for l in lines if not l.startswith("#")]
    assert len(jobs) == 9
    ezra = fleet.wizard("ezra")
    first = shlex.split(jobs[0].split(" ", 5)[5])
    assert jobs[0].startswith("*/5 * * * * ")
    assert first[0] == f"ROBE_FLEET={fleet.path}"
    assert first[1].startswith("PATH=" + os.path.dirname(ROBE) + ":")
    assert first[2:] == [ct.flock_path(), "-n", os.path.join(ezra.house, "logs", "cron-self-monitor.lock"), ROBE,
                         "self-monitor", "--wizard", "ezra", "--services", ">>", os.path.join(ezra.house, "logs", "cron.log"),
                         "2>&1"]
    for line in jobs:
        argv = shlex.split(line.split(" ", 5)[5])
        assert all(os.path.isabs(argv[i]) for i in (2, 4, 5)), line
    assert not any("report --wizard allegro" in l for l in jobs)


def test_show_json(make_fleet):
    import json

    fleet = make_fleet()
    r = invoke("cron", "show", "--json", "--fleet", fleet.path)
    data = json.loads(r.output)
    assert [d["job"] for d in data] == ["self-monitor", "dispatch", "monitor", "report", "checkpoint"]
    assert data[1]["command"][-3:] == ["dispatch", "--wizard", "ezra"]
    assert data[1]["source"] == "default"


def test_merge_and_strip_keep_every_other_byte(make_fleet):
    fleet = make_fleet({"ezra": {}, "allegro": {}})
    entries = fleet_schedule(fleet)
    text = OTHERS.decode("utf-8", "surrogateescape")
    merged = ct.merge(text, fleet, ct.sections(fleet, entries))
    assert merged.startswith(text + "\n" + ct.BEGIN)  # the missing final newline is added before ours
    assert ct.strip(merged, fleet) == text + "\n"
    again = ct.merge(merged, fleet, ct.sections(fleet, entries))
    assert again == merged
    # a block in the middle: what is before and after it stays in place
    middle = "A=1\n" + merged[len(text) + 1:] + "# after\n"
    assert ct.strip(middle, fleet) == "A=1\n# after\n"


def test_one_wizard_at_a_time(make_fleet):
    fleet = make_fleet({"ezra": {}, "allegro": {}})
    all_ = ct.merge("", fleet, ct.sections(fleet, fleet_schedule(fleet)))
    only_ezra = ct.strip(all_, fleet, ["allegro"])
    assert "--wizard ezra" in only_ezra and "--wizard allegro" not in only_ezra
    back = ct.merge(only_ezra, fleet, ct.sections(fleet, fleet_schedule(fleet, ["allegro"])), ["allegro"])
    assert back == all_
    assert ct.strip(ct.strip(all_, fleet, ["allegro"]), fleet, ["ezra"]) == ""


def test_real_crontab_keeps_others_byte_for_byte(make_fleet, real_crontab):
    fleet = make_fleet({"ezra": {}, "allegro": {}})
    set_crontab(OTHERS + b"\n")  # crontab itself refuses a last line without its newline
    before = crontab_bytes()
    assert before == OTHERS + b"\n"

    r = invoke("cron", "install", "--fleet", fleet.path)
    assert r.exit_code == 0 and "10 robe job(s) for ezra, allegro installed" in r.output, r.output
    installed = crontab_bytes()
    assert installed.startswith(before + b"# BEGIN robe " + fleet.path.encode() + b"\n")
    assert installed.count(b"--wizard ezra") == 5 and installed.count(b"--wizard allegro") == 5

    r = invoke("cron", "install", "--fleet", fleet.path)
    assert "already installed; nothing changed" in r.output
    assert crontab_bytes() == installed

    # a schedule change replaces the block in place; others' lines written after it stay after it
    set_crontab(installed + b"# added by hand after robe's block\n")
    with open(fleet.path) as f:
        doc = f.read()
    with open(fleet.path, "w") as f:
        f.write(doc.replace('"ezra": {', '"ezra": {"schedule": {"dispatch": "*/2 * * * *"}, ', 1))
    r = invoke("cron", "install", "--fleet", fleet.path, "--wizard", "ezra")
    assert r.exit_code == 0, r.output
    changed = crontab_bytes()
    assert b"*/2 * * * * " in changed and changed.endswith(b"# added by hand after robe's block\n")
    assert changed.count(b"--wizard allegro") == 5

    r = invoke("cron", "remove", "--fleet", fleet.path)
    assert r.output == "crontab: robe's lines removed\n"
    assert crontab_bytes() == before + b"# added by hand after robe's block\n"
    r = invoke("cron", "remove", "--fleet", fleet.path)
    assert "nothing changed" in r.output


def test_remove_leaves_an_empty_crontab_empty(make_fleet, real_crontab):
    fleet = make_fleet()
    subprocess.run(["crontab", "-r"], capture_output=True)
    assert invoke("cron", "install", "--fleet", fleet.path).exit_code == 0
    assert crontab_bytes().startswith(b"# BEGIN robe ")
    assert invoke("cron", "remove", "--fleet", fleet.path).exit_code == 0
    assert crontab_bytes() == b""


def test_two_fleets_have_two_blocks(make_fleet, tmp_path, real_crontab):
    from .conftest import write_fleet
    from robe.fleet.config import load_fleet

    a = make_fleet()
    other = tmp_path / "other"
    other.mkdir()
    b = load_fleet(write_fleet(other, {"allegro": {}}))
    set_crontab(OTHERS + b"\n")
    invoke("cron", "install", "--fleet", a.path)
    invoke("cron", "install", "--fleet", b.path)
    invoke("cron", "remove", "--fleet", a.path)
    left = crontab_bytes()
    assert b"--wizard allegro" in left and b"--wizard ezra" not in left
    invoke("cron", "remove", "--fleet", b.path)
    assert crontab_bytes() == OTHERS + b"\n"


def test_systemd_units(make_fleet, tmp_path):
    fleet = make_fleet({"ezra": {"schedule": {"report": "off", "checkpoint": "off", "self-monitor": "off",
                                              "monitor": "off"}}})
    units = tmp_path / "units"
    r = invoke("cron", "install", "--systemd", "--unit-dir", str(units), "--fleet", fleet.path)
    assert r.exit_code == 0
    assert "systemctl --user enable --now robe-ezra-dispatch.timer" in r.output
    assert sorted(os.listdir(units)) == ["robe-ezra-dispatch.service", "robe-ezra-dispatch.timer"]
    timer = (units / "robe-ezra-dispatch.timer").read_text()
    assert "OnCalendar=*-*-* *:00,20,40:00\nPersistent=true\n" in timer
    service = (units / "robe-ezra-dispatch.service").read_text()
    assert f"Environment=ROBE_FLEET={fleet.path}\n" in service
    assert f"ExecStart={ct.flock_path()} -n {fleet.wizard('ezra').house}/logs/cron-dispatch.lock {ROBE} dispatch --wizard ezra\n" in service
    assert f"StandardOutput=append:{fleet.wizard('ezra').house}/logs/cron.log\n" in service
    (units / "someone-else.timer").write_text("[Timer]\n")
    r = invoke("cron", "remove", "--systemd", "--unit-dir", str(units), "--fleet", fleet.path)
    assert sorted(os.listdir(units)) == ["someone-else.timer"]


def test_concurrent_installs_of_two_fleets_keep_both_blocks(make_fleet, tmp_path, real_crontab):
    """crontab -l / crontab - is not atomic; robe serialises its own edits."""
    from robe.fleet.config import load_fleet

    from .conftest import write_fleet

    fleets = []
    for i in range(4):
        d = tmp_path / f"fleet{i}"
        d.mkdir()
        fleets.append(load_fleet(write_fleet(d, {f"w{i}": {}})))
    set_crontab(OTHERS + b"\n")
    procs = [subprocess.Popen([ROBE, "cron", "install", "--fleet", f.path], stdout=subprocess.DEVNULL)
             for f in fleets]
    assert [p.wait(60) for p in procs] == [0, 0, 0, 0]
    text = crontab_bytes()
    for i in range(4):
        assert text.count(f"--wizard w{i}".encode()) == 5
    for f in fleets:
        assert invoke("cron", "remove", "--fleet", f.path).exit_code == 0
    assert crontab_bytes() == OTHERS + b"\n"
