"""Immutable records: named tuples made without compiling code.

``collections.namedtuple`` writes each class's ``__new__`` as source and compiles it with
``eval``: ~0.2 ms a class here, and a cron command defines ~20 of them before it does any work
(a tenth of what openclaw-work may spend beyond its start-up). ``record`` makes the same kind
of class (a tuple subclass with named fields, defaults, ``_make``, ``_replace``, ``_asdict``,
``_fields``, a readable repr) from one shared ``__new__``, in a few microseconds. Hot paths
build records with ``tuple.__new__(Cls, values)`` as before; the property tests
(tests/test_records.py) hold a record to behave as the namedtuple of the same fields.
"""

from __future__ import annotations

import sys

try:  # the C descriptor namedtuple itself uses for field access
    from _collections import _tuplegetter
except ImportError:  # pragma: no cover - other Pythons
    from operator import itemgetter

    def _tuplegetter(index, doc):
        return property(itemgetter(index), doc=doc)

_tuple_new = tuple.__new__


def _new(cls, *args, **kwargs):
    if not kwargs:
        k = len(args)
        if k == cls._n:
            return _tuple_new(cls, args)
        if cls._required <= k < cls._n:  # the last fields left to their defaults
            return _tuple_new(cls, args + cls._defaults[k - cls._required:])
    fields = cls._fields
    if len(args) > len(fields):
        raise TypeError(f"{cls.__name__}() takes {len(fields)} arguments but {len(args)} were given")
    values = list(args)
    for name in fields[len(args):]:
        if name in kwargs:
            values.append(kwargs.pop(name))
        elif name in cls._field_defaults:
            values.append(cls._field_defaults[name])
        else:
            raise TypeError(f"{cls.__name__}() missing required argument: '{name}'")
    if kwargs:
        name = next(iter(kwargs))
        if name in fields:
            raise TypeError(f"{cls.__name__}() got multiple values for argument '{name}'")
        raise TypeError(f"{cls.__name__}() got an unexpected keyword argument '{name}'")
    return _tuple_new(cls, values)


@classmethod
def _make(cls, iterable):
    result = _tuple_new(cls, iterable)
    if len(result) != cls._n:
        raise TypeError(f"expected {cls._n} arguments, got {len(result)}")
    return result


def _replace(self, **changes):
    result = self._make(map(changes.pop, self._fields, self))
    if changes:
        raise ValueError(f"got unexpected field names: {list(changes)!r}")
    return result


def _asdict(self) -> dict:
    return dict(zip(self._fields, self))


def _repr(self) -> str:
    return self.__class__.__name__ + "(" + ", ".join(f"{k}={v!r}" for k, v in zip(self._fields, self)) + ")"


def _getnewargs(self):
    return tuple(self)


def record(typename: str, field_names: str, *, defaults: tuple = ()) -> type:
    """A tuple subclass with the fields named in ``field_names`` (space-separated); the last
    ``len(defaults)`` fields take those defaults. Subclass it to add methods and a docstring
    (with ``__slots__ = ()``), as with namedtuple."""
    fields = tuple(field_names.split())
    if len(defaults) > len(fields):
        raise TypeError("more defaults than fields")
    namespace = {
        "__doc__": f"{typename}({', '.join(fields)})",
        "__slots__": (),
        "_fields": fields,
        "_field_defaults": dict(zip(fields[len(fields) - len(defaults):], defaults)),
        "_n": len(fields),
        "_required": len(fields) - len(defaults),
        "_defaults": tuple(defaults),
        "__new__": _new,
        "_make": _make,
        "_replace": _replace,
        "_asdict": _asdict,
        "__repr__": _repr,
        "__getnewargs__": _getnewargs,
        "__match_args__": fields,
        "__module__": sys._getframe(1).f_globals.get("__name__", "__main__"),
    }
    for index, name in enumerate(fields):
        namespace[name] = _tuplegetter(index, f"Alias for field number {index}")
    return type(typename, (tuple,), namespace)
