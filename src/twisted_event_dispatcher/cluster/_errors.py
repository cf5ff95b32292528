"""Exceptions of the cluster."""

from __future__ import annotations

__all__ = ["BrokerUnavailable", "PublishError"]


class PublishError(RuntimeError):
    """The broker did not confirm a publish: it refused it, or the connection was lost first.

    When the connection was lost before the confirm arrived, the broker may or
    may not have routed the message: firing again may deliver it twice, which
    handlers made idempotent tolerate.

    .. versionadded:: 1.1
    """


class BrokerUnavailable(PublishError):
    """No connection to the broker could be had within ``publish_timeout``.

    .. versionadded:: 1.1
    """
