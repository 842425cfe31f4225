"""robe's architecture is a checked contract: import-linter's layers and acyclic-siblings
contracts in pyproject.toml hold for the code as it is."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_import_contracts_hold():
    lint = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    r = subprocess.run([lint, "--config", os.path.join(ROOT, "pyproject.toml")], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 kept, 0 broken" in r.stdout


def test_the_contract_knows_every_part_of_robe():
    # A new top-level module or package must be placed in a layer, or the contract says nothing about it.
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        contracts = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    layered = {name.strip() for layer in contracts[0]["layers"] for name in layer.split("|")}
    src = os.path.join(ROOT, "src", "robe")
    parts = {n[:-3] if n.endswith(".py") else n for n in os.listdir(src)
             if (n.endswith(".py") and n not in ("__init__.py", "__main__.py"))
             or os.path.isfile(os.path.join(src, n, "__init__.py"))}
    assert parts == layered
