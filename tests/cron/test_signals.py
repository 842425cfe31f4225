"""A signal must never deadlock robe run or the executor.

Python runs a signal handler in the main thread between two bytecodes, possibly while that
thread holds an Event's internal lock (inside wake.wait(), wake.clear() or stopping.wait()).
A handler that calls Event.set() then waits for a lock its own thread holds: robe run hung
on SIGTERM about once in fifteen stops this way. These tests deliver the signal exactly
there, in a child process so that a deadlock shows as a timeout, not a hung test run.
"""

import os
import subprocess
import sys
import textwrap

from .conftest import write_fleet

CHILD = textwrap.dedent("""
    import os, signal, sys
    from robe.fleet import load_fleet
    fleet = load_fleet(sys.argv[1])
    if sys.argv[2] == "run":
        from robe.engine import Engine, install_signal_handlers
        target = Engine(fleet)
        install_signal_handlers(target)
        held = target.wake._cond          # the lock wake.wait()/clear() hold
    else:
        from robe.execute import Executor, install_signal_handlers
        target = Executor(list(fleet.wizards))
        install_signal_handlers(target)
        held = target.stopping._cond      # the lock stopping.wait() holds
    with held:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, lock held
        for _ in range(1000):                 # a few bytecodes for it to run
            pass
    print("handled", target.signalled)
""")


def run_child(tmp_path, which):
    fleet = write_fleet(tmp_path, {"ezra": {}})
    return subprocess.run([sys.executable, "-c", CHILD, fleet, which], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))


def test_sigterm_while_robe_run_holds_its_wake_lock(tmp_path):
    r = run_child(tmp_path, "run")
    assert (r.returncode, r.stdout) == (0, "handled SIGTERM\n"), r.stderr


def test_sigterm_while_the_executor_holds_its_stop_lock(tmp_path):
    r = run_child(tmp_path, "execute")
    assert (r.returncode, r.stdout) == (0, "handled SIGTERM\n"), r.stderr
