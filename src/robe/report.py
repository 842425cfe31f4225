"""Progress reports (``progress-report``) and the seed's success metrics (``robe metrics``).

A report is built from files only: the queue files (counts by status, failures), the event
logs (what finished, failed and started since the previous report, throughput, a person's
interventions), the claims in ``work/`` (what runs and for how long), self-monitor's
``logs/uptime.jsonl`` samples and robe doctor's port and home checks.

Where reports go: a report of the whole fleet (or of several wizards) goes to
``<fleet root>/reports/``; a report of one wizard (``--wizard NAME``) to that wizard's
``<house>/reports/``. Each run writes ``progress-<UTC stamp>.md`` and ``.json`` and replaces
``latest.md`` and ``latest.json``; "since the previous report" means since ``latest.json``'s
``generated_at`` in that folder. Beside them go ``progress-<UTC stamp>-throughput.svg`` and
``-burndown.svg`` (``robe.charts``), which the markdown shows as images.

The report also shows spend (robe.fleet.spend: tokens, cost and agent time per wizard since the
previous report and today, and who a budget pauses), and writing it sends an alert for each
success metric missed (robe.fleet.alerts), once for each stretch the metric stays missed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable

from .charts import fleet_charts
from .clock import now as _now
from .clock import parse_stamp, stamp
from .fleet import alerts
from .fleet import spend as _spend
from .fleet.checks import FAIL, check_fleet
from .fleet.status import active_claims
from .house import House
from .plumbing import atomic_write
from .queue import QueueError, Status, load
from .queue.events import events_path, read_events
from .routing import Router, queue_key

STATUSES = [s.value for s in Status]
UPTIME_WINDOW = _dt.timedelta(days=7)
DAY = _dt.timedelta(days=1)


@dataclass(frozen=True)
class Report:
    """A progress report: its markdown and the same facts as data (written as JSON)."""

    markdown: str
    data: dict


def _fmt(t: _dt.datetime | None) -> str:
    return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if t else "-"


def _age(seconds: float) -> str:
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def _chosen(fleet, wizards):
    return [fleet.wizard(n) for n in dict.fromkeys(wizards)] if wizards else list(fleet.wizards)


# --- gathering ------------------------------------------------------------------------------


def _tasks_by_wizard(fleet, names: set) -> tuple[dict, dict, list[str], dict]:
    """{wizard: {status: n}}, {wizard: [FAILED tasks]}, queue problems, and {wizard: [PENDING or
    IN_PROGRESS tasks]} (those a failed attempt may be waiting to run again), over every queue file."""
    counts = {n: {s: 0 for s in STATUSES} for n in names}
    failed: dict[str, list] = {n: [] for n in names}
    open_: dict[str, list] = {n: [] for n in names}
    problems = []
    seen = set()
    for w in fleet.wizards:
        key = queue_key(w.queue)
        if key in seen or not os.path.exists(w.queue):
            continue
        seen.add(key)
        try:
            q = load(w.queue)
        except QueueError as e:
            problems.append(str(e))
            continue
        router = Router(fleet, w.queue)
        for t in q.tasks:
            who = router.route(t).wizard
            if who in names:
                counts[who][t.status.value] += 1
                if t.status is Status.FAILED:
                    failed[who].append(t)
                elif t.status in (Status.PENDING, Status.IN_PROGRESS):
                    open_[who].append(t)
    return counts, failed, problems, open_


def _events(fleet, wizards) -> list[dict]:
    """Every event of the chosen wizards' houses and beside their queues, with ``_t`` (datetime) and ``_w``."""
    paths: dict[str, str | None] = {}
    for w in wizards:
        paths[os.path.join(w.house, "logs", "events.jsonl")] = w.name
        paths.setdefault(events_path(w.queue), None)
    out = []
    for p, name in paths.items():
        for e in read_events(p):
            t = parse_stamp(e.get("ts"))
            if t is None:
                continue
            e["_t"] = t
            e["_w"] = e.get("wizard") or name
            out.append(e)
    out.sort(key=lambda e: e["_t"])
    return out


def _is_monitor(e) -> bool:
    return str(e.get("by", "")).startswith("monitor:")


def _retrying(fleet, wizards, open_tasks: dict, evs: list[dict]) -> list[dict]:
    """Failed attempts that will be retried: PENDING or IN_PROGRESS tasks whose latest fold by
    the monitor sent a failure (a FAILED result, or a reaped claim) back to PENDING. An attempt
    the agent asked to run later (exit code 75) is no failure and is not listed."""
    last: dict[tuple, dict] = {}
    for e in evs:
        if _is_monitor(e) and e.get("task") and e.get("to") in ("PENDING", "COMPLETE", "FAILED"):
            last[(e["_w"], e["task"])] = e
    out = []
    for w in wizards:
        house = House(w.house, w.name)
        for t in open_tasks.get(w.name, []):
            e = last.get((w.name, t.id))
            if e is None or e.get("to") != "PENDING" or e.get("event") not in ("retry", "reap"):
                continue
            attempt = e.get("attempt") if isinstance(e.get("attempt"), int) else None
            reason = e.get("detail") or ""
            if e.get("event") == "retry":
                res = house.archived_result(t.id, attempt) if attempt else None
                if res is None or res.status != "FAILED":
                    continue  # (rate-limited: the agent asked to run later, no failure counted)
                reason = res.error or reason
            out.append({"task": t.id, "wizard": w.name, "title": t.title, "reason": reason, "final": False,
                        "attempt": attempt})
    return out


def _uptime(fleet, wizards, now: _dt.datetime) -> dict[str, tuple[int, int]]:
    """{wizard: (up samples, all samples)} over the last UPTIME_WINDOW, from logs/uptime.jsonl."""
    names = {w.name for w in wizards}
    out: dict[str, list[int]] = {}
    paths = [os.path.join(fleet.root, "logs", "uptime.jsonl")] + [os.path.join(w.house, "logs", "uptime.jsonl")
                                                                  for w in wizards]
    for p in dict.fromkeys(paths):
        for s in read_events(p):
            who = s.get("wizard")
            t = parse_stamp(s.get("ts"))
            if who not in names or t is None or now - t > UPTIME_WINDOW or not isinstance(s.get("up"), bool):
                continue
            up, total = out.setdefault(who, [0, 0])
            out[who] = [up + int(s["up"]), total + 1]
    return {k: (v[0], v[1]) for k, v in out.items()}


def _doctor_counts(fleet, wizards) -> tuple[list[str], list[str]]:
    """(port conflicts, shared memory) as robe doctor finds them: its FAIL messages."""
    names = {w.name for w in wizards}
    ports, shared = [], []
    for c in check_fleet(fleet.path):
        if c.level != FAIL or (c.subject not in names and c.subject != "fleet"):
            continue
        if c.name == "ports":
            ports.append(f"{c.subject}: {c.message}")
        elif c.name == "home":
            shared.append(f"{c.subject}: {c.message}")
    return ports, shared


def compute_metrics(fleet, wizards=None, *, now: _dt.datetime | None = None, _counts=None, _events_=None) -> list[dict]:
    """The seed's success metrics, each ``{metric, target, value, ok, detail}`` (ok None: no data yet)."""
    now = now or _now()
    chosen = _chosen(fleet, wizards)
    counts = _counts if _counts is not None else _tasks_by_wizard(fleet, {w.name for w in chosen})[0]
    evs = _events_ if _events_ is not None else _events(fleet, chosen)
    rows = []

    done = sum(c["COMPLETE"] for c in counts.values())
    failed = sum(c["FAILED"] for c in counts.values())
    if done + failed:
        rate = 100.0 * done / (done + failed)
        rows.append({"metric": "Task completion rate", "target": "> 80%", "value": f"{rate:.1f}%", "ok": rate > 80,
                     "detail": f"{done} COMPLETE, {failed} FAILED"})
    else:
        rows.append({"metric": "Task completion rate", "target": "> 80%", "value": "n/a", "ok": None,
                     "detail": "no task has finished yet"})

    up = _uptime(fleet, chosen, now)
    if up:
        per = {n: 100.0 * u / t for n, (u, t) in up.items()}
        worst = min(per, key=per.get)
        missing = [w.name for w in chosen if w.name not in per]
        rows.append({"metric": "Uptime (each wizard)", "target": "> 95%", "value": f"{per[worst]:.1f}% ({worst})",
                     "ok": all(v > 95 for v in per.values()),
                     "detail": ", ".join(f"{n} {v:.1f}% of {up[n][1]} samples" for n, v in sorted(per.items()))
                     + (f"; no samples for {', '.join(missing)}" if missing else "")})
    else:
        rows.append({"metric": "Uptime (each wizard)", "target": "> 95%", "value": "n/a", "ok": None,
                     "detail": "no self-monitor samples in logs/uptime.jsonl yet"})

    ports, shared = _doctor_counts(fleet, chosen)
    rows.append({"metric": "Port conflicts", "target": "0", "value": str(len(ports)), "ok": not ports,
                 "detail": "; ".join(ports) or "robe doctor finds none"})
    rows.append({"metric": "Shared memory", "target": "none", "value": "none" if not shared else str(len(shared)),
                 "ok": not shared, "detail": "; ".join(shared) or "every home is its own"})

    recent = [e for e in evs if now - e["_t"] <= DAY and (e.get("manual") is True or e.get("event") == "repair")]
    manual = sum(1 for e in recent if e.get("manual") is True)
    rows.append({"metric": "Person interventions", "target": "< 1 per day", "value": f"{len(recent)} in 24 h",
                 "ok": len(recent) < 1,
                 "detail": f"{manual} changes with robe queue set, {len(recent) - manual} stale-editor repairs"})
    return rows


def _ok_word(ok) -> str:
    return "yes" if ok is True else ("NO" if ok is False else "-")


def metrics_table(rows: list[dict]) -> str:
    """Aligned columns, as robe's listing commands print them."""
    head = ["METRIC", "TARGET", "VALUE", "MET", "DETAIL"]
    body = [[r["metric"], r["target"], r["value"], _ok_word(r["ok"]), r["detail"]] for r in rows]
    widths = [max(len(str(x[i])) for x in [head] + body) for i in range(4)]
    return "\n".join("  ".join([str(x[i]).ljust(widths[i]) for i in range(4)] + [str(x[4])]).rstrip()
                     for x in [head] + body)


def _md_table(headers: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# --- the report -----------------------------------------------------------------------------


def reports_dir(fleet, wizards=None) -> str:
    chosen = _chosen(fleet, wizards)
    if wizards and len(chosen) == 1:
        return os.path.join(chosen[0].house, "reports")
    return os.path.join(fleet.root, "reports")


def _previous(folder: str) -> _dt.datetime | None:
    try:
        with open(os.path.join(folder, "latest.json"), encoding="utf-8") as f:
            return parse_stamp(json.load(f).get("generated_at"))
    except (OSError, ValueError, AttributeError):
        return None


def build_report(fleet, wizards=None, *, now: _dt.datetime | None = None,
                 since: _dt.datetime | None = None) -> Report:
    now = now or _now()
    chosen = _chosen(fleet, wizards)
    names = [w.name for w in chosen]
    counts, failed_tasks, problems, open_tasks = _tasks_by_wizard(fleet, set(names))
    evs = _events(fleet, chosen)
    window = [e for e in evs if since is None or e["_t"] > since]
    finished = [e for e in window if _is_monitor(e) and e.get("to") == "COMPLETE" and e.get("from") != "COMPLETE"]
    failed = [e for e in window if _is_monitor(e) and e.get("to") == "FAILED" and e.get("from") != "FAILED"]
    retried = [e for e in window if _is_monitor(e) and e.get("event") in ("retry", "reap") and e.get("to") == "PENDING"]
    started = [e for e in window if e.get("event") == "dispatch"]
    running = [(w.name, c) for w in chosen for c in active_claims(w, at=now)]
    reasons: dict[str, str] = {}
    for e in evs:
        if _is_monitor(e) and e.get("to") == "FAILED":
            reasons[e.get("task")] = e.get("detail") or ""
    start = since or (evs[0]["_t"] if evs else now)
    hours = max((now - start).total_seconds() / 3600, 1e-9)
    last_day = sum(1 for e in evs if _is_monitor(e) and e.get("to") == "COMPLETE" and e.get("from") != "COMPLETE"
                   and now - e["_t"] <= DAY)
    metrics = compute_metrics(fleet, wizards, now=now, _counts=counts, _events_=evs)

    def brief(e) -> dict:
        return {"task": e.get("task"), "wizard": e["_w"], "ts": e.get("ts"), "attempt": e.get("attempt"),
                "detail": e.get("detail", "")}

    data = {
        "generated_at": stamp(now), "fleet": fleet.path, "wizards": names,
        "since": stamp(since) if since else None,
        "counts": counts,
        "totals": {s: sum(c[s] for c in counts.values()) for s in STATUSES},
        "finished": [brief(e) for e in finished], "failed": [brief(e) for e in failed],
        "retried": [brief(e) for e in retried], "started": [brief(e) for e in started],
        "running": [{"wizard": n, "task": c.task, "attempt": c.attempt, "for_s": round(c.age_s, 1)}
                    for n, c in running],
        "failures": [{"task": t.id, "wizard": n, "title": t.title, "reason": reasons.get(t.id, ""), "final": True}
                     for n in names for t in failed_tasks[n]] + _retrying(fleet, chosen, open_tasks, evs),
        "throughput": {"finished": len(finished), "hours": round(hours, 3),
                       "per_hour": round(len(finished) / hours, 2), "last_24h": last_day},
        "metrics": metrics, "problems": problems,
        "spend": _spend_data(fleet, names, start, now),
    }
    return Report(_markdown(data, since, now), data)


def _spend_data(fleet, names: list[str], start: _dt.datetime, now: _dt.datetime) -> dict:
    """Spend per wizard since ``start`` and today (UTC), each wizard's budget, and the pauses."""
    window = _spend.spend_by_wizard(fleet, names, since=start, until=now)
    today = _spend.spend_by_wizard(fleet, names, since=_spend.day_start(now))
    paused = _spend.pauses(fleet, names, now=now)
    return {"since": stamp(start), "wizards": {n: t.to_dict() for n, t in window.items()},
            "today": {n: t.to_dict() for n, t in today.items()},
            "budgets": {w.name: w.budget.to_dict() for w in fleet.wizards if w.name in window},
            "fleet_budget": fleet.budget.to_dict(), "paused": [p.to_dict() for p in paused.values()]}


def _spend_markdown(sp: dict) -> list[str]:
    rows = []
    for n, d in sp["wizards"].items():
        t, day = _spend.Totals.from_dict(d), _spend.Totals.from_dict(sp["today"][n])
        rows.append([n, t.attempts, _spend.tokens_text(t.input_tokens, t.reported),
                     _spend.tokens_text(t.output_tokens, t.reported), _spend.cost_text(t), _spend.seconds_text(t.seconds),
                     _spend.brief(day)])
    out = [_md_table(["Wizard", "Attempts", "Tokens in", "Tokens out", "Cost", "Agent time", "Today (UTC)"], rows)]
    out += [f"- {p['wizard']}: {p['reason']}" for p in sp["paused"]]
    return out


def alert_missed_metrics(fleet, rows: list[dict], wizards=None) -> None:
    """An alert for each success metric missed (``ok`` False), once while it stays missed."""
    scope = ",".join(sorted(dict.fromkeys(wizards))) if wizards else "fleet"
    by_subject = {f"metric:{scope}:{r['metric']}": r for r in rows}
    alerts.notify(fleet, conditions={k: r["ok"] is False for k, r in by_subject.items()},
                  make=lambda subject, since, _at: alerts.metric(by_subject[subject], scope, since))


def _markdown(d: dict, since, now) -> str:
    out = [f"# Progress report — {_fmt(now)}", ""]
    scope = ", ".join(d["wizards"]) or "no wizards"
    period = (f"since the previous report at {_fmt(since)} ({_age((now - since).total_seconds())})" if since
              else "since the first event (no previous report)")
    out += [f"Fleet `{d['fleet']}` · wizards: {scope} · {period}.", ""]
    out += ["## Tasks by status", ""]
    rows = [[n] + [c[s] for s in STATUSES] + [sum(c.values())] for n, c in d["counts"].items()]
    rows.append(["**all**"] + [d["totals"][s] for s in STATUSES] + [sum(d["totals"].values())])
    out += [_md_table(["Wizard"] + STATUSES + ["Total"], rows), ""]
    out += ["## Since the previous report", ""]
    for label, key in (("Finished", "finished"), ("Failed", "failed"), ("Sent back to PENDING", "retried"),
                       ("Started", "started")):
        items = d[key]
        shown = ", ".join(f"{e['task']} ({e['wizard']})" for e in items[:30]) + (" …" if len(items) > 30 else "")
        out.append(f"- {label}: {len(items)}" + (f" — {shown}" if items else ""))
    out += ["", "## Running now", ""]
    if d["running"]:
        out += [_md_table(["Wizard", "Task", "Attempt", "Running for"],
                          [[r["wizard"], r["task"], r["attempt"] or "-", _age(r["for_s"])] for r in d["running"]])]
    else:
        out.append("Nothing is running.")
    out += ["", "## Failures", ""]
    if d["failures"]:
        out += [_md_table(["Task", "Wizard", "Title", "Reason", "Next"],
                          [[f["task"], f["wizard"], f["title"], f["reason"] or "(no reason recorded)",
                            "no attempts left" if f["final"] else f"attempt {f.get('attempt') or '?'} failed; "
                                                                   "it will be retried"]
                           for f in d["failures"]])]
    else:
        out.append("No task is FAILED, and no failed attempt waits to be retried.")
    tp = d["throughput"]
    out += ["", "## Throughput", "",
            f"- {tp['finished']} finished in {_age(tp['hours'] * 3600)} ({tp['per_hour']:.1f} per hour)",
            f"- {tp['last_24h']} finished in the last 24 hours", ""]
    out += ["## Spend", "", "What the agents spent in this report's period, and today (UTC) so far.", ""]
    out += _spend_markdown(d["spend"]) + [""]
    out += ["## Success metrics", ""]
    out += [_md_table(["Metric", "Target", "Value", "Met", "Detail"],
                      [[m["metric"], m["target"], m["value"], _ok_word(m["ok"]), m["detail"]] for m in d["metrics"]])]
    if d["problems"]:
        out += ["", "## Problems", ""] + [f"- {p}" for p in d["problems"]]
    return "\n".join(out) + "\n"


def write_report(fleet, wizards=None, *, now: _dt.datetime | None = None) -> tuple[Report, list[str]]:
    """Build the report and write ``progress-<stamp>.md/.json`` and ``latest.md/.json``; the paths."""
    now = now or _now()
    folder = reports_dir(fleet, wizards)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    rep = build_report(fleet, wizards, now=now, since=_previous(folder))
    name = f"progress-{now.astimezone(_dt.timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"
    rep, svgs = _with_charts(fleet, wizards, rep, name, now)
    js = (json.dumps(rep.data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    md = rep.markdown.encode("utf-8")
    paths = []
    for fname, data in ((f"{name}.md", md), (f"{name}.json", js), *svgs, ("latest.md", md), ("latest.json", js)):
        p = os.path.join(folder, fname)
        atomic_write(p, data, mode=0o600)
        paths.append(p)
    alert_missed_metrics(fleet, rep.data["metrics"], wizards)
    return rep, paths


def _with_charts(fleet, wizards, rep: Report, name: str, now: _dt.datetime) -> tuple[Report, list]:
    """The report with its charts section, and the (file name, SVG bytes) to write beside it."""
    charts = fleet_charts(_events(fleet, _chosen(fleet, wizards)), rep.data["totals"], now)
    files = {kind: f"{name}-{kind}.svg" for kind in charts}
    md = rep.markdown + "\n## Charts\n\n" + "\n\n".join(
        f"![{label}]({files[kind]})" for kind, label in (("throughput", "Tasks finished"),
                                                         ("burndown", "The queue by status"))) + "\n"
    return Report(md, {**rep.data, "charts": files}), [(files[k], svg.encode("utf-8")) for k, svg in charts.items()]


def deliver_report(rep: Report, *, deliver: str | None = None, webhook: str | None = None,
                   err: Callable[[str], None] = lambda _l: None, timeout: float = 30.0) -> bool:
    """Send the report on: ``deliver`` (an argv, the markdown on stdin), ``webhook`` (POST JSON). True if one failed."""
    failed = False
    if deliver:
        argv = shlex.split(deliver)
        try:
            p = subprocess.run(argv, input=rep.markdown.encode("utf-8"), capture_output=True, timeout=timeout)
            if p.returncode != 0:
                failed = True
                tail = p.stderr.decode("utf-8", "replace").strip().splitlines()
                err(f"report delivery: {argv[0]} exited with code {p.returncode}"
                    + (f": {tail[-1]}" if tail else ""))
        except (OSError, subprocess.TimeoutExpired) as e:
            failed = True
            err(f"report delivery: cannot run {argv[0] if argv else deliver!r}: {getattr(e, 'strerror', None) or e}")
    if webhook:
        body = json.dumps({"markdown": rep.markdown, "report": rep.data}, ensure_ascii=False).encode("utf-8")
        req = urllib.request.Request(webhook, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "robe-report"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                resp.read()
        except urllib.error.HTTPError as e:
            failed = True
            err(f"report delivery: {webhook} answered HTTP {e.code}")
            e.close()
        except (urllib.error.URLError, OSError, ValueError) as e:
            failed = True
            err(f"report delivery: cannot reach {webhook}: {getattr(e, 'reason', e)}")
    return failed
