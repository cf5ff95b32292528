"""The users application as a ``.tac`` file: ``twistd -ny webapp.tac`` from this directory.

It listens on ``USERS_LISTEN`` (an endpoint description; by default
``tcp:8080:interface=127.0.0.1``) and, when the ``USERS_TRACE`` environment
variable names a file, appends the dispatcher's JSON trace to it.  The
dispatcher's warnings and errors go to twistd's log, through twisted.logger.
Stop it with Ctrl-C or SIGTERM: ``twistd`` waits for the ``DispatcherService``
to drain, so no run is cut short.
"""

import os
import sys
from pathlib import Path

from twisted.application.service import Application
from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString

from twisted_event_dispatcher.tracing import configure_tracing

# twistd puts neither this file's directory nor the working directory on sys.path.
here = str(Path(__file__).resolve().parent)
if here not in sys.path:
    sys.path.insert(0, here)

from users_app import log_to_twisted, make_app

log_to_twisted()
if os.environ.get("USERS_TRACE"):
    configure_tracing(os.environ["USERS_TRACE"])
endpoint = serverFromString(reactor, os.environ.get("USERS_LISTEN", "tcp:8080:interface=127.0.0.1"))
application = Application("users")
make_app(endpoint, reactor).service.setServiceParent(application)
