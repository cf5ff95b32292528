"""The cluster's records: delivery modes, where a remote run came from, what was published."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import attrs

from twisted_event_dispatcher.runtime import RunOrigin

if TYPE_CHECKING:
    from twisted_event_dispatcher.runtime import EventRun

__all__ = ["Delivery", "Publication", "RemoteOrigin", "WorkQueue"]


_MAX_POOL_NAME: Final = 200


def _check_pool(_instance: object, _attribute: object, value: str) -> None:
    checked: object = value  # callers may pass anything
    if (
        not isinstance(checked, str)
        or not value
        or not value.isprintable()
        or len(value) > _MAX_POOL_NAME
    ):
        raise ValueError(
            f"a work queue's pool must be a non-empty str of printable characters, at most "
            f"{_MAX_POOL_NAME} of them; got {value!r}"
        )


@attrs.frozen
class WorkQueue:
    """Deliver to exactly one node of a pool: ``delivery=WorkQueue("mailers")``.

    Every node that registers a handler with the same pool name competes for
    the pool's events on one durable quorum queue; each event is handled by
    one of them and acknowledged only once its run has ended.  The nodes of a
    pool are replicas: give them the same handlers for the pool.

    .. versionadded:: 1.1
    """

    pool: str = attrs.field(validator=_check_pool)
    """The pool's name; the queue is ``<cluster_name>.pool.<pool>``."""


Delivery: TypeAlias = "Literal['broadcast', 'local'] | WorkQueue"
"""How a cluster handler receives events: ``"broadcast"`` (every node with a
matching handler), ``"local"`` (only events fired in this process) or a
:class:`WorkQueue` (one node of a pool)."""


@attrs.frozen
class RemoteOrigin(RunOrigin):
    """A :class:`~twisted_event_dispatcher.RunOrigin` with what the broker said of the message.

    It is the :attr:`~twisted_event_dispatcher.EventRun.origin` of every run
    a cluster node starts for a message.

    .. versionadded:: 1.1
    """

    message_id: str | None = None
    """The id the firing node gave the message."""
    queue: str = ""
    """The queue this node received it from."""
    redelivered: bool = False
    """Whether the broker delivered it before (to this node or another): make
    handlers idempotent, for a redelivered event may have been handled already."""
    delivery_count: int | None = None
    """How many times a work queue delivered it before (quorum queues count);
    None where the queue does not count."""


@attrs.frozen
class Publication:
    """What :meth:`EventCluster.fire_event` published, once the broker has confirmed it.

    .. versionadded:: 1.1
    """

    message_id: str
    """The message's id; receiving runs carry it in their origin."""
    exchange: str
    """The exchange it was published to."""
    routing_key: str
    """Its routing key (topic routing), or ``""`` (headers routing)."""
    headers: dict[str, Any]
    """Its routing headers (headers routing), or empty."""
    routed: bool
    """False when no queue was bound to receive it: no node had a matching
    broadcast or work-queue handler (the broker returned it)."""
    local_run: EventRun | None
    """The run of this node's ``delivery="local"`` handlers; None when it has none."""
