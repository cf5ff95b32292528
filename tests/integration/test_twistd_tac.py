"""The example application under the real ``twistd -ny webapp.tac``, as its README runs it."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.reactor

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webapp"
LISTENING = re.compile(
    r"serving /users on IPv4Address\(type='TCP', host='127.0.0.1', port=(\d+)\)"
)


def _request(
    port: int, method: str, body: object = None
) -> tuple[int, str | None, str | None, Any]:
    """Send *body* as JSON; return the status, Content-Type, Allow and JSON body of the answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = None if body is None else json.dumps(body)
        conn.request(method, "/users", payload, {"Content-Type": "application/json"})
        response = conn.getresponse()
        return (
            response.status,
            response.getheader("content-type"),
            response.getheader("allow"),
            json.loads(response.read()),
        )
    finally:
        conn.close()


def _refused_early(port: int) -> bytes:
    """Announce a 50 MB body, expecting 100 Continue, and send none; return the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"POST /users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\nExpect: 100-continue\r\n\r\n"
        )
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _wait_for_port(twistd: subprocess.Popen[bytes], log: Path) -> int:
    """Wait until the application logs the port it listens on; return it."""
    deadline = time.monotonic() + 20
    while not (found := LISTENING.search(log.read_text())):
        assert twistd.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"twistd did not start listening:\n{log.read_text()}"
        time.sleep(0.05)
    return int(found.group(1))


def test_twistd_runs_the_tac_file_as_documented(tmp_path: Path) -> None:
    """``twistd -ny webapp.tac``, run from the example's directory, serves and stops on SIGTERM.

    The command is the README's, with no PYTHONPATH: the .tac file finds its
    module by itself.  The dispatcher's errors reach twistd's log through
    twisted.logger, the trace file gets every run, and SIGTERM ends it.
    """
    # A copy, so that twistd's pid file and the trace stay out of the source tree.
    example = shutil.copytree(
        EXAMPLE, tmp_path / "webapp", ignore=shutil.ignore_patterns("*.cache", "__pycache__")
    )
    twistd_script = Path(sys.executable).with_name("twistd")
    assert twistd_script.is_file(), twistd_script
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env |= {"USERS_TRACE": "users-trace.jsonl", "USERS_LISTEN": "tcp:0:interface=127.0.0.1"}
    log = tmp_path / "twistd.out"
    with log.open("wb") as out:
        twistd = subprocess.Popen(  # noqa: S603 -- our own venv's twistd, fixed arguments
            [str(twistd_script), "-ny", "webapp.tac"],
            cwd=example,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        port = _wait_for_port(twistd, log)
        created = _request(port, "POST", {"name": "bob", "role": "user"})
        refused = _request(port, "POST", {"name": "B!", "role": "user"})
        unnamed = _request(port, "POST", {"role": "user"})
        put = _request(port, "PUT", {})
        too_large = _refused_early(port)
        listing = _request(port, "GET")
        twistd.send_signal(signal.SIGTERM)
        twistd.wait(timeout=20)
    finally:
        if twistd.poll() is None:
            twistd.kill()
            twistd.wait()
    output = log.read_text()
    # twistd ends by re-raising the signal it stopped for, once shutdown is complete.
    assert twistd.returncode == -signal.SIGTERM, output
    assert "Main loop terminated." in output

    assert created[:3] == (201, "application/json", None)
    assert created[3]["created"] == "bob"
    assert refused[:3] == (422, "application/json", None)
    assert refused[3]["error"] == "invalid name 'B!': use 2-32 of a-z, 0-9 and _"
    assert unnamed[:3] == (400, "application/json", None)
    assert unnamed[3]["error"].startswith("missing field 'name': send a JSON object")
    assert put == (
        405,
        "application/json",
        "GET, HEAD, POST",
        {"error": "method PUT is not allowed on /users: use GET or POST"},
    )
    head, _, body = too_large.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")  # and no "100 Continue" before it
    assert json.loads(body) == {"error": "the body is over 65536 bytes: send at most 65536"}
    assert listing == (
        200,
        "application/json",
        None,
        [{"name": "bob", "role": "user", "email": ""}],
    )

    # The refused user's handler failure, logged by the dispatcher through twisted.logger:
    # its keys in the text, its traceback on lines of its own.  Debug records are left out.
    assert re.search(
        r"\[twisted_event_dispatcher#error\] handler_settled run_id='[^']+' .*"
        r"handler_name='users_app\.Users\.validate' .*status='failed'",
        output,
    ), output
    assert "users_app.InvalidUser: invalid name 'B!'" in output
    assert "run_created" not in output

    records = [
        json.loads(line) for line in (example / "users-trace.jsonl").read_text().splitlines()
    ]
    assert [r["status"] for r in records if r["event"] == "run_ended"] == [
        "completed",
        "aborted",
    ]
