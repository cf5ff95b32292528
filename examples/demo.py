"""A small but real Twisted program, traced: ``make demo`` runs it.

A shop's dispatcher has handlers of every kind: asynchronous ones whose
Deferreds come from ``reactor.callLater``, one that fails, one that times
out, one with ``max_calls``, and one that fires a nested child run.  It runs
on the real reactor, writes a JSON-lines trace, prints it as a tree, and
writes diagrams of the dispatcher, its run machine and one run.

    python examples/demo.py [OUTPUT_DIRECTORY]        (default: out/demo)

The dispatcher alone, for the command line:

    tedtool diagram examples/demo.py:build_dispatcher    (from examples/: demo:build_dispatcher)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred

from twisted_event_dispatcher import EventDispatcher, EventRun, viz
from twisted_event_dispatcher._cli import main as tedtool
from twisted_event_dispatcher.tracing import configure_tracing

PHASES = ("validate", "process", "notify")


class PaymentDeclined(Exception):
    """The card was declined."""


def _later(seconds: float, value: Any = None) -> Deferred[Any]:
    from twisted.internet import reactor

    return task.deferLater(reactor, seconds, lambda: value)


def audit_log(event: Any) -> None:
    """Catch-all: sees every event."""


def check_stock(event: Any) -> Deferred[Any]:
    return _later(0.02, "in stock")


def charge_card(event: Any) -> None:
    raise PaymentDeclined(f"card declined for {event!r}")


def ship_order(event: Any) -> Deferred[EventRun]:
    # Fired from inside a handler: a child run of this one.
    return _dispatcher.fire_event(f"shipment of {event}", kind="shipment")


def book_courier(event: Any) -> Deferred[Any]:
    return _later(0.03, "courier booked")


def notify_warehouse(event: Any) -> Deferred[Any]:
    return _later(5.0)  # never in time: its timeout is 0.1 s


def send_welcome_gift(event: Any) -> Deferred[Any]:
    return _later(0.01)


class Mailer:
    """Held strongly, so its bound method stays registered without a reference."""

    def send_receipt(self, _event: Any) -> Deferred[Any]:
        return _later(0.01)


_dispatcher: EventDispatcher


def build_dispatcher() -> EventDispatcher:
    """Return the shop's dispatcher, every handler registered (not yet started)."""
    global _dispatcher  # noqa: PLW0603 -- ship_order fires through it
    dispatcher = _dispatcher = EventDispatcher(("kind", "region"), PHASES, handler_timeout=2.0)
    dispatcher.add_event_handler(audit_log, "validate")
    dispatcher.add_event_handler(check_stock, "validate", kind="order")
    dispatcher.add_event_handler(charge_card, "process", kind="order", region="eu")
    dispatcher.add_event_handler(ship_order, "process", kind="order")
    dispatcher.add_event_handler(book_courier, "process", kind="shipment")
    dispatcher.add_event_handler(notify_warehouse, "notify", kind="order", timeout=0.1)
    dispatcher.add_event_handler(send_welcome_gift, "notify", kind="signup", max_calls=1)
    dispatcher.add_event_handler(Mailer().send_receipt, "notify", use_weakref=False, kind="order")
    return dispatcher


async def _run(reactor: Any, out: Path) -> list[EventRun]:
    trace = out / "trace.jsonl"
    trace.unlink(missing_ok=True)
    # forward=False: the trace records the failure and the timeout; keep the console quiet.
    with configure_tracing(trace, forward=False):
        dispatcher = build_dispatcher()
        # Drawn before the runs: send_welcome_gift (max_calls=1) is removed after its call.
        viz.write(viz.topology(dispatcher), out / "topology.svg")
        viz.write(viz.topology(dispatcher), out / "topology.png")
        viz.write(
            viz.topology(dispatcher, details={"kind": "order", "region": "eu"}),
            out / "topology-order-eu.svg",
        )
        viz.write(viz.run_machine(dispatcher), out / "machine.svg")
        dispatcher.start()
        runs = [
            await dispatcher.fire_event("order #1", kind="order", region="eu"),
            await dispatcher.fire_event("signup alice", kind="signup"),
            await dispatcher.fire_event("signup bob", kind="signup"),
        ]
        await dispatcher.stop()
    return runs


def main(reactor: Any, directory: str = "out/demo") -> Deferred[None]:
    """Run the shop on *reactor*, then print and draw what happened."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)

    def report(runs: list[EventRun]) -> None:
        trace = out / "trace.jsonl"
        print(f"Trace of {len(runs)} runs (and their child runs), from {trace}:\n")
        tedtool(["trace", str(trace)])
        order = runs[0].run_id
        tedtool(
            ["trace", str(trace), "--run", order, "--format", "svg", "-o", str(out / "run.svg")]
        )
        print(f"\nWrote to {out}/:", flush=True)
        for name in ("trace.jsonl", "topology.svg", "topology.png", "topology-order-eu.svg"):
            print(f"  {name}")
        print(f"  machine.svg\n  run.svg  (run {order})")

    return Deferred.fromCoroutine(_run(reactor, out)).addCallback(report)


if __name__ == "__main__":
    task.react(main, sys.argv[1:2])
