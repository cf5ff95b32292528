"""Hand-built trace records with chosen timestamps, for the reader's and tedtool's tests."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

__all__ = ["T0", "Call", "run_records", "stamp", "write_trace"]

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
"""When the hand-built runs start, unless they say otherwise."""


def stamp(seconds: float, origin: dt.datetime = T0) -> str:
    """Return the timestamp *seconds* after *origin*, written as configure_tracing writes it."""
    moment = origin + dt.timedelta(seconds=seconds)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


@attrs.frozen
class Call:
    """One handler call of a hand-built run."""

    name: str
    status: str = "succeeded"
    at: float = 0.0
    """Seconds after the run's start."""
    duration: float = 0.001
    phase: str = "during"
    handler_id: int = 1
    fired: Sequence[dict[str, Any]] = ()
    """Records of child runs, written while the call is in flight."""


def run_records(
    run_id: str,
    *calls: Call,
    at: float = 0.0,
    duration: float | None = 0.1,
    status: str = "completed",
    parent: tuple[str, int] | None = None,
    origin: dt.datetime = T0,
    end: bool = True,
) -> list[dict[str, Any]]:
    """Return the records of one run, started *at* seconds after *origin*.

    Each call's phase is entered when its first call starts; *parent* is the
    run id and handler id that fired the run; without *end*, the run never
    ends.
    """

    def record(event: str, when: float, **keys: Any) -> dict[str, Any]:
        return {
            "event": event,
            "run_id": run_id,
            **keys,
            "level": "debug",
            "timestamp": stamp(at + when, origin),
        }

    parent_keys: dict[str, Any] = {}
    if parent is not None:
        parent_keys = {"parent_run_id": parent[0], "parent_handler_id": parent[1]}
    records = [
        record("run_created", 0.0, event_type="str", details={"kind": "'k'"}, **parent_keys),
        record("run_started", 0.0),
    ]
    entered: set[str] = set()
    for call in calls:
        if call.phase not in entered:
            entered.add(call.phase)
            records.append(record("phase_entered", call.at, phase=call.phase))
        handler = {"handler_id": call.handler_id, "handler_name": call.name, "phase": call.phase}
        records.append(record("handler_called", call.at, **handler, call=1))
        records.extend(call.fired)
        records.append(
            record(
                "handler_settled",
                call.at + call.duration,
                **handler,
                status=call.status,
                duration=call.duration,
            )
        )
    if end:
        records.append(record("run_ended", duration or 0.0, status=status, duration=duration))
    return records


def write_trace(path: Path, *runs: Iterable[dict[str, Any]]) -> Path:
    """Write the records of *runs*, one after the other, as a JSON-lines trace at *path*."""
    with path.open("w", encoding="utf-8") as out:
        for records in runs:
            for one in records:
                out.write(json.dumps(one) + "\n")
    return path
