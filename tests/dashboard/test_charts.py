"""The charts: throughput and the queue by status over time, from the event log, as plain SVG
(no script, no style sheet, nothing fetched), and the progress report's SVG files beside it."""

from __future__ import annotations

import datetime as dt
import os
import re
import xml.etree.ElementTree as ET

from robe.charts import (BINS, burndown_series, burndown_svg, fleet_charts, span_for, throughput_series,
                         throughput_svg)
from robe.report import write_report

from ..monitor.helpers import queue_text, write_fleet
from ..support import read, write

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.timezone.utc)
SVG = "{http://www.w3.org/2000/svg}"


def ev(minutes_ago: float, task: str, frm, to, by="monitor:h:1", **extra) -> dict:
    return {"ts": (NOW - dt.timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "task": task, "from": frm, "to": to, "by": by, **extra}


EVENTS = [
    ev(230, "T-1", None, "PENDING", by="person:me@h", detail="added"),
    ev(220, "T-1", "PENDING", "IN_PROGRESS", by="dispatcher:h:2"),
    ev(200, "T-1", "IN_PROGRESS", "COMPLETE"),
    ev(100, "T-2", "PENDING", "IN_PROGRESS", by="dispatcher:h:2"),
    ev(90, "T-2", "IN_PROGRESS", "FAILED"),
    ev(30, "T-3", "PENDING", "IN_PROGRESS", by="dispatcher:h:2"),
    ev(20, "T-3", "IN_PROGRESS", "COMPLETE"),
    ev(10, "T-3", "COMPLETE", "COMPLETE"),  # an archive line: no change
    {"ts": "not a time", "task": "T-9", "from": "PENDING", "to": "COMPLETE", "by": "monitor:h:1"},
    ev(5, "T-4", None, None, by="executor:h:3", status="COMPLETE"),  # the executor's result line
]
TOTALS = {"PENDING": 2, "IN_PROGRESS": 0, "COMPLETE": 2, "FAILED": 1, "BLOCKED": 1}


def test_throughput_counts_what_the_monitor_finished_per_interval():
    span = span_for(EVENTS, NOW)
    assert span == dt.timedelta(minutes=230)
    points = throughput_series(EVENTS, NOW, dt.timedelta(hours=4), bins=4)
    assert [p.at for p in points] == [NOW - dt.timedelta(hours=h) for h in (3, 2, 1, 0)]
    # T-1 COMPLETE 200 min ago, T-2 FAILED 90 min ago, T-3 COMPLETE 20 min ago; the rest is no finish.
    assert [p.counts for p in points] == [{"COMPLETE": 1, "FAILED": 0}, {"COMPLETE": 0, "FAILED": 0},
                                          {"COMPLETE": 0, "FAILED": 1}, {"COMPLETE": 1, "FAILED": 0}]


def test_the_burndown_is_rebuilt_backwards_from_the_counts_now():
    points = burndown_series(EVENTS, TOTALS, NOW, dt.timedelta(hours=4), bins=4)
    assert [p.at for p in points] == [NOW - dt.timedelta(hours=h) for h in (4, 3, 2, 1, 0)]
    assert points[-1].counts == TOTALS  # the last point is exactly what the file says
    # 1 h ago: T-3 not dispatched yet. 2 h and 3 h ago: T-2 not dispatched yet, T-1 done.
    # 4 h ago: T-1 not even added; the four PENDING tasks a person wrote were there already.
    counts = [[p.counts[s] for s in ("PENDING", "IN_PROGRESS", "COMPLETE", "FAILED", "BLOCKED")] for p in points]
    assert counts == [[4, 0, 0, 0, 1], [4, 0, 1, 0, 1], [4, 0, 1, 0, 1], [3, 0, 1, 1, 1], [2, 0, 2, 1, 1]]


def _plain_svg(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg" and root.get("viewBox") and root.get("width") and root.get("height")
    for el in root.iter():
        assert el.tag not in (SVG + "script", SVG + "style", SVG + "foreignObject", SVG + "image"), el.tag
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), name
            assert name != "style" and "href" not in name and "url(" not in value, (name, value)
    return root


def test_the_svg_is_plain_and_its_shapes_follow_the_data():
    points = throughput_series(EVENTS, NOW, dt.timedelta(hours=4), bins=BINS)
    root = _plain_svg(throughput_svg(points, "Tasks <finished> & more"))
    assert root.find(SVG + "title").text == "Tasks <finished> & more"
    bars = [r for r in root.iter(SVG + "rect") if r.find(SVG + "title") is not None]
    assert sorted(r.find(SVG + "title").text.split(" by ")[0] for r in bars) == ["1 COMPLETE", "1 COMPLETE", "1 FAILED"]
    assert len({r.get("height") for r in bars}) == 1  # one task each: equal heights
    burn = _plain_svg(burndown_svg(burndown_series(EVENTS, TOTALS, NOW, dt.timedelta(hours=4))))
    layers = [p.find(SVG + "title").text for p in burn.iter(SVG + "polygon")]
    assert layers == ["PENDING", "IN_PROGRESS", "BLOCKED", "FAILED", "COMPLETE"]  # bottom to top
    legend = [t.text for t in burn.iter(SVG + "text") if t.text and t.text.split()[0].isupper()]
    assert legend[-5:] == ["PENDING 2", "IN_PROGRESS 0", "BLOCKED 1", "FAILED 1", "COMPLETE 2"]


def test_an_empty_fleet_still_draws_both_charts():
    charts = fleet_charts([], {"PENDING": 0}, NOW)
    for svg in charts.values():
        _plain_svg(svg)
    assert "last 10 min" in charts["throughput"]


def test_the_progress_report_writes_its_charts_beside_the_markdown(tmp_path):
    fleet = write_fleet(tmp_path, {"ezra": {}})
    write(tmp_path / "ezra" / "WORK-QUEUE.md", queue_text(3))
    os.makedirs(tmp_path / "ezra" / "logs", exist_ok=True)
    with open(tmp_path / "ezra" / "logs" / "events.jsonl", "w") as f:
        import json

        for e in EVENTS:
            f.write(json.dumps(e) + "\n")
    from robe.fleet.config import load_fleet

    rep, paths = write_report(load_fleet(fleet), now=NOW)
    svgs = [p for p in paths if p.endswith(".svg")]
    assert [os.path.basename(p) for p in svgs] == ["progress-20261122T120000Z-throughput.svg",
                                                   "progress-20261122T120000Z-burndown.svg"]
    assert rep.data["charts"] == {"throughput": "progress-20261122T120000Z-throughput.svg",
                                  "burndown": "progress-20261122T120000Z-burndown.svg"}
    md = read(tmp_path / "reports" / "latest.md")
    assert re.findall(r"!\[[^\]]+\]\(([^)]+)\)", md) == [os.path.basename(p) for p in svgs]
    for p in svgs:  # the links resolve beside latest.md and the stamped report alike
        assert os.path.exists(os.path.join(tmp_path, "reports", os.path.basename(p)))
        _plain_svg(read(p))
    burn = read(svgs[1])
    assert "PENDING 3" in burn  # the queue's three PENDING tasks now
