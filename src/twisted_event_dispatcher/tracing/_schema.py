"""The documented schema of every record the runtime logs."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal, TypeAlias

import attrs

__all__ = ["COMMON_KEYS", "EVENTS", "RUN_EVENTS", "Level", "RecordSpec"]

Level: TypeAlias = Literal["debug", "info", "warning", "error"]
"""The level a record is logged at."""


@attrs.frozen
class RecordSpec:
    """One kind of record: its ``event`` name, level and the keys it always carries.

    .. versionadded:: 1.0
    """

    event: str
    """The record's ``event`` value."""
    level: Level
    """The level it is logged at (``handler_settled`` is ``error`` unless it succeeded)."""
    keys: tuple[str, ...]
    """The keys every such record carries, besides :data:`COMMON_KEYS`."""
    description: str
    """What the record means."""
    optional_keys: tuple[str, ...] = ()
    """Keys only some such records carry."""


COMMON_KEYS: Final = ("event", "level", "timestamp")
"""Keys every record written by :func:`configure_tracing` carries.

Records about a run also carry ``run_id``, and ``parent_run_id`` when the run
was fired from inside another run's handler.
"""

_RUN: Final = ("run_id",)
_HANDLER: Final = ("handler_id", "handler_name", "phase")
_TRANSITION: Final = ("machine", "from_state", "input", "to_state")

_SPECS: Final = (
    RecordSpec(
        "run_created",
        "debug",
        (*_RUN, "event_type", "details", "parent_handler_id", "parent_handler_name"),
        "fire_event was called; details holds the reprs of the event details, and the "
        "parent_* keys name the handler that fired this run (None for a top-level run).",
    ),
    RecordSpec(
        "run_queued",
        "debug",
        (*_RUN, "position", "reason"),
        "The run waits: for its serial turn (reason 'serial'), for start() (reason "
        "'stopped' or 'stopping'), or for resume() (reason 'paused').",
    ),
    RecordSpec("run_started", "debug", _RUN, "The run's turn has come."),
    RecordSpec(
        "run_transition",
        "debug",
        (*_RUN, *_TRANSITION, "phase"),
        "The run's machine (machine='run') changed state; phase is the phase the "
        "transition enters, stays in or leaves (None when it neither starts nor ends in one).",
    ),
    RecordSpec("phase_entered", "debug", (*_RUN, "phase"), "The run entered a phase."),
    RecordSpec(
        "handler_called",
        "debug",
        (*_RUN, *_HANDLER, "call"),
        "A handler's call returned a Deferred (or awaitable) that has not settled yet, or "
        "raised AbortRun: the call waits, and its handler_settled (or run_abort_requested) "
        "record follows; call counts the handler's calls so far, this one included.  A "
        "call that settles in place has no handler_called record (before 1.2, every call "
        "had one, written before the call).",
    ),
    RecordSpec(
        "handler_settled",
        "debug",
        (*_RUN, *_HANDLER, "status", "duration"),
        "A handler's result settled: status is succeeded (debug), failed or timed_out "
        "(error, with exception_type, exception_message and the traceback under exception) "
        "or cancelled (debug); duration is in seconds of the dispatcher's clock.  A call "
        "that settled in place (it returned, raised, or returned a fired Deferred) is this "
        "one record, with call (its handler_called count); a call that waited has no call "
        "key here.",
        ("exception_type", "exception_message", "exception", "call"),
    ),
    RecordSpec(
        "handler_cancel_failed",
        "error",
        (*_RUN, *_HANDLER, "exception_type", "exception_message"),
        "Cancelling a handler's pending result (its run was cancelled, or it timed out) "
        "raised: the handler's canceller is broken.  The call ends cancelled or timed_out "
        "all the same; the traceback is under exception.",
        ("exception",),
    ),
    RecordSpec(
        "phase_completed",
        "debug",
        (*_RUN, "phase", "failed"),
        "Every handler of the phase has settled; failed says whether one failed.",
    ),
    RecordSpec(
        "run_ended",
        "debug",
        (*_RUN, "status", "duration", "handlers", "failures"),
        "The run ended: status is completed, aborted or cancelled; duration is in seconds.",
    ),
    RecordSpec(
        "run_abort_requested",
        "info",
        (*_RUN, *_HANDLER, "reason"),
        "A handler raised AbortRun (or its Deferred failed with it): the run ends as "
        "aborted once the phase has settled, after its cleanup phases; reason is the "
        "AbortRun's.",
    ),
    RecordSpec(
        "run_dropped",
        "warning",
        (*_RUN, "reason", "details"),
        "The dispatcher was not running (when_stopped='drop'): the run ended unstarted.",
    ),
    RecordSpec(
        "run_rejected",
        "warning",
        (*_RUN, "reason"),
        "The run's Deferred failed before it started (when_stopped='error', max_queued, or "
        "its details could no longer be matched when its turn came: then with "
        "exception_type and exception_message).",
        ("exception_type", "exception_message"),
    ),
    RecordSpec(
        "lifecycle_transition",
        "debug",
        _TRANSITION,
        "The dispatcher's lifecycle machine (machine='lifecycle') changed state.",
    ),
    RecordSpec(
        "dispatcher_paused",
        "debug",
        ("depth",),
        "pause() was called; depth counts the pauses in force, this one included.",
    ),
    RecordSpec(
        "dispatcher_resumed",
        "debug",
        ("depth", "held"),
        "resume() was called; depth counts the pauses still in force, and held the runs "
        "waiting, released now if depth is 0.",
    ),
    RecordSpec(
        "runs_still_queued",
        "warning",
        ("count", "reason"),
        "stop() has drained, but runs fired while stopping (when_stopped='queue') wait "
        "for the next start(): count says how many.",
    ),
    RecordSpec(
        "stop_timed_out",
        "warning",
        ("timeout", "count", "run_ids"),
        "The timeout given to stop() ran out: the count runs in run_ids, in flight or "
        "waiting for their serial turn, are cancelled so that the stop ends.",
    ),
    RecordSpec(
        "run_cancelled",
        "warning",
        (*_RUN, "reason", "phase", "pending_handlers", "age"),
        "A stop() timeout cancels this run: phase is where it was (None if it had not "
        "begun), pending_handlers the handler_id and handler_name of each call it still "
        "waited for, age the seconds since it was fired.",
    ),
    RecordSpec(
        "run_cancel_failed",
        "error",
        (*_RUN, "reason"),
        "Cancelling the run raised (a handler Deferred's canceller did); the traceback "
        "is under exception.",
        ("exception",),
    ),
    RecordSpec(
        "run_abandoned",
        "error",
        (*_RUN, "reason"),
        "Cancelling the run for a stop() timeout did not end it: the dispatcher forgets it "
        "and delivers it as cancelled, so that the stop ends.",
    ),
    RecordSpec(
        "handler_registered",
        "debug",
        (*_HANDLER, "match_spec", "max_calls", "weak", "priority", "before", "after"),
        "A handler was registered; match_spec holds the reprs of its values; before and "
        "after the handler ids it was ordered against.",
    ),
    RecordSpec("handler_removed", "debug", _HANDLER, "A handler was removed by hand."),
    RecordSpec(
        "handler_exhausted",
        "debug",
        (*_HANDLER, "max_calls"),
        "A handler was given its last call (max_calls) and removed.",
    ),
    RecordSpec(
        "handler_collected",
        "debug",
        (*_HANDLER, "calls"),
        "A weakly held handler was garbage-collected, and its registration removed.",
    ),
    RecordSpec(
        "weak_handler_collected_before_first_call",
        "warning",
        (*_HANDLER, "hint"),
        "A weakly held handler was collected before it was ever called (a likely bug).",
    ),
)

EVENTS: Final[Mapping[str, RecordSpec]] = MappingProxyType({spec.event: spec for spec in _SPECS})
"""Every record the runtime logs, by its ``event`` name.

.. versionadded:: 1.0
"""

RUN_EVENTS: Final = frozenset(spec.event for spec in _SPECS if "run_id" in spec.keys)
"""The events that belong to one run (they carry ``run_id``)."""
