"""Editing fleet.yaml in place: add or remove one wizard and keep every other byte.

A person's fleet.yaml carries comments and an order that mean something to them, so robe
never re-dumps the file. It splices text: the node marks of PyYAML's composed tree say where
the ``wizards:`` block and each wizard's lines are. The result is validated as a whole
before it replaces the file (atomically), so a bad edit writes nothing.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import yaml

from ..plumbing import flock_wait
from ..queue.store import replace_file
from .config import read_fleet_text
from .model import FleetConfig, FleetError
from .validate import parse_fleet

LOCK_TIMEOUT = 30.0


@contextmanager
def fleet_lock(fleet_path: str, timeout: float = LOCK_TIMEOUT):
    """Hold an flock on ``fleet.yaml.lock`` while reading, choosing a port and writing fleet.yaml.

    Two 'robe wizard create' at once would otherwise both read the file, both pick the same
    free port, and the second write would drop the first wizard.
    """
    lock_path = fleet_path + ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if not flock_wait(fd, timeout):
            raise FleetError(f"another robe command has held {lock_path} for {timeout:g} s; "
                             "wait for it to finish, then run this again")
        yield
    finally:
        os.close(fd)


def _compose(text: str):
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _line_end(text: str, index: int) -> int:
    """Index just past the end of the line holding ``index`` (or just past a newline ending there)."""
    if index > 0 and text[index - 1] == "\n":
        return index
    nl = text.find("\n", index)
    return len(text) if nl < 0 else nl + 1


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _last_index(node) -> int:
    """Where the last character of a node's own text is (comments after it excluded)."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _last_index(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _last_index(node.value[-1])
    return node.end_mark.index


def _is_null(node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _wizards_node(root):
    for kn, vn in root.value:
        if kn.value == "wizards":
            return kn, vn
    return None, None


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True, sort_keys=False).strip()
    return text[:-3].rstrip() if text.endswith("\n...") else text


def _block(d: dict, indent: int, step: int) -> list[str]:
    lines = []
    for k, v in d.items():
        if isinstance(v, dict) and any(isinstance(x, dict) for x in v.values()):
            lines.append(" " * indent + f"{_flow(k)}:")
            lines += _block(v, indent + step, step)
        else:
            lines.append(" " * indent + f"{_flow(k)}: {_flow(v)}")
    return lines


def render_wizard(name: str, settings: dict, indent: int = 2, step: int = 2, newline: str = "\n") -> str:
    """The wizard's lines for fleet.yaml: small mappings and lists in flow style, as a person writes them."""
    lines = [" " * indent + f"{name}:"] + _block(settings, indent + step, step)
    return newline.join(lines) + newline


def add_wizard_text(text: str, name: str, settings: dict) -> str:
    """fleet.yaml's text with the wizard appended to ``wizards:``; nothing else changes."""
    newline = "\r\n" if "\r\n" in text else "\n"
    root = _compose(text) if text.strip() else None
    if root is None or _is_null(root):
        lead = text if not text or text.endswith("\n") else text + newline
        return lead + "wizards:" + newline + render_wizard(name, settings, newline=newline)
    if not isinstance(root, yaml.MappingNode):
        raise FleetError("fleet.yaml is not a mapping; fix it first (see examples/fleet.yaml)")
    kn, vn = _wizards_node(root)
    if kn is None:
        lead = text if text.endswith("\n") else text + newline
        return lead + "wizards:" + newline + render_wizard(name, settings, newline=newline)
    if _is_null(vn) or (isinstance(vn, yaml.MappingNode) and vn.flow_style and not vn.value):
        # 'wizards:' / 'wizards: ~' / 'wizards: {}': drop the empty value, hang the block under the key.
        if vn.end_mark.index > vn.start_mark.index:
            text = text[:vn.start_mark.index] + text[vn.end_mark.index:]
        at = _line_end(text, kn.end_mark.index)
        sep = "" if at > 0 and text[at - 1] == "\n" else newline
        return text[:at] + sep + render_wizard(name, settings, newline=newline) + text[at:]
    if not isinstance(vn, yaml.MappingNode):
        raise FleetError(f"line {vn.start_mark.line + 1}: 'wizards' is not a mapping; write each wizard as "
                         "'name:' with its settings indented under it")
    if vn.flow_style:
        raise FleetError(f"line {vn.start_mark.line + 1}: 'wizards' is written in flow style ({{...}}); write it as "
                         "indented lines so robe can add a wizard without rewriting your file")
    indent = vn.value[0][0].start_mark.column
    first_value = vn.value[0][1]
    step = 2
    if isinstance(first_value, yaml.MappingNode) and not first_value.flow_style and first_value.value:
        step = max(1, first_value.value[0][0].start_mark.column - indent)
    at = _line_end(text, _last_index(vn))
    sep = "" if at > 0 and text[at - 1] == "\n" else newline
    return text[:at] + sep + render_wizard(name, settings, indent, step, newline) + text[at:]


def remove_wizard_text(text: str, name: str) -> str:
    """fleet.yaml's text without the wizard's lines; nothing else changes."""
    root = _compose(text)
    kn, vn = _wizards_node(root) if isinstance(root, yaml.MappingNode) else (None, None)
    if not isinstance(vn, yaml.MappingNode):
        raise FleetError(f"there is no wizard named {name!r} in fleet.yaml")
    if vn.flow_style:
        raise FleetError(f"line {vn.start_mark.line + 1}: 'wizards' is written in flow style ({{...}}); write it as "
                         "indented lines so robe can remove a wizard without rewriting your file")
    for wk, wv in vn.value:
        if wk.value == name:
            start = _line_start(text, wk.start_mark.index)
            end = _line_end(text, _last_index(wv))
            return text[:start] + text[end:]
    raise FleetError(f"there is no wizard named {name!r} in fleet.yaml")


def _wizard_node(root, name: str):
    kn, vn = _wizards_node(root) if isinstance(root, yaml.MappingNode) else (None, None)
    if isinstance(vn, yaml.MappingNode):
        for wk, wv in vn.value:
            if wk.value == name:
                return wk, wv
    raise FleetError(f"there is no wizard named {name!r} in fleet.yaml")


def _key_in(node, key: str):
    """(key node, value node) of ``key`` in a mapping node, or (None, None)."""
    for kn, vn in node.value:
        if kn.value == key:
            return kn, vn
    return None, None


def _set_in_block(text: str, node, key: str, value, newline: str) -> str:
    """Set ``key`` in a block mapping node: its value replaced, a new line added after the
    mapping's last line, or (``value`` None) its line removed."""
    kn, vn = _key_in(node, key)
    if kn is not None and value is None:
        return text[:_line_start(text, kn.start_mark.index)] + text[_line_end(text, _last_index(vn)):]
    if kn is not None:
        if not isinstance(vn, yaml.ScalarNode):
            raise FleetError(f"line {vn.start_mark.line + 1}: {key} is not a single value; edit it by hand")
        return text[:vn.start_mark.index] + _flow(value) + text[vn.end_mark.index:]
    if value is None:
        return text
    indent = node.value[0][0].start_mark.column
    at = _line_end(text, _last_index(node))
    sep = "" if at > 0 and text[at - 1] == "\n" else newline
    return text[:at] + sep + " " * indent + f"{_flow(key)}: {_flow(value)}" + newline + text[at:]


def set_wizard_text(text: str, name: str, key: str, value) -> str:
    """fleet.yaml's text with one setting of the wizard changed (``agent.model``, ``role``...);
    ``value`` None removes it. The setting's own text changes, nothing else (an agent written
    in flow style, ``{kind: hermes, model: x}``, is written again in that style)."""
    newline = "\r\n" if "\r\n" in text else "\n"
    kn, wn = _wizard_node(_compose(text), name)
    top, _, sub = key.partition(".")
    if not isinstance(wn, yaml.MappingNode) or wn.flow_style or not wn.value:
        raise FleetError(f"line {kn.start_mark.line + 1}: wizard {name} is not written as indented lines; "
                         "write its settings one per line so robe can change one of them")
    if not sub:
        return _set_in_block(text, wn, top, value, newline)
    an, av = _key_in(wn, top)
    if an is None or (isinstance(av, yaml.ScalarNode) and not isinstance(yaml.safe_load(av.value or "~"), str)):
        agent = {"kind": "hermes"}  # no agent written: hermes is the default
    elif isinstance(av, yaml.MappingNode) and not av.flow_style:
        return _set_in_block(text, av, sub, value, newline)
    else:  # 'agent: echo' or 'agent: {kind: echo}': the whole value, in flow style
        loaded = yaml.safe_load(text[av.start_mark.index:av.end_mark.index])
        agent = {"kind": loaded} if isinstance(loaded, str) else dict(loaded or {})
    if value is None:
        agent.pop(sub, None)
    else:
        agent[sub] = value
    if an is None:
        return _set_in_block(text, wn, top, agent, newline)
    gap = " " if av.start_mark.index == av.end_mark.index else ""  # ('agent:' with nothing after it)
    return text[:av.start_mark.index] + gap + _flow(agent) + text[av.end_mark.index:]


def write_fleet_text(fleet_path: str, new_text: str) -> FleetConfig:
    """Validate the new text as a whole, then replace fleet.yaml atomically (keeping its mode)."""
    fleet = parse_fleet(new_text, fleet_path)
    replace_file(fleet_path, new_text.encode("utf-8"))
    return fleet


def register_wizard(fleet_path: str, name: str, settings: dict) -> FleetConfig:
    text = read_fleet_text(fleet_path)
    return write_fleet_text(fleet_path, add_wizard_text(text, name, settings))


def unregister_wizard(fleet_path: str, name: str) -> FleetConfig:
    text = read_fleet_text(fleet_path)
    return write_fleet_text(fleet_path, remove_wizard_text(text, name))


def new_fleet_text(folder: str, first: int = 8643, last: int = 8699) -> str:
    """The text of a fresh fleet.yaml (no wizards yet), with comments that say what each key does."""
    del folder
    return f"""\
# fleet.yaml: the wizards that share this machine (see examples/fleet.yaml for every setting).
# Relative paths are relative to this file's folder. Check it with 'robe doctor'.

root: .                            # houses live under this folder
ports: {{first: {first}, last: {last}}}   # robe hands out gateway ports from this range
default_priority: P2               # priority of a task that names none

wizards:
"""


def fleet_exists(path: str) -> bool:
    return os.path.isfile(path)
