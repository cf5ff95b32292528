"""A small ``twisted.web`` service: creating a user over HTTP fires ``user_created``.

``POST /users`` with a JSON body ``{"name": ..., "role": ..., "email": ...}``
fires a ``UserCreated`` event through an
:class:`~twisted_event_dispatcher.EventDispatcher`; its handlers do the work,
phase by phase:

- ``before``: :meth:`Users.validate` refuses bad names, unknown roles and
  duplicates.  The dispatcher aborts runs on handler errors, so a refused
  user goes no further and the client gets ``422``.
- ``during``: :meth:`Users.persist` stores the user; it returns a Deferred,
  as a database call would.
- ``after``: :meth:`Users.notify_admins` is an ``async def`` that "sends a
  mail" to the administrators; only admins' creation is also announced,
  through a handler whose match spec says ``role="admin"``.

``GET /users`` lists the stored users.  The dispatcher runs inside a
:class:`~twisted_event_dispatcher.DispatcherService`, so shutting the
application down lets every run in flight finish.

Run it with ``twist`` (the plugin in ``twisted/plugins``) or ``twistd -ny webapp.tac``;
see ``examples/webapp/README.md``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Final, cast

from twisted.application.service import MultiService, Service
from twisted.internet import defer, task
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from twisted_event_dispatcher import (
    DispatcherNotRunning,
    DispatcherService,
    EventDispatcher,
    EventRun,
)

if TYPE_CHECKING:
    from twisted.internet.interfaces import IListeningPort, IReactorTime, IStreamServerEndpoint
    from twisted.web.server import Request

ROLES: Final = frozenset({"user", "admin"})
_NAME: Final = re.compile(r"[a-z][a-z0-9_]{1,31}")


@dataclass(frozen=True)
class UserCreated:
    """The event: someone asked for a new user."""

    name: str
    role: str
    email: str


class InvalidUser(ValueError):
    """The validation handler refused the user."""


class Users:
    """The application's state, and the handlers that change it.

    The dispatcher holds these bound methods weakly, so the handlers live
    exactly as long as this object.
    """

    def __init__(self, reactor: IReactorTime, *, latency: float = 0.01) -> None:
        self.reactor: Final = reactor
        self.latency = latency
        """Seconds each pretend database write and mail takes."""
        self.saved: dict[str, UserCreated] = {}
        self.mails: list[str] = []

    def validate(self, event: UserCreated) -> None:
        """``before``: refuse malformed names, unknown roles and existing users."""
        if not _NAME.fullmatch(event.name):
            raise InvalidUser(f"invalid name {event.name!r}: use 2-32 of a-z, 0-9 and _")
        if event.role not in ROLES:
            raise InvalidUser(f"unknown role {event.role!r}: use one of {sorted(ROLES)}")
        if event.name in self.saved:
            raise InvalidUser(f"user {event.name!r} exists already")

    def persist(self, event: UserCreated) -> defer.Deferred[None]:
        """``during``: store the user, as slowly as a database would."""
        return task.deferLater(
            self.reactor, self.latency, self.saved.__setitem__, event.name, event
        )

    async def notify_admins(self, event: UserCreated) -> str:
        """``after``: tell the administrators (an ``async def`` handler)."""
        await task.deferLater(self.reactor, self.latency)
        mail = f"to admins: {event.name} ({event.role}) joined"
        self.mails.append(mail)
        return mail

    def announce_admin(self, event: UserCreated) -> None:
        """``after``, for admins only (match spec ``role="admin"``)."""
        self.mails.append(f"to everyone: {event.name} is a new administrator")


def make_dispatcher(users: Users) -> EventDispatcher:
    """Build the dispatcher and register the application's handlers."""
    dispatcher = EventDispatcher(
        ("event_type", "role"),
        reactor=users.reactor,
        on_handler_error="abort",
        handler_timeout=5.0,
        when_stopped="error",
    )
    dispatcher.add_event_handler(users.validate, "before", event_type="user_created")
    dispatcher.add_event_handler(users.persist, "during", event_type="user_created")
    dispatcher.add_event_handler(users.notify_admins, "after", event_type="user_created")
    dispatcher.add_event_handler(
        users.announce_admin, "after", event_type="user_created", role="admin"
    )
    return dispatcher


def _json(request: Request, code: int, body: object) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json")
    return json.dumps(body).encode()


class UsersResource(Resource):
    """``/users``: ``POST`` fires ``user_created``; ``GET`` lists the users."""

    isLeaf = True  # noqa: N815 -- twisted.web's name

    def __init__(self, users: Users, dispatcher: EventDispatcher) -> None:
        super().__init__()
        self.users: Final = users
        self.dispatcher: Final = dispatcher
        self.pending: set[defer.Deferred[None]] = set()
        """The POST requests still being answered."""

    def render_GET(self, request: Request) -> bytes:
        """List the stored users."""
        return _json(request, 200, [asdict(user) for user in self.users.saved.values()])

    def render_POST(self, request: Request) -> int:
        """Create a user: fire ``user_created`` and answer once the run has ended."""
        answering = defer.ensureDeferred(self._create(request))
        self.pending.add(answering)
        answering.addBoth(lambda _: self.pending.discard(answering))
        return cast("int", NOT_DONE_YET)

    async def _create(self, request: Request) -> None:
        gone: list[object] = []
        request.notifyFinish().addErrback(gone.append)
        try:
            body = json.loads(request.content.read() if request.content else b"")
            event = UserCreated(str(body["name"]), str(body["role"]), str(body.get("email", "")))
        except (ValueError, KeyError, TypeError) as error:
            request.write(_json(request, 400, {"error": f"bad request body: {error}"}))
            request.finish()
            return
        try:
            run = await self.dispatcher.fire_event(
                event, event_type="user_created", role=event.role
            )
        except DispatcherNotRunning as error:
            response = _json(request, 503, {"error": str(error)})
        else:
            response = self._respond(request, run)
        if not gone:
            request.write(response)
            request.finish()

    def _respond(self, request: Request, run: EventRun) -> bytes:
        if run.status == "completed" and not run.failures:
            mails = [o.result for o in run.outcomes if o.phase == "after" and o.result]
            return _json(
                request, 201, {"created": run.event.name, "run_id": run.run_id, "mails": mails}
            )
        errors = [str(o.failure.value) for o in run.failures if o.failure is not None]
        return _json(request, 422, {"errors": errors, "run_id": run.run_id, "status": run.status})


class _Connections(WrappingFactory):
    """Wraps the site to know its open connections, so that shutdown can close them gracefully."""

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        self.closed: dict[ProtocolWrapper, defer.Deferred[None]] = {}

    def registerProtocol(self, p: ProtocolWrapper) -> None:
        """A connection opened."""
        super().registerProtocol(p)
        self.closed[p] = defer.Deferred()

    def unregisterProtocol(self, p: ProtocolWrapper) -> None:
        """A connection closed."""
        super().unregisterProtocol(p)
        closed = self.closed.pop(p, None)
        if closed is not None:
            closed.callback(None)

    def close_all(self) -> defer.Deferred[object]:
        """Close every connection once its buffered output is written; fire when all are."""
        waiting = list(self.closed.values())
        for connection in list(self.closed):
            connection.transport.loseConnection()
        return defer.gatherResults(waiting)


class ListeningService(Service):
    """Serves the users resource on an endpoint while running, and shuts down gracefully.

    Stopping stops listening, waits for the requests being answered (their
    runs are in flight in the dispatcher, which is still running), and then
    closes the connections once their responses are written.
    """

    def __init__(self, endpoint: IStreamServerEndpoint, resource: UsersResource) -> None:
        root = Resource()
        root.putChild(b"users", resource)
        self.endpoint: Final = endpoint
        self.resource: Final = resource
        self.connections: Final = _Connections(Site(root))
        self.port: defer.Deferred[IListeningPort] | None = None

    def startService(self) -> None:
        """Start listening."""
        super().startService()
        self.port = self.endpoint.listen(self.connections)

    def stopService(self) -> defer.Deferred[None]:
        """Stop listening, finish the requests in progress, and close the connections."""
        super().stopService()
        port, self.port = self.port, None
        if port is None:
            return defer.succeed(None)

        async def stop() -> None:
            listening = await port
            await defer.maybeDeferred(listening.stopListening)
            await defer.gatherResults(list(self.resource.pending))
            await self.connections.close_all()

        return defer.ensureDeferred(stop())


@dataclass
class UsersApp:
    """The application, assembled: its parts, and the service that runs them all."""

    users: Users
    dispatcher: EventDispatcher
    web: ListeningService
    service: MultiService

    async def listening_port(self) -> int:
        """Return the TCP port the web service listens on (once the service has started)."""
        if self.web.port is None:
            raise RuntimeError("the web service is not running")
        port = await self.web.port
        address = port.getHost()
        if not isinstance(address, IPv4Address | IPv6Address):
            raise TypeError(f"not listening on TCP: {address!r}")
        return address.port


def make_app(
    endpoint: IStreamServerEndpoint, reactor: IReactorTime, *, latency: float = 0.01
) -> UsersApp:
    """Assemble the application on *endpoint*.

    Services stop in the reverse order they were added: the web service is
    added last, so it stops first (it stops listening, and answers the
    requests it has, whose runs the still-running dispatcher finishes); the
    dispatcher's service then drains whatever else is in flight.
    """
    users = Users(reactor, latency=latency)
    dispatcher = make_dispatcher(users)
    web = ListeningService(endpoint, UsersResource(users, dispatcher))
    web.setName("web")
    service = MultiService()
    DispatcherService(dispatcher).setServiceParent(service)
    web.setServiceParent(service)
    return UsersApp(users, dispatcher, web, service)
