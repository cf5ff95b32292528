"""The automat machines: built once per phase configuration, traced on every transition."""

from __future__ import annotations

import structlog
from twisted.internet.task import Clock

from support import Recorder, add, fire, started
from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher.machines import (
    END_STATES,
    make_lifecycle_machine,
    make_run_machine,
    phase_state_name,
)


def test_run_machine_built_once_per_phase_configuration() -> None:
    """Dispatchers with the same phases share one built machine; other phases get their own."""
    assert make_run_machine(("a", "b")) is make_run_machine(("a", "b"))
    assert make_run_machine(("a", "b")) is not make_run_machine(("a", "c"))
    assert make_lifecycle_machine() is make_lifecycle_machine()


def test_run_machine_states_follow_phases() -> None:
    """The run machine has a waiting state, one state per phase, and the end states."""
    source = make_run_machine(("one", "two")).asDigraph().source
    for state in ("waiting", phase_state_name("one"), phase_state_name("two"), *END_STATES):
        assert state in source
    for input_name in ("begin", "drop", "settle", "phase_drained", "phase_failed", "cancel"):
        assert input_name in source


def test_every_transition_is_logged() -> None:
    """Each run transition is a debug record with fixed keys, in the order it happened."""
    dispatcher, _ = started(phases=("one", "two"))
    recorder = Recorder()
    add(dispatcher, recorder.deferred("h"), "one")
    with structlog.testing.capture_logs() as logs:
        d = fire(dispatcher)
        recorder.pending["h"][0].callback(None)
    assert d.called
    transitions = [
        (e["from_state"], e["input"], e["to_state"], e["phase"])
        for e in logs
        if e["event"] == "run_transition"
    ]
    assert transitions == [
        ("waiting", "begin", "phase:one", "one"),
        ("phase:one", "settle", "phase:one", "one"),
        ("phase:one", "phase_drained", "phase:two", "two"),
        ("phase:two", "phase_drained", "completed", "two"),
    ]
    runs = {e["run_id"] for e in logs if e["event"] == "run_transition"}
    assert len(runs) == 1
    assert all(e["machine"] == "run" for e in logs if e["event"] == "run_transition")


def test_lifecycle_transitions_are_logged() -> None:
    """Lifecycle transitions are debug records naming the machine and both states."""
    dispatcher = EventDispatcher((), reactor=Clock())
    with structlog.testing.capture_logs() as logs:
        dispatcher.start()
        dispatcher.stop()
    assert [
        (e["from_state"], e["input"], e["to_state"])
        for e in logs
        if e["event"] == "lifecycle_transition"
    ] == [
        ("stopped", "start", "running"),
        ("running", "stop", "stopping"),
        ("stopping", "drained", "stopped"),
    ]


def test_debug_filtered_out_skips_debug_records() -> None:
    """With debug filtered out by structlog's configuration, runs emit no debug records."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(20))
    dispatcher, _ = started()
    recorder = Recorder()
    add(dispatcher, recorder.sync("h"), "during")
    with structlog.testing.capture_logs() as logs:
        fire(dispatcher)
    assert logs == []
    assert recorder.names() == ["h"]


def test_unconfigured_structlog_prints_no_debug(capsys: object) -> None:
    """With structlog unconfigured, the runtime stays quiet on stdout and warns on stderr."""
    import pytest

    assert isinstance(capsys, pytest.CaptureFixture)
    structlog.reset_defaults()
    dispatcher = EventDispatcher((), reactor=Clock())
    dispatcher.fire_event("e")
    out, err = capsys.readouterr()
    assert out == ""
    assert "run_dropped" in err
    assert "[warning" in err
