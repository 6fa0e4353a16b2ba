"""Typed method options, declared once and parsed by one parser.

A method declares its options as a tuple of :class:`Option` in the class
attribute ``OPTIONS``::

    class WCtr(ClassicalMethod):
        OPTIONS = (Option("geo_sigma", float, 5.0, "geodesic weight sigma"),)

``default_options`` (the name -> default dict the rest of the code reads) is
derived from it. Classes that only set ``default_options`` (older plugins) get
a schema inferred from the default values' types.

:func:`parse_cli` serves ``salbench run``, ``salbench train`` and the Python
API alike: ``key=value`` strings become typed values (booleans accept
``true/false/yes/no/on/off/1/0``; ints, floats, strings, tuples as
``1,2,3`` or ``(1,2,3)``; ``none``/``null`` where the option may be None).
An unknown key or a bad value raises :class:`OptionError`, whose message
names the method and its valid options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from salbench.errors import SalbenchError

__all__ = ["Option", "OptionError", "schema_from_defaults", "parse_cli", "validate", "describe"]

_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}
_NONE = {"none", "null"}
_TYPES = (bool, int, float, str, tuple)


class OptionError(SalbenchError, ValueError):
    """An unknown option or a value of the wrong type (one line, exit 2 on the CLI)."""


@dataclass(frozen=True)
class Option:
    """One option of a method.

    ``type`` is ``bool``, ``int``, ``float``, ``str`` or ``tuple`` (``item_type``
    says what the tuple holds). ``choices`` restricts the values; ``nullable``
    allows None (``none`` on the command line).
    """

    name: str
    type: type
    default: Any = None
    help: str = ""
    choices: tuple | None = None
    nullable: bool = False
    item_type: type = float

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise TypeError(f"option {self.name!r}: type must be one of "
                            f"{', '.join(t.__name__ for t in _TYPES)}, not {self.type!r}")
        if self.default is None:
            object.__setattr__(self, "nullable", True)

    def type_name(self) -> str:
        """``bool``, ``int``, ... or ``tuple[float]``; ``choices`` are listed."""
        t = self.type.__name__
        if self.type is tuple:
            t = f"tuple[{self.item_type.__name__}]"
        if self.choices:
            t += " in {" + ", ".join(map(str, self.choices)) + "}"
        return t + (" or none" if self.nullable else "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (``salbench list methods --json``)."""
        d = self.default
        return {"name": self.name, "type": self.type.__name__,
                "item_type": self.item_type.__name__ if self.type is tuple else None,
                "default": list(d) if isinstance(d, tuple) else d, "help": self.help,
                "choices": list(self.choices) if self.choices else None,
                "nullable": self.nullable}

    # -- values --------------------------------------------------------------
    def coerce(self, value: Any, method: str = "") -> Any:
        """A Python value checked against this option (ints widen to floats,
        lists to tuples, strings are parsed as on the command line)."""
        if isinstance(value, str) and self.type is not str:
            return self.parse(value, method)
        if value is None:
            if self.nullable:
                return None
            raise self._bad(value, method)
        t = self.type
        ok = False
        if t is bool:
            ok = isinstance(value, bool) or (isinstance(value, int) and value in (0, 1))
            value = bool(value) if ok else value
        elif t is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif t is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif t is str:
            ok = isinstance(value, str)
        elif t is tuple:
            if isinstance(value, (list, tuple)):
                try:
                    value = tuple(Option("_", self.item_type).coerce(v) for v in value)
                    ok = True
                except OptionError:
                    ok = False
        if not ok:
            raise self._bad(value, method)
        self._check_choice(value, method)
        return value

    def parse(self, text: str, method: str = "") -> Any:
        """A command-line string to this option's type."""
        s = text.strip()
        low = s.lower()
        if self.nullable and low in _NONE:
            return None
        t = self.type
        try:
            if t is bool:
                if low in _TRUE:
                    value: Any = True
                elif low in _FALSE:
                    value = False
                else:
                    raise ValueError
            elif t is int:
                value = int(s, 0) if low.startswith(("0x", "0o", "0b")) else int(s)
            elif t is float:
                value = float(s)
            elif t is str:
                value = s
            else:  # tuple
                inner = s[1:-1] if s[:1] in "([" and s[-1:] in ")]" else s
                parts = [p for p in (x.strip() for x in inner.split(",")) if p]
                value = tuple(Option("_", self.item_type).parse(p) for p in parts)
        except (ValueError, OptionError):
            raise self._bad(text, method) from None
        self._check_choice(value, method)
        return value

    def _check_choice(self, value: Any, method: str) -> None:
        if self.choices and value not in self.choices:
            raise self._bad(value, method)

    def _bad(self, value: Any, method: str) -> OptionError:
        who = f"method {method!r}: " if method else ""
        return OptionError(f"{who}option {self.name}={_plain(value)} is not a valid "
                           f"{self.type_name()}")


def _plain(v: Any) -> str:
    return v if isinstance(v, str) else repr(v)


def schema_from_defaults(defaults: Mapping[str, Any]) -> tuple[Option, ...]:
    """A schema inferred from a ``default_options`` dict (for classes that do
    not declare ``OPTIONS``): the type of each default, str where it is None."""
    out = []
    for k, v in defaults.items():
        if isinstance(v, bool):
            t: type = bool
        elif isinstance(v, int):
            t = int
        elif isinstance(v, float):
            t = float
        elif isinstance(v, (tuple, list)):
            t = tuple
        else:
            t = str
        item = float
        if t is tuple and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            item = int
        out.append(Option(k, t, tuple(v) if isinstance(v, list) else v, item_type=item))
    return tuple(out)


def _index(schema: Iterable[Option]) -> dict[str, Option]:
    return {o.name: o for o in schema}


def _unknown(method: str, key: str, schema: dict[str, Option]) -> OptionError:
    valid = describe(schema.values())
    return OptionError(f"method {method!r} has no option {key!r}; valid options: "
                       f"{valid or '(none)'}")


def describe(schema: Iterable[Option]) -> str:
    """``name (type, default d), ...`` for messages."""
    return ", ".join(f"{o.name} ({o.type_name()}, default {_plain(o.default)})"
                     for o in schema)


def parse_cli(method: str, schema: Sequence[Option], items: Iterable[str] | None) -> dict[str, Any]:
    """``["key=value", ...]`` to typed values. Keys may use ``-`` for ``_``."""
    idx = _index(schema)
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise OptionError(f"--option {item!r}: expected key=value")
        k, v = item.split("=", 1)
        k = k.strip().replace("-", "_")
        opt = idx.get(k)
        if opt is None:
            raise _unknown(method, k, idx)
        out[k] = opt.parse(v, method)
    return out


def validate(method: str, schema: Sequence[Option], values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values (API, variants, checkpoints) checked and coerced."""
    idx = _index(schema)
    out: dict[str, Any] = {}
    for k, v in values.items():
        opt = idx.get(k)
        if opt is None:
            raise _unknown(method, k, idx)
        out[k] = opt.coerce(v, method)
    return out
