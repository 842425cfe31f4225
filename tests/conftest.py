"""Fixtures shared by every part's tests."""

import os
import subprocess
import sys
import time

import pytest

#: The real Hermes agent lives in a virtualenv of its own (it pins its dependencies exactly),
#: built once per machine and reused: ROBE_HERMES_VENV, else ~/.cache/robe-test/hermes-venv.
HERMES_VENV = os.path.expanduser(os.environ.get("ROBE_HERMES_VENV") or "~/.cache/robe-test/hermes-venv")


@pytest.fixture(scope="session")
def hermes_bin() -> str:
    """The real ``hermes`` executable, installing hermes-agent and aiohttp on first use."""
    hermes = os.path.join(HERMES_VENV, "bin", "hermes")
    if not os.path.exists(hermes):
        t = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", "--clear", HERMES_VENV], check=True)
        r = subprocess.run([os.path.join(HERMES_VENV, "bin", "pip"), "install", "-q", "hermes-agent", "aiohttp"],
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            pytest.fail(f"pip install hermes-agent aiohttp failed in {HERMES_VENV}:\n"
                        f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        print(f"hermes venv created in {time.monotonic() - t:.0f} s", file=sys.stderr)
    return hermes
