"""Regular expressions compiled once per Python installation, not once per command.

``re.compile`` runs re's parser and compiler, written in Python: ~0.5 M instructions (about
0.2 ms) for one of the scanner's patterns, ~2.8 M for the five a re-read uses. Cron starts
openclaw-work every few minutes, and every run paid that again for the same patterns.

So the program re's compiler makes of a pattern (the list of codes the regex engine runs) is
kept in the private cache folder (``cachefile``), like a ``.pyc`` for the pattern, and handed
back to the engine on later runs. The engine checks a program before it takes it (a bad
one raises RuntimeError), and the programs are kept per Python build and engine version
(``_KEY``), since both may change them. Whatever goes wrong — another Python, a missing or
damaged file, a refused program, a re module without these internals — ends in a plain
``re.compile``: a miss is only slower.
"""

from __future__ import annotations

import marshal
import re
import sys

from . import cachefile

try:
    import _sre
    from re import _compiler, _parser
except ImportError:  # pragma: no cover - another Python's re: compile as usual
    _sre = None

_KEY = (sys.version, sys.hexversion, getattr(_sre, "MAGIC", None))
_LIMIT = 1024 * 1024
_programs: dict | None = None  # pattern -> program, as kept in the file


def _file() -> str:
    return cachefile.entry("re", "programs")


def compile(pattern: str) -> re.Pattern:
    """``re.compile(pattern)``, from the kept program when there is one."""
    global _programs
    if _sre is None:
        return re.compile(pattern)
    if _programs is None:
        _programs = _load()
    program = _programs.get(pattern)
    if program is not None:
        try:
            return _sre.compile(pattern, *program)
        except Exception:  # refused or malformed: made again below
            pass
    try:
        program = _program(pattern)
        compiled = _sre.compile(pattern, *program)
    except Exception:
        return re.compile(pattern)
    _programs[pattern] = program
    try:
        cachefile.write(_file(), marshal.dumps((_KEY, _programs)))
    except ValueError:
        pass
    return compiled


def _program(pattern: str) -> tuple:
    """What re._compiler.compile hands the engine for ``pattern`` (no flags), in plain types."""
    tree = _parser.parse(pattern, 0)
    code = list(map(int, _compiler._code(tree, 0)))  # its opcodes are an int subclass
    groupindex = dict(tree.state.groupdict)
    indexgroup = [None] * tree.state.groups
    for name, i in groupindex.items():
        indexgroup[i] = name
    return tree.state.flags, code, tree.state.groups - 1, groupindex, tuple(indexgroup)


def _load() -> dict:
    data = cachefile.read(_file(), _LIMIT)
    if data is not None:
        try:
            key, programs = marshal.loads(data)
            if key == _KEY and isinstance(programs, dict):
                return programs
        except Exception:  # a damaged or foreign file is a miss
            pass
    return {}


class OnFirstUse:
    """A module's pattern compiled (by ``compile``) when it is first used; the module's name
    for it then names the compiled pattern itself, so later uses cost nothing more. Most
    commands use only some of a module's patterns, and many use none."""

    __slots__ = ("namespace", "name", "pattern")

    def __init__(self, namespace: dict, name: str, pattern: str):
        self.namespace, self.name, self.pattern = namespace, name, pattern

    def __getattr__(self, attr):
        compiled = compile(self.pattern)
        self.namespace[self.name] = compiled
        return getattr(compiled, attr)
