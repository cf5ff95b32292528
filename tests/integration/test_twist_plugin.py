"""The example application under the real ``twist`` command: SIGTERM drains a run in flight."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.reactor

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "webapp"


def _post(path: Path, body: dict[str, str]) -> socket.socket:
    """Send ``POST /users`` over the Unix socket at *path*; return the socket to read from."""
    payload = json.dumps(body).encode()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(10)
    conn.connect(str(path))
    conn.sendall(
        b"POST /users HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
    )
    return conn


def _response(conn: socket.socket) -> tuple[int, dict[str, object]]:
    """Read an HTTP/1.0 response to its end; return its status code and JSON body."""
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    conn.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_sigterm_waits_for_the_run_in_flight(tmp_path: Path) -> None:
    """Under twist, a SIGTERM during a request lets its run and response finish before exit."""
    sock = tmp_path / "users.sock"
    trace = tmp_path / "trace.jsonl"
    # A copy: Twisted's plugin discovery writes its dropin.cache next to the plugin.
    example = shutil.copytree(
        EXAMPLE, tmp_path / "webapp", ignore=shutil.ignore_patterns("*.cache")
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(example), *sys.path])}
    twist = subprocess.Popen(  # noqa: S603 -- our own interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "twisted",
            "users-app",
            "--listen",
            f"unix:{sock}",
            "--trace",
            str(trace),
            "--latency",
            "0.3",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while not sock.exists():
            assert twist.poll() is None, twist.communicate()[0].decode()
            assert time.monotonic() < deadline, "twist did not start listening"
            time.sleep(0.05)
        status, body = _response(_post(sock, {"name": "bob", "role": "user"}))
        assert (status, body["created"]) == (201, "bob")
        in_flight = _post(sock, {"name": "carol", "role": "admin"})
        time.sleep(0.15)  # carol's run is in its "during" phase (0.3 s)
        twist.send_signal(signal.SIGTERM)
        status, body = _response(in_flight)
        output = twist.communicate(timeout=15)[0].decode()
    finally:
        if twist.poll() is None:
            twist.kill()
            twist.wait()
    # twist ends by re-raising the signal it stopped for, once shutdown is complete.
    assert twist.returncode == -signal.SIGTERM, output
    assert "Main loop terminated." in output
    assert (status, body["created"]) == (201, "carol")
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    ended = [r["status"] for r in records if r["event"] == "run_ended"]
    assert ended == ["completed", "completed"]
    last = records[-1]
    assert (last["event"], last["to_state"]) == ("lifecycle_transition", "stopped")
