"""kill -9 of ``robe run`` at random moments of a run, each followed by a restart, while a
person edits the queue files; then every task must be COMPLETE exactly once, every file must
have parsed after every kill, and every edit of the person must still be there.

- The fleet: ``wizards`` echo wizards, each with its own WORK-QUEUE.md (``max_active`` 4);
  with ``command`` one more wizard whose agent is a real child process (``/bin/sh -c 'sleep
  0.02'``), so kills also leave agents running without their robe run. ``tasks`` tasks are
  written before the first start.
- The kills: ``kills`` thresholds drawn at random over the run's progress (tasks COMPLETE in
  the files); for each, robe run is started (not waited for), the bench waits a random
  0-300 ms and until that many tasks are COMPLETE, waits a random 0-50 ms more, and sends
  SIGKILL. So kills land during start-up, during passes, between them, while agents run.
  After each kill every queue file is loaded with ``robe.queue.load`` (it must parse) and
  must hold each task ID once. Then robe run is started again.
- The person (a thread, from the first start until the last kill): now and then, on a
  random queue file, either appends a note (a paragraph), appends a new task, or changes the
  title of one of the original tasks. Appends are open-for-append writes; a title change reads
  the file, edits it and saves it in place or through a renamed temp file, after checking the
  file did not change since it read it (as editors warn), so a robe write that lands in the
  microseconds between that check and the save can still be lost. By default the person
  edits every 2-4 s (``pace``), at most ``tasks // 5`` times; ``--pace 0.2,0.6`` (a file
  saved more often than every 2 s) makes robe run stall (see README).
- The end: a last robe run until every task (the original ones and the person's) is
  COMPLETE, then SIGTERM. Checks: each task is COMPLETE in its file; ``completed/archive/``
  holds exactly one COMPLETE result for it; ``logs/events.jsonl`` has exactly one monitor
  transition to COMPLETE for it; nothing is left in ``work/`` or ``completed/``; every note,
  every added task and every title (its last version) is in the files.

    python bench/kill_run.py [--tasks 2000] [--kills 100] [--seed N]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from runlib import ENV, ROBE, backdate, count_complete, events, save, start_run  # noqa: E402,F401


def _line(tid: str, n: int) -> str:
    return f"- [ ] {tid} PENDING Benchmark task {n}\n"


class Person(threading.Thread):
    """Edits the queue files while robe run runs and dies."""

    def __init__(self, queues: list[str], originals: dict[str, list[int]], seed: int, pace: tuple[float, float],
                 edits: int):
        super().__init__(daemon=True, name="person")
        self.pace = pace
        self.edits = edits
        self.queues = queues
        self.originals = originals      # queue -> numbers n of its RUN-n tasks
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.notes: list[tuple[str, str]] = []        # (queue, text)
        self.added: list[tuple[str, str]] = []        # (queue, task id)
        self.titles: dict[str, tuple[str, str]] = {}  # task id -> (queue, title)
        self.saves = 0
        self.retries = 0
        self.error: BaseException | None = None

    def run(self):
        try:
            k = 0
            while k < self.edits and not self.stop.wait(self.rng.uniform(*self.pace)):
                k += 1
                q = self.rng.choice(self.queues)
                what = self.rng.choice(("note", "task", "title"))
                if what == "note":
                    text = f"Note {k} from a person: check the output of the run by hand."
                    with open(q, "a", encoding="utf-8") as f:
                        f.write(f"\n{text}\n\n")
                    self.notes.append((q, text))
                elif what == "task":
                    tid = f"NEW-{k}"
                    with open(q, "a", encoding="utf-8") as f:
                        f.write(f"\n- [ ] {tid} PENDING Added by a person, edit {k}\n")
                    self.added.append((q, tid))
                else:
                    n = self.rng.choice(self.originals[q])
                    self.retitle(q, f"RUN-{n}", f"Benchmark task {n}", f"Benchmark task {n} edited-{k}",
                                 "inplace" if k % 2 else "rename")
                self.saves += 1
        except BaseException as e:  # reported by the caller
            self.error = e

    def retitle(self, q: str, tid: str, base: str, new: str, how: str) -> None:
        pattern = re.compile(rf"^(- \[[ x]\] {re.escape(tid)} [A-Z_]+ ){re.escape(base)}(?: edited-\d+)?$", re.M)
        for _ in range(50):
            st = os.stat(q)
            with open(q, encoding="utf-8") as f:
                text = f.read()
            changed, n = pattern.subn(lambda m: m.group(1) + new, text)
            if n != 1:
                raise AssertionError(f"{tid} found {n} times in {q} before the person's edit")
            after = os.stat(q)
            if (after.st_ino, after.st_size, after.st_mtime_ns) != (st.st_ino, st.st_size, st.st_mtime_ns):
                self.retries += 1  # the file changed while "the editor" had it open: read it again
                continue
            save(q, changed, how)
            self.titles[tid] = (q, new)
            return
        raise AssertionError(f"{q} kept changing; the person could not save")


def _load_ids(q: str) -> Counter:
    from robe.queue import load

    snap = load(q)
    return Counter(t.id for t in snap.tasks)


def run(tasks: int = 2000, kills: int = 100, wizards: int = 4, max_active: int = 4, seed: int = 1,
        person: bool = True, command: bool = True, timeout: float = 900.0, log=None, keep: bool = False,
        pace: tuple[float, float] = (2.0, 4.0), edits: int | None = None, kill_wait: float = 60.0) -> dict:
    from runlib import write_fleet

    rng = random.Random(seed)
    say = log or (lambda *a: None)
    folder = tempfile.mkdtemp(prefix="robe-kill-run-")
    t_start = time.monotonic()
    try:
        names = [f"wizard-{i}" for i in range(wizards)]
        fleet = write_fleet(folder, names, max_active=max_active)
        if command:
            with open(fleet) as f:
                doc = json.load(f)
            doc["wizards"]["runner"] = {"port": 29999, "gateway": None, "max_active": max_active,
                                        "agent": {"kind": "command", "argv": ["/bin/sh", "-c", "sleep 0.02"]}}
            with open(fleet, "w") as f:
                json.dump(doc, f, indent=1)
            r = __import__("subprocess").run([ROBE, "init", folder], env=ENV, capture_output=True, text=True)
            if r.returncode:
                raise SystemExit(r.stderr)
            names.append("runner")
        houses = [os.path.join(folder, n) for n in names]
        queues = [os.path.join(h, "WORK-QUEUE.md") for h in houses]
        originals: dict[str, list[int]] = {q: [] for q in queues}
        for i in range(1, tasks + 1):
            originals[queues[i % len(queues)]].append(i)
        for q in queues:
            with open(q, "w") as f:
                f.write("# Queue\n\n" + "".join(_line(f"RUN-{n}", n) for n in originals[q]))
            backdate(q)
        thresholds = sorted(rng.randrange(tasks) for _ in range(kills))
        who = Person(queues, originals, seed + 1, pace, tasks // 5 if edits is None else edits)
        problems: list[str] = []
        at_kill = []
        runs = 0
        for k, threshold in enumerate(thresholds):
            p = start_run(fleet, folder, houses[0], wait=False)
            runs += 1
            if person and k == 0:
                who.start()
            time.sleep(rng.uniform(0, 0.3))
            end = time.monotonic() + kill_wait
            while count_complete(queues) < threshold and p.poll() is None and time.monotonic() < end:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))
            if p.poll() is not None:
                problems.append(f"robe run exited by itself with {p.returncode} before kill {k + 1}")
            else:
                os.kill(p.pid, signal.SIGKILL)
            p.wait()
            done = count_complete(queues)
            at_kill.append(done)
            for q in queues:
                try:
                    dup = [i for i, c in _load_ids(q).items() if c > 1]
                except Exception as e:  # noqa: BLE001  (any failure to parse is the finding)
                    problems.append(f"after kill {k + 1}: {q} does not parse: {e}")
                    continue
                if dup:
                    problems.append(f"after kill {k + 1}: {q} holds {dup[:5]} more than once")
            say(f"kill {k + 1}/{kills}: {done} COMPLETE (threshold {threshold})")
        who.stop.set()
        if who.is_alive():
            who.join(10)
        if who.error is not None:
            problems.append(f"the person's thread failed: {who.error!r}")
        expected = {f"RUN-{n}": q for q, ns in originals.items() for n in ns}
        expected.update({tid: q for q, tid in who.added})
        p = start_run(fleet, folder, houses[0], wait=False)
        runs += 1
        end = time.monotonic() + timeout
        while count_complete(queues) < len(expected) and time.monotonic() < end and p.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)  # the last monitor writes its archive moves after the queue write
        from runlib import stop_run

        stop_run(p)
        elapsed = time.monotonic() - t_start
        # robe run's self-monitor job restarts executors it finds down as detached `robe execute`
        # daemons; any still running now outlived every robe run of this fleet
        from runlib import end_strays

        strays = end_strays(folder)
        # -- the checks
        statuses: dict[str, tuple[str, str]] = {}
        texts = {}
        for q in queues:
            from robe.queue import load

            try:
                snap = load(q)
            except Exception as e:  # noqa: BLE001
                problems.append(f"at the end: {q} does not parse: {e}")
                continue
            texts[q] = snap.text
            for t in snap.tasks:
                if t.id in statuses:
                    problems.append(f"{t.id} is in the queues twice")
                statuses[t.id] = (q, t.status.value if hasattr(t.status, "value") else str(t.status), t.title)
        not_complete = [tid for tid in expected if statuses.get(tid, (None, None))[1] != "COMPLETE"]
        if not_complete:
            problems.append(f"{len(not_complete)} task(s) not COMPLETE at the end: "
                            f"{[(t, statuses.get(t, (None, 'missing'))[1]) for t in not_complete[:8]]}")
        wrong_queue = [tid for tid, q in expected.items() if tid in statuses and statuses[tid][0] != q]
        if wrong_queue:
            problems.append(f"tasks in the wrong file: {wrong_queue[:5]}")
        results: Counter = Counter()
        attempts: Counter = Counter()
        cancelled = bare = lock_files = 0
        for h in houses:
            for path in glob.glob(os.path.join(h, "completed", "archive", "*.json")):
                try:
                    with open(path) as f:
                        d = json.load(f)
                except (OSError, ValueError):
                    problems.append(f"unreadable result {path}")
                    continue
                attempts[d.get("id")] += 1
                if d.get("status") == "COMPLETE":
                    results[d.get("id")] += 1
                elif d.get("status") == "CANCELLED":
                    cancelled += 1
            for path in glob.glob(os.path.join(h, "completed", "archive", "*.txt")):
                if not os.path.exists(path[:-4] + ".json"):  # a bare answer counts as COMPLETE (DESIGN §4)
                    tid = os.path.basename(path).rsplit(".", 2)[0]
                    attempts[tid] += 1
                    results[tid] += 1
                    bare += 1
            # claim locks of executors that were killed: flock files, harmless, but never removed
            lock_files += len(glob.glob(os.path.join(h, "work", "*.lock")))
            left = [os.path.relpath(x, folder) for x in glob.glob(os.path.join(h, "work", "*"))
                    + glob.glob(os.path.join(h, "completed", "*")) if not os.path.isdir(x) and not x.endswith(".lock")]
            if left:
                problems.append(f"left unarchived: {left[:5]}")
        twice = {t: c for t, c in results.items() if c > 1}
        none = [t for t in expected if results[t] == 0]
        if twice:
            problems.append(f"{len(twice)} task(s) with more than one COMPLETE result: {list(twice.items())[:8]}")
        if none:
            problems.append(f"{len(none)} task(s) with no COMPLETE result archived: {none[:8]}")
        transitions: Counter = Counter()
        for h in houses:
            for e in events(h):
                if e.get("to") == "COMPLETE" and str(e.get("by", "")).startswith("monitor"):
                    transitions[e.get("task")] += 1
        ev_twice = {t: c for t, c in transitions.items() if c > 1}
        ev_none = [t for t in expected if transitions[t] == 0]
        if ev_twice:
            problems.append(f"{len(ev_twice)} task(s) turned COMPLETE more than once in the events: "
                            f"{list(ev_twice.items())[:8]}")
        if ev_none:
            problems.append(f"{len(ev_none)} task(s) with no COMPLETE transition in the events: {ev_none[:8]}")
        lost_notes = [t for q, t in who.notes if t not in texts.get(q, "")]
        lost_tasks = [tid for q, tid in who.added if tid not in statuses]
        lost_titles = [(tid, title, statuses.get(tid, (None, None, None))[2]) for tid, (q, title) in who.titles.items()
                       if statuses.get(tid, (None, None, None))[2] != title]
        for what, lost in (("note", lost_notes), ("added task", lost_tasks), ("title edit", lost_titles)):
            if lost:
                problems.append(f"{len(lost)} {what}(s) of the person lost: {lost[:5]}")
        return {"tasks": tasks, "person_tasks": len(who.added), "kills": kills, "runs": runs, "seconds": round(elapsed, 1),
                "kills_with_work_left": sum(1 for d in at_kill if d < len(expected)),
                "person_saves": who.saves, "notes": len(who.notes), "title_edits": len(who.titles),
                "person_retries": who.retries, "results_archived": sum(attempts.values()),
                "tasks_run_more_than_once": sum(1 for c in attempts.values() if c > 1), "cancelled": cancelled,
                "bare_results": bare, "lock_files_left": lock_files, "longest_stall_s": _longest_gap(houses),
                "strays": strays,
                "problems": problems, "folder": folder if keep else None}
    finally:
        from runlib import end_strays

        end_strays(folder)
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def _longest_gap(houses: list[str]) -> float:
    """The longest time between two consecutive transitions in the events (s): robe stalled."""
    from runlib import epoch

    ts = sorted(epoch(e["ts"]) for h in houses for e in events(h) if "ts" in e)
    return round(max((b - a for a, b in zip(ts, ts[1:])), default=0.0), 1)


def describe(r: dict) -> str:
    head = (f"{r['kills']} kill -9 of robe run over {r['tasks']} tasks (+{r['person_tasks']} added by the person), "
            f"{r['runs']} starts, {r['seconds']} s; {r['kills_with_work_left']} kills with work left; person: "
            f"{r['person_saves']} saves ({r['notes']} notes, {r['title_edits']} titles, {r['person_tasks']} tasks; "
            f"{r['person_retries']} re-reads); results archived {r['results_archived']} "
            f"({r['tasks_run_more_than_once']} tasks run more than once, {r['cancelled']} cancelled, "
            f"{r['bare_results']} bare .txt); {r['lock_files_left']} claim .lock files left in work/; "
            f"longest stall between two transitions {r['longest_stall_s']} s"
            + (f"; {len(r['strays'])} process(es) outlived robe run: {r['strays'][:3]}" if r.get("strays") else ""))
    if not r["problems"]:
        return head + "\nOK: every task COMPLETE exactly once, every file parsed after every kill, every edit kept"
    return head + "\nPROBLEMS:\n  " + "\n  ".join(r["problems"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--wizards", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-person", action="store_true")
    ap.add_argument("--no-command", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the fleet folder to look at")
    ap.add_argument("--pace", default="2.0,4.0", help="seconds between two edits of the person: MIN,MAX")
    ap.add_argument("--edits", type=int, help="edits of the person (default: tasks / 5)")
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args()
    r = run(a.tasks, a.kills, a.wizards, seed=a.seed, person=not a.no_person, command=not a.no_command,
            log=print, keep=a.keep, pace=tuple(float(x) for x in a.pace.split(",")), edits=a.edits)
    print(describe(r))
    if r.get("folder"):
        print("fleet kept in", r["folder"])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=2)
    sys.exit(1 if r["problems"] else 0)


if __name__ == "__main__":
    main()
