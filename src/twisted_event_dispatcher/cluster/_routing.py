"""How a match spec maps onto AMQP routing: canonical values, topic and headers routing.

Locally, a handler's match spec selects an event when every non-None spec
value ``==`` the event's detail of the same keyword (a missing or None detail
matches only a wildcard).  Across processes the broker must make the same
choice, but it compares strings, not Python objects.  This module turns
detail and spec values into one canonical, type-tagged string each
(:func:`canonical_value`), so that two values Python calls equal get the same
string and unequal values different ones, and lays those strings out as AMQP
routing:

* :class:`TopicRouting` (the default): a topic exchange, which the broker
  indexes, so routing stays fast with thousands of bindings.  The routing
  key has one word per allowed keyword, in sorted order: a hash of the
  canonical value, or ``_`` for an absent one.  A binding key has the same
  words, with ``*`` for a wildcard.
* :class:`HeadersRouting`: a headers exchange with ``x-match: all`` on the
  canonical values themselves; exact, readable on the broker, but routed by a
  linear scan of the bindings.

Both carry the canonical values as message headers, so the receiving process
can re-check a match exactly (:meth:`Routing.matches`) and a hash collision
never reaches a wrong handler.  Everything here is pure: no broker, no I/O.

.. versionadded:: 1.1
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol, TypeAlias, final

import attrs

from twisted_event_dispatcher.cluster._repr import bounded_repr, type_name

__all__ = [
    "ABSENT_WORD",
    "HEADER_PREFIX",
    "MAX_TOPIC_KEYWORDS",
    "ROUTING_MODES",
    "ROUTING_VERSION",
    "Binding",
    "HeadersRouting",
    "Routing",
    "RoutingMode",
    "TopicRouting",
    "canonical_value",
    "make_routing",
]

RoutingMode: TypeAlias = Literal["topic", "headers"]
"""How match specs are laid out on the broker: see :func:`make_routing`.

.. versionadded:: 1.1
"""

ROUTING_MODES: Final[tuple[RoutingMode, ...]] = ("topic", "headers")
"""The routing modes :func:`make_routing` accepts, the default first.

.. versionadded:: 1.1
"""

ROUTING_VERSION: Final = "v1"
"""The first word of every topic routing and binding key; it changes with the encoding.

.. versionadded:: 1.1
"""

ABSENT_WORD: Final = "_"
"""The topic word for a detail that is missing or None (it matches only ``*``).

.. versionadded:: 1.1
"""

HEADER_PREFIX: Final = "ted-k-"
"""The prefix of the header (and headers-binding argument) that carries a keyword's value.

.. versionadded:: 1.1
"""

_MAX_ROUTING_KEY_BYTES: Final = 255  # AMQP 0-9-1: routing keys are short strings
_HASH_WORD_LENGTH: Final = 13  # base32 of 8 bytes, padding stripped
MAX_TOPIC_KEYWORDS: Final = (_MAX_ROUTING_KEY_BYTES - len(ROUTING_VERSION)) // (
    1 + _HASH_WORD_LENGTH
)
"""The most keywords topic routing can carry within AMQP's 255-byte routing key (18).

.. versionadded:: 1.1
"""

_MAX_HEADER_VALUE_BYTES: Final = 256
_MAX_DEPTH: Final = 16
# Python's int-to-decimal conversion is quadratic and capped (sys.int_info); beyond 64 bits the
# canonical form is hexadecimal, chosen by magnitude alone, so it stays one form per value.
_DECIMAL_INT_LIMIT: Final = 1 << 64
_ALLOWED_TYPES: Final = "str, int, float, bool, bytes, or a tuple of these"


class _TooDeep(Exception):
    """Tuples nest deeper than _MAX_DEPTH (raised deep down, reported at the top)."""


def _refuse(keyword: str, value: object) -> TypeError:
    if value is None:
        return TypeError(
            f"match value for {keyword!r} is None, which has no canonical form: the caller "
            "treats None as an absent detail or a wildcard"
        )
    return TypeError(
        f"match value for {keyword!r} cannot cross processes: {bounded_repr(value)} "
        f"({type_name(value)}); allowed: {_ALLOWED_TYPES}, or None for absent; convert it "
        "first (an enum to its .value, a namedtuple with tuple(...))"
    )


def _number(value: int) -> str:
    value = int(value)  # a bool's form is its int's: True == 1
    if -_DECIMAL_INT_LIMIT < value < _DECIMAL_INT_LIMIT:
        return f"n:{value}"
    return f"n:{value:#x}"


def _float(keyword: str, value: float) -> str:
    if math.isnan(value):
        raise ValueError(
            f"match value for {keyword!r} is {value!r}: NaN equals nothing, not even itself, "
            "so it can never match"
        )
    if math.isinf(value):
        return "n:inf" if value > 0 else "n:-inf"
    if value.is_integer():  # 1.0 == 1 == True: one form for all three
        return _number(int(value))
    return f"n:{value!r}"  # repr round-trips: distinct floats, distinct strings


def _str(keyword: str, value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"match value for {keyword!r} is not valid Unicode (a lone surrogate?): "
            f"{bounded_repr(value)}; it cannot cross as UTF-8"
        ) from None
    return f"s:{value}"


def _canonical(keyword: str, value: object, depth: int) -> str | list[Any]:
    # Exact types only: a subclass may redefine __eq__ and __hash__, and then no string could
    # agree with Python's equality. type() and the methods of these exact types run no user code.
    if type(value) is str:
        return _str(keyword, value)
    if type(value) is int or type(value) is bool:
        return _number(value)
    if type(value) is float:
        return _float(keyword, value)
    if type(value) is bytes:
        return f"b:{value.hex()}"
    if type(value) is not tuple:
        raise _refuse(keyword, value)
    if depth >= _MAX_DEPTH:
        raise _TooDeep
    return [_canonical(keyword, item, depth + 1) for item in value]


def canonical_value(keyword: str, value: object) -> str:
    """Return the one canonical, type-tagged string for a detail or spec *value*.

    Two values that Python's ``==`` calls equal get the same string, and
    unequal values get different strings, so that comparing the strings (as
    a broker does) is comparing the values (as the local dispatcher does):

    * numbers: ``1``, ``1.0`` and ``True`` are equal, so all three are
      ``"n:1"`` (integers beyond 64 bits are written in hexadecimal,
      ``"n:0x..."``); other finite floats are their ``repr`` (``"n:0.5"``);
      ``"n:inf"`` and ``"n:-inf"``.  NaN is refused: it equals nothing.
    * ``str``: ``"s:"`` and the text (``"5" != 5``, so the tags differ);
      ``bytes``: ``"b:"`` and their hexadecimal digits.
    * ``tuple``: ``"t:"`` and a JSON list of the items' forms, nested
      tuples as nested lists: ``(1, "a")`` is ``'t:["n:1","s:a"]'``.

    Only these exact types cross: a subclass (an enum, a namedtuple) may
    redefine equality, so it is refused with a hint to convert it.

    Args:
        keyword: The match keyword the value belongs to, for error messages.
        value: The value; None is not a value here (the caller treats it
            as absent, or as a wildcard in a spec).

    Returns:
        The canonical string.

    Raises:
        TypeError: *value* is None or of a type that cannot cross (the
            message names *keyword*, the value and the allowed types).
        ValueError: *value* is NaN, a string that is not valid Unicode, or a
            tuple of more than 16 nested levels.

    .. versionadded:: 1.1
    """
    try:
        form = _canonical(keyword, value, 0)
    except _TooDeep:
        raise ValueError(
            f"match value for {keyword!r} nests tuples deeper than {_MAX_DEPTH} levels: "
            f"{bounded_repr(value)}"
        ) from None
    except (TypeError, ValueError) as error:
        if type(value) is not tuple:
            raise
        # The message names the offending item; say which value it was found in.
        raise type(error)(f"{error}; in the tuple {bounded_repr(value)}") from None
    if isinstance(form, str):
        return form
    return "t:" + json.dumps(form, ensure_ascii=False, separators=(",", ":"))


def _digest_word(data: str, length: int) -> str:
    digest = hashlib.sha256(data.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:length]


_BASE32: Final = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648's alphabet, lowercase
_BASE32_PAIRS: Final = tuple(first + second for first in _BASE32 for second in _BASE32)


def _hash_word(canonical: str) -> str:
    # The first 8 bytes of SHA-256 (64 bits) in lowercase RFC 4648 base32, padding stripped: 13
    # characters from a-z and 2-7, so never "*", "#", "." or the absent marker "_".  Written
    # with a table of character pairs: base64.b32encode is pure Python, four times slower.
    bits = int.from_bytes(hashlib.sha256(canonical.encode("utf-8")).digest()[:8], "big") << 1
    pairs = _BASE32_PAIRS
    return (
        pairs[bits >> 55]
        + pairs[(bits >> 45) & 1023]
        + pairs[(bits >> 35) & 1023]
        + pairs[(bits >> 25) & 1023]
        + pairs[(bits >> 15) & 1023]
        + pairs[(bits >> 5) & 1023]
        + _BASE32[bits & 31]
    )


# Events repeat their values: remember the words of short ones (long ones would hold memory).
_CACHED_LENGTH: Final = 64
_cached_hash_word: Final = functools.lru_cache(maxsize=4096)(_hash_word)


def _word(canonical: str) -> str:
    return (
        _cached_hash_word(canonical) if len(canonical) <= _CACHED_LENGTH else _hash_word(canonical)
    )


def _header_value(canonical: str) -> str:
    # A long value would bloat every message's header frame (which must fit in one AMQP frame)
    # and every binding: past 256 bytes, the full SHA-256 stands in for it ("h:" is no tag of
    # canonical_value, so a hashed value never equals a plain one).
    if len(canonical) * 4 <= _MAX_HEADER_VALUE_BYTES:  # UTF-8 takes at most 4 bytes a character
        return canonical
    if len(canonical.encode("utf-8")) <= _MAX_HEADER_VALUE_BYTES:
        return canonical
    return "h:" + _digest_word(canonical, 52)


def _read_only(arguments: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(arguments))


def _by_items(arguments: Mapping[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset(arguments.items())


@attrs.frozen
class Binding:
    """How one match spec binds a queue to the exchange.

    Pass both to ``queue_bind``.  Bindings compare and hash by value, so
    equal specs can share one binding.

    .. versionadded:: 1.1
    """

    routing_key: str
    """The binding key: the spec's words for a topic exchange; empty for a headers exchange."""
    arguments: Mapping[str, str] = attrs.field(converter=_read_only, eq=_by_items)
    """The binding arguments (read-only): ``x-match`` and the headers, or empty for topic."""


class Routing(Protocol):
    """What a node needs from a routing mode; :func:`make_routing` builds one.

    .. versionadded:: 1.1
    """

    @property
    def exchange_type(self) -> str:
        """The AMQP exchange type to declare (``"topic"`` or ``"headers"``)."""

    @property
    def keywords(self) -> tuple[str, ...]:
        """The allowed match keywords, sorted (the order of the topic words)."""

    @property
    def fingerprint(self) -> str:
        """A short stable hash of the mode and the keyword set (not their order).

        Nodes that route one exchange must agree on it; a peer with another
        fingerprint was configured with other keywords or another mode.
        """

    def message_routing(self, details: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
        """Return the routing key and headers to publish an event with these *details*.

        Raises:
            ValueError: A key of *details* is not an allowed keyword, or a
                value is NaN, invalid Unicode or nested too deep.
            TypeError: A value cannot cross processes.
        """

    def binding(self, spec: Mapping[str, Any]) -> Binding:
        """Return the binding that selects the events a match *spec* selects.

        Raises:
            ValueError: A key of *spec* is not an allowed keyword, or a value
                is NaN, invalid Unicode or nested too deep.
            TypeError: A value cannot cross processes.
        """

    def matches(self, spec: Mapping[str, Any], headers: Mapping[str, object]) -> bool:
        """Return whether a received message's *headers* satisfy *spec*, exactly.

        This is the receiving side's re-check: it compares the canonical
        values the message carries, so a topic hash collision never selects a
        wrong handler.
        """


def _describe(keywords: Iterable[str]) -> str:
    names = sorted(keywords)
    return ", ".join(map(repr, names)) if names else "none"


def _check_keywords(keywords: Iterable[str]) -> tuple[str, ...]:
    if isinstance(keywords, str):
        raise TypeError(
            f"keywords must be an iterable of keyword names, not one string: {keywords!r}"
        )
    names = list(keywords)
    for name in names:
        if type(name) is not str or not name:
            raise TypeError(f"a match keyword must be a non-empty str; got {bounded_repr(name)}")
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"match keyword {bounded_repr(name)} is not valid Unicode") from None
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"match keywords must be distinct; repeated: {_describe(duplicates)}")
    return tuple(sorted(names))


@final
class _Encoder:
    """The part both modes share: keyword validation and canonical values, once per key."""

    __slots__ = ("fingerprint", "header_names", "keywords")

    def __init__(self, mode: RoutingMode, keywords: tuple[str, ...]) -> None:
        self.keywords: Final = keywords
        self.header_names: Final = {name: HEADER_PREFIX + name for name in keywords}
        self.fingerprint: Final = _digest_word(
            json.dumps([ROUTING_VERSION, mode, list(keywords)], ensure_ascii=False), 13
        )

    def canonical(self, kind: str, values: Mapping[str, Any]) -> dict[str, str]:
        """Return keyword -> canonical value for the non-None *values*, checking the keys."""
        # A key of another type than str could run user code in a dictionary look-up.
        unknown = [key for key in values if type(key) is not str or key not in self.header_names]
        if unknown:
            raise ValueError(
                f"{kind} uses {', '.join(map(bounded_repr, unknown))}: not "
                f"{'an allowed match keyword' if len(unknown) == 1 else 'allowed match keywords'}"
                f"; allowed: {_describe(self.keywords)}"
            )
        return {
            key: canonical_value(key, value) for key, value in values.items() if value is not None
        }

    def headers(self, canonical: Mapping[str, str]) -> dict[str, str]:
        """Return the header (or binding argument) per canonical value."""
        return {self.header_names[key]: _header_value(value) for key, value in canonical.items()}

    def matches(self, spec: Mapping[str, Any], headers: Mapping[str, object]) -> bool:
        """Return whether *headers* carry every non-None value of *spec*."""
        wanted = self.headers(self.canonical("match spec", spec))
        return all(headers.get(name) == value for name, value in wanted.items())


class _EncodedRouting:
    """What both routing modes share: the keywords, the fingerprint and the exact re-check."""

    __slots__ = ("_encoder",)

    _encoder: _Encoder

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.keywords)!r})"

    @property
    def keywords(self) -> tuple[str, ...]:
        """The allowed match keywords, sorted (for topic routing, the order of the words)."""
        return self._encoder.keywords

    @property
    def fingerprint(self) -> str:
        """A short stable hash of the mode and the keyword set; see :class:`Routing`."""
        return self._encoder.fingerprint

    def matches(self, spec: Mapping[str, Any], headers: Mapping[str, object]) -> bool:
        """Return whether a received message's *headers* satisfy *spec*; see :class:`Routing`."""
        return self._encoder.matches(spec, headers)


@final
class TopicRouting(_EncodedRouting):
    """Topic exchange routing: one word per allowed keyword, in sorted order.

    An event's routing key is ``v1`` followed by, per keyword, the hash word
    of its canonical value or ``_`` when the detail is missing or None.  A
    spec's binding key has the hash word where the spec names a value and
    ``*`` (exactly one word) where it is a wildcard.  The broker indexes topic
    bindings, so this mode stays fast with thousands of distinct specs.

    A hash word is the first 64 bits of the SHA-256 of the canonical value,
    as 13 lowercase base32 characters.  Two distinct values share a word with
    probability 2**-64 per pair (about one in 1.8e19); a collision only ever
    delivers an extra message, which the receiving node's exact re-check
    (:meth:`Routing.matches`) drops, so it costs a delivery, never a wrong call.

    Args:
        keywords: The allowed match keywords, in any order: nodes that list
            them differently still agree.

    Raises:
        ValueError: There are more than :data:`MAX_TOPIC_KEYWORDS` keywords
            (the routing key would pass AMQP's 255 bytes), or repeated ones.
        TypeError: A keyword is not a non-empty string.

    .. versionadded:: 1.1
    """

    __slots__ = ()

    exchange_type: Final = "topic"
    """The AMQP exchange type this mode declares."""

    def __init__(self, keywords: Iterable[str]) -> None:
        names = _check_keywords(keywords)
        if len(names) > MAX_TOPIC_KEYWORDS:
            raise ValueError(
                f"topic routing carries at most {MAX_TOPIC_KEYWORDS} match keywords in AMQP's "
                f"255-byte routing key; got {len(names)}: use routing='headers' for more"
            )
        self._encoder = _Encoder("topic", names)

    def message_routing(self, details: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
        """Return the routing key and the headers for an event with these *details*.

        The headers carry the canonical values for :meth:`Routing.matches`.

        Raises:
            ValueError: A key is not an allowed keyword, or a value is NaN,
                invalid Unicode or nested too deep.
            TypeError: A value cannot cross processes (see :func:`canonical_value`).
        """
        canonical = self._encoder.canonical("event details", details)
        words = [ROUTING_VERSION]
        for name in self._encoder.keywords:
            value = canonical.get(name)
            words.append(ABSENT_WORD if value is None else _word(value))
        return ".".join(words), self._encoder.headers(canonical)

    def binding(self, spec: Mapping[str, Any]) -> Binding:
        """Return the binding key (and no arguments) that selects what *spec* selects.

        Raises:
            ValueError: A key is not an allowed keyword, or a value is NaN,
                invalid Unicode or nested too deep.
            TypeError: A value cannot cross processes (see :func:`canonical_value`).
        """
        canonical = self._encoder.canonical("match spec", spec)
        words = [ROUTING_VERSION]
        for name in self._encoder.keywords:
            value = canonical.get(name)
            words.append("*" if value is None else _word(value))
        return Binding(".".join(words), {})


@final
class HeadersRouting(_EncodedRouting):
    """Headers exchange routing: ``x-match: all`` on the canonical values.

    An event carries a header ``ted-k-<keyword>`` with the canonical value
    of each detail that is present and not None; a spec binds with
    ``x-match: all`` and the same header for each non-None value, so an empty
    spec binds with ``x-match`` alone and matches every event.  Values whose
    canonical form passes 256 UTF-8 bytes travel as ``h:`` and their full
    SHA-256, to keep header frames small.

    Exact and readable on the broker, but RabbitMQ routes a headers exchange
    by scanning every binding: prefer :class:`TopicRouting` for many specs.

    Args:
        keywords: The allowed match keywords, in any order.

    Raises:
        ValueError: A keyword is repeated, or its header name would pass
            AMQP's 255 bytes.
        TypeError: A keyword is not a non-empty string.

    .. versionadded:: 1.1
    """

    __slots__ = ()

    exchange_type: Final = "headers"
    """The AMQP exchange type this mode declares."""

    def __init__(self, keywords: Iterable[str]) -> None:
        names = _check_keywords(keywords)
        for name in names:
            if len((HEADER_PREFIX + name).encode("utf-8")) > _MAX_ROUTING_KEY_BYTES:
                raise ValueError(
                    f"match keyword {bounded_repr(name)} is too long for an AMQP header name "
                    f"({HEADER_PREFIX!r} + keyword must fit in 255 bytes)"
                )
        self._encoder = _Encoder("headers", names)

    def message_routing(self, details: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
        """Return an empty routing key and the headers for an event with these *details*.

        Raises:
            ValueError: A key is not an allowed keyword, or a value is NaN,
                invalid Unicode or nested too deep.
            TypeError: A value cannot cross processes (see :func:`canonical_value`).
        """
        return "", self._encoder.headers(self._encoder.canonical("event details", details))

    def binding(self, spec: Mapping[str, Any]) -> Binding:
        """Return the binding arguments (``x-match: all`` and headers) that select *spec*.

        Raises:
            ValueError: A key is not an allowed keyword, or a value is NaN,
                invalid Unicode or nested too deep.
            TypeError: A value cannot cross processes (see :func:`canonical_value`).
        """
        headers = self._encoder.headers(self._encoder.canonical("match spec", spec))
        return Binding("", {"x-match": "all", **headers})


def make_routing(mode: RoutingMode, keywords: Iterable[str]) -> TopicRouting | HeadersRouting:
    """Return the routing for *mode* over the allowed match *keywords*.

    Args:
        mode: ``"topic"`` (the default of the node): the broker indexes the
            bindings, fast with thousands of distinct specs, up to
            :data:`MAX_TOPIC_KEYWORDS` keywords.  ``"headers"``: exact values on
            the broker, any number of keywords, but each publish scans every
            binding.
        keywords: The allowed match keywords, in any order.

    Raises:
        ValueError: *mode* is neither, or the keywords do not suit it.
        TypeError: A keyword is not a non-empty string.

    .. versionadded:: 1.1
    """
    chosen: object = mode  # checked at run time: a caller may pass anything
    if type(chosen) is str and chosen == "topic":
        return TopicRouting(keywords)
    if type(chosen) is str and chosen == "headers":
        return HeadersRouting(keywords)
    raise ValueError(
        f"routing must be one of {', '.join(map(repr, ROUTING_MODES))}; got {bounded_repr(chosen)}"
    )
