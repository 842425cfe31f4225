"""fleet.yaml: how it is found, read and loaded (the model is ``robe.fleet.model``, the
validation ``robe.fleet.validate``)."""

from __future__ import annotations

import os

from ..plumbing import read_regular
from .model import FILE_NAME, MAX_FLEET_BYTES, FleetConfig, FleetError, Wizard
from .validate import parse_fleet

__all__ = ["FleetConfig", "FleetError", "Wizard", "find_fleet_file", "load_fleet", "parse_fleet", "read_fleet_text"]


# ---------------------------------------------------------------------------------------------
# Finding fleet.yaml


def find_fleet_file(path: str | None = None, cwd: str | None = None) -> str:
    """--fleet PATH, else $ROBE_FLEET, else fleet.yaml here or in the nearest parent folder."""
    given = path or os.environ.get("ROBE_FLEET") or None
    if given:
        p = os.path.abspath(os.path.expanduser(given))
        if os.path.isdir(p):
            p = os.path.join(p, FILE_NAME)
        if not os.path.exists(p):
            raise FleetError(f"{p} does not exist; create a fleet with 'robe init', or pass the right --fleet")
        return p
    here = os.path.abspath(cwd or os.getcwd())
    while True:
        candidate = os.path.join(here, FILE_NAME)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    raise FleetError(f"no {FILE_NAME} in {os.path.abspath(cwd or os.getcwd())} or any folder above it; "
                     "run 'robe init' to create one, or pass --fleet PATH (or set ROBE_FLEET)")


def read_fleet_text(path: str) -> str:
    if os.path.isdir(path):
        raise FleetError(f"{path} is a folder; pass the fleet.yaml inside it with --fleet")
    try:
        data = read_regular(os.path.realpath(path), MAX_FLEET_BYTES)  # a pipe there never blocks robe
    except FileNotFoundError:
        raise FleetError(f"{path} does not exist; create a fleet with 'robe init', or pass the right --fleet") from None
    except OSError as e:
        raise FleetError(f"cannot read {path}: {e.strerror}; fleet.yaml must be an ordinary file") from None
    if len(data) > MAX_FLEET_BYTES:
        raise FleetError(f"{path} is larger than 1 MiB; that is not a fleet.yaml, pass the right --fleet")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FleetError(f"{path}: byte {e.start} is not UTF-8; save the file as UTF-8 text") from None
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte order mark, as some editors write
    if "\x00" in text:
        raise FleetError(f"{path} is a binary file, not YAML; pass the right --fleet")
    return text


def load_fleet(path: str | None = None, cwd: str | None = None, problems: list | None = None) -> FleetConfig:
    """Find, read and validate fleet.yaml; FleetError (file:line: key: what; fix) otherwise.
    With a ``problems`` list (the doctor's lenient load), faults between wizards are added to
    it instead of raised."""
    p = find_fleet_file(path, cwd)
    return parse_fleet(read_fleet_text(p), p, problems)


