"""Fixtures for the schedule tests: a fleet in a tmp folder, the real cron package and daemon,
the user's real crontab saved and restored, and helpers to wait on real processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from robe.fleet.config import load_fleet
from ..support import fleet_json as write_fleet
from ..support import free_port, statuses, wait_for  # noqa: F401  (tests import them from here too)

HERE = os.path.dirname(os.path.abspath(__file__))
ROBE = os.path.join(os.path.dirname(sys.executable), "robe")


@pytest.fixture
def make_fleet(tmp_path, monkeypatch):
    monkeypatch.delenv("ROBE_FLEET", raising=False)

    def make(wizards=None, **top):
        path = write_fleet(tmp_path, wizards or {"ezra": {}}, **top)
        return load_fleet(path)
    return make


def robe_env(fleet_path: str | None = None, **extra) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if fleet_path:
        env["ROBE_FLEET"] = fleet_path
    env.update(extra)
    return env


def stop(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise
    return proc.returncode


# ---------------------------------------------------------------------------------------------
# The real cron


def _install_cron() -> None:
    if shutil.which("crontab") and os.path.exists("/usr/sbin/cron"):
        return
    if os.geteuid() != 0:
        pytest.fail("Debian's cron package is not installed and the tests do not run as root to install it; "
                    "run 'apt-get install -y cron' first")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", "cron"], check=True, env=env, timeout=600,
                   stdout=subprocess.DEVNULL)


def _cron_running() -> bool:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "cron":
                    return True
        except OSError:
            pass
    return False


@pytest.fixture(scope="session")
def cron_package():
    """Debian's cron installed (apt-get when running as root and it is missing)."""
    _install_cron()
    return shutil.which("crontab") or "/usr/bin/crontab"


@pytest.fixture(scope="session")
def cron_daemon(cron_package):
    """The cron daemon running (started here when it is not)."""
    if not _cron_running():
        if os.geteuid() != 0:
            pytest.fail("the cron daemon is not running and the tests cannot start it (not root)")
        subprocess.run(["/usr/sbin/cron"], check=True, timeout=30)
        wait_for(_cron_running, 10, what="the cron daemon to start")
    return True


@pytest.fixture
def real_crontab(cron_package):
    """The user's real crontab, restored byte for byte after the test."""
    r = subprocess.run(["crontab", "-l"], capture_output=True)
    saved = r.stdout if r.returncode == 0 else None
    yield
    if saved is None:
        subprocess.run(["crontab", "-r"], capture_output=True)
    else:
        subprocess.run(["crontab", "-"], input=saved, check=True)


def crontab_bytes() -> bytes:
    r = subprocess.run(["crontab", "-l"], capture_output=True)
    return r.stdout if r.returncode == 0 else b""


def set_crontab(data: bytes) -> None:
    subprocess.run(["crontab", "-"], input=data, check=True)


@pytest.fixture
def ezra_fleet(make_fleet):
    """``ezra_fleet(tasks="")``: a fleet of one wizard, ezra, whose queue holds ``tasks``
    (markdown) under ``# Queue``; returns (fleet, ezra)."""

    def make(tasks: str = ""):
        fleet = make_fleet({"ezra": {}})
        ezra = fleet.wizard("ezra")
        with open(ezra.queue, "w") as f:
            f.write("# Queue\n\n" + tasks)
        return fleet, ezra

    return make
