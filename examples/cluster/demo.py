"""A shop of three node processes on this machine, through RabbitMQ: ``make demo-cluster``.

- ``web`` fires three checkouts; its local ``checkout`` handler fires an
  order for each, and its broadcast ``show_paid`` handler hears receipts;
- ``billing``, the one node of the pool ``billing``, charges each order and
  fires a receipt from inside its handler;
- ``mail`` sends each receipt (broadcast), and audits every event.

Each node is ``examples/cluster/node.py``, its own OS process with its own
trace.  The demo waits until the receipts are sent and shown, stops the
nodes with SIGTERM (they drain and exit), deletes the demo's queues and
exchanges, and prints the trace tree of the three traces joined: the runs
in ``billing`` and ``mail`` under the handlers that fired them in ``web``.

    python examples/cluster/demo.py [OUTPUT_DIRECTORY]      (default: out/demo-cluster)

The broker is ``TED_BROKER_URL``, else guest on 127.0.0.1:5672.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pika

NODE = Path(__file__).with_name("node.py")
BROKER = os.environ.get("TED_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
CHECKOUTS = 3
SHOP = {
    "billing": [
        *["--handler", "charge", "pool:billing", "during", "fire:kind=receipt", "kind=order"],
    ],
    "mail": [
        *["--handler", "audit", "broadcast", "before", "record"],
        *["--handler", "send_receipt", "broadcast", "after", "sleep:0.05", "kind=receipt"],
    ],
    "web": [
        *["--handler", "checkout", "local", "during", "fire:kind=order", "kind=checkout"],
        *["--handler", "show_paid", "broadcast", "after", "record", "kind=receipt"],
        *f"--fire {CHECKOUTS} kind=checkout".split(),
        *["--event", json.dumps({"basket": ["teapot", "cups"]})],
    ],
}
"""Each node's handlers (and what web fires once ready), as node.py's arguments."""


class Node:
    """One node process of the shop, and the files it writes."""

    def __init__(self, name: str, cluster: str, out: Path) -> None:
        self.name = name
        self.trace = out / f"{name}.jsonl"
        self.records = out / f"{name}.records.jsonl"
        log = out / f"{name}.log"
        for path in (self.trace, self.records):
            path.unlink(missing_ok=True)
        with log.open("w") as stderr:
            self.process = subprocess.Popen(  # noqa: S603 -- our own program, our arguments
                [
                    sys.executable,
                    str(NODE),
                    "serve",
                    "--cluster",
                    cluster,
                    "--node",
                    name,
                    "--trace",
                    str(self.trace),
                    "--record",
                    str(self.records),
                    *SHOP[name],
                ],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )

    def ready(self) -> dict[str, Any]:
        """Wait for the node's ``ready`` line; return what it says."""
        for line in self.process.stdout or ():
            word, _, rest = line.partition(" ")
            if word == "ready":
                ready: dict[str, Any] = json.loads(rest)
                return ready
        raise SystemExit(f"{self.name} exited before it was ready; see its .log")

    def handled(self, handler: str) -> int:
        """How many calls of *handler* have ended well so far."""
        if not self.records.exists():
            return 0
        lines = self.records.read_text().splitlines()
        return sum(f'"stage": "handled", "handler": "{handler}"' in line for line in lines)

    def stop(self) -> int:
        """SIGTERM the node; return its exit status once it has drained and exited."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(30)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


def wait_for(what: str, condition: Any, within: float = 30.0) -> None:
    """Poll *condition* until it holds; give up after *within* seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {within} seconds: {what}")
        time.sleep(0.05)


def delete_topology(cluster: str, queues: set[str]) -> None:
    """Delete the demo's queues and exchanges."""
    connection = pika.BlockingConnection(pika.URLParameters(BROKER))
    channel = connection.channel()
    for queue in sorted(queues):
        channel.queue_delete(queue)
    for exchange in (f"{cluster}.events", f"{cluster}.dead-letter"):
        channel.exchange_delete(exchange)
    connection.close()


def print_trees(nodes: list[Node], out: Path) -> None:
    """Print the joined trace tree of every node's trace (one tree per trace if need be)."""
    tedtool = [sys.executable, "-m", "twisted_event_dispatcher", "trace"]
    traces = [str(node.trace) for node in nodes]
    joined = subprocess.run([*tedtool, *traces], capture_output=True, text=True, check=False)  # noqa: S603
    if joined.returncode == 0:
        print(f"The runs of {', '.join(traces)}, joined:\n")
        text = joined.stdout
    else:  # this tedtool reads one trace at a time
        print("This tedtool joins no traces; each node's runs on their own:\n")
        text = ""
        for trace in traces:
            tree = subprocess.run([*tedtool, trace], capture_output=True, text=True, check=True)  # noqa: S603
            text += f"== {trace}\n{tree.stdout}\n"
    (out / "tree.txt").write_text(text)
    print(text)


def main(directory: str = "out/demo-cluster") -> int:
    """Run the shop; return the exit status."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    cluster = f"demo-shop-{uuid.uuid4().hex[:8]}"
    queues = {f"{cluster}.dead-letter"}
    print(f"Cluster {cluster}: starting billing and mail, then web, which fires.")
    billing, mail = Node("billing", cluster, out), Node("mail", cluster, out)
    nodes = [billing, mail]
    codes: dict[str, int] = {}
    try:
        for node in (billing, mail):
            ready = node.ready()
            queues.add(ready["broadcast_queue"])
            queues.update(f"{cluster}.pool.{pool}" for pool in ready["pools"])
        web = Node("web", cluster, out)
        nodes.append(web)
        queues.add(web.ready()["broadcast_queue"])
        wait_for(
            "every receipt sent and shown",
            lambda: mail.handled("send_receipt") == web.handled("show_paid") == CHECKOUTS,
        )
        print("Receipts sent and shown; stopping the nodes (SIGTERM: they drain, then exit).")
        codes = {node.name: node.stop() for node in nodes}
        print(f"Exit statuses: {codes}\n")
    finally:
        for node in nodes:
            if node.process.poll() is None:
                node.process.kill()
                node.process.wait()
        delete_topology(cluster, queues)
    print_trees(nodes, out)
    print(f"Traces, records and logs of each node are in {out}/.")
    return 0 if set(codes.values()) == {0} else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
