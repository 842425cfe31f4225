"""Benchmark the health dashboard (issue 18): the board of 10,000 tasks, how soon a change in
a queue file shows on an open page, and what twenty open pages cost ``robe run``.

Method. Throwaway fleets in a temp folder; ``robe dashboard`` and ``robe run --dashboard`` run
as separate processes, as a user starts them, without PYTHONDONTWRITEBYTECODE after
compileall (as the other benches). The pages are opened in Debian's headless Chromium through
selenium, as the tests do.

- Board: three wizards sharing one queue of 10,000 tasks (queue_bench.py's mix of sections,
  checklists and tables). ``GET /board`` over a new connection each time, timed from the
  request to the last byte: the whole page, and the live part a page fetches after a change.
  Also ``GET /board`` sent right after the bench changed one status in the file (through
  robe's locked writer): that request waits for the file to be parsed again.
- Update latency: a board page open in Chromium, filtered to one task; the bench changes that
  task's status through robe's locked writer (t0: the bench's wall clock just before the
  writer swaps the new file in) and a MutationObserver in the page notes when the card shows the new status
  (t1: ``performance.timeOrigin + performance.now()``, the same machine's wall clock).
  Alternating BLOCKED and PENDING (no robe run, so nothing dispatches), 0.3 s apart; on a
  queue of 100 tasks and on the 10,000-task one.
- Memory: ``robe run --dashboard`` over three echo wizards with 50 tasks each. VmRSS of robe
  run itself: idle with the dashboard and no page; after one page; after twenty pages
  (Chromium tabs: fleet, board, task, failures and metrics pages) and ten saves of a queue
  that every page followed live. Also robe run without the dashboard, for scale.

    python bench/dashboard_bench.py [--runs 30] [--tasks 10000] [--pages 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from queue_bench import generate  # noqa: E402
from run_bench import rss_mib, stop_run as stop  # noqa: E402

TARGETS = {"board_ms": 300.0, "update_p50_ms": 300.0, "pages_mib": 20.0}
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ROBE_DASHBOARD_TOKEN")}
ROBE = os.path.join(os.path.dirname(sys.executable), "robe")
NAMES = ["ezra", "allegro", "allegro-primus"]
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_fleet(folder: str, shared_queue: str | None = None) -> str:
    doc = {"root": ".", "ports": {"first": 20000, "last": 20999}, "wizards": {}}
    for i, n in enumerate(NAMES):
        doc["wizards"][n] = {"port": 20000 + i, "agent": {"kind": "echo"}, "gateway": None}
        if shared_queue:
            doc["wizards"][n]["queue"] = shared_queue
    path = os.path.join(folder, "fleet.yaml")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    r = subprocess.run([ROBE, "init", folder], env=ENV, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr)
    return path


def start(argv: list[str], folder: str, port: int) -> subprocess.Popen:
    log = open(os.path.join(folder, "server.log"), "ab")
    p = subprocess.Popen(argv, env=ENV, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=folder)
    log.close()
    end = time.monotonic() + 30
    while True:
        try:
            get(port, "/favicon-none")
            return p
        except OSError:
            if time.monotonic() > end or p.poll() is not None:
                raise SystemExit(f"{argv[1]} did not start; see {folder}/server.log")
            time.sleep(0.05)


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, int, float]:
    """(status, bytes, seconds from the request to the last byte) over a new connection."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    return r.status, len(body), time.perf_counter() - t0


def ms(values: list[float]) -> dict:
    values = sorted(v * 1000 for v in values)
    return {"p50_ms": round(statistics.median(values), 1), "p90_ms": round(values[int(len(values) * 0.9) - 1], 1),
            "min_ms": round(values[0], 1), "max_ms": round(values[-1], 1), "n": len(values)}


@contextlib.contextmanager
def served_queue(tasks: int) -> Iterator[tuple[str, int]]:
    """A throwaway fleet of three wizards sharing one queue of ``tasks`` tasks, and ``robe
    dashboard`` serving it: (the queue's path, the port). Stopped and removed afterwards."""
    folder = tempfile.mkdtemp(prefix="robe-dash-bench-")
    try:
        queue = os.path.join(folder, "WORK-QUEUE.md")
        with open(queue, "w") as f:
            f.write(generate(tasks))
        fleet = write_fleet(folder, "WORK-QUEUE.md")
        port = free_port()
        p = start([ROBE, "dashboard", "--fleet", fleet, "--port", str(port)], folder, port)
        try:
            yield queue, port
        finally:
            stop(p)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def board(runs: int, tasks: int) -> dict:
    from robe.queue import Status, load, set_status

    with served_queue(tasks) as (queue, port):
        first = get(port, "/board")
        page, frag, changed = [], [], []
        for _ in range(runs):
            status, size, took = get(port, "/board")
            assert status == 200
            page.append(took)
            frag.append(get(port, "/board", {"X-Robe-Fragment": "1"})[2])
        tid = next(t.id for t in load(queue).tasks if t.status is Status.PENDING)
        for i in range(runs):
            new = Status.BLOCKED if i % 2 == 0 else Status.PENDING
            set_status(queue, tid, new)
            changed.append(get(port, "/board")[2])
            time.sleep(0.4)
    return {"tasks": tasks, "bytes": size, "first_ms": round(first[2] * 1000, 1), "page": ms(page),
            "fragment": ms(frag), "after_change": ms(changed)}


def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="robe-dash-bench-chromium-")
    o = Options()
    o.binary_location = "/usr/bin/chromium"
    for a in CHROMIUM_ARGS + (f"--user-data-dir={profile}",):
        o.add_argument(a)
    return webdriver.Chrome(options=o, service=Service("/usr/bin/chromedriver")), profile


WATCH = """
const sel = arguments[0];
window.robeTimes = [];
let last = document.querySelector(sel).getAttribute("data-status");
new MutationObserver(() => {
  const c = document.querySelector(sel);
  const s = c ? c.getAttribute("data-status") : null;
  if (s && s !== last) { last = s; window.robeTimes.push([s, performance.timeOrigin + performance.now()]); }
}).observe(document.getElementById("live"), {subtree: true, childList: true, attributes: true});
"""


def write_status(queue: str, task_id: str, status) -> float:
    """Set a status through robe's one writer; the wall clock (ms) just before the new file is
    swapped in (the writer's own read and parse of a large queue come before that)."""
    from robe.queue import Change, apply_changes, update

    moments = []

    def hook(stage: str) -> None:
        if stage == "checked":
            moments.append(time.time() * 1000)

    update(queue, lambda q: apply_changes(q, [Change(task_id, status)]), _hook=hook)
    return moments[-1]


def update_latency(runs: int, tasks: int, driver) -> dict:
    from robe.queue import Status, load

    with served_queue(tasks) as (queue, port):
        task = next(t for t in load(queue).tasks if t.status is Status.PENDING)
        owner = NAMES[0]
        try:
            driver.get(f"http://127.0.0.1:{port}/board?q={task.id.lower()}")
            end = time.monotonic() + 10
            while driver.execute_script("return document.getElementById('live-state').dataset.state") != "live":
                if time.monotonic() > end:
                    raise SystemExit("the page's event stream did not connect")
                time.sleep(0.02)
            driver.execute_script(WATCH, f'.card[data-queue="{owner}"][data-task="{task.id}"]')
            times = []
            for i in range(runs):
                new = Status.BLOCKED if i % 2 == 0 else Status.PENDING
                t0 = write_status(queue, task.id, new)
                end = time.monotonic() + 10
                # The page notes the time itself; polling it slowly keeps the bench off the CPU.
                while len(driver.execute_script("return window.robeTimes")) < i + 1:
                    if time.monotonic() > end:
                        raise SystemExit(f"change {i + 1} did not reach the page within 10 s")
                    time.sleep(0.05)
                status, t1 = driver.execute_script("return window.robeTimes")[i]
                assert status == new.value, (status, new)
                times.append((t1 - t0) / 1000)
                time.sleep(0.3)
        finally:
            driver.get("about:blank")
    return {"tasks": tasks, **ms(times)}


def settle(queues: list[str], timeout: float = 60) -> None:
    """Wait until no task is PENDING or IN_PROGRESS (robe run has folded everything)."""
    from robe.queue import load

    end = time.monotonic() + timeout
    while any(t.status.value in ("PENDING", "IN_PROGRESS") for q in queues for t in load(q).tasks):
        if time.monotonic() > end:
            raise SystemExit("robe run did not finish the bench's tasks")
        time.sleep(0.1)
    time.sleep(2.0)  # the last monitor child exits; the pages' last fetches end


def memory(pages: int, driver) -> dict:
    folder = tempfile.mkdtemp(prefix="robe-dash-bench-")
    try:
        fleet = write_fleet(folder)
        queues = [os.path.join(folder, n, "WORK-QUEUE.md") for n in NAMES]
        for q in queues:
            with open(q, "w") as f:
                f.write("# Queue\n\n" + "".join(f"- [x] TASK-{i} P2 COMPLETE Done task {i}\n" for i in range(1, 51)))
        out = {}
        p = subprocess.Popen([ROBE, "run", "--fleet", fleet, "-q"], env=ENV, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
        time.sleep(4.0)
        out["robe_run_mib"] = round(rss_mib(p.pid), 1)
        stop(p)
        port = free_port()
        p = start([ROBE, "run", "--fleet", fleet, "-q", "--dashboard", str(port)], folder, port)
        try:
            time.sleep(4.0)
            out["with_dashboard_mib"] = round(rss_mib(p.pid), 1)
            kinds = ["/", "/board", "/task/ezra/TASK-1", "/failures", "/metrics"]
            driver.get(f"http://127.0.0.1:{port}/board")
            time.sleep(2.0)
            out["one_page_mib"] = round(rss_mib(p.pid), 1)
            for i in range(pages - 1):
                driver.switch_to.new_window("tab")
                driver.get(f"http://127.0.0.1:{port}{kinds[i % len(kinds)]}")
            for i in range(10):  # saves that every open page follows live
                with open(queues[i % 3], "a") as f:
                    f.write(f"- [ ] TASK-{100 + i} P1 PENDING Bench task {i}\n")
                time.sleep(0.5)
            settle(queues)
            out["pages"] = len(driver.window_handles)
            out["pages_mib"] = round(rss_mib(p.pid), 1)
        finally:
            for handle in driver.window_handles[1:]:
                driver.switch_to.window(handle)
                driver.close()
            driver.switch_to.window(driver.window_handles[0])
            driver.get("about:blank")
            stop(p)
        out["cost_of_pages_mib"] = round(out["pages_mib"] - out["with_dashboard_mib"], 1)
        out["cost_after_first_page_mib"] = round(out["pages_mib"] - out["one_page_mib"], 1)
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args()
    import robe

    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.dirname(robe.__file__)], env=ENV, check=True)
    results = {"board": board(a.runs, a.tasks)}
    b = results["board"]
    print(f"board, {b['tasks']} tasks ({b['bytes']} bytes): page p50 {b['page']['p50_ms']} ms "
          f"(p90 {b['page']['p90_ms']}), live part p50 {b['fragment']['p50_ms']} ms, first request "
          f"{b['first_ms']} ms; right after a change p50 {b['after_change']['p50_ms']} ms "
          f"(target < {TARGETS['board_ms']:.0f} ms)")
    driver, profile = chromium()
    try:
        results["update"] = [update_latency(a.runs, n, driver) for n in (100, a.tasks)]
        for u in results["update"]:
            print(f"file change -> page, {u['tasks']} tasks: p50 {u['p50_ms']} ms, p90 {u['p90_ms']} ms "
                  f"(min {u['min_ms']}, max {u['max_ms']}; target p50 < {TARGETS['update_p50_ms']:.0f} ms)")
        m = results["memory"] = memory(a.pages, driver)
        print(f"robe run RSS: {m['robe_run_mib']} MiB alone, {m['with_dashboard_mib']} MiB with the dashboard, "
              f"{m['one_page_mib']} MiB with 1 page, {m['pages_mib']} MiB with {m['pages']} pages: "
              f"{m['cost_of_pages_mib']} MiB for the pages (target < {TARGETS['pages_mib']:.0f} MiB), "
              f"{m['cost_after_first_page_mib']} MiB after the first")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
