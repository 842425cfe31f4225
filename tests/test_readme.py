"""The README's two commands are the ones CI and people run."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", read("README.md"))[:2]


def test_readme_starts_with_the_two_commands():
    text = read("README.md")
    first_block = text.index("```bash")
    assert text[:first_block].strip() == "# robe"
    run, test = readme_commands()
    assert "pip install" in run and "robe " in run
    assert "pip install" in test and "pytest" in test


def test_ci_runs_both_readme_commands_as_written():
    run, test = readme_commands()
    lines = [line for line in read(".ci", "run").splitlines() if line and not line.startswith("#")]
    assert run in lines and test in lines
    assert lines.index(run) < lines.index(test)  # the main job first, on a fresh virtualenv
