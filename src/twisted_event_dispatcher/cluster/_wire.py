"""What a message carries besides the event: details, origin and routing fingerprint.

The event itself is the body, encoded by the node's codec.  The details
travel in one header as tagged JSON (so a tuple comes back a tuple and bytes
come back bytes), and the origin in a few plain headers.  Nothing here
unpickles or evaluates what a producer sent.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

import attrs

from twisted_event_dispatcher.cluster._records import RemoteOrigin
from twisted_event_dispatcher.typing import HandlerId

__all__ = ["Envelope", "MessageRejected", "decode_details", "encode_details", "origin_headers"]

DETAILS: Final = "ted-details"
ROUTING: Final = "ted-routing"
ORIGIN_NODE: Final = "ted-origin-node"
ORIGIN_RUN: Final = "ted-origin-run"
ORIGIN_HANDLER_ID: Final = "ted-origin-handler-id"
ORIGIN_HANDLER: Final = "ted-origin-handler"
_TUPLE: Final = "t"
_BYTES: Final = "b"
_MAX_HEADER_TEXT: Final = 1000


class MessageRejected(ValueError):
    """A received message cannot be run: the reason names what is wrong with it."""


def _tag(value: object) -> object:
    if type(value) is tuple:
        return {_TUPLE: [_tag(item) for item in value]}
    if type(value) is bytes:
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    return value


def _untag(value: object) -> object:
    if isinstance(value, dict):
        if set(value) == {_TUPLE} and isinstance(value[_TUPLE], list):
            return tuple(_untag(item) for item in value[_TUPLE])
        if set(value) == {_BYTES} and isinstance(value[_BYTES], str):
            try:
                return base64.b64decode(value[_BYTES], validate=True)
            except binascii.Error:
                raise MessageRejected("a bytes detail value is not valid base64") from None
        raise MessageRejected(f"unknown tagged detail value with keys {sorted(value)[:5]!r}")
    if isinstance(value, list):
        raise MessageRejected("a detail value is a JSON list; tuples are tagged")
    return value


def encode_details(details: dict[str, Any]) -> str:
    """Encode *details* (already checked by the routing encoding) as tagged JSON."""
    # NaN is refused by the routing encoding already; infinities read back as they were.
    return json.dumps({key: _tag(value) for key, value in details.items()})


def decode_details(text: object) -> dict[str, Any]:
    """Decode what :func:`encode_details` made.

    Raises:
        MessageRejected: *text* is not such an encoding.
    """
    if not isinstance(text, (str, bytes)):
        raise MessageRejected(f"the {DETAILS!r} header is missing or not text")
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise MessageRejected(f"the {DETAILS!r} header is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise MessageRejected(f"the {DETAILS!r} header is not a JSON object")
    return {str(key): _untag(value) for key, value in raw.items()}


def _integer(value: object) -> int | None:
    # pika decodes a 64-bit header integer (RabbitMQ's x-delivery-count) as
    # pika.compat.long, a subclass of int; a bool is an int too, but no count.
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value[:_MAX_HEADER_TEXT] if isinstance(value, str) else None


def origin_headers(
    node: str, run_id: str | None, handler_id: int | None, handler_name: str | None
) -> dict[str, Any]:
    """Return the headers that name where a message was fired."""
    headers: dict[str, Any] = {ORIGIN_NODE: node}
    if run_id is not None:
        headers[ORIGIN_RUN] = run_id
    if handler_id is not None:
        headers[ORIGIN_HANDLER_ID] = handler_id
    if handler_name is not None:
        headers[ORIGIN_HANDLER] = handler_name
    return headers


@attrs.frozen
class Envelope:
    """A received message, decoded but for its body."""

    details: dict[str, Any]
    origin: RemoteOrigin

    @classmethod
    def read(
        cls,
        headers: dict[str, Any] | None,
        *,
        fingerprint: str,
        message_id: object,
        queue: str,
        redelivered: bool,
        trace_context: tuple[tuple[str, str], ...] = (),
    ) -> Envelope:
        """Decode the headers of a received message.

        *trace_context* becomes the origin's :attr:`RunOrigin.trace_context`.

        Raises:
            MessageRejected: A header is missing or malformed, or the message
                was routed by a node configured with other keywords or
                another routing mode.
        """
        headers = headers or {}
        theirs = _text(headers.get(ROUTING))
        if theirs != fingerprint:
            raise MessageRejected(
                f"the firing node routes with fingerprint {theirs!r}, this node with "
                f"{fingerprint!r}: every node of a cluster needs the same match keywords "
                "and routing mode"
            )
        details = decode_details(headers.get(DETAILS))
        node = _text(headers.get(ORIGIN_NODE))
        if node is None:
            raise MessageRejected(f"the {ORIGIN_NODE!r} header is missing")
        handler_id = _integer(headers.get(ORIGIN_HANDLER_ID))
        origin = RemoteOrigin(
            node=node,
            run_id=_text(headers.get(ORIGIN_RUN)),
            handler_id=None if handler_id is None else HandlerId(handler_id),
            handler_name=_text(headers.get(ORIGIN_HANDLER)),
            message_id=_text(message_id),
            queue=queue,
            redelivered=redelivered,
            delivery_count=_integer(headers.get("x-delivery-count")),
            trace_context=trace_context,
        )
        return cls(details, origin)
