"""The users application as a ``.tac`` file: ``twistd -ny webapp.tac`` from this directory.

It listens on 127.0.0.1:8080 and, when the ``USERS_TRACE`` environment
variable names a file, appends the dispatcher's JSON trace to it.  Stop it with Ctrl-C: ``twistd`` waits for the
``DispatcherService`` to drain, so no run is cut short.
"""

import os

from twisted.application.service import Application
from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString

from twisted_event_dispatcher.tracing import configure_tracing
from users_app import make_app

if os.environ.get("USERS_TRACE"):
    configure_tracing(os.environ["USERS_TRACE"])
application = Application("users")
make_app(serverFromString(reactor, "tcp:8080:interface=127.0.0.1"), reactor).service.setServiceParent(
    application
)
