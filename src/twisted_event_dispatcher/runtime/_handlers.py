"""References to handlers: strong, or weak the way the original project held them."""

from __future__ import annotations

import functools
import types
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeGuard, cast, final

from twisted_event_dispatcher._safe import type_name

if TYPE_CHECKING:
    from twisted_event_dispatcher.typing import HandlerId

__all__ = ["HandlerRef", "describe", "reference", "with_details"]

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


@final
class _Ref(weakref.ref):  # type: ignore[type-arg]
    """A weak reference that knows the id of the registration it belongs to."""

    __slots__ = ("handler_id",)

    handler_id: HandlerId


@final
class _WeakMethod(weakref.WeakMethod):  # type: ignore[type-arg]
    """A :class:`weakref.WeakMethod` that knows the id of its registration."""

    __slots__ = ("handler_id",)

    handler_id: HandlerId


def reference(
    handler: Callable[..., Any],
    handler_id: HandlerId,
    *,
    weak: bool,
    on_collected: Callable[[Any], None],
) -> HandlerRef:
    """Reference *handler*, weakly when *weak* is true.

    A bound method is held by a :class:`weakref.WeakMethod` (a weak reference
    to its instance, as the original project did); any other callable by a
    plain :class:`weakref.ref`.  *on_collected* runs with the reference when
    the referent goes; the reference's ``handler_id`` says whose it was.

    Raises:
        TypeError: *handler* cannot be weakly referenced.
    """
    if not weak:
        return _Strong(handler)
    ref: _Ref | _WeakMethod
    try:
        if isinstance(handler, types.MethodType):
            ref = _WeakMethod(handler, on_collected)
        elif _is_bound_builtin(handler):
            ref = _Ref(handler.__self__, on_collected)
            ref.handler_id = handler_id
            return _WeakBuiltinMethod(ref, handler.__name__)
        else:
            ref = _Ref(handler, on_collected)
    except TypeError:
        raise TypeError(
            f"cannot hold handler {describe(handler)} ({type_name(handler)}) by a weak "
            "reference; register it with use_weakref=False and remove it yourself"
        ) from None
    ref.handler_id = handler_id
    return ref


@final
class _WithDetails:
    """A reference whose handler is called as ``handler(event, **details)`` (``pass_details``)."""

    __slots__ = ("_details", "_ref")

    def __init__(self, ref: HandlerRef, details: Callable[[], Any]) -> None:
        self._ref: Final = ref
        self._details: Final = details

    def __call__(self) -> Callable[..., Any] | None:
        handler = self._ref()
        if handler is None:
            return None
        return functools.partial(_call_with_details, handler, self._details)


def _call_with_details(handler: Callable[..., Any], details: Callable[[], Any], event: Any) -> Any:
    return handler(event, **details())


def with_details(ref: HandlerRef, details: Callable[[], Any]) -> HandlerRef:
    """Wrap *ref* so its handler gets the details of the call under way (from *details*)."""
    return _WithDetails(ref, details)


def _is_bound_builtin(handler: object) -> TypeGuard[types.BuiltinMethodType]:
    # `some_list.append` is a new object at every attribute access: a weak
    # reference to it dies at once.  Like a bound method, it is held through
    # a weak reference to the object it is bound to.
    return isinstance(handler, types.BuiltinMethodType) and not isinstance(
        handler.__self__, (types.ModuleType, type(None))
    )


@final
class _WeakBuiltinMethod:
    """:class:`weakref.WeakMethod` for methods of built-in types (``some_set.add``)."""

    __slots__ = ("_name", "_self")

    def __init__(self, owner: weakref.ref[Any], name: str) -> None:
        self._self: Final = owner
        self._name: Final = name

    def __call__(self) -> Callable[..., Any] | None:
        target = self._self()
        return None if target is None else cast("Callable[..., Any]", getattr(target, self._name))


def describe(handler: object) -> str:
    """Return a readable, qualified name for *handler*; never the handler itself.

    Used in registration records, outcomes and log records, so that nothing
    the dispatcher keeps or logs holds a weakly registered handler alive.
    It never raises: a handler whose ``__qualname__`` or ``__module__``
    raises, or is not a str, is named after its type.
    """
    if isinstance(handler, functools.partial):
        return f"functools.partial({describe(handler.func)})"
    if isinstance(handler, types.MethodType):
        return describe(handler.__func__)
    if _is_bound_builtin(handler):
        return f"{type_name(handler.__self__)}.{handler.__name__}"
    qualname = _str_attribute(handler, "__qualname__")
    if qualname is None:
        qualname = type_name(handler)
        module = _str_attribute(type(handler), "__module__")
    else:
        module = _str_attribute(handler, "__module__")
    if module in (None, "builtins"):
        return qualname
    return f"{module}.{qualname}"


def _str_attribute(obj: object, name: str) -> str | None:
    # The attribute as a plain str; None if it is missing, raises or is no str.
    try:
        value = getattr(obj, name, None)
        return str.__str__(value) if isinstance(value, str) else None
    except Exception:  # noqa: BLE001 -- user code; a name must never break a registration
        return None
