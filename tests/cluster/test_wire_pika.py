"""Envelopes read from headers as pika decodes them off the wire, not as Python built them."""

from __future__ import annotations

from typing import Any

from pika import data

from twisted_event_dispatcher.cluster._wire import (
    DETAILS,
    ORIGIN_HANDLER_ID,
    ORIGIN_NODE,
    ROUTING,
    Envelope,
    encode_details,
)


def off_the_wire(headers: dict[str, Any]) -> dict[str, Any]:
    """Return *headers* after pika's AMQP field-table encoding and decoding."""
    pieces: list[bytes] = []
    data.encode_table(pieces, headers)
    decoded, _ = data.decode_table(b"".join(pieces), 0)
    return dict(decoded)


def test_integer_headers_pika_decodes_as_its_long_type() -> None:
    """A 64-bit integer header (RabbitMQ's x-delivery-count) still gives the delivery count."""
    headers = off_the_wire(
        {
            ROUTING: "fp",
            DETAILS: encode_details({}),
            ORIGIN_NODE: "web",
            ORIGIN_HANDLER_ID: 2**40,
            "x-delivery-count": data.long(3),
        }
    )
    envelope = Envelope.read(
        headers, fingerprint="fp", message_id="m", queue="q", redelivered=True
    )
    assert envelope.origin.delivery_count == 3
    assert type(envelope.origin.delivery_count) is int
    assert envelope.origin.handler_id == 2**40
    assert type(envelope.origin.handler_id) is int


def test_a_boolean_header_is_not_a_count() -> None:
    """A boolean where a count belongs is no count."""
    headers = off_the_wire(
        {ROUTING: "fp", DETAILS: "{}", ORIGIN_NODE: "web", "x-delivery-count": True}
    )
    envelope = Envelope.read(
        headers, fingerprint="fp", message_id="m", queue="q", redelivered=True
    )
    assert envelope.origin.delivery_count is None
