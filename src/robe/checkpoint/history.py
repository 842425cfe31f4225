"""``robe history``: a task's status transitions from the git history of its queue and the event log.

Two sources, merged by time:
- git: each checkpoint commit that changed a queue file is parsed, and every task whose
  status differs from the commit before is a transition (source ``git``, with the commit);
- events: every line of the wizards' ``logs/events.jsonl`` (and the log beside the queue)
  that records a status change or a result (source ``event``, with who wrote it).

Git keeps what happened between checkpoints only as the net change; the event log has each
step. Both are shown because either may be missing (no checkpoint yet; a log rotated away).
When several of the fleet's queues hold a task of that ID, every line names its wizard and
its queue (an attempt's queue is the one its claim names).
"""

from __future__ import annotations

import datetime as _dt
import os

from ..fleet.answers import queues_holding
from ..house import House
from ..plumbing import shown_path
from ..queue import parse
from ..queue.events import events_path, read_events

#: checkpoint commits read per queue file, newest first
MAX_COMMITS = 500


def _ts(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _git_rows(queue_path: str, task_id: str | None) -> list[dict]:
    import git  # GitPython is heavy: imported when a history is asked for

    folder = os.path.dirname(os.path.realpath(queue_path))
    try:
        repo = git.Repo(folder, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return []
    if not repo.head.is_valid():
        return []
    rel = os.path.relpath(os.path.realpath(queue_path), repo.working_tree_dir)
    commits = list(repo.iter_commits(paths=rel, max_count=MAX_COMMITS))
    commits.reverse()
    rows = []
    before: dict[str, str] = {}
    for c in commits:
        try:
            text = (c.tree / rel).data_stream.read().decode("utf-8", errors="replace")
        except KeyError:  # the file was deleted in this commit
            before = {}
            continue
        now = {t.id: t.status.value for t in parse(text, rel).tasks}
        for tid, st in now.items():
            if before.get(tid) != st and (task_id is None or tid == task_id):
                rows.append({"ts": _ts(c.committed_date), "task": tid, "from": before.get(tid), "to": st,
                             "source": "git", "commit": c.hexsha, "by": None, "detail": c.summary,
                             "queue": queue_path})
        before = now
    return rows


def _event_rows(paths: dict[str, str | None], task_id: str | None) -> list[dict]:
    rows = []
    for p, wizard in paths.items():
        for e in read_events(p):
            tid = e.get("task")
            if not isinstance(tid, str) or (task_id is not None and tid != task_id):
                continue
            to = e.get("to")
            if to is None and e.get("status"):  # the executor's result line
                to = f"result {e['status']}"
            if to is None or (to == e.get("from") and e.get("event") not in ("rerun",)):
                continue
            rows.append({"ts": e.get("ts"), "task": tid, "from": e.get("from"), "to": to, "source": "event",
                         "commit": None, "by": e.get("by"), "detail": e.get("detail") or "",
                         "event": e.get("event") or e.get("step"), "attempt": e.get("attempt"),
                         "wizard": e.get("wizard") or wizard, "log": p})
    return rows


def _name_queues(fleet, rows: list[dict], beside: dict[str, str]) -> None:
    """Give each row its ``queue`` (and a git row its ``wizard``): for an event in a house, the
    queue its attempt's claim names; for one in the log beside a queue, that queue."""
    houses = {w.name: w for w in fleet.wizards}
    for r in rows:
        r["named"] = True
        if r["source"] == "git":
            r.setdefault("wizard", ", ".join(w.name for w in fleet.wizards
                                             if os.path.realpath(w.queue) == os.path.realpath(r["queue"])) or None)
        elif r.get("log") in beside:
            r["queue"] = beside[r["log"]]
        elif r.get("wizard") in houses:
            w = houses[r["wizard"]]
            attempt = r.get("attempt") if isinstance(r.get("attempt"), int) else None
            r["queue"] = House(w.house, w.name).claim_queue(r["task"], attempt) or w.queue


def history(fleet, task_id: str | None = None, wizards=None, *, limit: int | None = None) -> list[dict]:
    """Transitions, oldest first; without ``task_id`` only the latest ``limit`` of all tasks.
    When several queues hold ``task_id``, each row names its ``wizard`` and ``queue``."""
    chosen = [fleet.wizard(n) for n in dict.fromkeys(wizards)] if wizards else list(fleet.wizards)
    queues = list(dict.fromkeys(os.path.realpath(w.queue) for w in chosen))
    paths: dict[str, str | None] = {}
    for w in chosen:
        paths[os.path.join(w.house, "logs", "events.jsonl")] = w.name
    beside = {}
    for q in queues:
        if events_path(q) not in paths:
            paths[events_path(q)] = None
            beside[events_path(q)] = q
    rows = _event_rows(paths, task_id)
    for q in queues:
        if os.path.exists(q):
            rows += _git_rows(q, task_id)
    if task_id is not None and len(queues_holding(fleet, task_id)) > 1:
        _name_queues(fleet, rows, beside)
    rows.sort(key=lambda r: (r["ts"] or "", r["source"] == "git"))
    if limit is not None:
        rows = rows[-limit:]
    return rows


def lines(rows: list[dict]) -> str:
    """One line a transition; rows that name their queue (several queues hold the ID) end with
    ``[wizard, queue]``."""
    out = []
    for r in rows:
        when = (r["ts"] or "")[:19].replace("T", " ")
        change = f"{r['from'] or '-'} -> {r['to']}"
        if r["source"] == "git":
            where = f"commit {r['commit'][:10]}"
        else:
            where = f"{r.get('event') or 'event'} by {r['by']}"
            if r.get("attempt"):
                where += f", attempt {r['attempt']}"
        detail = f"  {r['detail']}" if r["detail"] and r["source"] == "event" else ""
        whose = f"  [{r.get('wizard') or '-'}, {shown_path(r['queue'])}]" if r.get("named") else ""
        out.append(f"{when}  {r['task']}  {change}  ({where}){whose}{detail}")
    return "\n".join(out)
