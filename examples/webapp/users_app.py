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

``GET /users`` lists the stored users.  Every error is answered with a JSON
body ``{"error": "..."}`` saying what is wrong and what is expected: ``400``
for a body that is not the JSON object above, ``413`` for a body over the
size limit (refused from its ``Content-Length``, before it is read), ``415``
for a body that is not ``application/json``, ``405`` (with ``Allow``) for
other methods and ``404`` for other paths.

The dispatcher runs inside a
:class:`~twisted_event_dispatcher.DispatcherService`, so shutting the
application down lets every run in flight finish.  :func:`log_to_twisted`
sends the dispatcher's records to ``twisted.logger``, where the
application's own log goes.

Run it with ``twist`` (the plugin in ``twisted/plugins``) or ``twistd -ny webapp.tac``;
see ``examples/webapp/README.md``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final, cast

import structlog
from twisted.application.service import MultiService, Service
from twisted.internet import defer, task
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.logger import Logger, LogLevel
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from twisted_event_dispatcher import (
    DispatcherNotRunning,
    DispatcherService,
    EventDispatcher,
    EventRun,
)

if TYPE_CHECKING:
    from twisted.internet.interfaces import IListeningPort, IReactorTime, IStreamServerEndpoint

ROLES: Final = frozenset({"user", "admin"})
_NAME: Final = re.compile(r"[a-z][a-z0-9_]{1,31}")
MAX_BODY: Final = 64 * 1024
"""The default limit on the size of a request body, in bytes."""
EXPECTED: Final = (
    'a JSON object {"name": string, "role": "user" | "admin", "email": string (optional)}'
)
"""What ``POST /users`` expects, as its error messages say."""
_REQUIRED: Final = frozenset({"name", "role"})
_FIELDS: Final = _REQUIRED | {"email"}

log: Final = Logger()
"""The application's own log, in ``twisted.logger``."""


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


_dispatcher_log: Final = Logger(namespace="twisted_event_dispatcher")


def emit_to_twisted_logger(logger: Any, method_name: str, event_dict: Any) -> Any:
    """Emit a structlog record to ``twisted.logger``, its keys as the event's fields.

    The recipe of ``examples/twisted_logger.py``, with a text that shows the
    keys (and a traceback on lines of its own).
    """
    event_dict.pop("level", None)  # twisted.logger's log_level says it
    level = {"warning": "warn", "exception": "error"}.get(method_name, method_name)
    text = "{event}" + "".join(
        f" {key}={{{key}!r}}" for key in event_dict if key not in {"event", "exception"}
    )
    if "exception" in event_dict:
        text += "\n{exception}"
    _dispatcher_log.emit(LogLevel.levelWithName(level), text, **event_dict)
    raise structlog.DropEvent


def log_to_twisted(level: int = logging.INFO) -> None:
    """Configure structlog to send the dispatcher's records to ``twisted.logger``.

    Records at *level* and above go there; ``twistd`` and ``twist`` then write
    them to their log with everything else.
    """
    structlog.configure(
        processors=[structlog.processors.format_exc_info, emit_to_twisted_logger],
        wrapper_class=structlog.make_filtering_bound_logger(level),
    )


class HTTPError(Exception):
    """A request the application refuses: the status code, and what is wrong and expected."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code: Final = code
        self.message: Final = message


_REASONS: Final = {422: b"Unprocessable Content"}  # a code twisted.web has no phrase for


def _json(request: Request, code: int, body: object) -> bytes:
    request.setResponseCode(code, _REASONS.get(code))
    request.setHeader(b"content-type", b"application/json")
    return json.dumps(body).encode()


_JSON_TYPES: Final = {dict: "object", list: "array", str: "string", int: "number", float: "number"}


def _json_type(value: object) -> str:
    """The JSON name of the type of a value ``json.loads`` returned."""
    return "boolean" if isinstance(value, bool) else _JSON_TYPES.get(type(value), "null")


def parse_user(request: Request) -> UserCreated:
    """Read the user from the body of *request*.

    Raises:
        HTTPError: ``415`` when the body is not ``application/json``; ``400``
            when it is not :data:`EXPECTED`.
    """
    body = _read_json(request)
    if not isinstance(body, dict):
        raise HTTPError(400, f"the body is a JSON {_json_type(body)}: send {EXPECTED}")
    if missing := sorted(_REQUIRED - body.keys()):
        raise HTTPError(400, f"missing {_fields(missing)}: send {EXPECTED}")
    if unknown := sorted(body.keys() - _FIELDS):
        raise HTTPError(400, f"unknown {_fields(unknown)}: send {EXPECTED}")
    for key, value in body.items():
        if not isinstance(value, str):
            raise HTTPError(400, f"field {key!r} is a JSON {_json_type(value)}: send a string")
    return UserCreated(body["name"], body["role"], body.get("email", ""))


def _read_json(request: Request) -> object:
    content_type = request.getHeader(b"content-type")
    if content_type is None:
        raise HTTPError(415, "no Content-Type: send the body as application/json")
    media_type = content_type.partition(b";")[0].strip().lower()
    if media_type != b"application/json":
        got = media_type.decode("latin-1")
        raise HTTPError(415, f"Content-Type {got!r} is not supported: use application/json")
    try:
        return json.loads((request.content.read() if request.content else b"").decode())
    except json.JSONDecodeError as error:
        raise HTTPError(400, f"the body is not JSON ({error}): send {EXPECTED}") from None
    except UnicodeDecodeError:
        raise HTTPError(400, f"the body is not UTF-8 text: send {EXPECTED}") from None
    except ValueError:  # a number of more than sys.get_int_max_str_digits() digits
        raise HTTPError(400, f"the body holds a number too long: send {EXPECTED}") from None
    except RecursionError:
        raise HTTPError(400, f"the body is nested too deeply: send {EXPECTED}") from None


def _fields(names: list[str]) -> str:
    return f"field{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))}"


class NotFound(Resource):
    """Any path but ``/users``: a JSON ``404``."""

    isLeaf = True  # noqa: N815 -- twisted.web's name

    def render(self, request: Request) -> bytes:
        """Answer ``404`` to every method."""
        return _json(request, 404, {"error": "no such resource: this application serves /users"})


class JSONResource(Resource):
    """A resource whose unknown children are :class:`NotFound`, not Twisted's HTML page."""

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: ARG002
        """Every child not put is :class:`NotFound`."""
        return NotFound()


class UsersResource(JSONResource):
    """``/users``: ``POST`` fires ``user_created``; ``GET`` lists the users."""

    allowed_methods: Final = (b"GET", b"HEAD", b"POST")

    def __init__(self, users: Users, dispatcher: EventDispatcher) -> None:
        super().__init__()
        self.users: Final = users
        self.dispatcher: Final = dispatcher
        self.pending: set[defer.Deferred[None]] = set()
        """The POST requests still being answered."""

    def render(self, request: Request) -> bytes | int:
        """Answer ``405`` with ``Allow`` to the methods ``/users`` does not have."""
        if request.method not in self.allowed_methods:
            request.setHeader(b"allow", b", ".join(self.allowed_methods))
            method = request.method.decode("latin-1")
            error = f"method {method} is not allowed on /users: use GET or POST"
            return _json(request, 405, {"error": error})
        return cast("bytes | int", super().render(request))

    def render_GET(self, request: Request) -> bytes:
        """List the stored users."""
        return _json(request, 200, [asdict(user) for user in self.users.saved.values()])

    def render_POST(self, request: Request) -> int:
        """Create a user: fire ``user_created`` and answer once the run has ended."""
        answering = defer.ensureDeferred(self._answer(request))
        self.pending.add(answering)
        answering.addBoth(lambda _: self.pending.discard(answering))
        return cast("int", NOT_DONE_YET)

    async def _answer(self, request: Request) -> None:
        gone: list[object] = []
        request.notifyFinish().addErrback(gone.append)
        try:
            code, body = await self._create(request)
        except Exception:  # noqa: BLE001 -- whatever failed, the client gets an answer
            log.failure("creating a user failed")
            code, body = 500, {"error": "internal server error"}
        if not gone:
            request.write(_json(request, code, body))
            request.finish()

    async def _create(self, request: Request) -> tuple[int, dict[str, object]]:
        try:
            event = parse_user(request)
        except HTTPError as error:
            return error.code, {"error": error.message}
        try:
            run = await self.dispatcher.fire_event(
                event, event_type="user_created", role=event.role
            )
        except DispatcherNotRunning as error:
            return 503, {"error": str(error)}
        return self._outcome(run)

    def _outcome(self, run: EventRun) -> tuple[int, dict[str, object]]:
        if run.status == "completed" and not run.failures:
            mails = [o.result for o in run.outcomes if o.phase == "after" and o.result]
            return 201, {"created": run.event.name, "run_id": run.run_id, "mails": mails}
        refused = [
            o.failure.value for o in run.failures if o.failure and o.failure.check(InvalidUser)
        ]
        ended = {"run_id": run.run_id, "status": run.status}
        if run.status == "aborted" and len(refused) == len(run.failures):
            errors = [str(error) for error in refused]
            return 422, {"error": "; ".join(errors), "errors": errors, **ended}
        log.error("run {run_id} ended {status}", **ended)
        return 500, {"error": f"the user could not be created (run {run.status})", **ended}


class LimitedRequest(Request):
    """A request whose body may hold at most its site's ``max_body`` bytes.

    A larger ``Content-Length`` is refused as soon as the headers are in,
    before any of the body is read (and without ``100 Continue``); a body
    without one (chunked) is counted as it arrives.  Either way the client
    gets ``413`` and the connection closes, as Twisted does with the requests
    it cannot parse.
    """

    _received = 0
    _refused = False

    @property
    def max_body(self) -> int:
        """The site's limit, in bytes."""
        return cast("int", self.channel.site.max_body)

    def gotLength(self, length: int | None) -> None:
        """Refuse a declared length over the limit; otherwise prepare for the body."""
        if length is not None and length > self.max_body:
            self.requestHeaders.removeHeader(b"expect")
            self._refuse()
        else:
            super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        """Keep a chunk of the body, or refuse the body once it grows over the limit."""
        if self._refused:
            return
        self._received += len(data)
        if self._received > self.max_body:
            self._refuse()
        else:
            super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        """Process the request, unless its body was refused."""
        if not self._refused:
            super().requestReceived(command, path, version)

    def _refuse(self) -> None:
        self._refused = True
        limit = self.max_body
        log.info(
            "refused a request body over {limit} bytes from {client}",
            limit=limit,
            client=self.client,
        )
        body = json.dumps({"error": f"the body is over {limit} bytes: send at most {limit}"})
        self.channel.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s"
            % (
                http.REQUEST_ENTITY_TOO_LARGE,
                http.RESPONSES[http.REQUEST_ENTITY_TOO_LARGE],
                len(body),
                body.encode(),
            )
        )
        self.channel.loseConnection()


class UsersSite(Site):
    """The site: ``/users``, JSON errors for every other path, bodies up to *max_body* bytes."""

    def __init__(self, resource: UsersResource, *, max_body: int = MAX_BODY) -> None:
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise ValueError(f"max_body must be a positive number of bytes, not {max_body!r}")
        root = JSONResource()
        root.putChild(b"users", resource)
        super().__init__(root, requestFactory=LimitedRequest)
        self.max_body: Final = max_body
        """The largest request body accepted, in bytes."""


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

    def __init__(
        self, endpoint: IStreamServerEndpoint, resource: UsersResource, *, max_body: int = MAX_BODY
    ) -> None:
        self.endpoint: Final = endpoint
        self.resource: Final = resource
        self.connections: Final = _Connections(UsersSite(resource, max_body=max_body))
        self.port: defer.Deferred[IListeningPort] | None = None

    def startService(self) -> None:
        """Start listening, and log where."""
        super().startService()
        self.port = self.endpoint.listen(self.connections)
        self.port.addCallback(self._listening)

    def _listening(self, port: IListeningPort) -> IListeningPort:
        log.info("serving /users on {address}", address=port.getHost())
        return port

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
    endpoint: IStreamServerEndpoint,
    reactor: IReactorTime,
    *,
    latency: float = 0.01,
    max_body: int = MAX_BODY,
) -> UsersApp:
    """Assemble the application on *endpoint*, accepting request bodies up to *max_body* bytes.

    Services stop in the reverse order they were added: the web service is
    added last, so it stops first (it stops listening, and answers the
    requests it has, whose runs the still-running dispatcher finishes); the
    dispatcher's service then drains whatever else is in flight.
    """
    users = Users(reactor, latency=latency)
    dispatcher = make_dispatcher(users)
    web = ListeningService(endpoint, UsersResource(users, dispatcher), max_body=max_body)
    web.setName("web")
    service = MultiService()
    DispatcherService(dispatcher).setServiceParent(service)
    web.setServiceParent(service)
    return UsersApp(users, dispatcher, web, service)
