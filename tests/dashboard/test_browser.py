"""The dashboard in a real browser (Debian's headless Chromium, through Selenium), served by a
real ``robe run --dashboard`` whose executors run echo and command agents.

What a person sees: a task going PENDING -> IN_PROGRESS -> COMPLETE on the board without a
reload; Retry on a FAILED task making it PENDING in the file and running it again; Cancel
stopping a running command agent; a stale page's action getting the conflict message. The
fleet and board pages are saved as screenshots in the test's folder (and, when
ROBE_DASHBOARD_SCREENSHOTS names a folder, there too: that is how docs/ gets its pictures).

``robe run`` runs with ``--debounce 0.5``: it waits half a second after a person's save before
it dispatches. It folds an answer into the file the moment it lands, so an echo task is
IN_PROGRESS in the file for a few milliseconds; the first test holds the wizard's monitor lock
meanwhile, as a cron ``task-monitor`` run does, so the page has time to show that state.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

from robe.cron.crontab import lock_file

from ..support import read
from .conftest import ROBE, robe_env, statuses, wait_for, write_fleet, write_queue

RUN_ARGS = ("--debounce", "0.5", "--grace", "2")
#: Only the jobs the tests are about: a self-monitor at a five-minute mark would start an
#: executor of its own if it ran while robe run stops (and that one would outlive the test).
QUIET_SCHEDULE = {"schedule": {"self-monitor": "off", "report": "off", "checkpoint": "off"}}
#: Records every status the card of one task shows, in order, as the page changes it.
RECORDER = """
const sel = arguments[0];
window.robeMarker = "loaded once";
window.robeSeen = [];
const record = () => {
  const card = document.querySelector(sel);
  const s = card ? card.getAttribute("data-status") : null;
  const seen = window.robeSeen;
  if (s && seen[seen.length - 1] !== s) seen.push(s);
};
new MutationObserver(record).observe(document.getElementById("live"),
                                     {subtree: true, childList: true, attributes: true});
record();
"""


def fresh(browser, action):
    """Run ``action(browser)`` again when the element it found was replaced meanwhile: a live
    page swaps its live part in whenever the fleet's files change."""
    for _ in range(20):
        try:
            return action(browser)
        except StaleElementReferenceException:
            time.sleep(0.05)
    return action(browser)


def click(browser, selector: str) -> None:
    fresh(browser, lambda b: b.find_element(By.CSS_SELECTOR, selector).click())


def card(queue: str, task: str) -> str:
    return f'.card[data-queue="{queue}"][data-task="{task}"]'


def open_live(browser, url: str) -> None:
    browser.get(url)
    wait_for(lambda: browser.find_element(By.ID, "live-state").get_attribute("data-state") == "live", 10,
             what="the page's live feed to connect")


def seen(browser) -> list[str]:
    return browser.execute_script("return window.robeSeen")


def flash(browser) -> str:
    return browser.execute_script("const f = document.getElementById('flash'); return f.hidden ? '' : f.textContent")


def shoot(browser, tmp_path, name: str) -> str:
    path = str(tmp_path / f"dashboard-{name}.png")
    assert browser.save_screenshot(path), f"no screenshot of the {name} page"
    assert os.path.getsize(path) > 10_000
    extra = os.environ.get("ROBE_DASHBOARD_SCREENSHOTS")
    if extra:
        os.makedirs(extra, exist_ok=True)
        browser.save_screenshot(os.path.join(extra, f"dashboard-{name}.png"))
    return path


def test_a_task_goes_pending_in_progress_complete_without_a_reload(tmp_path, browser, robe_run):
    sleeper = tmp_path / "think.py"
    sleeper.write_text("import time; time.sleep(60)\n")
    fleet = write_fleet(tmp_path, {"ezra": {"role": "Scribe, archivist", **QUIET_SCHEDULE},
                                   "allegro": {"role": "Tempo-and-dispatch", **QUIET_SCHEDULE},
                                   "allegro-primus": {"role": "Student, autonomous", **QUIET_SCHEDULE,
                                                      "agent": {"kind": "command",
                                                                "argv": [sys.executable, str(sleeper)]}}})
    ezra = fleet.wizard("ezra")
    # TASK-2 waits for TASK-1, which a person holds: the page shows it PENDING for as long as
    # the test needs, whatever robe run's own jobs are doing.
    write_queue(ezra.queue, "# Queue\n\n- [ ] TASK-1 P1 BLOCKED Introduce yourself\n"
                            "- [ ] TASK-2 P1 PENDING Say hello\n  - Depends: TASK-1\n")
    write_queue(fleet.wizard("allegro").queue, "# Queue\n\n- [ ] TASK-1 P0 PENDING Plan the week\n"
                                               "- [ ] TASK-2 P2 BLOCKED Wait for the keys\n")
    write_queue(fleet.wizard("allegro-primus").queue, "# Queue\n\n- [ ] TASK-1 P1 PENDING Think it over\n")
    monitor_lock = hold_lock(ezra.house, "monitor")  # as a cron task-monitor that is running
    proc, base = robe_run(fleet, *RUN_ARGS)
    wait_for(lambda: statuses(fleet.wizard("allegro-primus").queue)["TASK-1"] == "IN_PROGRESS", 15,
             what="allegro-primus's task to run")
    open_live(browser, base + "/board")
    browser.execute_script(RECORDER, card("ezra", "TASK-2"))
    assert seen(browser) == ["PENDING"]

    # A person marks TASK-1 done in their editor; robe run dispatches TASK-2, runs the echo
    # agent and folds the result, and the page follows.
    write_queue(ezra.queue, read(ezra.queue).replace("[ ] TASK-1 P1 BLOCKED", "[x] TASK-1 P1 COMPLETE"))
    wait_for(lambda: (seen(browser) or [""])[-1] == "IN_PROGRESS", 20, 0.02, what="the card to show IN_PROGRESS")
    wait_for(lambda: os.path.exists(os.path.join(ezra.completed_dir, "TASK-2.json")), 10,
             what="the echo agent's answer")
    os.close(monitor_lock)  # the cron run is over: robe run folds the answer
    wait_for(lambda: (seen(browser) or [""])[-1] == "COMPLETE", 20, 0.02, what="the card to show COMPLETE")
    assert seen(browser) == ["PENDING", "IN_PROGRESS", "COMPLETE"]
    assert browser.execute_script("return window.robeMarker") == "loaded once"  # no reload
    assert statuses(ezra.queue)["TASK-2"] == "COMPLETE"
    column = fresh(browser, lambda b: b.find_element(By.CSS_SELECTOR, card("ezra", "TASK-2"))
                   .find_element(By.XPATH, "./ancestor::td").get_attribute("data-status"))
    assert column == "COMPLETE"
    shoot(browser, tmp_path, "board")

    open_live(browser, base + "/")
    # (The fleet page's live part is fetched again as executors beat: find elements afresh.)
    running = '#wizard-allegro-primus .running[data-task="TASK-1"]'
    assert "Think it over" in fresh(browser, lambda b: b.find_element(By.CSS_SELECTOR, running).text)
    elapsed = fresh(browser, lambda b: b.find_element(By.CSS_SELECTOR, running + " .elapsed").text)
    wait_for(lambda: fresh(browser, lambda b: b.find_element(By.CSS_SELECTOR, running + " .elapsed").text) != elapsed,
             3, what="the elapsed time to tick on the page")
    states = fresh(browser, lambda b: {e.get_attribute("data-wizard"): e.get_attribute("data-state")
                                       for e in b.find_elements(By.CSS_SELECTOR, ".wizard")})
    assert states == {"ezra": "Robed", "allegro": "Robed", "allegro-primus": "Robed"}
    shoot(browser, tmp_path, "fleet")
    assert proc.stop() == 0


def test_retry_on_a_failed_task_makes_it_pending_and_it_runs_again(tmp_path, browser, robe_run):
    flaky = tmp_path / "flaky.py"
    flaky.write_text("import os, sys\n"
                     "if os.environ['ROBE_ATTEMPT'] == '1':\n"
                     "    print('the model is down', file=sys.stderr); sys.exit(1)\n"
                     "print('done on attempt', os.environ['ROBE_ATTEMPT'])\n")
    fleet = write_fleet(tmp_path, {"ezra": {"max_attempts": 1, **QUIET_SCHEDULE,
                                            "agent": {"kind": "command", "argv": [sys.executable, str(flaky)]}}})
    ezra = fleet.wizard("ezra")
    write_queue(ezra.queue, "# Queue\n\n- [ ] TASK-1 P1 PENDING Flaky one\n")
    proc, base = robe_run(fleet, *RUN_ARGS)
    wait_for(lambda: statuses(ezra.queue)["TASK-1"] == "FAILED", 20, what="TASK-1 to fail on attempt 1")
    open_live(browser, base + "/board")
    browser.execute_script(RECORDER, card("ezra", "TASK-1"))
    click(browser, card("ezra", "TASK-1") + ' button[data-action="retry"]')
    assert wait_for(lambda: flash(browser), 5, what="the page's message") == "TASK-1: FAILED -> PENDING"
    # The locked writer put PENDING in the file (its event line says so: the file itself may
    # have moved on already, when one of robe run's dispatches was under way at that moment).
    changes = [(e["from"], e["to"], e.get("manual"), e.get("event")) for e in events(ezra)]
    assert ("FAILED", "PENDING", True, None) in changes
    # ... and it runs again, as attempt 2, and the page follows.
    wait_for(lambda: statuses(ezra.queue)["TASK-1"] == "COMPLETE", 20, what="attempt 2 to COMPLETE")
    wait_for(lambda: (seen(browser) or [""])[-1] == "COMPLETE", 10, what="the card to show COMPLETE")
    # (the page may never show PENDING: robe run dispatches a retried task within milliseconds,
    # before the page's next update; the events above and below record that it was PENDING)
    assert seen(browser)[0] == "FAILED" and seen(browser).index("COMPLETE") > 0
    changes = [(e["from"], e["to"], e.get("event"), e.get("attempt")) for e in events(ezra)]
    retried = changes.index(("FAILED", "PENDING", None, None))
    assert ("PENDING", "IN_PROGRESS", "dispatch", 2) in changes[retried:]
    with open(os.path.join(ezra.completed_dir, "archive", "TASK-1.2.json")) as f:
        assert json.load(f)["status"] == "COMPLETE"
    with open(os.path.join(ezra.completed_dir, "archive", "TASK-1.1.json")) as f:
        assert "the model is down" in json.load(f)["error"]
    assert browser.execute_script("return window.robeMarker") == "loaded once"
    assert proc.stop() == 0


def test_cancel_stops_a_running_command_agent(tmp_path, browser, robe_run):
    pidfile = tmp_path / "agent.pid"
    agent = tmp_path / "agent.py"
    agent.write_text(f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)\n")
    fleet = write_fleet(tmp_path, {"ezra": {**QUIET_SCHEDULE,
                                            "agent": {"kind": "command", "argv": [sys.executable, str(agent)]}}})
    ezra = fleet.wizard("ezra")
    write_queue(ezra.queue, "# Queue\n\n- [ ] TASK-1 P1 PENDING Think for two minutes\n")
    proc, base = robe_run(fleet, *RUN_ARGS)
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 20, what="the agent to start")
    pid = int(pidfile.read_text())
    assert _alive(pid)
    try:
        open_live(browser, base + "/board")
        click(browser, card("ezra", "TASK-1") + ' button[data-action="cancel"]')
        wait_for(lambda: statuses(ezra.queue)["TASK-1"] == "FAILED", 5, 0.01, what="the cancel to reach the file")
        cancelled = time.monotonic()
        assert wait_for(lambda: flash(browser), 5, what="the page's message") == "TASK-1: IN_PROGRESS -> FAILED"
        # Stopping the agent is the executor's job once the file no longer says IN_PROGRESS:
        # within 2 s of the change (0.5 s more for this test's own polling on a busy machine).
        wait_for(lambda: not _alive(pid), 2.5, 0.02, what=f"the agent (pid {pid}) to be stopped after the cancel")
        took = time.monotonic() - cancelled
        time.sleep(1.5)  # the monitor folds whatever the executor wrote: the person's FAILED stays
        assert statuses(ezra.queue)["TASK-1"] == "FAILED"
        assert "cancelled from the dashboard" in read(os.path.join(ezra.logs_dir, "events.jsonl"))
        assert proc.stop() == 0
        assert took < 2.5
    finally:
        if _alive(pid):  # the agent has its own process group: robe run's may be gone already
            os.kill(pid, signal.SIGKILL)


def hold_lock(house: str, job: str) -> int:
    """Take a wizard's cron lock for ``job`` as cron's ``flock`` does; closing the descriptor
    lets it go."""
    fd = os.open(lock_file(house, job), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def events(w) -> list[dict]:
    """Every line of the event log beside the wizard's queue (and in its house: the same file)."""
    with open(os.path.join(os.path.dirname(w.queue), "logs", "events.jsonl")) as f:
        return [json.loads(line) for line in f]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_stale_page_gets_the_conflict_message(tmp_path, browser, robe_run):
    fleet = write_fleet(tmp_path, {"ezra": {**QUIET_SCHEDULE}})
    ezra = fleet.wizard("ezra")
    write_queue(ezra.queue, "# Queue\n\n- [ ] TASK-1 P1 BLOCKED Wait for the keys\n")
    proc, base = robe_run(fleet, *RUN_ARGS)
    # A page without its live feed (as in a browser whose WebSocket is blocked): it keeps
    # showing what it saw when it loaded.
    script = browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.WebSocket;"})
    try:
        browser.get(base + "/board")
        assert browser.find_element(By.ID, "live-state").get_attribute("data-state") != "live"
        # Meanwhile a person unblocks the task at a terminal; robe run dispatches and finishes it.
        r = subprocess.run([ROBE, "queue", "set", "TASK-1", "PENDING", "-f", ezra.queue], capture_output=True,
                           text=True, env=robe_env())
        assert r.returncode == 0, r.stderr
        wait_for(lambda: statuses(ezra.queue)["TASK-1"] == "COMPLETE", 20, what="TASK-1 to run")
        before = read(ezra.queue)
        # The stale page still offers "Unblock"; the click gets the writer's conflict sentence.
        click(browser, card("ezra", "TASK-1") + ' button[data-action="unblock"]')
        wait_for(lambda: flash(browser), 5, what="the page's message")
        assert flash(browser) == "TASK-1 is COMPLETE now, not BLOCKED; nothing was changed"
        assert "error" in browser.find_element(By.ID, "flash").get_attribute("class")
        assert read(ezra.queue) == before
        # After an answer the page fetches its live part again, so it shows the truth.
        wait_for(lambda: fresh(browser, lambda b: b.find_element(By.CSS_SELECTOR, card("ezra", "TASK-1"))
                               .get_attribute("data-status")) == "COMPLETE", 5, what="the page to show COMPLETE")
    finally:
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})
    assert proc.stop() == 0


@pytest.fixture(autouse=True)
def _fresh_page(browser):
    yield
    browser.get("about:blank")  # close the page's live feed before its server stops
