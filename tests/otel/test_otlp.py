"""End to end over OTLP/HTTP: the SDK's exporter, a real collector, and a receiver that decodes.

The receiver is a small HTTP server on loopback that decodes each export
request's protobuf (``opentelemetry-proto``).  Spans reach it straight from
the OTLP/HTTP exporter, and once through rotel, an OpenTelemetry collector
(a Rust binary that its PyPI package ships) that receives OTLP/HTTP and
forwards it: the OpenTelemetry Collector and Jaeger are not on PyPI.
"""

from __future__ import annotations

import gzip
import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from twisted.internet import task

from twisted_event_dispatcher import EventRun
from twisted_event_dispatcher.otel import instrument
from twisted_event_dispatcher.testing import dispatcher_on_clock, fire_and_settle

_WAIT = 30.0
"""Seconds a test waits for its spans, or for the collector to listen, before it fails."""


class Receiver:
    """An OTLP/HTTP trace receiver on loopback that keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.requests: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                encoding = self.headers.get("Content-Encoding")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver._lock:
                    receiver.requests.append((self.path, self.headers.get("Content-Type")))
                    for resource_spans in request.resource_spans:
                        for scope_spans in resource_spans.scope_spans:
                            receiver.spans.extend(scope_spans.spans)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass  # quiet

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int) -> list[Span]:
        """Return the spans received once there are *count*; fail after a while."""
        deadline = time.monotonic() + _WAIT
        while True:
            with self._lock:
                if len(self.spans) >= count:
                    return list(self.spans)
            if time.monotonic() > deadline:
                pytest.fail(f"{len(self.spans)} of {count} spans arrived within {_WAIT} seconds")
            time.sleep(0.02)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An OTLP/HTTP receiver on loopback, stopped after the test."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def rotel(receiver: Receiver, tmp_path: Path) -> Iterator[str]:
    """A rotel collector that forwards to the receiver; yields its OTLP/HTTP traces URL."""
    agent = resources.files("rotel") / "rotel-agent"
    http_port, grpc_port = _free_port(), _free_port()
    process = subprocess.Popen(  # noqa: S603 -- the binary rotel's package ships
        [
            str(agent),
            "start",
            "--otlp-http-endpoint",
            f"127.0.0.1:{http_port}",
            "--otlp-grpc-endpoint",
            f"127.0.0.1:{grpc_port}",
            "--exporter",
            "otlp",
            "--otlp-exporter-protocol",
            "http",
            "--otlp-exporter-endpoint",
            receiver.url,
            "--batch-timeout",
            "10ms",
            "--pid-file",
            str(tmp_path / "rotel.pid"),
            "--log-file",
            str(tmp_path / "rotel.log"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + _WAIT
        while True:
            try:
                socket.create_connection(("127.0.0.1", http_port), 1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read() if process.stdout else b""
                    pytest.fail(f"rotel does not listen: {output.decode(errors='replace')}")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{http_port}/v1/traces"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def _attributes(span: Span) -> dict[str, object]:
    return {attribute.key: _value(attribute.value) for attribute in span.attributes}


def _fire_an_order(url: str) -> EventRun:
    """Fire an order whose payment fails and whose stock takes 2 s, exporting to *url*."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=url, timeout=10)))
    dispatcher, clock = dispatcher_on_clock(("kind",))
    clock.advance(1_700_000_000)

    def reserve(event: object) -> object:
        return task.deferLater(clock, 2)

    def pay(event: object) -> None:
        raise RuntimeError("card declined")

    dispatcher.add_event_handler(reserve, "before", False)
    dispatcher.add_event_handler(pay, "during", False)
    instrument(dispatcher, tracer_provider=provider)
    run = fire_and_settle(dispatcher, {"order": 1}, kind="order")
    provider.shutdown()
    return run


def _check(spans: list[Span], run: EventRun) -> None:
    by_name = {span.name.rsplit(".", 1)[-1]: span for span in spans}
    root, reserve, pay = by_name["run dict"], by_name["reserve"], by_name["pay"]
    before, during = by_name["phase before"], by_name["phase during"]
    assert root.parent_span_id == b""
    assert {before.parent_span_id, during.parent_span_id} == {root.span_id}
    assert reserve.parent_span_id == before.span_id
    assert pay.parent_span_id == during.span_id
    assert {span.trace_id for span in spans} == {root.trace_id}
    assert _attributes(root)["ted.run.id"] == run.run_id
    assert _attributes(root)["ted.detail.kind"] == "order"
    assert _attributes(root)["ted.run.failures"] == 1
    assert root.status.code == Status.STATUS_CODE_ERROR
    assert root.kind == Span.SPAN_KIND_INTERNAL
    assert pay.status.code == Status.STATUS_CODE_ERROR
    [exception] = pay.events
    assert exception.name == "exception"
    assert _attributes(exception)["exception.message"] == "card declined"
    second = 1_000_000_000
    assert reserve.start_time_unix_nano == 1_700_000_000 * second
    assert reserve.end_time_unix_nano == 1_700_000_002 * second


def test_the_otlp_exporter_delivers_the_spans(receiver: Receiver) -> None:
    """The OTLP/HTTP exporter sends every span of a run, with parents, attributes and statuses."""
    run = _fire_an_order(f"{receiver.url}/v1/traces")
    spans = receiver.wait_for(6)
    assert len(spans) == 6
    assert receiver.requests[0] == ("/v1/traces", "application/x-protobuf")
    _check(spans, run)


def test_through_a_real_collector(receiver: Receiver, rotel: str) -> None:
    """Spans sent to a real OTLP collector (rotel) reach what it forwards to, intact."""
    run = _fire_an_order(rotel)
    spans = receiver.wait_for(6)
    assert len(spans) == 6
    _check(spans, run)
