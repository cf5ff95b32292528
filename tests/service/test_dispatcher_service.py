"""DispatcherService: the dispatcher's lifecycle as a Twisted application service."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog
from twisted.application.service import (
    IService,
    IServiceCollection,
    MultiService,
    loadApplication,
)
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.usage import UsageError
from zope.interface.verify import verifyObject

from twisted_event_dispatcher import DispatcherService, EventDispatcher
from twisted_event_dispatcher.testing import result_of

# Twisted leaves these unannotated.
load_application: Any = loadApplication
multi_service: Any = MultiService

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webapp"


class Slow:
    """A handler whose results the test fires by hand."""

    def __init__(self) -> None:
        self.pending: list[Deferred[None]] = []

    def __call__(self, event: object) -> Deferred[None]:
        """Return a new, unfired Deferred."""
        waiting: Deferred[None] = Deferred()
        self.pending.append(waiting)
        return waiting


def make() -> tuple[EventDispatcher, DispatcherService, Slow]:
    """A stopped dispatcher on a Clock with a slow handler, and its service."""
    dispatcher = EventDispatcher(("kind",), reactor=Clock())
    slow = Slow()
    dispatcher.add_event_handler(slow, "during")
    return dispatcher, DispatcherService(dispatcher), slow


def test_provides_iservice() -> None:
    """DispatcherService provides IService, as verifyObject says."""
    _, service, _ = make()
    assert verifyObject(IService, service)


def test_start_starts_the_dispatcher() -> None:
    """Starting the service marks it running and starts the dispatcher."""
    dispatcher, service, _ = make()
    service.startService()
    assert service.running
    assert dispatcher.running


def test_stop_waits_for_runs_in_flight() -> None:
    """The Deferred of stopService fires only once the run in flight has ended."""
    dispatcher, service, slow = make()
    service.startService()
    run = dispatcher.fire_event("e", kind="a")
    stopped = service.stopService()
    assert not service.running
    assert not dispatcher.running
    assert not stopped.called
    slow.pending[0].callback(None)
    assert result_of(stopped) is None
    assert result_of(run).status == "completed"


def test_multiservice_waits_for_the_drain() -> None:
    """A MultiService's stopService waits for the dispatcher's drain."""
    dispatcher, service, slow = make()
    parent = multi_service()
    parent.addService(service)
    parent.startService()
    dispatcher.fire_event("e", kind="a")
    stopped = parent.stopService()
    assert not stopped.called
    slow.pending[0].callback(None)
    result_of(stopped)
    assert not dispatcher.running


def test_named_in_its_parent() -> None:
    """The service is named "event-dispatcher" unless told otherwise, so a parent finds it."""
    _, service, _ = make()
    parent = multi_service()
    parent.addService(service)
    unnamed: Any = DispatcherService(EventDispatcher(("kind",), reactor=Clock()), name=None)
    parent.addService(unnamed)
    assert parent.getServiceNamed("event-dispatcher") is service
    assert unnamed.name is None


def test_restart() -> None:
    """A stopped service starts again, and so does its dispatcher."""
    dispatcher, service, _ = make()
    service.startService()
    result_of(service.stopService())
    service.startService()
    assert dispatcher.running


def test_repr() -> None:
    """The repr names the service, its state and its dispatcher."""
    dispatcher, service, _ = make()
    assert repr(service) == f"<DispatcherService 'event-dispatcher' not running {dispatcher!r}>"


@pytest.fixture
def example_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """examples/webapp on sys.path, and a scratch working directory."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("USERS_TRACE", raising=False)
    return EXAMPLE


def test_tac_file_holds_the_dispatcher_service(example_path: Path) -> None:
    """The example's .tac file loads into an application holding a DispatcherService."""
    application = load_application(str(example_path / "webapp.tac"), "python")
    top: Any = IServiceCollection(application)
    (app_service,) = list(top)
    assert isinstance(app_service.getServiceNamed("event-dispatcher"), DispatcherService)
    assert not app_service.running


def test_twist_plugin_makes_the_service(example_path: Path) -> None:
    """The example's twist plugin is an IServiceMaker whose service holds a DispatcherService."""
    from twisted.application.service import IServiceMaker
    from twisted.plugin import IPlugin

    maker = _plugin(example_path)
    assert verifyObject(IServiceMaker, maker)
    assert verifyObject(IPlugin, maker)
    options = maker.options()
    options.parseOptions(["--listen", "tcp:0:interface=127.0.0.1"])
    # Defaults are used as they are, not coerced: the latency default must be a number.
    assert options["latency"] == 0.01
    service = maker.makeService(options)
    assert isinstance(service.getServiceNamed("event-dispatcher"), DispatcherService)
    assert "users_app_plugin" not in sys.modules


def _plugin(example_path: Path) -> Any:
    """The example's twist plugin, loaded from its file."""
    path = example_path / "twisted" / "plugins" / "users_app_plugin.py"
    spec = importlib.util.spec_from_file_location("users_app_plugin", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.users_app


def test_twist_plugin_limits_bodies_and_logs_to_twisted(example_path: Path) -> None:
    """The plugin's --max-body reaches the site, and the dispatcher logs through twisted.logger."""
    maker = _plugin(example_path)
    options = maker.options()
    options.parseOptions(["--listen", "tcp:0:interface=127.0.0.1"])
    assert options["max-body"] == 64 * 1024
    with pytest.raises(UsageError, match="not a positive number of bytes: '0'"):
        options.parseOptions(["--max-body", "0"])
    options.parseOptions(["--listen", "tcp:0:interface=127.0.0.1", "--max-body", "1024"])
    service = maker.makeService(options)
    assert service.getServiceNamed("web").connections.wrappedFactory.max_body == 1024
    last = structlog.get_config()["processors"][-1]
    assert last.__name__ == "emit_to_twisted_logger"


def test_stop_is_bounded_by_default() -> None:
    """By default the service cancels runs still in flight 30 s into its stop: twistd exits."""
    dispatcher = EventDispatcher(("kind",), reactor=Clock())
    clock: Any = dispatcher.reactor
    slow = Slow()
    dispatcher.add_event_handler(slow, "during")
    service = DispatcherService(dispatcher)
    assert service.stop_timeout == 30.0
    service.startService()
    run = dispatcher.fire_event("e", kind="a")
    stopped = service.stopService()
    clock.advance(29.5)
    assert not stopped.called
    clock.advance(0.5)
    assert result_of(stopped) is None
    assert result_of(run).status == "cancelled"
    service.startService()
    assert dispatcher.running


def test_stop_timeout_can_be_set_or_lifted() -> None:
    """stop_timeout=None waits however long the runs take; a number bounds the wait."""
    dispatcher, _, slow = make()
    clock: Any = dispatcher.reactor
    patient = DispatcherService(dispatcher, stop_timeout=None)
    patient.startService()
    run = dispatcher.fire_event("e", kind="a")
    stopped = patient.stopService()
    clock.advance(3600)
    assert not stopped.called
    slow.pending[0].callback(None)
    assert result_of(stopped) is None
    assert result_of(run).status == "completed"
    hasty = DispatcherService(dispatcher, stop_timeout=2)
    hasty.startService()
    dispatcher.fire_event("e", kind="a")
    stopped = hasty.stopService()
    clock.advance(2)
    assert result_of(stopped) is None


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), ("30", TypeError)])
def test_bad_stop_timeout_is_refused(value: Any, error: type[Exception]) -> None:
    """A stop_timeout that is not a positive number of seconds is refused, naming it."""
    dispatcher = EventDispatcher(("kind",), reactor=Clock())
    with pytest.raises(error, match="stop_timeout"):
        DispatcherService(dispatcher, stop_timeout=value)
