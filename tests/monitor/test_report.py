"""robe report / progress-report and robe metrics: counts, periods from the event log, metrics, delivery."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import subprocess
import sys
import threading

from click.testing import CliRunner
from freezegun import freeze_time

from robe.cli import cli
from robe.report import build_report, compute_metrics, write_report

from .helpers import bin_path, read, stamp, write, write_result

UTC = dt.timezone.utc


def run_some(s):
    """TASK-001 COMPLETE, TASK-002 FAILED (max_attempts 1), TASK-003 running."""
    s.dispatch()
    write_result(s.house(), "TASK-001")
    write_result(s.house(), "TASK-002", "FAILED", error="timed out after 30 s", exit_code=None)
    s.monitor()


def test_report_counts_periods_running_failures_and_metrics(tmp_path):
    from .conftest import Setup
    from .helpers import queue_text, write_fleet

    fleet = write_fleet(tmp_path, {"ezra": {"max_active": 10, "max_attempts": 1}})
    qpath = write(tmp_path / "ezra" / "WORK-QUEUE.md", queue_text(3))
    s = Setup(tmp_path, fleet, qpath)
    t0 = dt.datetime.now(UTC)
    rep, paths = write_report(s.fleet(), now=t0)
    name = f"progress-{t0.strftime('%Y%m%dT%H%M%SZ')}"
    assert [os.path.basename(p) for p in paths] == [f"{name}.md", f"{name}.json", f"{name}-throughput.svg",
                                                    f"{name}-burndown.svg", "latest.md", "latest.json"]
    assert os.path.dirname(paths[0]) == str(tmp_path / "reports")
    assert rep.data["totals"]["PENDING"] == 3 and rep.data["since"] is None
    run_some(s)
    t1 = dt.datetime.now(UTC) + dt.timedelta(minutes=30)
    rep, _ = write_report(s.fleet(), now=t1)
    d = rep.data
    assert d["since"] == stamp(t0)
    assert d["counts"] == {"ezra": {"PENDING": 0, "IN_PROGRESS": 1, "COMPLETE": 1, "FAILED": 1, "BLOCKED": 0}}
    assert [e["task"] for e in d["finished"]] == ["TASK-001"]
    assert [e["task"] for e in d["failed"]] == ["TASK-002"]
    assert sorted(e["task"] for e in d["started"]) == ["TASK-001", "TASK-002", "TASK-003"]
    assert [(r["task"], r["attempt"]) for r in d["running"]] == [("TASK-003", 1)]
    assert d["running"][0]["for_s"] >= 30 * 60 - 5
    assert d["failures"][0]["task"] == "TASK-002" and "timed out after 30 s" in d["failures"][0]["reason"]
    assert d["throughput"]["finished"] == 1 and d["throughput"]["last_24h"] == 1
    m = {r["metric"]: r for r in d["metrics"]}
    assert m["Task completion rate"]["value"] == "50.0%" and m["Task completion rate"]["ok"] is False
    assert m["Uptime (each wizard)"]["ok"] is None
    assert m["Port conflicts"]["value"] == "0" and m["Shared memory"]["value"] == "none"
    md = read(tmp_path / "reports" / "latest.md")
    assert md == rep.markdown
    assert "| ezra | 0 | 1 | 1 | 1 | 0 | 3 |" in md
    assert "- Finished: 1 — TASK-001 (ezra)" in md and "- Failed: 1 — TASK-002 (ezra)" in md
    assert "| ezra | TASK-003 | 1 | 30 min |" in md
    assert "| Task completion rate | > 80% | 50.0% | NO |" in md
    assert json.loads(read(tmp_path / "reports" / "latest.json")) == d
    # The next report only counts what happened after this one.
    rep3, _ = write_report(s.fleet(), now=t1 + dt.timedelta(minutes=30))
    assert rep3.data["finished"] == [] and rep3.data["started"] == []


def test_one_wizards_report_goes_to_its_house(one_wizard):
    s = one_wizard
    _, paths = write_report(s.fleet(), ["ezra"])
    assert os.path.dirname(paths[-1]) == str(s.house() / "reports")


def test_uptime_and_interventions_from_samples_and_events(one_wizard):
    s = one_wizard
    now = dt.datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    lines = [{"ts": stamp(now - dt.timedelta(minutes=5 * i)), "wizard": "ezra", "up": i % 10 != 0} for i in range(100)]
    lines.append({"ts": stamp(now), "service": "ollama", "up": False})
    lines.append({"ts": stamp(now - dt.timedelta(days=30)), "wizard": "ezra", "up": False})  # too old
    write(s.house() / "logs" / "uptime.jsonl", "".join(json.dumps(x) + "\n" for x in lines) + "torn{\n")
    ev = [{"ts": stamp(now - dt.timedelta(hours=2)), "task": "TASK-001", "from": "PENDING", "to": "BLOCKED",
           "by": "person:me@h", "manual": True},
          {"ts": stamp(now - dt.timedelta(hours=3)), "task": "TASK-002", "from": "PENDING", "to": "IN_PROGRESS",
           "by": "dispatcher:h:1", "event": "repair"},
          {"ts": stamp(now - dt.timedelta(days=3)), "task": "TASK-003", "by": "person:me@h", "manual": True}]
    write(s.house() / "logs" / "events.jsonl", "".join(json.dumps(x) + "\n" for x in ev))
    m = {r["metric"]: r for r in compute_metrics(s.fleet(), now=now)}
    assert m["Uptime (each wizard)"]["value"] == "90.0% (ezra)" and m["Uptime (each wizard)"]["ok"] is False
    assert m["Person interventions"]["value"] == "2 in 24 h" and m["Person interventions"]["ok"] is False
    assert "1 changes with robe queue set, 1 stale-editor repairs" == m["Person interventions"]["detail"]


def test_shared_memory_and_port_conflict_are_counted(tmp_path):
    import socket

    from .conftest import Setup
    from .helpers import queue_text, write_fleet

    sock = socket.socket()
    for port in range(21500, 22000):  # inside the test fleet's port range
        try:
            sock.bind(("127.0.0.1", port))
            break
        except OSError:
            continue
    sock.listen()
    try:
        fleet = write_fleet(tmp_path, {"ezra": {"port": port}, "allegro": {}})
        write(tmp_path / "ezra" / "WORK-QUEUE.md", queue_text(1))
        os.makedirs(tmp_path / "allegro" / "home", exist_ok=True)
        os.makedirs(tmp_path / "ezra" / "home", exist_ok=True)
        os.symlink(tmp_path / "allegro" / "home", tmp_path / "ezra" / "home" / "memories")
        m = {r["metric"]: r for r in compute_metrics(Setup(tmp_path, fleet, None).fleet())}
    finally:
        sock.close()
    assert m["Port conflicts"]["value"] == "1" and m["Port conflicts"]["ok"] is False
    assert m["Shared memory"]["ok"] is False and "allegro" in m["Shared memory"]["detail"]


def test_report_periods_under_a_frozen_clock(one_wizard):
    s = one_wizard
    with freeze_time("2026-11-22 06:00:00"):
        write_report(s.fleet())
    with freeze_time("2026-11-22 06:30:00"):
        rep, paths = write_report(s.fleet())
    assert rep.data["since"] == "2026-11-22T06:00:00.000Z" and rep.data["generated_at"] == "2026-11-22T06:30:00.000Z"
    assert os.path.basename(paths[0]) == "progress-20261122T063000Z.md"
    assert "since the previous report at 2026-11-22 06:00 UTC (30 min)" in rep.markdown


class _Hook(http.server.BaseHTTPRequestHandler):
    got: list = []

    def do_POST(self):
        n = int(self.headers["Content-Length"])
        _Hook.got.append(json.loads(self.rfile.read(n)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_cli_report_delivers_to_a_command_and_a_loopback_webhook(one_wizard, tmp_path):
    s = one_wizard
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    out = tmp_path / "delivered.md"
    try:
        deliver = f"{sys.executable} -c \"import sys; open({str(out)!r}, 'w').write(sys.stdin.read())\""
        r = CliRunner().invoke(cli, ["report", "--fleet", s.fleet_path, "--deliver", deliver, "--webhook",
                                     f"http://127.0.0.1:{server.server_port}/hook"], catch_exceptions=False)
    finally:
        server.shutdown()
        server.server_close()
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1].endswith("reports/latest.json")
    assert read(out) == read(tmp_path / "reports" / "latest.md")
    assert _Hook.got[-1]["markdown"] == read(out) and _Hook.got[-1]["report"]["totals"]["PENDING"] == 3
    bad = CliRunner().invoke(cli, ["report", "--fleet", s.fleet_path, "--deliver", "false"])
    assert bad.exit_code == 1 and "report delivery: false exited with code 1" in bad.output


def test_metrics_cli_and_progress_report_script(one_wizard):
    s = one_wizard
    run_some(s)
    r = CliRunner().invoke(cli, ["metrics", "--fleet", s.fleet_path])
    lines = r.output.splitlines()
    assert lines[0].split() == ["METRIC", "TARGET", "VALUE", "MET", "DETAIL"]
    assert lines[1].split() == ["Task", "completion", "rate", ">", "80%", "100.0%", "yes", "1", "COMPLETE,", "0",
                                "FAILED"]
    assert r.exit_code == 0
    write(s.house() / "logs" / "uptime.jsonl", json.dumps({"ts": stamp(dt.datetime.now(UTC)), "wizard": "ezra",
                                                             "up": False}) + "\n")
    r = CliRunner().invoke(cli, ["metrics", "--fleet", s.fleet_path])
    assert r.exit_code == 1
    assert [x for x in r.output.splitlines() if x.startswith("Uptime")][0].split()[:7] == [
        "Uptime", "(each", "wizard)", ">", "95%", "0.0%", "(ezra)"]
    assert " NO " in [x for x in r.output.splitlines() if x.startswith("Uptime")][0]
    js = json.loads(CliRunner().invoke(cli, ["metrics", "--fleet", s.fleet_path, "--json"]).output)
    assert [x["metric"] for x in js] == ["Task completion rate", "Uptime (each wizard)", "Port conflicts",
                                         "Shared memory", "Person interventions"]
    p = subprocess.run([bin_path("progress-report"), "--fleet", s.fleet_path, "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["counts"]["ezra"]["COMPLETE"] == 1


def test_build_report_with_no_events_is_well_formed(one_wizard):
    rep = build_report(one_wizard.fleet())
    assert rep.markdown.startswith("# Progress report — ")
    assert "Nothing is running." in rep.markdown
    assert "No task is FAILED, and no failed attempt waits to be retried." in rep.markdown
