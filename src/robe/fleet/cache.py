"""A cache of validated fleet.yaml files, so a cron run need not import PyYAML.

Importing PyYAML costs 15-25 ms here, more than openclaw-work's whole budget on a 1,000-task
queue, and fleet.yaml changes far less often than cron runs. So after a strict load the
validated Fleet is kept in ``$ROBE_CACHE_DIR`` (default ``$XDG_CACHE_HOME/robe`` or
``~/.cache/robe``), one file per fleet.yaml, and the next load uses it when everything the
validation depended on is the same:

- fleet.yaml's whole text (compared, not hashed) and its absolute path;
- robe's version and the Python version (the format is ``marshal``'s);
- the home folder ``~`` expands to;
- the resolved path of every wizard's house and home (the check for two wizards sharing one
  follows symlinks, and a symlink can appear without fleet.yaml changing).

Anything else is a miss, and a miss is only slower: any fault reading or writing the cache is
ignored. The folder is private (0700); a cache file not owned by this user, or writable by
others, is never read.
"""

from __future__ import annotations

import marshal
import os
import sys

from ..queue import cachefile
from ..queue.cachefile import cache_dir  # noqa: F401 - where the cache lives; tests use it

FORMAT = 1


def _file(path: str) -> str:
    return cachefile.entry("fleet", path)


def _key(path: str, text: str) -> tuple:
    from .. import __version__

    return (FORMAT, __version__, sys.hexversion, path, os.path.expanduser("~"), text)


def _resolved(fleet) -> tuple:
    return tuple((os.path.realpath(w.house), os.path.realpath(w.home)) for w in fleet.wizards)


def _plain(x):
    """NamedTuples, tuples and mappings as the plain tuples and dicts marshal stores."""
    if isinstance(x, tuple):
        return tuple(_plain(v) for v in x)
    if isinstance(x, list):
        return [_plain(v) for v in x]
    if hasattr(x, "items"):
        return {k: _plain(v) for k, v in x.items()}
    return x


def _rebuild(t: tuple):
    from .config import _EMPTY, Agent, Fleet, Gateway, Route, Service, Wizard

    def wizard(w):
        w = Wizard._make(w)
        agent = Agent._make(w.agent)
        return w._replace(agent=agent._replace(config=agent.config or _EMPTY),
                          gateway=Gateway._make(w.gateway) if w.gateway is not None else None,
                          relationships=w.relationships or _EMPTY, schedule=w.schedule or _EMPTY)

    f = Fleet._make(t)
    return f._replace(wizards=tuple(wizard(w) for w in f.wizards),
                      services=tuple(Service._make(s) for s in f.services),
                      routes=tuple(Route._make(r) for r in f.routes))


def get(path: str, text: str):
    """The Fleet cached for this exact fleet.yaml, else None."""
    data = cachefile.read(_file(path), 4 * 1024 * 1024)
    if data is None:
        return None
    try:
        key, resolved, plain = marshal.loads(data)
        if key != _key(path, text):
            return None
        fleet = _rebuild(plain)
    except Exception:  # a damaged or foreign file is a miss, never an error
        return None
    if _resolved(fleet) != resolved:
        return None
    return fleet


def put(path: str, text: str, fleet) -> None:
    """Remember a Fleet that validated strictly; silently does nothing when it cannot."""
    target = _file(path)
    try:
        data = marshal.dumps((_key(path, text), _resolved(fleet), _plain(fleet)))
    except ValueError:  # something marshal cannot store (a YAML date in an agent's config)
        return
    cachefile.write(target, data)
