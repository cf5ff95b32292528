"""References to handlers: strong, or weak the way the original project held them."""

from __future__ import annotations

import functools
import types
import weakref
from collections.abc import Callable
from typing import Any, Final, final

__all__ = ["HandlerRef", "describe", "reference"]

HandlerRef = Callable[[], "Callable[..., Any] | None"]
"""Calling a reference gives the handler back, or None once it was collected."""


@final
class _Strong:
    """A strong reference with the same call shape as :class:`weakref.ref`."""

    __slots__ = ("_target",)

    def __init__(self, target: Callable[..., Any]) -> None:
        self._target: Final = target

    def __call__(self) -> Callable[..., Any]:
        return self._target


def reference(
    handler: Callable[..., Any],
    *,
    weak: bool,
    on_collected: Callable[[object], None],
) -> HandlerRef:
    """Reference *handler*, weakly when *weak* is true.

    A bound method is held by a :class:`weakref.WeakMethod` (a weak reference
    to its instance, as the original project did); any other callable by a
    plain :class:`weakref.ref`.  *on_collected* runs when the referent goes.

    Raises:
        TypeError: *handler* cannot be weakly referenced.
    """
    if not weak:
        return _Strong(handler)
    try:
        if isinstance(handler, types.MethodType):
            return weakref.WeakMethod(handler, on_collected)
        return weakref.ref(handler, on_collected)
    except TypeError:
        raise TypeError(
            f"cannot hold handler {describe(handler)} ({type(handler).__name__}) by a weak "
            "reference; register it with use_weakref=False and remove it yourself"
        ) from None


def describe(handler: object) -> str:
    """Return a readable, qualified name for *handler*; never the handler itself.

    Used in registration records, outcomes and log records, so that nothing
    the dispatcher keeps or logs holds a weakly registered handler alive.
    """
    if isinstance(handler, functools.partial):
        return f"functools.partial({describe(handler.func)})"
    if isinstance(handler, types.MethodType):
        return describe(handler.__func__)
    qualname: object = getattr(handler, "__qualname__", None)
    module: object
    if not isinstance(qualname, str):
        qualname = type(handler).__qualname__
        module = type(handler).__module__
    else:
        module = getattr(handler, "__module__", None)
    if module in (None, "builtins"):
        return qualname
    return f"{module}.{qualname}"
