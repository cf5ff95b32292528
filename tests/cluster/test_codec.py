"""The JSON codec: round trips, and clear errors for what cannot be encoded or decoded."""

from __future__ import annotations

import json
import math
import pickle
from typing import Any, NoReturn

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twisted_event_dispatcher.cluster import (
    Codec,
    EventDecodingError,
    EventEncodingError,
    JsonCodec,
)

_text = st.text(st.characters(codec="utf-8"), max_size=10)

json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False)
    )
    | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=20,
)
"""JSON's data model: what the codec gives back exactly as it was given."""


@given(json_values)
def test_round_trip(event: Any) -> None:
    """Decoding an encoded event gives back an equal event, from compact UTF-8 JSON bytes."""
    codec = JsonCodec()
    body = codec.encode(event)
    assert isinstance(body, bytes)
    assert json.loads(body.decode("utf-8")) == event
    assert codec.decode(body) == event


def test_tuples_arrive_as_lists() -> None:
    """Tuples arrive as lists and non-string keys as strings, as JSON's data model has it."""
    codec = JsonCodec()
    assert codec.decode(codec.encode({"ids": (1, 2), 3: "x"})) == {"ids": [1, 2], "3": "x"}


def test_non_ascii_stays_readable() -> None:
    """Non-ASCII text is written as UTF-8, not as escapes, and decodes back."""
    codec = JsonCodec()
    assert codec.encode({"name": "Zoë"}) == '{"name":"Zoë"}'.encode()
    assert codec.decode('{"name":"Zoë"}'.encode()) == {"name": "Zoë"}


def test_is_a_codec() -> None:
    """JsonCodec, and any object with the three members, satisfies the Codec protocol."""

    class Upper:
        content_type = "text/plain"

        def encode(self, event: Any) -> bytes:
            return str(event).upper().encode()

        def decode(self, body: bytes) -> Any:
            return body.decode()

    codec: Codec = JsonCodec()
    assert codec.content_type == "application/json"
    assert isinstance(codec, Codec)
    assert isinstance(Upper(), Codec)
    assert not isinstance(object(), Codec)
    assert repr(codec) == "JsonCodec()"


class _Unencodable:
    def __repr__(self) -> str:
        return "<unencodable>"


class _Boom(Exception):
    """Raised by the hostile objects: neither a TypeError nor a ValueError."""


def _boom(*args: object) -> NoReturn:
    raise _Boom


class _HostileDict(dict[str, Any]):
    """A dict whose repr and items raise."""

    __repr__ = items = keys = __iter__ = _boom


_circular: list[Any] = []
_circular.append(_circular)


@pytest.mark.parametrize(
    ("event", "named"),
    [
        (_Unencodable(), "_Unencodable"),
        ({"when": _Unencodable()}, "dict"),
        ({1, 2}, "set"),
        (b"bytes", "bytes"),
        (math.nan, "float"),
        ({"x": [math.inf]}, "dict"),
        ({(1, 2): "tuple key"}, "dict"),
        (_circular, "list"),
        ("\ud800", "str"),
        (_HostileDict(a=1), "_HostileDict"),
    ],
)
def test_unencodable_events(event: Any, named: str) -> None:
    """What JSON cannot carry raises EventEncodingError naming the type and how to swap codecs."""
    with pytest.raises(EventEncodingError) as caught:
        JsonCodec().encode(event)
    message = str(caught.value)
    assert f"an event of type {named} as JSON" in message
    assert "codec" in message
    assert "encode(event) -> bytes" in message
    assert len(message) < 800
    assert isinstance(caught.value, TypeError)


def test_encoding_error_repr_is_bounded() -> None:
    """A huge event is named by a shortened repr."""
    with pytest.raises(EventEncodingError) as caught:
        JsonCodec().encode({"big": "x" * 1_000_000, "bad": {1, 2}})
    assert len(str(caught.value)) < 800
    assert "'big': 'xxxx" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "UnicodeDecodeError"),
        ('{"a": 1}'.encode("utf-16"), "UnicodeDecodeError"),
        (b"", "JSONDecodeError"),
        (b"{", "JSONDecodeError"),
        (b"[1, 2] trailing", "JSONDecodeError"),
        (b"NaN", "NaN is not standard JSON"),
        (b"[Infinity]", "Infinity is not standard JSON"),
        (b'{"a": -Infinity}', "-Infinity is not standard JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "RecursionError"),
        (b'"' + b"\\u" + b"zzzz" * 50_000 + b'"', "JSONDecodeError"),
    ],
)
def test_undecodable_bodies(body: bytes, reason: str) -> None:
    """A body that is not UTF-8 standard JSON raises EventDecodingError with a bounded reason."""
    with pytest.raises(EventDecodingError) as caught:
        JsonCodec().decode(body)
    message = str(caught.value)
    assert message.startswith("message body is not a UTF-8 JSON event:")
    assert reason in message
    assert len(message) < 300
    assert isinstance(caught.value, ValueError)


def test_bytes_like_bodies_decode() -> None:
    """A bytearray or memoryview body decodes like bytes; another type raises TypeError."""
    codec = JsonCodec()
    assert codec.decode(bytearray(b"[1]")) == [1]
    assert codec.decode(memoryview(b"[1]")) == [1]
    with pytest.raises(TypeError, match="a message body is bytes; got str"):
        codec.decode("[1]")  # type: ignore[arg-type]


_unpickled: list[str] = []


class _Trap:
    """Records that it was unpickled."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickled.append, ("unpickled",))


def test_never_unpickles() -> None:
    """A pickle sent as a body is refused as not JSON, and nothing in it runs."""
    body = pickle.dumps(_Trap())
    with pytest.raises(EventDecodingError):
        JsonCodec().decode(body)
    assert _unpickled == []
