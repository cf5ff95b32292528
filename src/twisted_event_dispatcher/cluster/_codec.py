"""How events cross processes as bytes: the :class:`Codec` hook and the default JSON codec.

A codec is any object with three members (see :class:`Codec`): a
``content_type`` string, sent as the message's AMQP content type, and
``encode``/``decode`` between an event and the message body.  The default,
:class:`JsonCodec`, writes standard JSON in UTF-8; it never unpickles or
evaluates anything a producer sent.  For events JSON cannot carry, give the
node another codec, for example one built on a schema library::

    class MsgpackCodec:
        content_type = "application/msgpack"

        def encode(self, event):
            return msgpack.packb(event)

        def decode(self, body):
            return msgpack.unpackb(body)

.. versionadded:: 1.1
"""

from __future__ import annotations

import json
from typing import Any, Final, Protocol, final, runtime_checkable

from twisted_event_dispatcher.cluster._repr import bounded_repr, type_name

__all__ = ["Codec", "EventDecodingError", "EventEncodingError", "JsonCodec"]

_REASON_LIMIT: Final = 200


class EventEncodingError(TypeError):
    """A codec could not turn an event into bytes.

    It names the event's type and a bounded ``repr`` of it, and says how to
    pass another codec.

    .. versionadded:: 1.1
    """


class EventDecodingError(ValueError):
    """A message body could not be turned back into an event.

    The message says why, in a bounded reason; the body itself is not
    repeated.

    .. versionadded:: 1.1
    """


@runtime_checkable
class Codec(Protocol):
    """What a node needs to send events as message bodies and read them back.

    Any object with these three members works; it need not inherit from
    this class.  ``decode(encode(event))`` should give back an event the
    handlers accept.  Raise :class:`EventEncodingError` (a :class:`TypeError`)
    from ``encode`` and :class:`EventDecodingError` (a :class:`ValueError`)
    from ``decode``, so the node can tell a bad event or message from a bug.

    .. versionadded:: 1.1
    """

    @property
    def content_type(self) -> str:
        """The MIME type sent as the message's ``content_type`` property."""
        ...

    def encode(self, event: Any) -> bytes:
        """Return *event* as a message body."""
        ...

    def decode(self, body: bytes) -> Any:
        """Return the event a message *body* holds."""
        ...


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not standard JSON")


def _reason(error: BaseException) -> str:
    text = f"{type_name(error)}: {error}"
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 3] + "..."


@final
class JsonCodec:
    """The default codec: standard JSON (RFC 8259) in UTF-8.

    Events are what ``json.dumps`` accepts: dicts, lists, tuples,
    strings, numbers, booleans and None.  They arrive as JSON's data model
    gives them back: tuples as lists, non-string dictionary keys as strings.
    NaN and the infinities are refused both ways, as standard JSON has no
    spelling for them.  Decoding only parses: nothing is unpickled, imported
    or evaluated.

    .. versionadded:: 1.1
    """

    __slots__ = ()

    content_type: Final = "application/json"
    """The content type of the message bodies."""

    def __repr__(self) -> str:
        return "JsonCodec()"

    def encode(self, event: Any) -> bytes:
        """Return *event* as compact UTF-8 JSON.

        Raises:
            EventEncodingError: JSON cannot carry *event* (or a value inside
                it); the message names its type and says how to pass another
                codec.
        """
        try:
            text = json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            return text.encode("utf-8")
        except Exception as error:  # an event's own methods (a dict subclass's) may raise anything
            raise EventEncodingError(
                f"cannot encode an event of type {type_name(event)} as JSON: "
                f"{bounded_repr(event)} ({_reason(error)}); pass the node a codec that can: "
                "any object with content_type, encode(event) -> bytes and decode(body) -> event"
            ) from error

    def decode(self, body: bytes | bytearray | memoryview) -> Any:
        """Return the event *body* holds.

        Raises:
            EventDecodingError: *body* is not UTF-8, not JSON, nests too deep,
                or holds NaN or an infinity.
            TypeError: *body* is not bytes.
        """
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise TypeError(f"a message body is bytes; got {type_name(body)}")
        try:
            return json.loads(bytes(body).decode("utf-8"), parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as error:
            raise EventDecodingError(
                f"message body is not a UTF-8 JSON event: {_reason(error)}"
            ) from error
