"""Text for messages and log records from objects that may refuse to give it.

The dispatcher names user objects (events, detail values, exceptions,
handlers) in error messages and log records.  Their ``__repr__`` or
``__str__`` may raise, return something huge, or take long over huge data;
what the dispatcher says about them must neither raise nor grow without
bound.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from typing import Final

__all__ = ["DEFAULT_LIMIT", "safe_repr", "safe_str", "type_name"]

DEFAULT_LIMIT: Final = 2000
"""How many characters of a repr or str are kept unless told otherwise (as the fallback output)."""

_SLICED_FIRST: Final = (str, bytes, bytearray)
_CONTAINERS: Final = frozenset({list, tuple, dict, set, frozenset})

_containers: Final = reprlib.Repr()
# A built-in container is shown through reprlib, so the work is bounded too: a
# list of a million items is not turned into megabytes of text only to be cut.
# (Python 3.10's Repr takes no keyword arguments: set the limits one by one.)
_containers.maxlevel = 4
_containers.maxstring = _containers.maxother = DEFAULT_LIMIT


def _repr(obj: object) -> str:
    if type(obj) in _CONTAINERS:
        return _containers.repr(obj)
    return repr(obj)


def type_name(obj: object) -> str:
    """Return the qualified name of *obj*'s type; never raise, never run the type's code.

    A metaclass may override ``__qualname__``; the name stored on the type is
    read past it.
    """
    try:
        name = type.__dict__["__qualname__"].__get__(type(obj), type)
        return str.__str__(name) if isinstance(name, str) else "object"
    except Exception:  # noqa: BLE001 -- never raise: this names things in error messages
        return "object"


def _text(obj: object, limit: int | None, convert: Callable[[object], str], what: str) -> str:
    if (
        limit is not None
        and type(obj) in _SLICED_FIRST
        and isinstance(obj, _SLICED_FIRST)
        and len(obj) > limit
    ):
        # A long built-in string is sliced before it is converted, so that a
        # 100 MB request body is not copied (and escaped) only to be cut.
        unit = "characters" if type(obj) is str else "bytes"
        return f"{convert(obj[:limit])[:limit]}… ({len(obj) - limit} more {unit})"
    try:
        # An exact str: a subclass could override len() and slicing too.
        text = str.__str__(convert(obj))
    except BaseException:  # noqa: BLE001 -- never raise, like twisted.python.reflect.safe_repr
        return f"<{what} {type_name(obj)} object>"
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def safe_repr(obj: object, limit: int | None = DEFAULT_LIMIT) -> str:
    """Return ``repr(obj)`` cut to *limit* characters; never raise.

    Args:
        obj: Any object.
        limit: The most characters of the repr to keep (followed by
            ``… (N more characters)`` when it is cut); None keeps all of it.

    Returns:
        The repr, or ``<unrepresentable T object>`` when ``T.__repr__``
        raises.
    """
    return _text(obj, limit, _repr, "unrepresentable")


def safe_str(obj: object, limit: int | None = DEFAULT_LIMIT) -> str:
    """Return ``str(obj)`` cut to *limit* characters; never raise.

    Args:
        obj: Any object; for an exception, its message.
        limit: The most characters to keep (followed by
            ``… (N more characters)`` when it is cut); None keeps all of it.

    Returns:
        The str, or ``<unprintable T object>`` when ``T.__str__`` raises.
    """
    return _text(obj, limit, str, "unprintable")
