"""The handler registry and its match index.

Handlers are indexed by the *shape* of their match spec (the set of keywords
it names) and, within a shape, by the values it requires.  Matching a set of
details therefore costs one dictionary look-up per distinct shape plus the
handlers that match, never a scan over every registration.  Results are
cached per details until the registry changes.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping
from operator import attrgetter, itemgetter
from typing import Any, Final, cast, final

from twisted_event_dispatcher._safe import safe_repr, safe_str, type_name
from twisted_event_dispatcher.exceptions import UnknownHandlerError
from twisted_event_dispatcher.runtime._handlers import (
    HandlerRef,
    describe,
    reference,
    with_details,
)
from twisted_event_dispatcher.runtime._records import HandlerRegistration
from twisted_event_dispatcher.tracing._logger import get_logger, is_debug_enabled
from twisted_event_dispatcher.typing import HandlerId

__all__ = ["RESERVED_KEYWORDS", "Matches", "Registration", "Registry"]

RESERVED_KEYWORDS: Final = frozenset(
    {
        "listen_fn",
        "phase",
        "use_weakref",
        "max_calls",
        "timeout",
        "event",
        "priority",
        "before",
        "after",
        "pass_details",
    }
)
"""Names that can never be match keywords: they are parameters of the API."""

_CACHE_LIMIT: Final = 1024


@final
class Registration:
    """One registered handler, as the registry keeps it (mutable, private)."""

    __slots__ = (
        "active",
        "after",
        "before",
        "calls",
        "handler_id",
        "key",
        "max_calls",
        "name",
        "pass_details",
        "phase",
        "phase_index",
        "priority",
        "rank",
        "ref",
        "shape",
        "timeout",
        "weak",
    )

    def __init__(
        self,
        handler_id: HandlerId,
        phase: str,
        *,
        phase_index: int,
        shape: tuple[str, ...],
        key: Any,
        ref: HandlerRef,
        weak: bool,
        name: str,
        max_calls: int | None,
        timeout: float | None,
        priority: int = 0,
        before: tuple[HandlerId, ...] = (),
        after: tuple[HandlerId, ...] = (),
        pass_details: bool = False,
    ) -> None:
        self.handler_id: Final = handler_id
        self.phase: Final = phase
        self.phase_index: Final = phase_index
        self.shape: Final = shape
        self.key: Final = key
        self.ref: Final = ref
        self.weak: Final = weak
        self.name: Final = name
        self.max_calls: Final = max_calls
        self.timeout: Final = timeout
        self.priority: Final = priority
        self.before: Final = before
        self.after: Final = after
        self.pass_details: Final = pass_details
        self.rank: tuple[int, int, int] = _default_rank(phase_index, priority, handler_id)
        """Where it is called: registrations sort by it (kept by the registry, see _Order)."""
        self.calls = 0
        self.active = True

    @property
    def spec(self) -> dict[str, Any]:
        """The match spec, wildcards left out (rebuilt from the index key: it is rarely read)."""
        if len(self.shape) == 1:
            return {self.shape[0]: self.key}
        return dict(zip(self.shape, self.key, strict=True))

    def snapshot(self) -> HandlerRegistration:
        """Return the public, read-only view of this registration."""
        return HandlerRegistration(
            handler_id=self.handler_id,
            phase=self.phase,
            match_spec=self.spec,
            handler_name=self.name,
            max_calls=self.max_calls,
            calls=self.calls,
            weak=self.weak,
            priority=self.priority,
            before=self.before,
            after=self.after,
        )


Matches = tuple[tuple[Registration, ...], ...]
"""Per configured phase, in phase order: the matching registrations in call order."""

_by_order = attrgetter("rank")


def _default_rank(phase_index: int, priority: int, handler_id: HandlerId) -> tuple[int, int, int]:
    """The rank in a phase without ``before``/``after`` constraints: priority, then id."""
    return (phase_index, -priority, handler_id)


@functools.cache  # one getter per shape, not one per registration
def _key_getter(shape: tuple[str, ...]) -> Callable[[Mapping[str, Any]], Any]:
    # itemgetter returns a bare value for one key and a tuple for several; the
    # same getter builds both the bucket key and the look-up key, so it agrees.
    return itemgetter(*shape)


@final
class _Shape:
    """All registrations whose specs name the same keywords."""

    __slots__ = ("buckets", "getter", "keys", "names")

    def __init__(self, shape: tuple[str, ...]) -> None:
        self.names: Final = shape
        self.keys: Final = frozenset(shape)
        self.getter: Final = _key_getter(shape) if shape else (lambda _details: ())
        self.buckets: Final[dict[Any, dict[HandlerId, Registration]]] = {}


_CONSTANT_TYPES: Final = frozenset({str, int, float, bool, bytes, type(None), complex})


def _is_constant(value: object) -> bool:
    """Whether *value* is a built-in constant (or a tuple of them), safe to keep in the cache."""
    if type(value) in _CONSTANT_TYPES:
        return True
    return type(value) is tuple and all(map(_is_constant, cast("tuple[object, ...]", value)))


def _describe_allowed(allowed: Iterable[str]) -> str:
    names = sorted(allowed)
    return ", ".join(map(repr, names)) if names else "none"


def check_hashable(kind: str, key: str, value: object) -> None:
    """Raise a TypeError naming *key* and *value* when *value* cannot be hashed."""
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"{kind} value for {key!r} must be hashable, got {safe_repr(value)} "
            f"({type_name(value)}); use a tuple, frozenset or other hashable value"
        ) from None
    except Exception as error:  # a __hash__ that raises something else
        raise TypeError(
            f"{kind} value for {key!r} must be hashable, got {safe_repr(value)} "
            f"({type_name(value)}), whose __hash__ raised {_error(error)}"
        ) from error


def _error(error: BaseException) -> str:
    return f"{type_name(error)}: {safe_str(error)}"


def _uncomparable(kind: str, values: Mapping[str, Any], error: Exception) -> TypeError:
    # Keys may be str subclasses (passed as **kwargs): read them as plain str.
    named = ", ".join(f"{str.__str__(key)}={safe_repr(value)}" for key, value in values.items())
    return TypeError(
        f"{kind} {named} cannot be compared with the values of the registered match specs: "
        f"comparing them raised {_error(error)}; a match value's __eq__ must not raise"
    )


def _unknown_keyword(key: object, allowed: Iterable[str]) -> ValueError:
    return ValueError(
        f"{safe_repr(key)} is not an allowed match keyword; allowed: {_describe_allowed(allowed)}"
    )


@final
class Registry:
    """Registrations by id, indexed for matching, with weak handlers purged lazily.

    A weak reference's callback may run at any moment the garbage collector
    chooses, even in the middle of a match; so it only records the id, and
    the registry purges collected handlers at its next safe point.
    """

    def __init__(self, phases: tuple[str, ...], keywords: Iterable[str]) -> None:
        self._phases: Final = phases
        self._phase_index: Final = {name: index for index, name in enumerate(phases)}
        self._keywords: dict[str, None] = dict.fromkeys(keywords)
        self._by_id: dict[HandlerId, Registration] = {}
        self._shapes: dict[tuple[str, ...], _Shape] = {}
        self._cache: dict[tuple[tuple[str, Any], ...], Matches] = {}
        self._dead: list[HandlerId] = []
        self.unwarned: list[Registration] = []
        """Weak registrations collected before their first call, not yet warned about."""
        self._on_collected: Final = self._collected  # one bound method for every weak ref
        self._ids = itertools.count(1)
        # Ordering constraints (before=/after=): an edge a -> b runs a before b.
        # Only registrations that name or are named by one appear here.
        self._succ: dict[HandlerId, set[HandlerId]] = {}
        self._pred: dict[HandlerId, set[HandlerId]] = {}
        self._edges_per_phase: list[int] = [0] * len(phases)
        self.generation = 0
        """Increases with every change; a run fired earlier re-matches when it differs."""

    # -- keywords ---------------------------------------------------------------------

    @property
    def keywords(self) -> tuple[str, ...]:
        """The allowed match keywords, in the order they were allowed."""
        return tuple(self._keywords)

    def add_keyword(self, name: str) -> None:
        """Allow *name* as a match keyword (validated by the caller)."""
        self._keywords[name] = None
        self._changed()

    def remove_keyword(self, name: object) -> None:
        """Disallow *name*; refuse while a registered handler's spec uses it."""
        # A str subclass could break hashing and comparing: names are read as plain str.
        keyword = str.__str__(name) if isinstance(name, str) else None
        if keyword not in self._keywords:
            raise _unknown_keyword(name, self._keywords)
        self.purge()
        users = [
            reg.name
            for shape in self._shapes.values()
            if keyword in shape.keys
            for bucket in shape.buckets.values()
            for reg in bucket.values()
        ]
        if users:
            raise ValueError(
                f"cannot remove match keyword {keyword!r}: the match specs of "
                f"{len(users)} registered handler(s) use it ({', '.join(sorted(users))}); "
                "remove those handlers first"
            )
        del self._keywords[keyword]
        self._changed()

    # -- registration -----------------------------------------------------------------

    def add(
        self,
        handler: Callable[..., Any],
        phase: object,
        *,
        weak: bool,
        max_calls: int | None,
        timeout: float | None,
        match_spec: dict[str, Any],
        priority: int = 0,
        before: tuple[HandlerId, ...] = (),
        after: tuple[HandlerId, ...] = (),
        pass_details: Callable[[], Any] | None = None,
    ) -> Registration:
        """Validate and register *handler*; return its registration.

        With *pass_details* (a function returning the details of the call under
        way), the handler is called as ``handler(event, **details)``.
        """
        # A str subclass could break hashing and comparing: names are kept as plain str.
        phase_index = self._phase_index.get(str.__str__(phase)) if isinstance(phase, str) else None
        if phase_index is None:
            raise ValueError(
                f"unknown phase {safe_repr(phase)}; this dispatcher's phases are "
                f"{', '.join(map(repr, self._phases))}"
            )
        spec: dict[str, Any] = {}
        for key, value in match_spec.items():
            name = str.__str__(key)
            if name not in self._keywords:
                raise _unknown_keyword(key, self._keywords)
            if value is not None:
                check_hashable("match spec", name, value)
                spec[name] = value
        self.purge()
        if before or after:
            self._check_constraints(self._phases[phase_index], before, after)
        handler_id = HandlerId(next(self._ids))
        ref = reference(handler, handler_id, weak=weak, on_collected=self._on_collected)
        ref = ref if pass_details is None else with_details(ref, pass_details)
        names = tuple(sorted(spec))
        bucket_key = _key_getter(names)(spec) if names else ()
        shape = self._shapes.get(names)
        if shape is None:
            shape = _Shape(names)
        try:
            bucket = shape.buckets.setdefault(bucket_key, {})
        except Exception as error:  # a value's __eq__ (or __hash__) raised
            raise _uncomparable("match spec", spec, error) from error
        self._shapes[names] = shape
        reg = Registration(
            handler_id,
            self._phases[phase_index],
            phase_index=phase_index,
            shape=shape.names,  # shared by every registration of this shape
            key=bucket_key,
            ref=ref,
            weak=weak,
            name=describe(handler),
            max_calls=max_calls,
            timeout=timeout,
            priority=priority,
            before=before,
            after=after,
            pass_details=pass_details is not None,
        )
        self._by_id[handler_id] = reg
        bucket[handler_id] = reg
        if before or after or self._edges_per_phase[phase_index]:
            self._constrain(reg)
        self._changed()
        log = get_logger()
        if is_debug_enabled(log):
            log.debug(
                "handler_registered",
                handler_id=handler_id,
                handler_name=reg.name,
                phase=reg.phase,
                match_spec={key: safe_repr(value) for key, value in spec.items()},
                max_calls=max_calls,
                weak=weak,
                priority=priority,
                before=list(before),
                after=list(after),
            )
        return reg

    # -- order within a phase ---------------------------------------------------------

    def _check_constraints(
        self, phase: str, before: tuple[HandlerId, ...], after: tuple[HandlerId, ...]
    ) -> None:
        """Refuse ids that are unknown or of another phase, and constraints making a cycle."""
        for parameter, ids in (("before", before), ("after", after)):
            for other in ids:
                reg = self._by_id.get(other)
                if reg is None:
                    raise ValueError(
                        f"{parameter}={other!r} names no registered handler; "
                        f"registered ids in phase {phase!r}: {self._ids_in(phase)}"
                    )
                if reg.phase != phase:
                    raise ValueError(
                        f"{parameter}={other!r} names {reg.name} (id {other}) of phase "
                        f"{reg.phase!r}; ordering constraints apply within one phase, "
                        f"and this handler's phase is {phase!r}"
                    )
        both = set(before) & set(after)
        if both:
            named = ", ".join(map(str, sorted(both)))
            raise ValueError(
                f"handler id(s) {named} named in both before= and after=: that is a cycle"
            )
        targets = set(after)
        for start in before:
            path = self._path(start, targets)
            if path is not None:
                cycle = " -> ".join(["new handler", *map(str, path), "new handler"])
                raise ValueError(
                    f"before={list(before)!r} and after={list(after)!r} would make a cycle: "
                    f"{cycle} (each runs before the next); registration refused"
                )

    def _ids_in(self, phase: str) -> str:
        ids = [str(reg.handler_id) for reg in self._by_id.values() if reg.phase == phase]
        return ", ".join(ids) if ids else "none"

    def _path(self, start: HandlerId, targets: set[HandlerId]) -> list[HandlerId] | None:
        """Return a path of before-edges from *start* to one of *targets*, or None."""
        parents: dict[HandlerId, HandlerId | None] = {start: None}
        frontier = [start]
        while frontier:
            node = frontier.pop()
            if node in targets:
                path = [node]
                while (parent := parents[path[-1]]) is not None:
                    path.append(parent)
                return path[::-1]
            for nxt in self._succ.get(node, ()):
                if nxt not in parents:
                    parents[nxt] = node
                    frontier.append(nxt)
        return None

    def _constrain(self, reg: Registration) -> None:
        """Add *reg*'s constraints (checked already) and re-rank its phase."""
        for other in reg.before:
            self._link(reg.handler_id, other)
        for other in reg.after:
            self._link(other, reg.handler_id)
        self._edges_per_phase[reg.phase_index] += len(reg.before) + len(reg.after)
        self._rerank(reg.phase_index)

    def _link(self, first: HandlerId, then: HandlerId) -> None:
        self._succ.setdefault(first, set()).add(then)
        self._pred.setdefault(then, set()).add(first)

    def _unlink(self, handler_id: HandlerId) -> int:
        """Drop every constraint edge touching *handler_id*; return how many there were."""
        dropped = 0
        for other in self._succ.pop(handler_id, ()):
            preds = self._pred[other]
            preds.discard(handler_id)
            if not preds:
                del self._pred[other]
            dropped += 1
        for other in self._pred.pop(handler_id, ()):
            succs = self._succ[other]
            succs.discard(handler_id)
            if not succs:
                del self._succ[other]
            dropped += 1
        return dropped

    def _rerank(self, phase_index: int) -> None:
        """Recompute the ranks of one phase that has constraints (or just lost its last).

        The call order is the topological order of the constraints that, at each
        step, takes the ready handler of highest priority, then lowest id; with no
        constraint that is simply priority, then registration order.  It is
        computed here, when registrations change, never when an event is fired.
        """
        regs = [reg for reg in self._by_id.values() if reg.phase_index == phase_index]
        if not self._edges_per_phase[phase_index]:
            for reg in regs:
                reg.rank = _default_rank(phase_index, reg.priority, reg.handler_id)
            return
        indegree = {reg.handler_id: len(self._pred.get(reg.handler_id, ())) for reg in regs}
        ready = [(-reg.priority, reg.handler_id) for reg in regs if not indegree[reg.handler_id]]
        heapq.heapify(ready)
        position = 0
        while ready:
            _, handler_id = heapq.heappop(ready)
            reg = self._by_id[handler_id]
            reg.rank = (phase_index, position, 0)
            position += 1
            for nxt in self._succ.get(handler_id, ()):
                indegree[nxt] -= 1
                if not indegree[nxt]:
                    heapq.heappush(ready, (-self._by_id[nxt].priority, nxt))

    def remove(self, handler_id: HandlerId) -> Registration:
        """Remove the registration with *handler_id*.

        Raises:
            UnknownHandlerError: nothing is registered under *handler_id*.
        """
        self.purge()
        # Ids are ints, compared by type as well as value: True == 1, but is no id.
        reg = self._by_id.get(handler_id) if type(handler_id) is int else None
        if reg is None:
            raise UnknownHandlerError(
                f"no handler is registered with id {safe_repr(handler_id)} "
                f"({type_name(handler_id)}); it was never registered, or was removed "
                "already (by hand, after max_calls, or because its weak referent was "
                "collected)"
            )
        self._discard(reg)
        get_logger().debug(
            "handler_removed", handler_id=handler_id, handler_name=reg.name, phase=reg.phase
        )
        return reg

    def exhaust(self, reg: Registration) -> None:
        """Remove *reg*, which has just been given its last call."""
        self._discard(reg)
        get_logger().debug(
            "handler_exhausted",
            handler_id=reg.handler_id,
            handler_name=reg.name,
            phase=reg.phase,
            max_calls=reg.max_calls,
        )

    def _collected(self, ref: Any) -> None:
        # Called by the garbage collector, at any moment: only note the id.
        self._dead.append(ref.handler_id)

    def purge(self) -> None:
        """Remove the registrations whose weak referents were collected."""
        if not self._dead:
            return
        dead, self._dead = self._dead, []
        log = get_logger()
        for handler_id in dead:
            reg = self._by_id.get(handler_id)
            if reg is None:  # removed by hand before the collector got to it
                continue
            self._discard(reg)
            log.debug(
                "handler_collected",
                handler_id=handler_id,
                handler_name=reg.name,
                phase=reg.phase,
                calls=reg.calls,
            )
            if reg.calls == 0:
                self.unwarned.append(reg)
                log.warning(
                    "weak_handler_collected_before_first_call",
                    handler_id=handler_id,
                    handler_name=reg.name,
                    phase=reg.phase,
                    hint="nothing else referenced the handler (an inline lambda or "
                    "functools.partial?); keep a reference or register it with "
                    "use_weakref=False",
                )

    def _discard(self, reg: Registration) -> None:
        reg.active = False
        del self._by_id[reg.handler_id]
        if self._edges_per_phase[reg.phase_index]:
            dropped = self._unlink(reg.handler_id)
            if dropped:
                self._edges_per_phase[reg.phase_index] -= dropped
                self._rerank(reg.phase_index)
        shape = self._shapes[reg.shape]
        bucket = shape.buckets[reg.key]
        del bucket[reg.handler_id]
        if not bucket:
            del shape.buckets[reg.key]
            if not shape.buckets:
                del self._shapes[reg.shape]
        self._changed()

    def _changed(self) -> None:
        self.generation += 1
        self._cache.clear()

    # -- matching ---------------------------------------------------------------------

    def match(self, details: dict[str, Any], *, check: bool = True) -> Matches:
        """Return the registrations *details* match, per phase, in call order.

        Results are cached per details, but only for details whose values are
        plain built-in constants: a cache entry holds its key's values, and
        must not keep an application object (a weakly registered handler's
        instance, say) alive.  Only checked details are cached: the cache
        answers without checking.

        Args:
            details: The event's details.
            check: Check the details first (skipped when they were checked
                when the run was fired).

        Raises:
            ValueError: a key of *details* is not an allowed match keyword.
            TypeError: a value of *details* is not hashable, or comparing it
                with the values of the registered match specs raised.
        """
        if self._dead:
            self.purge()
        cache_key = tuple(details.items())
        cacheable = all(map(_is_constant, details.values()))
        if cacheable:
            cached = self._cache.get(cache_key)
            if cached is not None:
                return cached
        if check:
            self.check_details(details)
        result = self._lookup(details)
        if cacheable and check:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[cache_key] = result
        return result

    def _lookup(self, details: dict[str, Any]) -> Matches:
        matched: list[Registration] = []
        for shape in self._shapes.values():
            if shape.keys <= details.keys():
                try:
                    bucket = shape.buckets.get(shape.getter(details))
                except Exception as error:  # a value's __eq__ (or __hash__) raised
                    raise _uncomparable("event details", details, error) from error
                if bucket is not None:
                    matched.extend(bucket.values())
        matched.sort(key=_by_order)
        per_phase: list[list[Registration]] = [[] for _ in self._phases]
        for reg in matched:
            per_phase[reg.phase_index].append(reg)
        return tuple(map(tuple, per_phase))

    def check_details(self, details: Mapping[str, Any]) -> None:
        """Raise at once if *details* could never be matched against.

        Raises:
            ValueError: a key is not an allowed match keyword.
            TypeError: a value is not hashable.
        """
        for key, value in details.items():
            if key not in self._keywords:
                raise _unknown_keyword(key, self._keywords)
            check_hashable("event detail", key, value)

    # -- introspection ----------------------------------------------------------------

    def __len__(self) -> int:
        self.purge()
        return len(self._by_id)

    def snapshots(self) -> list[HandlerRegistration]:
        """Return every registration's public view, in phase order, then call order."""
        self.purge()
        return [reg.snapshot() for reg in sorted(self._by_id.values(), key=_by_order)]

    @property
    def shape_count(self) -> int:
        """How many distinct match-spec shapes are indexed."""
        self.purge()
        return len(self._shapes)
