"""Alerts: a short message to a person when the fleet needs one. Four occasions: a task FAILED
with no attempts left (the monitor), a wizard paused by a budget (the dispatcher), a wizard Dead
for ``dead_after`` minutes (self-monitor), a success metric missed (the report, ``robe metrics``).

fleet.yaml's ``alerts:`` says where they go: a ``command`` (an argv, never a shell; ``{text}``,
``{kind}``, ``{wizard}`` and ``{task}`` are filled in, and the text is also its stdin), a
``webhook`` (a JSON POST: ``text``, ``kind``, ``key``, ``wizard``, ``task``, ``fleet``, ``at``, plus
the webhook's ``fields``, e.g. Telegram's ``chat_id``), or both.

Each alert has a key naming its occurrence (``failed:ezra:TASK-004:3``,
``paused:ezra:2026-11-23``, ``dead:ezra:<since>``, ``metric:fleet:<name>:<since>``) and is
delivered once per key and channel, however many runs see it. State: ``<root>/logs/alerts.json``,
changed under the flock ``<root>/logs/alerts.lock``; every delivery try is a line in
``<root>/logs/alerts.jsonl``. A failed delivery is tried ``retries`` times with a doubling wait
(1 s, 2 s, ...), then kept, and tried again by the next run that sends alerts, for a day. Nothing
here raises: an alert never stops a run.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from typing import Callable, NamedTuple

from ..clock import now as _now
from ..clock import parse_stamp, stamp
from ..plumbing import atomic_write, json_bytes, read_json, take_lock

log = logging.getLogger("robe.alerts")
#: Telegram takes 4096 characters; an alert says what happened in a line or two
MAX_TEXT = 600
LOCK_WAIT_S = 120.0
#: how long one run may spend delivering (the rest waits for the next run)
RUN_BUDGET_S = 60.0
#: a delivery still failing after this long is given up (and logged)
GIVE_UP_AFTER = _dt.timedelta(days=1)
#: sent keys are forgotten after this long
FORGET_AFTER = _dt.timedelta(days=30)
FIRST_WAIT_S = 1.0
_PLACEHOLDER_RE = re.compile(r"\{(text|kind|wizard|task)\}")
_UNSET_RE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


class Alert(NamedTuple):
    kind: str  # failed, paused, dead, metric
    key: str
    text: str
    wizard: str | None = None
    task: str | None = None

    def to_dict(self) -> dict:
        return self._asdict()


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def failed(wizard: str, task: str, attempt: int | None, detail: str) -> Alert:
    """A task that FAILED with no attempts left."""
    return Alert("failed", f"failed:{wizard}:{task}:{attempt or 0}",
                 _short(f"robe: {task} FAILED on {wizard} for good ({detail})"), wizard, task)


def paused(pause) -> Alert:
    """A wizard (or, for the fleet's budget, every wizard) paused by a daily budget."""
    day = pause.until - _dt.timedelta(days=1)
    if pause.scope == "fleet":
        return Alert("paused", f"paused:fleet:{day:%Y-%m-%d}", _short(f"robe: every wizard is {pause.reason}"))
    return Alert("paused", f"paused:{pause.wizard}:{day:%Y-%m-%d}", _short(f"robe: {pause.wizard} is {pause.reason}"),
                 pause.wizard)


def dead(wizard: str, since: _dt.datetime, at: _dt.datetime, detail: str) -> Alert:
    minutes = round((at - since).total_seconds() / 60)
    return Alert("dead", f"dead:{wizard}:{stamp(since)}",
                 _short(f"robe: {wizard} has been Dead (gateway and executor down) for {minutes} min: {detail}"), wizard)


def metric(row: dict, scope: str, since: _dt.datetime) -> Alert:
    return Alert("metric", f"metric:{scope}:{row['metric']}:{stamp(since)}",
                 _short(f"robe: success metric missed{'' if scope == 'fleet' else ' for ' + scope}: {row['metric']} is "
                        f"{row['value']}, target {row['target']} ({row['detail']})"))


# --- the state ---------------------------------------------------------------------------------


def _paths(fleet) -> tuple[str, str, str]:
    logs = os.path.join(fleet.root, "logs")
    return (os.path.join(logs, "alerts.json"), os.path.join(logs, "alerts.lock"),
            os.path.join(logs, "alerts.jsonl"))


def sent_keys(fleet) -> dict[str, dict]:
    """Key -> {channel: when sent}, as the state file holds them (for tests and ``--json``)."""
    return (read_json(_paths(fleet)[0]) or {}).get("sent", {})


def _log_try(path: str, line: dict) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"))
        finally:
            os.close(fd)
    except OSError as e:
        log.warning("alerts: cannot append to %s: %s", path, e.strerror)


def notify(fleet, alerts=(), *, conditions: dict[str, bool] | None = None,
           make: Callable[[str, _dt.datetime, _dt.datetime], Alert | None] | None = None,
           now: _dt.datetime | None = None) -> list[dict]:
    """Deliver ``alerts`` not delivered before, and any earlier delivery still owed.

    ``conditions``: subject -> whether it holds now (a wizard Dead, a metric missed). While one
    holds, the state remembers since when, and ``make(subject, since, now)`` may give its alert
    (keyed by ``since``: one alert per stretch); once it no longer holds, it is forgotten.
    Returns the delivery tries made (each ``{key, channel, ok, error}``). Never raises."""
    cfg = fleet.alerts
    if not cfg:
        return []
    if not alerts and not conditions and not (read_json(_paths(fleet)[0]) or {}).get("owed"):
        return []  # nothing to send and nothing owed: no lock taken, nothing written
    try:
        return _notify(fleet, list(alerts), conditions or {}, make, now or _now())
    except Exception as e:  # an alert must never stop a run
        log.exception("alerts: could not send")
        _log_try(_paths(fleet)[2], {"ts": stamp(), "ok": False, "error": f"robe could not send alerts: {e!r}"})
        return []


def _notify(fleet, alerts: list[Alert], conditions: dict, make, at: _dt.datetime) -> list[dict]:
    state_path, lock_path, log_path = _paths(fleet)
    fd = take_lock(lock_path, LOCK_WAIT_S)
    if fd is None:
        for a in alerts:
            _log_try(log_path, {"ts": stamp(), "key": a.key, "kind": a.kind, "ok": False,
                                "error": f"{lock_path} stayed locked for {LOCK_WAIT_S:g} s; not sent"})
        log.warning("alerts: %s stayed locked; %d alert(s) not sent", lock_path, len(alerts))
        return []
    try:
        state = read_json(state_path) or {}
        sent, owed, held = state.get("sent", {}), state.get("owed", []), state.get("open", {})
        for subject, holds in conditions.items():
            if not holds:
                held.pop(subject, None)
                continue
            since = parse_stamp(held.get(subject)) or at
            held[subject] = stamp(since)
            a = make(subject, since, at) if make else None
            if a is not None:
                alerts.append(a)
        channels = _channels(fleet.alerts)
        waiting = {(o["key"], o["channel"]) for o in owed}
        for a in alerts:
            if a.kind not in fleet.alerts.on:
                continue
            for ch in channels:
                if ch not in sent.get(a.key, {}) and (a.key, ch) not in waiting:
                    owed.append({"key": a.key, "channel": ch, "alert": a.to_dict(), "first": stamp(at), "tries": 0})
                    waiting.add((a.key, ch))
        tries = _deliver(fleet, owed, sent, at, log_path)
        cutoff = at - FORGET_AFTER
        state = {"sent": {k: v for k, v in sent.items() if any((parse_stamp(t) or at) > cutoff for t in v.values())},
                 "owed": owed, "open": held}
        atomic_write(state_path, json_bytes(state))
        return tries
    finally:
        os.close(fd)


def _channels(cfg) -> list[str]:
    return (["command"] if cfg.command else []) + (["webhook"] if cfg.webhook is not None else [])


def _deliver(fleet, owed: list[dict], sent: dict, at: _dt.datetime, log_path: str) -> list[dict]:
    """Try each owed delivery (``retries`` times, waiting 1 s, 2 s, ...); what succeeded moves to
    ``sent``, what is older than a day is given up. ``owed`` is changed in place."""
    cfg = fleet.alerts
    tries = []
    started = time.monotonic()
    for item in list(owed):
        a = Alert(**item["alert"])
        if time.monotonic() - started > RUN_BUDGET_S:
            break  # the rest waits for the next run
        ok, error = False, ""
        for n in range(cfg.retries):
            if n:
                time.sleep(FIRST_WAIT_S * 2 ** (n - 1))
            ok, error = _send(fleet, item["channel"], a)
            item["tries"] += 1
            line = {"ts": stamp(), "key": a.key, "kind": a.kind, "channel": item["channel"], "try": item["tries"],
                    "ok": ok, "error": error or None}
            _log_try(log_path, line)
            tries.append(line)
            if ok:
                break
            log.warning("alerts: %s via %s failed (try %d): %s", a.key, item["channel"], item["tries"], error)
        if ok:
            sent.setdefault(a.key, {})[item["channel"]] = stamp(at)
            owed.remove(item)
        elif at - (parse_stamp(item.get("first")) or at) > GIVE_UP_AFTER:
            owed.remove(item)
            _log_try(log_path, {"ts": stamp(), "key": a.key, "kind": a.kind, "channel": item["channel"], "ok": False,
                                "error": f"gave up after {item['tries']} tries over a day: {error}"})
            log.error("alerts: gave up on %s via %s: %s", a.key, item["channel"], error)
    return tries


def _send(fleet, channel: str, a: Alert) -> tuple[bool, str]:
    try:
        return _run_command(fleet, a) if channel == "command" else _post(fleet, a)
    except Exception as e:  # one channel's bug must not cost the other its alert
        return False, f"robe could not send it: {e!r}"


def _run_command(fleet, a: Alert) -> tuple[bool, str]:
    cfg = fleet.alerts
    values = {"text": a.text, "kind": a.kind, "wizard": a.wizard or "", "task": a.task or ""}
    argv = [_PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], x) for x in cfg.command]
    env = dict(os.environ, ROBE_ALERT_KIND=a.kind, ROBE_ALERT_KEY=a.key, ROBE_ALERT_TEXT=a.text)
    try:
        p = subprocess.run(argv, input=a.text.encode("utf-8"), capture_output=True, timeout=cfg.timeout, env=env,
                           cwd=fleet.folder)
    except subprocess.TimeoutExpired:
        return False, f"{argv[0]} took longer than {cfg.timeout} s"
    except OSError as e:
        return False, f"cannot run {argv[0]}: {e.strerror or e}"
    if p.returncode != 0:
        tail = p.stderr.decode("utf-8", "replace").strip().splitlines()
        return False, f"{argv[0]} exited with code {p.returncode}" + (f": {tail[-1]}" if tail else "")
    return True, ""


def _post(fleet, a: Alert) -> tuple[bool, str]:
    cfg = fleet.alerts
    url = os.path.expandvars(cfg.webhook.url)
    unset = _UNSET_RE.search(url)
    if unset:
        return False, f"alerts.webhook names ${unset.group(1)}, which is not set in robe's environment"
    body = dict(cfg.webhook.fields)
    body.update({"text": a.text, "kind": a.kind, "key": a.key, "wizard": a.wizard, "task": a.task,
                 "fleet": fleet.path, "at": stamp()})
    req = urllib.request.Request(url, data=json.dumps(body, ensure_ascii=False).encode("utf-8"), method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "robe-alerts"})
    shown = cfg.webhook.url  # never the expanded URL: it may hold a token
    try:
        with urllib.request.urlopen(req, timeout=cfg.timeout) as resp:
            resp.read(64 * 1024)
        return True, ""
    except urllib.error.HTTPError as e:
        e.close()
        return False, f"{shown} answered HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        return False, f"cannot reach {shown}: {getattr(e, 'reason', None) or e}"
