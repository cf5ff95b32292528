"""A bounded ``repr`` that never raises, for error messages about values from users or peers."""

from __future__ import annotations

import reprlib
from typing import Final

__all__ = ["REPR_LIMIT", "bounded_repr", "type_name"]

REPR_LIMIT: Final = 120
"""The most characters :func:`bounded_repr` returns."""

_repr: Final = reprlib.Repr()
# Python 3.10's Repr takes no keyword arguments: set the limits one by one.
_repr.maxstring = REPR_LIMIT
_repr.maxother = REPR_LIMIT
_repr.maxlong = 40
_repr.maxlevel = 3


def type_name(value: object) -> str:
    """Return the qualified name of *value*'s type, or ``'?'`` if even that fails."""
    try:
        name = type(value).__qualname__
    except Exception:  # noqa: BLE001 - a metaclass's __getattribute__ may raise anything
        return "?"
    return name if type(name) is str else "?"


def bounded_repr(value: object, limit: int = REPR_LIMIT) -> str:
    """Return ``repr(value)`` shortened to at most *limit* characters.

    Whatever *value*'s ``__repr__`` does (raise, return a non-string, return
    megabytes), this returns a short string: a failing ``repr`` is replaced by
    a description naming the type and the exception.
    """
    try:
        # reprlib already replaces a failing __repr__ of an instance by a description; it
        # still raises for a container whose items break it (or an int past the digit limit).
        text = _repr.repr(value)
    except Exception as error:  # noqa: BLE001 - user code may raise anything
        text = f"<{type_name(value)} object: repr() raised {type_name(error)}>"
    if len(text) > limit:
        text = text[: max(limit - 3, 0)] + "..."
    return text
