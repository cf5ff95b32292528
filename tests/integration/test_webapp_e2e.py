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
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.web import client

from twisted_event_dispatcher.tracing import configure_tracing, read_runs

pytestmark = pytest.mark.reactor

# Twisted leaves these two unannotated.
server_from_string: Any = endpoints.serverFromString
connection_pool: Any = client.HTTPConnectionPool

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webapp"
reactor: Any = _global_reactor

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
