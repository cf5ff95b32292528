"""The ``twist`` plugin of the users application: ``twist users-app --listen tcp:8080``.

Twisted finds plugins in every ``twisted/plugins`` directory on ``sys.path``:
run ``twist`` with ``examples/webapp`` on ``PYTHONPATH``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from twisted.application.service import IServiceMaker
from twisted.plugin import IPlugin
from twisted.python import usage
from zope.interface import implementer

if TYPE_CHECKING:
    from twisted.application.service import IService


def _size(value: str) -> int:
    """A positive number of bytes."""
    size = int(value)
    if size < 1:
        raise ValueError(f"not a positive number of bytes: {value!r}")
    return size


class Options(usage.Options):
    """The plugin's command-line options."""

    optParameters: Final = [  # noqa: N815 -- twisted.python.usage's name
        ["listen", "l", "tcp:8080:interface=127.0.0.1", "Endpoint to serve HTTP on."],
        ["trace", "t", None, "Append the dispatcher's JSON-lines trace to this file."],
        ["latency", None, 0.01, "Seconds each pretend database write and mail takes.", float],
        ["max-body", None, 64 * 1024, "Largest request body accepted, in bytes.", _size],
    ]


@implementer(IServiceMaker, IPlugin)
class UsersAppMaker:
    """Makes the users application's service for ``twist``."""

    tapname = "users-app"
    description = "A twisted.web users service whose handlers run through an EventDispatcher."
    options = Options

    def makeService(self, options: Options) -> IService:
        """Assemble the application (a dispatcher service and a web service), logging to twist."""
        from twisted.internet import reactor
        from twisted.internet.endpoints import serverFromString
        from users_app import log_to_twisted, make_app

        from twisted_event_dispatcher.tracing import configure_tracing

        log_to_twisted()
        if options["trace"]:
            configure_tracing(options["trace"])
        endpoint = serverFromString(reactor, options["listen"])
        app = make_app(endpoint, reactor, latency=options["latency"], max_body=options["max-body"])
        return app.service


users_app = UsersAppMaker()
