"""Charts of a fleet's day as plain SVG: throughput (tasks finished per interval) and the queue
by status over time (a burndown). The dashboard shows them in its pages and the progress
report writes them beside its markdown.

The SVG is self-contained: presentation attributes only (no CSS, no scripts, no fonts or
images fetched), so it renders the same inline in a page, as an ``<img>``, in a browser tab
and in Gitea's markdown view.

The series come from the event log (``logs/events.jsonl``). The burndown is built backwards:
it starts from the queue's counts now and undoes each status transition the log records, so
its last point is always exactly what the file says. Tasks a person wrote into the file
appear from the first point on (an editor's save leaves no event).
"""

from __future__ import annotations

import datetime as _dt
from typing import Iterable, NamedTuple
from xml.sax.saxutils import escape, quoteattr

from .clock import parse_stamp
from .queue import Status

STATUSES = tuple(s.value for s in Status)
#: bottom to top in the burndown: the work left at the bottom, so its burning down shows
STACK = ("PENDING", "IN_PROGRESS", "BLOCKED", "FAILED", "COMPLETE")
COLORS = {"PENDING": "#8a94a6", "IN_PROGRESS": "#2f6fde", "BLOCKED": "#d99a00", "FAILED": "#d23f3f",
          "COMPLETE": "#2e9e5b"}
BINS = 24
MIN_SPAN = _dt.timedelta(minutes=10)
MAX_SPAN = _dt.timedelta(hours=24)
WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 28, 34


class Point(NamedTuple):
    """One sample of a series: the end of its interval and the counts in it (or at it)."""

    at: _dt.datetime
    counts: dict


def _when(e: dict) -> _dt.datetime | None:
    return e.get("_t") or parse_stamp(e.get("ts"))


def _is_status(word) -> bool:
    return isinstance(word, str) and word in STATUSES


def span_for(events: Iterable[dict], now: _dt.datetime) -> _dt.timedelta:
    """How far back the charts look: since the first event, between 10 minutes and 24 hours."""
    first = min((t for t in (_when(e) for e in events) if t is not None), default=now)
    return min(max(now - first, MIN_SPAN), MAX_SPAN)


def finished(e: dict) -> str | None:
    """COMPLETE or FAILED when the event is the monitor folding a finished task, else None
    (the report counts "finished" the same way)."""
    if str(e.get("by", "")).startswith("monitor:") and e.get("to") in ("COMPLETE", "FAILED") \
            and e.get("from") != e.get("to"):
        return e["to"]
    return None


def throughput_series(events: list[dict], now: _dt.datetime, span: _dt.timedelta | None = None,
                      bins: int = BINS) -> list[Point]:
    """Tasks finished (COMPLETE and FAILED) in each of ``bins`` intervals ending at ``now``."""
    span = span or span_for(events, now)
    step = span / bins
    start = now - span
    points = [Point(start + step * (k + 1), {"COMPLETE": 0, "FAILED": 0}) for k in range(bins)]
    for e in events:
        kind, t = finished(e), _when(e)
        if kind is None or t is None or not start < t <= now:
            continue
        k = min(int((t - start) / step), bins - 1)
        points[k].counts[kind] += 1
    return points


def burndown_series(events: list[dict], totals: dict, now: _dt.datetime, span: _dt.timedelta | None = None,
                    bins: int = BINS) -> list[Point]:
    """The queue's counts by status at ``bins + 1`` moments up to ``now`` (the last is ``totals``)."""
    span = span or span_for(events, now)
    step = span / bins
    moves = []
    for e in events:
        t = _when(e)
        frm, to = e.get("from"), e.get("to")
        if t is None or t > now or not _is_status(to) or frm == to or not (frm is None or _is_status(frm)):
            continue
        moves.append((t, frm, to))
    moves.sort(key=lambda m: m[0], reverse=True)
    counts = {s: int(totals.get(s, 0)) for s in STATUSES}
    points = []
    i = 0
    for k in range(bins, -1, -1):
        at = now - step * (bins - k)
        while i < len(moves) and moves[i][0] > at:  # undo what happened after this moment
            _t, frm, to = moves[i]
            counts[to] -= 1
            if frm is not None:
                counts[frm] += 1
            i += 1
        points.append(Point(at, {s: max(n, 0) for s, n in counts.items()}))
    points.reverse()
    return points


# --- drawing ---------------------------------------------------------------------------------


def _nice_max(n: int) -> int:
    """The top of the y axis: four whole grid steps of 1, 2, 2.5 or 5 times a power of ten, reaching ``n``."""
    for step in (1, 2, 5):
        if 4 * step >= n:
            return 4 * step
    scale = 10
    while True:
        for step in (scale, 2 * scale, scale * 5 // 2, 5 * scale):
            if 4 * step >= n:
                return 4 * step
        scale *= 10


def _label(t: _dt.datetime) -> str:
    return t.astimezone(_dt.timezone.utc).strftime("%H:%M")


def _frame(title: str, top: int, start: _dt.datetime, end: _dt.datetime) -> list[str]:
    """The chart's outline: title, y grid with its numbers, and the times under the x axis."""
    plot_h = HEIGHT - TOP - BOTTOM
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label={quoteattr(title)} '
           'font-family="sans-serif" font-size="11">',
           f"<title>{escape(title)}</title>",
           f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
           f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold" fill="#222222">{escape(title)}</text>']
    for k in range(5):
        y = TOP + plot_h - plot_h * k / 4
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#e3e6ea"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555555">{top * k // 4}</text>')
    y = HEIGHT - BOTTOM + 14
    middle = start + (end - start) / 2
    for x, t, anchor in ((LEFT, start, "start"), ((LEFT + WIDTH - RIGHT) / 2, middle, "middle"),
                         (WIDTH - RIGHT, end, "end")):
        out.append(f'<text x="{x:.1f}" y="{y}" text-anchor="{anchor}" fill="#555555">{_label(t)}</text>')
    return out


def _legend(items: list[tuple[str, str]], y: int) -> list[str]:
    out, x = [], LEFT
    for label, color in items:
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14}" y="{y}" fill="#333333">{escape(label)}</text>')
        x += 22 + 7 * len(label)
    return out


def throughput_svg(points: list[Point], title: str = "Tasks finished") -> str:
    """Stacked bars (COMPLETE, FAILED) per interval."""
    step = points[1].at - points[0].at
    top = _nice_max(max((p.counts["COMPLETE"] + p.counts["FAILED"] for p in points), default=0))
    done = sum(p.counts["COMPLETE"] for p in points)
    failed = sum(p.counts["FAILED"] for p in points)
    out = _frame(title, top, points[0].at - step, points[-1].at)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bar = plot_w / max(len(points), 1)
    for k, p in enumerate(points):
        base = TOP + plot_h
        for status in ("COMPLETE", "FAILED"):
            n = p.counts[status]
            if not n:
                continue
            h = plot_h * n / top
            base -= h
            out.append(f'<rect x="{LEFT + k * bar + 1:.1f}" y="{base:.1f}" width="{max(bar - 2, 1):.1f}" '
                       f'height="{h:.1f}" fill="{COLORS[status]}"><title>{n} {status} by {_label(p.at)}</title></rect>')
    out += _legend([(f"COMPLETE {done}", COLORS["COMPLETE"]), (f"FAILED {failed}", COLORS["FAILED"])],
                   HEIGHT - 4)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def burndown_svg(points: list[Point], title: str = "The queue by status") -> str:
    """Stacked areas of the counts by status over time; the legend gives the counts now."""
    top = _nice_max(max((sum(p.counts.values()) for p in points), default=0))
    out = _frame(title, top, points[0].at, points[-1].at)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    xs = [LEFT + plot_w * k / max(len(points) - 1, 1) for k in range(len(points))]
    below = [0] * len(points)
    for status in STACK:
        above = [below[k] + points[k].counts.get(status, 0) for k in range(len(points))]
        if any(a != b for a, b in zip(above, below)):
            upper = [f"{xs[k]:.1f},{TOP + plot_h - plot_h * above[k] / top:.1f}" for k in range(len(points))]
            lower = [f"{xs[k]:.1f},{TOP + plot_h - plot_h * below[k] / top:.1f}" for k in reversed(range(len(points)))]
            out.append(f'<polygon points="{" ".join(upper + lower)}" fill="{COLORS[status]}" fill-opacity="0.85">'
                       f"<title>{status}</title></polygon>")
        below = above
    last = points[-1].counts if points else {}
    out += _legend([(f"{s} {last.get(s, 0)}", COLORS[s]) for s in STACK], HEIGHT - 4)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def fleet_charts(events: list[dict], totals: dict, now: _dt.datetime) -> dict[str, str]:
    """Both charts over the same span: ``{"throughput": svg, "burndown": svg}``."""
    span = span_for(events, now)
    minutes = span.total_seconds() / 60
    when = f"last {minutes / 60:.0f} h" if minutes >= 120 else f"last {minutes:.0f} min"
    return {"throughput": throughput_svg(throughput_series(events, now, span), f"Tasks finished ({when})"),
            "burndown": burndown_svg(burndown_series(events, totals, now, span), f"The queue by status ({when})")}
