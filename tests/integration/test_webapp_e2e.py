"""End to end: the example users web application, on a real reactor, over real HTTP.

crochet runs the global reactor in a thread of its own (as the README's
doctest does); each scenario runs in that thread as one coroutine.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar, cast

import crochet
import pytest
import treq
from twisted.internet import endpoints, task
from twisted.internet import reactor as _global_reactor
from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.web import client
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from twisted_event_dispatcher.tracing import configure_tracing, read_runs

pytestmark = pytest.mark.reactor

# Twisted leaves these two unannotated.
server_from_string: Any = endpoints.serverFromString
connection_pool: Any = client.HTTPConnectionPool

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webapp"
reactor: Any = _global_reactor

EXPECTED = 'a JSON object {"name": string, "role": "user" | "admin", "email": string (optional)}'
"""What the application's 400 answers say it expects."""

_T = TypeVar("_T")


def in_reactor_thread(
    scenario: Callable[[], Coroutine[Any, Any, _T]], timeout: float = 15.0
) -> _T:
    """Run *scenario* in crochet's reactor thread and return its result here."""
    crochet.setup()

    def start() -> Deferred[_T]:
        return ensureDeferred(scenario())

    return cast("_T", crochet.wait_for(timeout=timeout)(start)())


@pytest.fixture
def users_app(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example application's module, imported from examples/webapp."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    return importlib.import_module("users_app")


async def _post(pool: Any, url: str, body: object) -> tuple[int, Any]:
    response = await treq.post(url, json=body, pool=pool)
    return response.code, await response.json()


def test_http_requests_run_the_handlers_and_shut_down_cleanly(  # noqa: PLR0915 -- one story
    users_app: ModuleType, tmp_path: Path
) -> None:
    """HTTP requests run the handlers, the JSON trace records each run, and stopping drains.

    Users created over HTTP go through validation, persistence and
    notification; a stop while a request is in flight waits for its run.
    """
    trace_path = tmp_path / "trace.jsonl"
    tracing = configure_tracing(trace_path)

    async def scenario() -> dict[str, Any]:
        app = users_app.make_app(
            server_from_string(reactor, "tcp:0:interface=127.0.0.1"), reactor, latency=0.01
        )
        app.service.startService()
        port = await app.listening_port()
        url = f"http://127.0.0.1:{port}/users"
        pool = connection_pool(reactor, persistent=False)
        seen: dict[str, Any] = {}
        seen["bob"] = await _post(pool, url, {"name": "bob", "role": "user", "email": "b@x"})
        seen["alice"] = await _post(pool, url, {"name": "alice", "role": "admin"})
        seen["bad"] = await _post(pool, url, {"name": "B!", "role": "user"})
        seen["again"] = await _post(pool, url, {"name": "bob", "role": "user"})
        seen["garbled"] = await _post(pool, url, ["not", "an", "object"])
        listing = await treq.get(url, pool=pool)
        seen["listing"] = listing.code, await listing.json()

        # Stop the application while carol's request is in flight: the web
        # service stops listening, the dispatcher's service drains her run.
        app.users.latency = 0.2
        carol = ensureDeferred(_post(pool, url, {"name": "carol", "role": "user"}))
        await task.deferLater(reactor, 0.1)
        saved_when_stopped: list[set[str]] = []
        stopped = app.service.stopService()
        stopped.addCallback(lambda _: saved_when_stopped.append(set(app.users.saved)))
        seen["carol"] = await carol
        await stopped
        seen["saved_when_stopped"] = saved_when_stopped
        seen["running_after_stop"] = app.dispatcher.running
        seen["mails"] = list(app.users.mails)
        return seen

    try:
        seen = in_reactor_thread(scenario)
    finally:
        tracing.stop()

    assert seen["bob"][0] == 201
    assert seen["bob"][1]["mails"] == ["to admins: bob (user) joined"]
    assert seen["alice"][0] == 201
    assert seen["bad"][0] == 422
    assert "invalid name 'B!'" in seen["bad"][1]["errors"][0]
    assert seen["again"] == (422, {**seen["again"][1], "status": "aborted"})
    assert "exists already" in seen["again"][1]["errors"][0]
    assert seen["garbled"][0] == 400
    assert seen["garbled"][1] == {
        "error": f"the body is a JSON array: send {EXPECTED}",
    }
    assert seen["listing"] == (
        200,
        [
            {"name": "bob", "role": "user", "email": "b@x"},
            {"name": "alice", "role": "admin", "email": ""},
        ],
    )
    assert seen["carol"][0] == 201
    assert seen["saved_when_stopped"] == [{"bob", "alice", "carol"}]
    assert seen["running_after_stop"] is False
    assert seen["mails"] == [
        "to admins: bob (user) joined",
        "to everyone: alice is a new administrator",  # synchronous: done before the await
        "to admins: alice (admin) joined",
        "to admins: carol (user) joined",
    ]

    records = [json.loads(line) for line in trace_path.read_text().splitlines()]
    assert {record["event"] for record in records} >= {
        "run_created",
        "handler_called",
        "handler_settled",
        "run_ended",
        "lifecycle_transition",
    }
    assert records[-1]["event"] == "lifecycle_transition"
    assert (records[-1]["from_state"], records[-1]["to_state"]) == ("stopping", "stopped")

    runs = list(read_runs(trace_path))
    assert [run.status for run in runs] == [
        "completed",
        "completed",
        "aborted",
        "aborted",
        "completed",
    ]
    calls = [
        [(h.phase, h.handler_name.rsplit(".", 1)[-1], h.status) for h in run.handlers]
        for run in runs
    ]
    assert calls[0] == [
        ("before", "validate", "succeeded"),
        ("during", "persist", "succeeded"),
        ("after", "notify_admins", "succeeded"),
    ]
    assert calls[1][-1] == ("after", "announce_admin", "succeeded")
    assert calls[2] == [("before", "validate", "failed")]


@implementer(IBodyProducer)
class _Body:
    """A request body announcing *length* bytes: it writes *chunks*, then ends or stalls."""

    def __init__(self, length: int | str, chunks: list[bytes], *, stall: bool = False) -> None:
        self.length = length
        self.chunks = chunks
        self.stall = stall
        self.stopped = False

    def startProducing(self, consumer: Any) -> Deferred[None]:
        """Write the chunks; never finish if stalled."""
        for chunk in self.chunks:
            consumer.write(chunk)
        return Deferred() if self.stall else succeed(None)

    def stopProducing(self) -> None:
        """The client gave up sending (it has the response)."""
        self.stopped = True

    def pauseProducing(self) -> None:
        """Nothing to pause: everything is written at once."""

    def resumeProducing(self) -> None:
        """Nothing to resume."""


async def _send(
    pool: Any, method: str, url: str, body: bytes | IBodyProducer, content_type: str | None
) -> tuple[int, str | None, str | None, Any]:
    """Send a request; return the status, Content-Type, Allow and JSON body of the response."""
    headers: dict[bytes | str, bytes | str] = {}
    if content_type is not None:
        headers["content-type"] = content_type
    response = await treq.request(method, url, data=body, headers=headers, pool=pool)
    content = await response.content()

    def header(name: str) -> str | None:
        values = response.headers.getRawHeaders(name)
        return None if values is None else values[0]

    return response.code, header("content-type"), header("allow"), json.loads(content)


def test_bad_requests_get_json_errors_and_the_app_keeps_working(users_app: ModuleType) -> None:
    """Every refused request gets a JSON error with its status code, and the app carries on.

    Bodies that are not the expected JSON object get 400, bodies that are not
    JSON get 415, other methods 405 with Allow, other paths 404, and bodies
    over the default 64 KiB limit 413: from their Content-Length before the
    body is sent, or as a chunked body grows.  Valid users are created after
    all of them, one with a body of exactly the limit.
    """
    json_type = "application/json"
    limit = 64 * 1024
    stalled = _Body(50_000_000, [b"x" * 1024], stall=True)
    padded = json.dumps({"name": "padded", "role": "user"}).encode()
    padded += b" " * (limit - len(padded))
    # Each request: its method, path, body and Content-Type.
    requests: dict[str, tuple[str, str, bytes | IBodyProducer, str | None]] = {
        "no name": ("POST", "/users", b'{"role": "user"}', json_type),
        "nothing": ("POST", "/users", b"{}", json_type),
        "list": ("POST", "/users", b'["bob", "user"]', json_type),
        "not json": ("POST", "/users", b"{name: bob}", json_type),
        "empty": ("POST", "/users", b"", json_type),
        "not utf-8": ("POST", "/users", b'{"name": "b\xe9b"}', json_type),
        "nested": ("POST", "/users", b"[" * 50_000, json_type),
        "long number": ("POST", "/users", b"1" * 5_000, json_type),
        "number": ("POST", "/users", b'{"name": "bob", "role": 1}', json_type),
        "unknown": ("POST", "/users", b'{"name": "bob", "role": "user", "nmae": "x"}', json_type),
        "form": ("POST", "/users", b"name=bob&role=user", "application/x-www-form-urlencoded"),
        "no type": ("POST", "/users", b'{"name": "bob", "role": "user"}', None),
        "PUT": ("PUT", "/users", b"{}", json_type),
        "DELETE": ("DELETE", "/users", b"", None),
        "PATCH": ("PATCH", "/users", b"{}", json_type),
        "root": ("GET", "/", b"", None),
        "below": ("POST", "/users/bob", b"{}", json_type),
        "over": ("POST", "/users", padded + b" ", json_type),
        "huge": ("POST", "/users", b" " * 1_000_000, json_type),
        "stalled": ("POST", "/users", stalled, json_type),
        "chunked": ("POST", "/users", _Body(UNKNOWN_LENGTH, [b" " * 1024] * 100), json_type),
        "at limit": ("POST", "/users", padded, json_type),
        "bob": ("POST", "/users", b'{"name": "bob", "role": "user"}', json_type),
    }

    async def scenario() -> dict[str, Any]:
        app = users_app.make_app(
            server_from_string(reactor, "tcp:0:interface=127.0.0.1"), reactor, latency=0.001
        )
        app.service.startService()
        root = f"http://127.0.0.1:{await app.listening_port()}"
        pool = connection_pool(reactor, persistent=False)
        seen: dict[str, Any] = {}
        for name, (method, path, body, content_type) in requests.items():
            seen[name] = await _send(pool, method, root + path, body, content_type)
        listing = await treq.get(f"{root}/users", pool=pool)
        seen["listing"] = listing.code, await listing.json()
        await app.service.stopService()
        return seen

    seen = in_reactor_thread(scenario)

    def error(code: int, message: str, allow: str | None = None) -> object:
        return code, json_type, allow, {"error": message}

    def bad(message: str) -> object:
        return error(400, f"{message}: send {EXPECTED}")

    too_large = error(413, f"the body is over {limit} bytes: send at most {limit}")
    not_found = error(404, "no such resource: this application serves /users")
    assert {name: seen[name] for name in requests if name not in {"at limit", "bob"}} == {
        "no name": bad("missing field 'name'"),
        "nothing": bad("missing fields 'name', 'role'"),
        "list": bad("the body is a JSON array"),
        "not json": bad(
            "the body is not JSON (Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1))"
        ),
        "empty": bad("the body is not JSON (Expecting value: line 1 column 1 (char 0))"),
        "not utf-8": bad("the body is not UTF-8 text"),
        "nested": bad("the body is nested too deeply"),
        "long number": bad("the body holds a number too long"),
        "number": error(400, "field 'role' is a JSON number: send a string"),
        "unknown": bad("unknown field 'nmae'"),
        "form": error(
            415,
            "Content-Type 'application/x-www-form-urlencoded' is not supported: "
            "use application/json",
        ),
        "no type": error(415, "no Content-Type: send the body as application/json"),
        **{
            method: error(
                405,
                f"method {method} is not allowed on /users: use GET or POST",
                "GET, HEAD, POST",
            )
            for method in ("PUT", "DELETE", "PATCH")
        },
        "root": not_found,
        "below": not_found,
        "over": too_large,
        "huge": too_large,
        "stalled": too_large,
        "chunked": too_large,
    }
    assert stalled.stopped  # answered with 1 KiB of the announced 50 MB sent
    assert seen["at limit"][0] == 201
    assert seen["bob"][0] == 201
    assert seen["listing"] == (
        200,
        [
            {"name": "padded", "role": "user", "email": ""},
            {"name": "bob", "role": "user", "email": ""},
        ],
    )


def test_a_run_that_fails_unexpectedly_answers_500(users_app: ModuleType) -> None:
    """A handler failing with something other than InvalidUser gets 500, not its message."""

    def broken(event: object) -> None:
        raise RuntimeError("the database password is hunter2")

    async def scenario() -> tuple[int, Any]:
        app = users_app.make_app(
            server_from_string(reactor, "tcp:0:interface=127.0.0.1"), reactor, latency=0.001
        )
        app.dispatcher.add_event_handler(broken, "during", event_type="user_created")
        app.service.startService()
        url = f"http://127.0.0.1:{await app.listening_port()}/users"
        pool = connection_pool(reactor, persistent=False)
        try:
            return await _post(pool, url, {"name": "bob", "role": "user"})
        finally:
            await app.service.stopService()

    code, body = in_reactor_thread(scenario)
    assert code == 500
    assert body == {
        "error": "the user could not be created (run aborted)",
        "run_id": body["run_id"],
        "status": "aborted",
    }
