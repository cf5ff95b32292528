"""Hypothesis strategies for the dispatcher's property and model tests.

Match values come from a deliberately small domain, so that random specs and
random details agree often enough for the interesting cases (several shapes,
several handlers per bucket, wildcards) to happen in every run.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Final, Literal, TypeVar, get_args

from hypothesis import strategies as st

__all__ = [
    "CROSSING_SCALARS",
    "HOSTILE_KEYWORDS",
    "HOSTILE_PHASES",
    "KEYWORDS",
    "MATCH_VALUES",
    "PHASE_NAMES",
    "RAISABLE_DUNDERS",
    "ROUTING_VALUES",
    "Act",
    "ActName",
    "AddHandler",
    "Boom",
    "Construct",
    "Fire",
    "HandlerPlan",
    "HostileHandlerKind",
    "HostileSpec",
    "HostileStep",
    "Keyword",
    "Match",
    "OddArgument",
    "OriginField",
    "Rematch",
    "RemoveHandler",
    "RoutingCase",
    "StopWithin",
    "brute_force_matches",
    "build",
    "constructions",
    "corrupt_traces",
    "crossing_values",
    "details_dicts",
    "equal_variants",
    "handler_plans",
    "hostile_specs",
    "hostile_steps",
    "keyword_names",
    "keyword_sets",
    "make_hostile",
    "match_specs",
    "match_values",
    "phase_lists",
    "recipes",
    "routing_cases",
    "spec_matches",
    "trace_lines",
    "trace_records",
]

KEYWORDS: Final = ("a", "b", "c")
"""The match keywords every generated dispatcher allows."""

MATCH_VALUES: Final[tuple[Any, ...]] = (0, 1, 2, "x", "y")
"""The values specs and details draw from: ints and short strings, never equal across types."""

PHASE_NAMES: Final = ("before", "during", "after", "cleanup")
"""The phase names generated dispatchers choose from (in a generated order)."""

HandlerKind = Literal["sync", "deferred"]

_Id = TypeVar("_Id")


def match_values(values: Sequence[Any] = MATCH_VALUES) -> st.SearchStrategy[Any]:
    """Return a strategy for one match value from the small domain *values*."""
    return st.sampled_from(tuple(values))


def keyword_sets(keywords: Sequence[str] = KEYWORDS) -> st.SearchStrategy[frozenset[str]]:
    """Return a strategy for a set of *keywords* (possibly empty): a spec's shape."""
    return st.frozensets(st.sampled_from(tuple(keywords)))


def match_specs(
    keywords: Sequence[str] = KEYWORDS, values: Sequence[Any] = MATCH_VALUES
) -> st.SearchStrategy[dict[str, Any]]:
    """Return a strategy for a match spec: keyword -> value, where None is a wildcard."""
    return st.dictionaries(
        st.sampled_from(tuple(keywords)),
        st.one_of(st.none(), match_values(values)),
        max_size=len(keywords),
    )


def details_dicts(
    keywords: Sequence[str] = KEYWORDS, values: Sequence[Any] = MATCH_VALUES
) -> st.SearchStrategy[dict[str, Any]]:
    """Return a strategy for an event's details; a detail may itself be None."""
    return st.dictionaries(
        st.sampled_from(tuple(keywords)),
        st.one_of(match_values(values), st.just(None)),
        max_size=len(keywords),
    )


def phase_lists(
    names: Sequence[str] = PHASE_NAMES, *, min_size: int = 1
) -> st.SearchStrategy[tuple[str, ...]]:
    """Return a strategy for a dispatcher's phases: distinct names in a random order."""
    return st.lists(st.sampled_from(tuple(names)), min_size=min_size, unique=True).map(tuple)


@dataclass(frozen=True)
class HandlerPlan:
    """What to register: a handler's phase, spec and options (the handler is made later)."""

    phase: str
    spec: Mapping[str, Any] = field(default_factory=dict)
    max_calls: int | None = None
    weak: bool = False
    kind: HandlerKind = "sync"


def handler_plans(
    phases: Sequence[str],
    keywords: Sequence[str] = KEYWORDS,
    values: Sequence[Any] = MATCH_VALUES,
    *,
    max_calls: bool = True,
    weak: bool = True,
    deferred: bool = True,
) -> st.SearchStrategy[HandlerPlan]:
    """Return a strategy for one registration plan in one of *phases*.

    The flags switch off the options a test does not model.
    """
    return st.builds(
        HandlerPlan,
        phase=st.sampled_from(tuple(phases)),
        spec=match_specs(keywords, values),
        max_calls=st.one_of(st.none(), st.integers(1, 3)) if max_calls else st.none(),
        weak=st.booleans() if weak else st.just(False),
        kind=st.sampled_from(("sync", "deferred")) if deferred else st.just("sync"),
    )


def spec_matches(spec: Mapping[str, Any], details: Mapping[str, Any]) -> bool:
    """Return whether *details* satisfy *spec*, by the documented rule, without an index."""
    return all(
        value is None or (key in details and details[key] == value) for key, value in spec.items()
    )


def brute_force_matches(
    phases: Sequence[str],
    registered: Sequence[tuple[_Id, str, Mapping[str, Any]]],
    details: Mapping[str, Any],
) -> dict[str, list[_Id]]:
    """Return, per phase in phase order, the ids in *registered* (in its order) *details* match.

    *registered* lists ``(id, phase, spec)`` in registration order.
    """
    return {
        phase: [
            handler_id
            for handler_id, handler_phase, spec in registered
            if handler_phase == phase and spec_matches(spec, details)
        ]
        for phase in phases
    }


# -- values that cross processes (the cluster's routing) ------------------------------------------

CROSSING_SCALARS: Final[tuple[Any, ...]] = (
    0,
    1,
    -1,
    2,
    0.0,
    -0.0,
    1.0,
    2.0,
    0.5,
    -0.5,
    True,
    False,
    math.inf,
    -math.inf,
    2**64,
    float(2**64),
    2**64 + 1,
    "",
    "0",
    "1",
    "a",
    "n:1",
    b"",
    b"1",
    b"a",
)
"""Scalars that cross processes, with many that Python calls equal across types (1, 1.0, True)."""

ROUTING_VALUES: Final[tuple[Any, ...]] = (
    0,
    1,
    2,
    0.0,
    1.0,
    0.5,
    True,
    False,
    "1",
    "a",
    b"a",
    (),
    (1, "a"),
    (True, "a"),
    (1.0, "a"),
    ("a",),
    "x" * 300,  # headers routing sends values past 256 bytes as hashes
    "x" * 299 + "y",
)
"""The small mixed domain routing properties draw spec and detail values from."""


def crossing_values() -> st.SearchStrategy[Any]:
    """Return a strategy for a value that may cross processes: scalars and nested tuples."""
    scalars = st.one_of(
        st.sampled_from(CROSSING_SCALARS),
        st.integers(),
        st.booleans(),
        st.floats(allow_nan=False),
        st.text(st.characters(codec="utf-8"), max_size=8),
        st.binary(max_size=8),
    )
    return st.recursive(
        scalars, lambda children: st.lists(children, max_size=3).map(tuple), max_leaves=8
    )


def _equal_scalars(value: Any) -> list[Any]:
    """Return values of other types that Python calls equal to the scalar *value*."""
    variants = [value]
    if type(value) in {int, bool} and abs(value) < 2**53:
        variants.append(float(value))
    if type(value) is float and value.is_integer():
        variants.append(int(value))
    if type(value) in {int, float} and value in {0, 1}:
        variants.append(bool(value))
    return variants


def equal_variants(value: Any) -> st.SearchStrategy[Any]:
    """Return a strategy for values equal to *value*, of the same or other numeric types."""
    if type(value) is tuple:
        if not value:
            return st.just(())
        return st.tuples(*(equal_variants(item) for item in value))
    return st.sampled_from(_equal_scalars(value))


def keyword_names(*, max_size: int = 6) -> st.SearchStrategy[list[str]]:
    """Return a strategy for distinct match keyword names (any valid Unicode)."""
    name = st.text(st.characters(codec="utf-8"), min_size=1, max_size=10)
    return st.lists(name, unique=True, max_size=max_size)


@dataclass(frozen=True)
class RoutingCase:
    """Allowed keywords, in the order a node lists them, with a spec and an event's details."""

    keywords: list[str]
    spec: dict[str, Any]
    details: dict[str, Any]


@st.composite
def routing_cases(draw: st.DrawFn, values: Sequence[Any] = ROUTING_VALUES) -> RoutingCase:
    """Return random keywords, and a spec and details over them from the domain *values*.

    Specs and details share a small domain so that they often match; either
    may hold None (a wildcard, an absent detail) or leave a keyword out.
    """
    keywords = draw(keyword_names())
    value = st.one_of(st.none(), st.sampled_from(tuple(values)))
    if keywords:
        spec = draw(st.dictionaries(st.sampled_from(keywords), value))
        details = draw(st.dictionaries(st.sampled_from(keywords), value))
    else:
        spec, details = {}, {}
    return RoutingCase(keywords, spec, details)


# -- corrupt traces, for the tedtool fuzz test -------------------------------------------

_TRACE_EVENTS: Final = (
    "run_created",
    "phase_entered",
    "handler_called",
    "handler_settled",
    "phase_completed",
    "run_ended",
    "run_dropped",
    "run_rejected",
)
_RUN_IDS: Final = ("r1", "r2", "r3")
"""A few run ids, so that records meet: parents, self-parents, cycles, second ends."""
_FIELDS: Final = (
    "parent_run_id",
    "parent_handler_id",
    "parent_handler_name",
    "event_type",
    "details",
    "phase",
    "handler_id",
    "handler_name",
    "status",
    "duration",
    "exception_type",
    "exception_message",
    "failed",
    "timestamp",
    "timestamp",
)


def _json_values() -> st.SearchStrategy[Any]:
    """Any JSON value: scalars, and lists and objects of them."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from("abc"), inner, max_size=3)
        ),
        max_leaves=6,
    )


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def _timestamps() -> st.SearchStrategy[Any]:
    """A timestamp: ISO 8601 from year 1 to 9999, with or without a zone, or a damaged one."""
    zones = st.sampled_from((None, dt.timezone.utc, dt.timezone(dt.timedelta(hours=-23))))
    return st.one_of(
        st.datetimes(timezones=zones).map(lambda moment: moment.isoformat()),
        st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
        st.sampled_from(("2026-02-30T00:00:00Z", "Z", "", "2026-03-01T12:00:00+25:00")),
        st.floats(-1e20, 1e20),
    )


def _field_values() -> st.SearchStrategy[Any]:
    """A record field's value: a likely one, one of the wrong type, a huge or a deep one."""
    return st.one_of(
        _timestamps(),
        st.sampled_from(_RUN_IDS),
        st.sampled_from(("before", "during", "failed", "completed", "h", 1, 0.5, True)),
        _json_values(),
        st.integers(1, 100_000).map(lambda n: "v" * n),
        st.integers(1, 10**300).map(lambda n: n * 10),
        st.text(alphabet="\n\r\t\x1b\u202e\x00\ud800x", max_size=30),
        st.integers(1, 400).map(_nested),
    )


def trace_records() -> st.SearchStrategy[dict[str, Any]]:
    """Return a strategy for one trace record: a few fields, each of any type."""
    return st.builds(
        lambda head, fields: {**head, **fields},
        st.fixed_dictionaries(
            {
                "event": st.one_of(st.sampled_from(_TRACE_EVENTS), _json_values()),
                "run_id": st.one_of(st.sampled_from(_RUN_IDS), _json_values()),
            }
        ),
        st.dictionaries(st.sampled_from(_FIELDS), _field_values(), max_size=4),
    )


def _encoded(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, allow_nan=True).encode("utf-8", "surrogatepass")


@st.composite
def trace_lines(draw: st.DrawFn) -> bytes:
    """Return one line of a corrupt trace (without its newline): a record, whole or damaged."""
    kind = draw(st.sampled_from(("record", "truncated", "garbled", "bytes", "deep", "digits")))
    if kind == "bytes":
        return draw(st.binary(max_size=300)).replace(b"\n", b" ")
    if kind == "digits":  # an integer longer than Python converts from text
        return b'{"event": "handler_called", "run_id": "r1", "handler_id": ' + b"9" * 5_000 + b"}"
    if kind == "deep":
        depth = draw(st.integers(1, 200_000))
        run_id = draw(st.sampled_from(_RUN_IDS))
        head = f'{{"event": "run_created", "run_id": "{run_id}", "details": {{"a": '.encode()
        return head + b"[" * depth + b"]" * depth + b"}}"
    line = _encoded(draw(trace_records()))
    if kind == "truncated":
        return line[: draw(st.integers(0, len(line)))]
    if kind == "garbled":
        index = draw(st.integers(0, len(line) - 1))
        byte = draw(st.integers(0, 255))
        return line[:index] + bytes([byte]) + line[index + 1 :]
    return line


def _chain(depth: int) -> list[bytes]:
    """A valid chain of *depth* runs, each fired by the one before."""
    created = [
        _encoded({"event": "run_created", "run_id": f"c{n}", "parent_run_id": f"c{n - 1}"})
        for n in range(depth)
    ]
    ended = [
        _encoded({"event": "run_ended", "run_id": f"c{n}", "status": "completed"})
        for n in reversed(range(depth))
    ]
    return created + ended


@st.composite
def corrupt_traces(draw: st.DrawFn) -> bytes:
    """Return the bytes of a corrupt trace: damaged lines, and maybe a very deep chain of runs."""
    lines = draw(st.lists(trace_lines(), max_size=15))
    depth = draw(st.sampled_from((0, 0, 3, 1_200)))
    if depth:
        at = draw(st.integers(0, len(lines)))
        lines[at:at] = _chain(depth)
    ending = draw(st.sampled_from((b"\n", b"")))
    return b"\n".join(lines) + ending


# -- hostile objects ----------------------------------------------------------------------
#
# Objects whose dunders raise, as user code may hand them to the dispatcher: as
# arguments, events, detail and match values, handler callables, handler results
# and handler exceptions.  The property test in tests/runtime/test_hostile.py
# throws them at every public method.  Strategies draw *recipes* (a plain value,
# or a HostileSpec), which hypothesis can print; the test builds them.


class Boom(Exception):
    """What every hostile dunder raises: never a ValueError or TypeError, so none passes as one."""


def _raise(*args: object) -> Any:
    raise Boom("a hostile dunder was called")


RAISABLE_DUNDERS: Final = (
    "__repr__",
    "__str__",
    "__eq__",
    "__hash__",
    "__bool__",
    "__len__",
    "__iter__",
    "__lt__",
    "__float__",
    "__call__",
    "__getattr__",
    "__module__",
)
"""The dunders a hostile object may have raise.

``__getattr__`` raising stands for a raising ``__qualname__`` (and any other
attribute looked up with a default): a class cannot hold a ``__qualname__``
property, but a proxy's ``__getattr__`` answers for it.  ``__module__`` is a
property that raises.
"""

HashMode = Literal["raises", "collides", "own"]


@dataclass(frozen=True)
class HostileSpec:
    """How to build one hostile object (see :func:`build`)."""

    base: type
    """``object``, ``str``, ``int``, ``list``, ``Fraction`` or ``Exception``."""
    raising: frozenset[str]
    """Which of :data:`RAISABLE_DUNDERS` raise."""
    hash_mode: HashMode = "own"
    """Whether ``__hash__`` raises, returns the hash of :attr:`value` (colliding with it),
    or is the base's own; ``__hash__`` in :attr:`raising` means ``raises``."""
    value: Any = None
    """What the base is built from; for ``collides``, the value it collides with."""
    callable: bool = False
    """Whether it has a ``__call__`` that returns None (unless ``__call__`` raises)."""


_NAMESPACE_RAISERS: Final = frozenset(RAISABLE_DUNDERS) - {"__hash__", "__module__"}


def make_hostile(spec: HostileSpec) -> Any:
    """Build the object *spec* describes (of a new class each time)."""
    namespace: dict[str, Any] = dict.fromkeys(spec.raising & _NAMESPACE_RAISERS, _raise)
    if spec.callable and "__call__" not in spec.raising:
        namespace["__call__"] = lambda self, event: None
    if "__module__" in spec.raising:
        namespace["__module__"] = property(_raise)
    if "__eq__" in spec.raising:
        namespace["__ne__"] = _raise
    if "__hash__" in spec.raising or spec.hash_mode == "raises":
        namespace["__hash__"] = _raise
    elif spec.hash_mode == "collides":
        collide = hash(spec.value)
        namespace["__hash__"] = lambda self: collide
    else:
        namespace["__hash__"] = spec.base.__hash__
    cls = type(f"Hostile{spec.base.__name__.title()}", (spec.base,), namespace)
    if spec.base is object:
        return cls()
    if spec.base is list:
        return cls(spec.value if isinstance(spec.value, (list, tuple)) else [spec.value])
    if spec.base is Exception:
        return cls("hostile")
    if spec.base is Fraction or spec.base is int:
        return cls(spec.value if type(spec.value) is int else 2)
    return cls(spec.value if type(spec.value) is str else str(spec.value))


def build(recipe: Any) -> Any:
    """Return the value *recipe* stands for: a hostile object for a HostileSpec, else itself."""
    return make_hostile(recipe) if isinstance(recipe, HostileSpec) else recipe


def hostile_specs(
    bases: Sequence[type] = (object,),
    values: Sequence[Any] = MATCH_VALUES,
    *,
    callable: bool = False,  # noqa: A002 -- the HostileSpec field it sets
) -> st.SearchStrategy[HostileSpec]:
    """Return a strategy for the recipe of a hostile object of one of *bases*."""
    return st.builds(
        HostileSpec,
        base=st.sampled_from(tuple(bases)),
        raising=st.frozensets(st.sampled_from(RAISABLE_DUNDERS), min_size=1),
        hash_mode=st.sampled_from(("raises", "collides", "own")),
        value=st.sampled_from(tuple(values)),
        callable=st.just(callable),
    )


def recipes(
    plain: Sequence[Any], bases: Sequence[type] = (object,), values: Sequence[Any] = MATCH_VALUES
) -> st.SearchStrategy[Any]:
    """Return a strategy for one of the *plain* values or a hostile object's recipe."""
    return st.one_of(st.sampled_from(tuple(plain)), hostile_specs(bases, values))


HOSTILE_KEYWORDS: Final = ("a", "b", "c", "g")
"""The match keywords of the hostile test's dispatchers; ``g`` is the gate's."""

HOSTILE_PHASES: Final = ("before", "during", "after")
"""The phases of the hostile test's dispatchers."""

_DETAIL_KEYS: Final = ("a", "b", "c")
_VALUES: Final = (*MATCH_VALUES, None)


def _plain_details() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(_DETAIL_KEYS), st.sampled_from(_VALUES), max_size=2)


def _odd_values() -> st.SearchStrategy[Any]:
    # Hostile objects that collide with the small domain of match values half the time.
    return hostile_specs((object, str, int), MATCH_VALUES)


HostileHandlerKind = Literal[
    "count", "raise", "fail_later", "stuck", "hostile_result", "hostile_callable"
]

OddArgument = Literal["phase", "use_weakref", "max_calls", "timeout", "spec"]

OriginField = Literal["plain", "node", "run_id", "handler_id", "handler_name"]


@dataclass(frozen=True)
class Construct:
    """Build the dispatcher with one hostile argument."""

    parameter: str
    recipe: HostileSpec
    elementwise: bool = False
    """For the two sequences: a plain list whose names are hostile str (else a hostile list)."""


@dataclass(frozen=True)
class AddHandler:
    """Register a handler of *kind*, with plain arguments but perhaps one hostile or wrong."""

    kind: HostileHandlerKind
    phase: str
    use_weakref: bool
    max_calls: int | None
    timeout: float | None
    spec: Mapping[str, Any]
    hostile: HostileSpec
    """The exception it raises, the result it returns, or the callable it is."""
    chained: bool
    """Whether its exception is raised while handling another hostile one."""
    odd: OddArgument | None = None
    """Which argument is replaced by :attr:`odd_value` (for ``spec``: one more value)."""
    odd_value: Any = None
    """A wrong plain value or a hostile object's recipe."""


@dataclass(frozen=True)
class RemoveHandler:
    """Remove a handler by a hostile or wrong id, or (``index``) one the steps registered."""

    target: Any
    index: int | None


@dataclass(frozen=True)
class Fire:
    """Fire a (perhaps hostile) event with details of which one may be hostile."""

    event: Any
    details: Mapping[str, Any]
    odd_key: str = "a"
    odd_value: Any = None
    """A hostile object's recipe to give under :attr:`odd_key`, or None."""
    origin: OriginField | None = None
    """Fire with ``fire_event_from``: a plain origin, or one whose field is set to
    :attr:`origin_value`."""
    origin_value: Any = None


@dataclass(frozen=True)
class Match:
    """Ask which handlers details match, of which one may be hostile."""

    details: Mapping[str, Any]
    odd_key: str = "a"
    odd_value: Any = None


@dataclass(frozen=True)
class Keyword:
    """Allow or disallow a (perhaps hostile) match keyword."""

    add: bool
    name: Any


@dataclass(frozen=True)
class Rematch:
    """Hold the serial slot, fire with a hostile detail, register a spec it meets, release.

    The waiting run is matched again when its turn comes, against a value its
    detail collides with.
    """

    key: str
    detail: HostileSpec


@dataclass(frozen=True)
class StopWithin:
    """Stop with a (perhaps hostile or wrong) timeout."""

    timeout: Any


ActName = Literal["handlers", "in_flight", "hold", "release", "cancel", "advance", "stop", "start"]


@dataclass(frozen=True)
class Act:
    """A plain step that moves things along around the hostile ones."""

    what: ActName


HostileStep = AddHandler | RemoveHandler | Fire | Match | Keyword | Rematch | StopWithin | Act


def constructions() -> st.SearchStrategy[Construct]:
    """Return a strategy for a constructor call with one hostile argument."""
    names = st.builds(
        Construct,
        parameter=st.sampled_from(("allowed_match_spec_keywords", "phases")),
        recipe=hostile_specs((list, object), (HOSTILE_KEYWORDS,)),
        elementwise=st.booleans(),
    )
    choices = st.builds(
        Construct,
        parameter=st.sampled_from(
            ("ordering", "when_stopped", "on_handler_error", "run_id_prefix")
        ),
        recipe=hostile_specs((str, object), ("serial", "queue", "continue", "abort")),
    )
    numbers = st.builds(
        Construct,
        parameter=st.sampled_from(("handler_timeout", "max_queued")),
        recipe=hostile_specs((Fraction, int, object), (1, 2, 3)),
    )
    return st.one_of(names, choices, numbers)


_ODD_ARGUMENTS: Final[dict[OddArgument, st.SearchStrategy[Any]]] = {
    "phase": recipes(("nope", None, 1), (object, str), HOSTILE_PHASES),
    "use_weakref": recipes((1, None, "yes"), (object, int), (0, 1)),
    "max_calls": recipes((0, -1, True, 1.5, "1"), (int, object, Fraction), (1, 2)),
    "timeout": recipes((0, -1, float("nan"), float("inf"), True, "1"), (Fraction, int, object)),
    "spec": _odd_values(),
}


def _add_handler(odd: OddArgument | None) -> st.SearchStrategy[AddHandler]:
    return st.builds(
        AddHandler,
        kind=st.sampled_from(get_args(HostileHandlerKind)),
        phase=st.sampled_from(HOSTILE_PHASES),
        use_weakref=st.booleans(),
        max_calls=st.sampled_from((None, None, 1, 2)),
        timeout=st.sampled_from((None, None, 1, 5)),
        spec=st.one_of(
            st.just({}),
            st.dictionaries(st.sampled_from(_DETAIL_KEYS), st.sampled_from(_VALUES), max_size=1),
        ),
        hostile=hostile_specs((Exception, object, str), callable=True),
        chained=st.booleans(),
        odd=st.just(odd),
        odd_value=st.none() if odd is None else _ODD_ARGUMENTS[odd],
    )


def hostile_steps() -> st.SearchStrategy[HostileStep]:
    """Return a strategy for one step of the hostile test."""
    # Mostly plain registrations, so that handlers (and their hostile exceptions,
    # results and callables) run; one in three has an odd argument.
    odd_or_not = (*[None] * 2 * len(get_args(OddArgument)), *get_args(OddArgument))
    add = st.sampled_from(odd_or_not).flatmap(_add_handler)
    remove = st.builds(
        RemoveHandler,
        target=recipes((True, 1.0, 0, -1, "1", None), (object, int), (1, 2)),
        index=st.one_of(st.none(), st.integers(0, 5)),
    )
    odd_details = {
        "details": _plain_details(),
        "odd_key": st.sampled_from(_DETAIL_KEYS),
        "odd_value": st.one_of(st.none(), _odd_values()),
    }
    fire = st.builds(
        Fire,
        event=recipes((0, "e", None), (object, str, Exception, list)),
        origin=st.sampled_from((None, None, None, *get_args(OriginField))),
        origin_value=recipes((None, 1, "x", True), (str, int, object)),
        **odd_details,
    )
    keyword = st.builds(
        Keyword,
        add=st.booleans(),
        name=recipes(("a", "d", "event", "1x", ""), (str, object), ("a", "d", "g")),
    )
    act = st.builds(Act, what=st.sampled_from((*get_args(ActName), "hold", "release")))
    match = st.builds(Match, **odd_details)
    incomparable = st.builds(
        HostileSpec,
        base=st.sampled_from((object, str, int)),
        raising=st.frozensets(st.sampled_from(RAISABLE_DUNDERS)).map(
            lambda raising: (raising | {"__eq__"}) - {"__hash__"}
        ),
        hash_mode=st.just("collides"),
        value=st.sampled_from(MATCH_VALUES),
    )
    rematch = st.builds(Rematch, key=st.sampled_from(_DETAIL_KEYS), detail=incomparable)
    weighted: list[st.SearchStrategy[Any]] = [fire] * 3 + [add] * 3 + [act] * 3
    stop = st.builds(
        StopWithin,
        timeout=recipes((1, 1, 5, 0, -1, float("nan"), True, "1"), (Fraction, int, object)),
    )
    weighted += [match, remove, keyword, rematch, stop]
    return st.sampled_from(weighted).flatmap(lambda strategy: strategy)
