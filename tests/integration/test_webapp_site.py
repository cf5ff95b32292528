"""The example application's HTTP site, driven byte by byte over an in-memory transport."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import ILogObserver, LogLevel, formatEvent, globalLogPublisher
from twisted.python.failure import Failure

from twisted_event_dispatcher import DispatcherNotRunning

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webapp"


@pytest.fixture
def users_app(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example application's module, imported from examples/webapp."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    return importlib.import_module("users_app")


class Connection:
    """A site's HTTP channel on a StringTransport, with the app's users and clock."""

    def __init__(self, users_app: ModuleType, max_body: int) -> None:
        self.clock = Clock()
        self.users = users_app.Users(self.clock, latency=0.01)
        dispatcher = users_app.make_dispatcher(self.users)
        dispatcher.start()
        site = users_app.UsersSite(
            users_app.UsersResource(self.users, dispatcher), max_body=max_body
        )
        site.reactor = self.clock  # the channel's timeouts
        self.channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        self.transport = StringTransport()  # type: ignore[no-untyped-call]
        self.channel.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        """Receive *data* from the client."""
        self.channel.dataReceived(data)

    def written(self) -> bytes:
        """Everything written to the client so far."""
        return cast("bytes", self.transport.value())  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """The connection closes, as the reactor would tell the channel."""
        self.channel.connectionLost(Failure(ConnectionDone()))


@pytest.fixture
def connection(users_app: ModuleType) -> Iterator[Connection]:
    """A connection to a site that takes bodies of up to 100 bytes; closed after the test."""
    connection = Connection(users_app, max_body=100)
    yield connection
    connection.close()


def _head(*headers: bytes) -> bytes:
    """The head of a JSON ``POST /users`` with *headers* added."""
    lines = [b"POST /users HTTP/1.1", b"host: localhost", b"content-type: application/json"]
    return b"\r\n".join([*lines, *headers]) + b"\r\n\r\n"


def test_a_declared_length_over_the_limit_is_refused_before_the_body(
    connection: Connection,
) -> None:
    """A Content-Length over max_body gets 413 at once, without 100 Continue, and a close."""
    connection.send(_head(b"content-length: 101", b"expect: 100-continue"))
    error = json.dumps({"error": "the body is over 100 bytes: send at most 100"}).encode()
    assert connection.written() == (
        b"HTTP/1.1 413 Request Entity Too Large\r\n"
        b"content-type: application/json\r\n"
        b"content-length: %d\r\n"
        b"connection: close\r\n\r\n%s" % (len(error), error)
    )
    assert connection.transport.disconnecting
    written = connection.written()
    connection.send(b'{"name": "bob", "role": "user"}' + b" " * 70)
    assert connection.written() == written
    assert connection.users.saved == {}


def test_a_chunked_body_is_refused_once_it_grows_over_the_limit(connection: Connection) -> None:
    """A body without Content-Length is counted as it arrives: over max_body, it gets 413."""
    connection.send(_head(b"transfer-encoding: chunked"))
    connection.send(b"3c\r\n" + b" " * 60 + b"\r\n")
    assert connection.written() == b""
    connection.send(b"3c\r\n" + b" " * 60 + b"\r\n")
    head, _, body = connection.written().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n")
    assert json.loads(body) == {"error": "the body is over 100 bytes: send at most 100"}
    assert connection.transport.disconnecting
    written = connection.written()
    connection.send(b"2\r\n{}\r\n0\r\n\r\n")  # the rest, and the end of the body
    assert connection.written() == written
    assert connection.users.saved == {}


def test_a_body_of_exactly_the_limit_is_accepted(connection: Connection) -> None:
    """A body of max_body bytes is read and creates the user."""
    body = b'{"name": "bob", "role": "user"}'.ljust(100)
    connection.send(_head(b"content-length: 100") + body)
    connection.clock.pump([0.01] * 3)  # validate, persist, notify_admins
    assert connection.written().startswith(b"HTTP/1.1 201 Created\r\n")
    assert list(connection.users.saved) == ["bob"]


@pytest.mark.parametrize("max_body", [0, -1, True, 1.5, "65536", None])
def test_max_body_must_be_a_positive_int(users_app: ModuleType, max_body: object) -> None:
    """A max_body that is not a positive int is refused with a ValueError naming it."""
    resource = users_app.UsersResource(None, None)
    with pytest.raises(ValueError, match=f"positive number of bytes, not {max_body!r}"):
        users_app.UsersSite(resource, max_body=max_body)


def test_log_to_twisted_emits_the_dispatchers_records(users_app: ModuleType) -> None:
    """Warnings and errors reach twisted.logger with their keys; debug records do not."""
    events: list[dict[str, Any]] = []
    observer = cast("ILogObserver", events.append)
    globalLogPublisher.addObserver(observer)
    try:
        users_app.log_to_twisted()
        users = users_app.Users(Clock())  # the dispatcher holds its handlers weakly
        dispatcher = users_app.make_dispatcher(users)
        dispatcher.start()
        dispatcher.fire_event(
            users_app.UserCreated("B!", "user", ""), event_type="user_created", role="user"
        )
        dispatcher.stop()
        rejected: list[BaseException] = []
        dispatcher.fire_event(
            users_app.UserCreated("bob", "user", ""), event_type="user_created", role="user"
        ).addErrback(lambda failure: rejected.append(failure.value))
    finally:
        globalLogPublisher.removeObserver(observer)
    assert [type(error) for error in rejected] == [DispatcherNotRunning]
    ours = [e for e in events if e["log_namespace"] == "twisted_event_dispatcher"]
    assert [(e["event"], e["log_level"]) for e in ours] == [
        ("handler_settled", LogLevel.error),
        ("run_rejected", LogLevel.warn),
    ]
    failed, rejected_event = ours
    assert failed["handler_name"] == "users_app.Users.validate"
    text = formatEvent(failed)
    assert text.startswith(f"handler_settled run_id={failed['run_id']!r} handler_id=1 ")
    assert "\nTraceback (most recent call last):\n" in text
    assert text.endswith("users_app.InvalidUser: invalid name 'B!': use 2-32 of a-z, 0-9 and _")
    assert formatEvent(rejected_event).startswith("run_rejected run_id=")
