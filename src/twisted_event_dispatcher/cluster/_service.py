"""A :class:`twisted.application.service.Service` that owns a cluster node's lifecycle."""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from twisted.application.service import Service

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from twisted_event_dispatcher.cluster._node import EventCluster

__all__ = ["ClusterService"]


@final
class ClusterService(Service):
    """Connects a cluster node with its application and drains it on shutdown.

    ``startService`` starts the node: it connects, declares its topology and
    consumes, reconnecting with backoff whenever the connection is lost.
    ``stopService`` returns :meth:`EventCluster.stop`'s Deferred: the node stops
    consuming, drains its runs in flight and acknowledges them, then closes
    the connection, so ``twistd`` exits only once no message is half handled.

    Args:
        cluster: The node to start and stop.
        name: The service's name in its parent.
        stop_timeout: Seconds the runs in flight may take when the service
            stops; then they are cancelled, so ``twistd`` always exits.  None
            waits for ever.

    .. versionadded:: 1.1
    """

    def __init__(
        self,
        cluster: EventCluster,
        name: str | None = "event-cluster",
        *,
        stop_timeout: float | None = 30.0,
    ) -> None:
        self.cluster = cluster
        """The node this service starts and stops."""
        given: object = stop_timeout  # callers may pass anything
        if given is not None and (
            isinstance(given, bool)
            or not isinstance(given, (int, float))
            or not 0 < given < float("inf")
        ):
            raise ValueError(
                f"stop_timeout must be a positive, finite number of seconds or None; "
                f"got {stop_timeout!r}"
            )
        self.stop_timeout = stop_timeout
        """Seconds the runs in flight may take when the service stops."""
        if name is not None:
            self.setName(name)  # type: ignore[no-untyped-call]  # Twisted's is unannotated

    def __repr__(self) -> str:
        state = "running" if self.running else "not running"
        return f"<ClusterService {self.name!r} {state} {self.cluster!r}>"

    # startService and stopService are IService's names; ruff's N802 is off project-wide.
    def startService(self) -> None:
        """Mark the service running and start the node."""
        super().startService()  # type: ignore[no-untyped-call]
        self.cluster.start()

    def stopService(self) -> Deferred[None]:
        """Mark the service stopped; stop consuming, drain, acknowledge and disconnect.

        Returns:
            The node's stop Deferred.
        """
        super().stopService()  # type: ignore[no-untyped-call]
        return self.cluster.stop(self.stop_timeout)
