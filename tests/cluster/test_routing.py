"""Routing encoding: canonical values follow Python's ==, and both modes route as matching does."""

from __future__ import annotations

import base64
import decimal
import enum
import hashlib
import math
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from functools import partial
from typing import Any, NamedTuple, NoReturn

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies import (
    CROSSING_SCALARS,
    RoutingCase,
    crossing_values,
    equal_variants,
    keyword_names,
    routing_cases,
    spec_matches,
)
from twisted_event_dispatcher.cluster import (
    MAX_TOPIC_KEYWORDS,
    ROUTING_MODES,
    Binding,
    HeadersRouting,
    Routing,
    TopicRouting,
    canonical_value,
    make_routing,
)
from twisted_event_dispatcher.cluster._repr import bounded_repr

# -- reference matchers: what the broker does, written from the AMQP and RabbitMQ docs ------------


def topic_matches(binding_key: str, routing_key: str) -> bool:
    """Return whether a topic exchange routes *routing_key* to *binding_key*.

    Words are split on '.'; '*' stands for exactly one word.  '#' is not used
    by the encoding, so this matcher refuses it.
    """
    pattern = binding_key.split(".")
    words = routing_key.split(".")
    assert "#" not in pattern
    return len(pattern) == len(words) and all(
        part in {"*", word} for part, word in zip(pattern, words, strict=True)
    )


def headers_all_matches(arguments: Mapping[str, str], headers: Mapping[str, str]) -> bool:
    """Return whether a headers exchange routes *headers* through an ``x-match: all`` binding.

    RabbitMQ skips arguments whose names begin with 'x-' when it compares.
    """
    assert arguments.get("x-match") == "all"
    return all(
        name in headers and headers[name] == value
        for name, value in arguments.items()
        if not name.startswith("x-")
    )


def _both(keywords: list[str]) -> tuple[TopicRouting, HeadersRouting]:
    return TopicRouting(keywords), HeadersRouting(keywords)


# -- canonical values -------------------------------------------------------------------------


@given(crossing_values(), st.data())
def test_canonical_value_agrees_with_equality(value: Any, data: st.DataObject) -> None:
    """Two values get the same canonical string exactly when Python's == calls them equal."""
    other = data.draw(st.one_of(crossing_values(), equal_variants(value)))
    same = canonical_value("k", value) == canonical_value("k", other)
    assert same == (value == other)


@given(crossing_values(), st.data())
def test_equal_values_share_canonical_value_and_words(value: Any, data: st.DataObject) -> None:
    """Values equal across numeric types (1, 1.0, True) share their string, word and header."""
    other = data.draw(equal_variants(value))
    assert value == other
    assert canonical_value("k", value) == canonical_value("k", other)
    for routing in _both(["k"]):
        assert routing.message_routing({"k": value}) == routing.message_routing({"k": other})
        assert routing.binding({"k": value}) == routing.binding({"k": other})


@given(st.sampled_from(CROSSING_SCALARS), st.sampled_from(CROSSING_SCALARS))
def test_canonical_value_on_the_tricky_scalars(value: Any, other: Any) -> None:
    """Among scalars chosen to be equal across types, strings agree with == pair by pair."""
    assert (canonical_value("k", value) == canonical_value("k", other)) == (value == other)


def test_canonical_value_wire_format() -> None:
    """The canonical strings have the documented, type-tagged form that nodes exchange."""
    assert canonical_value("k", 1) == "n:1"
    assert canonical_value("k", 1.0) == "n:1"
    assert canonical_value("k", True) == "n:1"
    assert canonical_value("k", -0.0) == "n:0"
    assert canonical_value("k", 0.5) == "n:0.5"
    assert canonical_value("k", -math.inf) == "n:-inf"
    assert canonical_value("k", 2**64) == "n:0x10000000000000000"
    assert canonical_value("k", float(2**64)) == "n:0x10000000000000000"
    assert canonical_value("k", "5") == "s:5"
    assert canonical_value("k", b"5") == "b:35"
    assert canonical_value("k", (1, ("a",), ())) == 't:["n:1",["s:a"],[]]'


def test_canonical_value_of_a_huge_integer() -> None:
    """Integers past Python's decimal conversion limit still get distinct canonical strings."""
    huge = 10**5000
    assert canonical_value("k", huge) != canonical_value("k", huge + 1)


# -- routing agrees with the local rule -------------------------------------------------------


@given(routing_cases())
def test_both_modes_route_as_local_matching(case: RoutingCase) -> None:
    """A topic binding, a headers binding and the receiver's re-check all match as locally."""
    topic, headers = _both(case.keywords)
    expected = spec_matches(case.spec, case.details)

    routing_key, topic_headers = topic.message_routing(case.details)
    assert topic_matches(topic.binding(case.spec).routing_key, routing_key) == expected

    empty_key, message_headers = headers.message_routing(case.details)
    binding = headers.binding(case.spec)
    assert (empty_key, binding.routing_key) == ("", "")
    assert headers_all_matches(binding.arguments, message_headers) == expected

    assert topic_headers == message_headers
    assert topic.matches(case.spec, topic_headers) == expected
    assert headers.matches(case.spec, message_headers) == expected


@given(routing_cases(), st.randoms())
def test_keyword_order_does_not_matter(case: RoutingCase, random: Any) -> None:
    """Nodes that list the same keywords in different orders route and fingerprint alike."""
    shuffled = list(case.keywords)
    random.shuffle(shuffled)
    for mode in ROUTING_MODES:
        first, second = make_routing(mode, case.keywords), make_routing(mode, shuffled)
        assert first.keywords == second.keywords == tuple(sorted(case.keywords))
        assert first.fingerprint == second.fingerprint
        assert first.message_routing(case.details) == second.message_routing(case.details)
        assert first.binding(case.spec) == second.binding(case.spec)


@given(keyword_names(max_size=MAX_TOPIC_KEYWORDS), st.data())
def test_topic_keys_have_one_word_per_keyword(keywords: list[str], data: st.DataObject) -> None:
    """Topic keys hold the version word and one word per keyword, within AMQP's 255 bytes."""
    routing = TopicRouting(keywords)
    value = st.one_of(st.none(), crossing_values())
    details = data.draw(st.fixed_dictionaries({}, optional=dict.fromkeys(keywords, value)))
    spec = data.draw(st.fixed_dictionaries({}, optional=dict.fromkeys(keywords, value)))
    routing_key, _ = routing.message_routing(details)
    binding_key = routing.binding(spec).routing_key
    for key in (routing_key, binding_key):
        assert len(key.encode("utf-8")) <= 255
        assert key.split(".")[0] == "v1"
        assert len(key.split(".")) == 1 + len(keywords)
    for name, word in zip(routing.keywords, routing_key.split(".")[1:], strict=True):
        present = details.get(name) is not None
        assert (word != "_") == present
        if present:
            digest = hashlib.sha256(canonical_value(name, details[name]).encode()).digest()
            assert word == base64.b32encode(digest[:8]).decode().rstrip("=").lower()
    for name, word in zip(routing.keywords, binding_key.split(".")[1:], strict=True):
        assert (word == "*") == (spec.get(name) is None)


def test_an_empty_spec_binds_to_everything() -> None:
    """An empty spec binds with wildcards only (topic) or with x-match alone (headers)."""
    topic, headers = _both(["a", "b"])
    assert topic.binding({}) == Binding("v1.*.*", {})
    assert headers.binding({}) == Binding("", {"x-match": "all"})
    assert topic.binding({"a": None, "b": None}) == topic.binding({})


def test_none_details_route_as_absent() -> None:
    """A detail that is None routes exactly as a missing one: the '_' word, no header."""
    topic, headers = _both(["a", "b"])
    assert topic.message_routing({"a": None}) == topic.message_routing({}) == ("v1._._", {})
    assert headers.message_routing({"b": None}) == ("", {})


def test_long_header_values_travel_hashed() -> None:
    """Canonical values past 256 bytes travel as their full SHA-256, equal values alike."""
    headers = HeadersRouting(["a"])
    long_value = "é" * 200
    _, sent = headers.message_routing({"a": long_value})
    assert sent["ted-k-a"].startswith("h:")
    assert len(sent["ted-k-a"]) == 54
    assert headers.binding({"a": long_value}).arguments["ted-k-a"] == sent["ted-k-a"]
    _, other = headers.message_routing({"a": long_value[:-1] + "e"})
    assert other["ted-k-a"] != sent["ted-k-a"]
    _, short = headers.message_routing({"a": "é" * 126})
    assert short["ted-k-a"] == canonical_value("a", "é" * 126)


def test_matches_rechecks_the_canonical_values() -> None:
    """The receiver's re-check refuses a message whose headers carry another value."""
    for routing in _both(["a", "b"]):
        _, sent = routing.message_routing({"a": 1, "b": "x"})
        assert routing.matches({"a": True, "b": None}, sent)
        assert not routing.matches({"a": 2}, sent)
        assert not routing.matches({"a": 1}, {**sent, "ted-k-a": "n:2"})
        assert not routing.matches({"a": 1}, {})
        assert routing.matches({}, {})


def test_bindings_compare_and_hash_by_value() -> None:
    """Equal specs give equal, hashable bindings whose arguments cannot be changed."""
    headers = HeadersRouting(["a"])
    first, second = headers.binding({"a": 1}), headers.binding({"a": 1.0})
    assert first == second
    assert len({first, second}) == 1
    assert first != headers.binding({"a": "1"})
    with pytest.raises(TypeError):
        first.arguments["x-match"] = "any"  # type: ignore[index]


def test_fingerprints() -> None:
    """The fingerprint is short and differs with the mode and with the keyword set."""
    prints = {make_routing(mode, names).fingerprint for mode in ROUTING_MODES
              for names in ([], ["a"], ["a", "b"], ["ab"])}  # fmt: skip
    assert len(prints) == 8
    assert all(len(value) == 13 and value.isalnum() for value in prints)


def test_routings_are_routing() -> None:
    """make_routing builds each mode, and both satisfy the Routing protocol."""
    topic: Routing = make_routing("topic", ["b", "a"])
    headers: Routing = make_routing("headers", ["a"])
    assert isinstance(topic, TopicRouting)
    assert isinstance(headers, HeadersRouting)
    assert (topic.exchange_type, headers.exchange_type) == ("topic", "headers")
    assert repr(topic) == "TopicRouting(['a', 'b'])"
    assert repr(headers) == "HeadersRouting(['a'])"


# -- errors -----------------------------------------------------------------------------------


class _Boom(Exception):
    """What the hostile objects raise: neither a TypeError nor a ValueError."""


def _boom(*args: object) -> NoReturn:
    raise _Boom


class _Hostile:
    """Every dunder a careless encoder might call raises."""

    __eq__ = __ne__ = __hash__ = __repr__ = __str__ = __format__ = __bool__ = _boom
    __len__ = __iter__ = __index__ = __int__ = __float__ = _boom


class _LyingInt:
    """An object that claims to be an int to isinstance."""

    @property  # type: ignore[misc]  # a read-only __class__ is the point: it lies
    def __class__(self) -> type:
        return int

    def __repr__(self) -> str:
        return "<lying int>"


class _HostileStr(str):
    """A str subclass whose equality and hash raise."""

    __slots__ = ()
    __eq__ = __hash__ = _boom


class _HugeRepr:
    """An object whose repr is a megabyte long."""

    def __repr__(self) -> str:
        return "x" * 1_000_000


class _Colour(enum.IntEnum):
    RED = 1


class _Point(NamedTuple):
    x: int


_REFUSED: tuple[Callable[[], object], ...] = (
    lambda: None,
    lambda: decimal.Decimal(1),
    lambda: Fraction(1, 2),
    lambda: 1j,
    lambda: frozenset({1}),
    lambda: [1],
    lambda: {"a": 1},
    lambda: bytearray(b"a"),
    object,
    lambda: _Colour.RED,
    lambda: _Point(1),
    _Hostile,
    _LyingInt,
    lambda: _HostileStr("a"),
    _HugeRepr,
    lambda: math.nan,
    lambda: "\ud800",
)
"""Factories of values that cannot cross (hypothesis must never compare or repr the values)."""


class _Refused:
    """A refused value, possibly inside tuples, and the leaf that makes it refused."""

    def __init__(self, value: object, leaf: object) -> None:
        self.value = value
        self.leaf = leaf

    def __repr__(self) -> str:
        return f"_Refused({bounded_repr(self.value)})"


def _refused() -> st.SearchStrategy[_Refused]:
    """Return a refused leaf, alone or inside tuples of values that could cross."""
    leaves = st.sampled_from(range(len(_REFUSED))).map(lambda index: _REFUSED[index]())

    def wrap(inner: _Refused) -> st.SearchStrategy[_Refused]:
        return st.tuples(st.lists(crossing_values(), max_size=2), st.integers(0, 2)).map(
            lambda extra: _Refused(
                (*extra[0][: extra[1]], inner.value, *extra[0][extra[1] :]), inner.leaf
            )
        )

    return st.recursive(
        leaves.map(lambda leaf: _Refused(leaf, leaf)),
        lambda children: children.flatmap(wrap),
        max_leaves=3,
    )


def _assert_names(error: BaseException, *texts: str) -> None:
    message = str(error)
    assert len(message) < 1000
    for text in texts:
        assert text in message


@given(_refused())
def test_refused_values_raise_type_or_value_errors(refused: _Refused) -> None:
    """A value that cannot cross raises TypeError or ValueError naming the keyword and value."""
    names = ["'colour'", bounded_repr(refused.leaf)]
    if refused.value is not refused.leaf:
        names.append(f"in the tuple {bounded_repr(refused.value)}")
    with pytest.raises((TypeError, ValueError)) as caught:
        canonical_value("colour", refused.value)
    _assert_names(caught.value, *names)
    if refused.value is None:
        return  # for the routings, None is an absent detail or a wildcard: see below
    for routing in _both(["colour"]):
        calls: list[Callable[[], object]] = [
            partial(routing.message_routing, {"colour": refused.value}),
            partial(routing.binding, {"colour": refused.value}),
            partial(routing.matches, {"colour": refused.value}, {}),
        ]
        for call in calls:
            with pytest.raises((TypeError, ValueError)) as caught:
                call()
            _assert_names(caught.value, *names)


def test_refused_type_errors_list_the_allowed_types() -> None:
    """The TypeError for a refused type lists the types that may cross."""
    with pytest.raises(TypeError, match=r"str, int, float, bool, bytes, or a tuple of these"):
        canonical_value("k", decimal.Decimal(1))
    with pytest.raises(TypeError, match=r"None.*absent"):
        canonical_value("k", None)


def test_hostile_repr_is_named_by_its_type() -> None:
    """A value whose repr raises is named by its type in the error."""
    with pytest.raises(TypeError, match=r"<_Hostile instance at 0x[0-9a-f]+> \(_Hostile\)"):
        canonical_value("k", _Hostile())


class _BrokenMeta(type):
    """A metaclass whose classes have no usable __qualname__."""

    def __getattribute__(cls, name: str) -> Any:
        if name == "__qualname__":
            if "Raising" in type.__getattribute__(cls, "__name__"):
                raise _Boom
            return 42
        return type.__getattribute__(cls, name)


class _RaisingName(metaclass=_BrokenMeta):
    """Its type's __qualname__ raises."""


class _NumberName(metaclass=_BrokenMeta):
    """Its type's __qualname__ is not a string."""


def test_broken_types_and_reprs_still_give_a_message() -> None:
    """A type without a usable name is named '?', and a repr that fails inside is described."""
    for value in (_RaisingName(), _NumberName()):
        with pytest.raises(
            TypeError, match=r"cannot cross processes: <.* object at 0x[0-9a-f]+> \(\?\)"
        ):
            canonical_value("k", value)
    with pytest.raises(
        TypeError, match=r"in the tuple <tuple object: repr\(\) raised ValueError>"
    ):
        canonical_value("k", (10**5000, 1j))


def test_deep_tuples_are_refused() -> None:
    """Tuples nested past 16 levels raise ValueError rather than exhaust the stack."""
    value: tuple[Any, ...] = ()
    for _ in range(10_000):
        value = (value,)
    with pytest.raises(ValueError, match=r"deeper than 16 levels: \(\(\(\(...\),\),\),\)"):
        canonical_value("k", value)
    shallow: tuple[Any, ...] = ()
    for _ in range(15):  # 16 levels of tuples
        shallow = (shallow,)
    assert canonical_value("k", shallow).startswith("t:")


@given(routing_cases(), st.one_of(st.text(max_size=5), st.sampled_from([1, None, b"a"])))
def test_unknown_keywords_are_refused(case: RoutingCase, extra: Any) -> None:
    """A detail or spec key that is not allowed raises ValueError naming it and the allowed."""
    if extra in case.keywords:
        return
    allowed = [repr(name) for name in sorted(case.keywords)] or ["none"]
    for routing in _both(case.keywords):
        calls: list[Callable[[], object]] = [
            partial(routing.message_routing, {**case.details, extra: 1}),
            partial(routing.binding, {**case.spec, extra: None}),
        ]
        for call in calls:
            with pytest.raises(ValueError, match="not an allowed match keyword") as caught:
                call()
            _assert_names(caught.value, bounded_repr(extra), *allowed)


class _Pairs(Mapping[Any, Any]):
    """A mapping over a list of pairs, so that keys need no working hash."""

    def __init__(self, *pairs: tuple[Any, Any]) -> None:
        self._pairs = pairs

    def __getitem__(self, key: Any) -> Any:
        for candidate, value in self._pairs:
            if candidate is key:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[Any]:
        return (key for key, _ in self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)


def test_hostile_keys_are_refused() -> None:
    """A key whose equality and hash raise is refused with a ValueError, never its exception."""
    for routing in _both(["a"]):
        for key in (_Hostile(), _HostileStr("a")):
            for call in (routing.message_routing, routing.binding):
                with pytest.raises(ValueError, match="not an allowed match keyword"):
                    call(_Pairs(("a", 1), (key, 1)))


def test_topic_routing_refuses_too_many_keywords() -> None:
    """Topic routing takes 18 keywords; 19 raise ValueError suggesting headers routing."""
    names = [f"keyword{index}" for index in range(MAX_TOPIC_KEYWORDS + 1)]
    assert MAX_TOPIC_KEYWORDS == 18
    TopicRouting(names[:-1])
    with pytest.raises(ValueError, match=r"at most 18 .* got 19: use routing='headers'"):
        TopicRouting(names)
    assert HeadersRouting(names * 1 + [f"more{index}" for index in range(100)]).keywords


@pytest.mark.parametrize(
    ("keywords", "error", "pattern"),
    [
        ("ab", TypeError, r"not one string: 'ab'"),
        (["a", "a", "b"], ValueError, r"distinct; repeated: 'a'"),
        (["a", ""], TypeError, r"non-empty str; got ''"),
        (["a", 1], TypeError, r"non-empty str; got 1"),
        (["a", _HostileStr("b")], TypeError, r"non-empty str; got"),
        (["\ud800"], ValueError, r"not valid Unicode"),
    ],
)
def test_bad_keywords_are_refused(keywords: Any, error: type[Exception], pattern: str) -> None:
    """Keywords must be distinct, non-empty, valid strings, in both modes."""
    for mode in ROUTING_MODES:
        with pytest.raises(error, match=pattern):
            make_routing(mode, keywords)


def test_headers_refuse_a_keyword_too_long_for_a_header_name() -> None:
    """A keyword whose header name passes AMQP's 255 bytes is refused by headers routing."""
    HeadersRouting(["k" * 249])
    with pytest.raises(ValueError, match=r"too long for an AMQP header name"):
        HeadersRouting(["k" * 250])


@pytest.mark.parametrize("mode", ["fanout", "Topic", "", 1, None, _Hostile()])
def test_make_routing_refuses_other_modes(mode: Any) -> None:
    """An unknown routing mode raises ValueError naming it and the modes allowed."""
    with pytest.raises(ValueError, match=r"routing must be one of 'topic', 'headers'") as caught:
        make_routing(mode, ["a"])
    _assert_names(caught.value, bounded_repr(mode))
