"""A shop's morning, traced: the trace the command line reference's examples read.

Five orders and signups between 12:00 and 12:07 UTC on 2026-03-01: a declined
card that aborts its run, a warehouse that times out, an order cancelled by
its caller, and child runs that ship orders.  It runs on a Clock, in no time,
so each record's timestamp is set from the Clock (the wall clock would stamp
them all within a millisecond).

    python examples/shop_trace.py shop-trace.jsonl
    tedtool trace shop-trace.jsonl --status failed
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from twisted.internet import task
from twisted.internet.defer import Deferred

from twisted_event_dispatcher import EventDispatcher, EventRun
from twisted_event_dispatcher.tracing import configure_tracing

START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
SLOW_WAREHOUSE = 3
"""The order whose warehouse never answers in time."""


@dataclass
class Order:
    number: int
    region: str


@dataclass
class Signup:
    user: str


class PaymentDeclined(Exception):
    """The card was declined."""


_clock = task.Clock()
_dispatcher: EventDispatcher


def _later(milliseconds: int) -> Deferred[None]:
    return task.deferLater(_clock, milliseconds / 1000)


def audit_log(event: object) -> None:
    pass


def check_stock(event: Order) -> Deferred[None]:
    return _later(20)


def charge_card(event: Order) -> None:
    if event.region == "eu":
        raise PaymentDeclined(f"card declined for order #{event.number}")


def ship_order(event: Order) -> Deferred[EventRun]:
    return _dispatcher.fire_event(f"shipment of #{event.number}", kind="shipment")


def book_courier(event: str) -> Deferred[None]:
    return _later(30)


def notify_warehouse(event: Order) -> Deferred[None]:
    return _later(5_000 if event.number == SLOW_WAREHOUSE else 40)  # its timeout is 100 ms


def send_welcome_gift(event: Signup) -> Deferred[None]:
    return _later(10)


def send_receipt(event: Order) -> Deferred[None]:
    return _later(10)


HANDLERS: list[tuple[Callable[[Any], object], str, dict[str, Any]]] = [
    (audit_log, "validate", {}),
    (check_stock, "validate", {"kind": "order"}),
    (charge_card, "process", {"kind": "order"}),
    (ship_order, "process", {"kind": "order"}),
    (book_courier, "process", {"kind": "shipment"}),
    (notify_warehouse, "notify", {"kind": "order", "timeout": 0.1}),
    (send_welcome_gift, "notify", {"kind": "signup"}),
    (send_receipt, "notify", {"kind": "order"}),
]
for _handler, _, _ in HANDLERS:
    _handler.__module__ = "shop"  # the same names, run as a script or imported


class _RunsOnly:
    """A text stream that keeps only the records of runs, without their tracebacks."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, text: str) -> int:
        for line in text.splitlines():
            record = json.loads(line)
            if "run_id" not in record:
                continue  # registrations and the lifecycle: not what this example is about
            record.pop("exception", None)  # a traceback, full of this machine's paths
            self.out.write(json.dumps(record) + "\n")
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def _settle(until: float) -> None:
    """Advance the Clock call by call (so durations are exact) up to *until* seconds."""
    while (
        due := min((call.getTime() for call in _clock.getDelayedCalls()), default=until)
    ) < until:
        _clock.advance(due - _clock.seconds())
    _clock.advance(until - _clock.seconds())


def write_trace(out: IO[str]) -> None:
    """Run the shop's morning and write its trace to *out*."""
    global _dispatcher  # noqa: PLW0603 -- ship_order fires through it
    _dispatcher = EventDispatcher(
        ("kind",),
        ("validate", "process", "notify"),
        reactor=_clock,
        on_handler_error="abort",
        run_id_prefix="5f3a9c1e",
    )
    for handler, phase, options in HANDLERS:
        _dispatcher.add_event_handler(handler, phase, use_weakref=False, **options)
    _dispatcher.start()
    with configure_tracing(
        _RunsOnly(out),  # type: ignore[arg-type]
        forward=False,
        clock=lambda: START.timestamp() + _clock.seconds(),
    ):
        for at, event, kind in [
            (0, Order(1, "eu"), "order"),
            (60, Signup("alice"), "signup"),
            (150, Order(2, "us"), "order"),
            (300, Order(3, "us"), "order"),
        ]:
            _settle(at)
            _dispatcher.fire_event(event, kind=kind)
        _settle(420)
        cancelled = _dispatcher.fire_event(Order(4, "us"), kind="order")
        cancelled.addErrback(lambda _failure: None)
        _settle(420.005)
        cancelled.cancel()  # the caller gives up while the stock is checked
        _settle(480)


if __name__ == "__main__":
    with Path(sys.argv[1] if len(sys.argv) > 1 else "shop-trace.jsonl").open("w") as out:
        write_trace(out)
