"""Every public name imports, and nothing public lives only in a private module."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import twisted_event_dispatcher

PUBLIC_MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(
        twisted_event_dispatcher.__path__, prefix="twisted_event_dispatcher."
    )
    if not any(part.startswith("_") for part in info.name.split("."))
)


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then CamelCase names, then everything else.
    if name.isupper():
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


@pytest.mark.parametrize("name", ["twisted_event_dispatcher", *PUBLIC_MODULES])
def test_all_names_import(name: str) -> None:
    """Every name in a public module's __all__ exists, and __all__ is sorted and unique."""
    module = _module(name)
    exported = list(getattr(module, "__all__", []))
    expected = sorted(set(exported), key=_isort_key)
    assert exported == expected, f"{name}.__all__ is not sorted and unique"
    for attribute in exported:
        assert hasattr(module, attribute), f"{name}.{attribute} is listed but missing"


@pytest.mark.parametrize("name", ["twisted_event_dispatcher", *PUBLIC_MODULES])
def test_public_names_documented(name: str) -> None:
    """Every public module and every callable or class it exports has a docstring."""
    module = _module(name)
    assert module.__doc__, f"{name} has no docstring"
    for attribute in getattr(module, "__all__", []):
        value = getattr(module, attribute)
        ours = getattr(value, "__module__", "").startswith("twisted_event_dispatcher")
        if ours and (inspect.isclass(value) or inspect.isfunction(value)):
            assert getattr(value, "__doc__", None), f"{name}.{attribute} has no docstring"


def test_private_classes_are_reexported() -> None:
    """Every public class defined in a private runtime module is exported by the package."""
    top = set(twisted_event_dispatcher.__all__)
    for private in (
        "twisted_event_dispatcher.runtime._dispatcher",
        "twisted_event_dispatcher.runtime._records",
        "twisted_event_dispatcher.exceptions",
    ):
        module = _module(private)
        for attribute in module.__all__:
            value = getattr(module, attribute)
            if isinstance(value, type):
                assert attribute in top, f"{private}.{attribute} is not exported"


def test_version() -> None:
    """The version comes from the installed distribution's metadata."""
    from importlib.metadata import version

    assert twisted_event_dispatcher.__version__ == version("twisted_event_dispatcher")


def test_interfaces_verified() -> None:
    """EventDispatcher provides IEventDispatcher and IBackgroundUtility, as verifyObject says."""
    from twisted.internet.task import Clock
    from zope.interface.verify import verifyClass, verifyObject

    from twisted_event_dispatcher import EventDispatcher, IBackgroundUtility, IEventDispatcher

    dispatcher = EventDispatcher(("a",), reactor=Clock())
    for interface in (IEventDispatcher, IBackgroundUtility):
        assert verifyClass(interface, EventDispatcher)
        assert verifyObject(interface, dispatcher)
