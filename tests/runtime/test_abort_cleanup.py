"""Veto and cleanup: AbortRun ends a run on purpose; cleanup phases run all the same."""

from __future__ import annotations

from typing import Any

import pytest
import structlog
from twisted.internet.defer import Deferred, fail

from support import Recorder, TestCase, add, fire, started
from twisted_event_dispatcher import AbortRun, EventRun, current_call, viz

PHASES = ("before", "during", "after")


def _short(run: EventRun) -> list[tuple[str, str]]:
    return [(o.handler_name.rsplit(".", 1)[-1], o.status) for o in run.outcomes]


class AbortRunTests(TestCase):
    """A handler raising AbortRun ends the run as aborted after its phase."""

    def test_raising_aborts_after_the_phase(self) -> None:
        """The rest of the phase is called, later phases are not, and it is no failure."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.failing("veto", AbortRun("not today")), "before")
        add(dispatcher, recorder.sync("same_phase"), "before")
        add(dispatcher, recorder.sync("during"), "during")
        with structlog.testing.capture_logs() as logs:
            run = self.successResultOf(fire(dispatcher))
        assert run.status == "aborted"
        assert run.abort_reason == "not today"
        assert _short(run) == [("veto", "aborted"), ("same_phase", "succeeded")]
        assert run.failures == []
        assert recorder.names() == ["veto", "same_phase"]
        requested = [r for r in logs if r["event"] == "run_abort_requested"]
        assert len(requested) == 1
        assert requested[0]["reason"] == "not today"
        assert requested[0]["phase"] == "before"
        assert not [r for r in logs if r["log_level"] == "error"]

    def test_failed_deferred_aborts_once_the_phase_settles(self) -> None:
        """A Deferred failing with AbortRun aborts the run once the phase has settled."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("slow"), "before")
        add(dispatcher, recorder.sync("veto", fail(AbortRun("first"))), "before")
        add(dispatcher, recorder.sync("veto2", fail(AbortRun("second"))), "before")
        add(dispatcher, recorder.sync("during"), "during")
        d = fire(dispatcher)
        self.assertNoResult(d)
        recorder.pending["slow"][0].callback("ok")
        run = self.successResultOf(d)
        assert run.status == "aborted"
        assert run.abort_reason == "first"
        assert _short(run) == [("slow", "succeeded"), ("veto", "aborted"), ("veto2", "aborted")]

    def test_aborts_whatever_on_handler_error_says(self) -> None:
        """With on_handler_error='continue', an AbortRun still aborts the run."""
        dispatcher, _ = started(on_handler_error="continue")
        recorder = Recorder()
        add(dispatcher, recorder.failing("broken", ValueError("x")), "before")
        add(dispatcher, recorder.sync("ok"), "during")
        add(dispatcher, recorder.failing("veto", AbortRun()), "during")
        add(dispatcher, recorder.sync("late"), "after")
        run = self.successResultOf(fire(dispatcher))
        assert run.status == "aborted"
        assert run.abort_reason == "aborted by a handler"
        assert [o.handler_name for o in run.failures] == ["support.broken"]
        assert recorder.names() == ["broken", "ok", "veto"]


class CleanupPhaseTests(TestCase):
    """Phases named in always= run after an abort or a cancel."""

    def test_cleanup_runs_after_a_veto(self) -> None:
        """A veto in 'before' skips 'during' but runs the cleanup phase 'after', which sees it."""
        dispatcher, _ = started(always=("after",))
        seen: list[Any] = []
        recorder = Recorder()

        def release(event: object) -> None:
            call = current_call()
            assert call is not None
            seen.append((call.phase, call.ending, call.abort_reason))

        add(dispatcher, recorder.failing("veto", AbortRun("no stock")), "before")
        add(dispatcher, recorder.sync("during"), "during")
        add(dispatcher, release, "after")
        run = self.successResultOf(fire(dispatcher))
        assert run.status == "aborted"
        assert run.abort_reason == "no stock"
        assert recorder.names() == ["veto"]
        assert seen == [("after", "aborted", "no stock")]

    def test_cleanup_runs_after_on_handler_error_abort(self) -> None:
        """A failure with on_handler_error='abort' runs the cleanup phase, then ends aborted."""
        dispatcher, _ = started(on_handler_error="abort", always=("after",))
        recorder = Recorder()
        add(dispatcher, recorder.failing("broken", ValueError("x")), "during")
        add(dispatcher, recorder.sync("cleanup"), "after")
        run = self.successResultOf(fire(dispatcher))
        assert run.status == "aborted"
        assert run.abort_reason is None
        assert recorder.names() == ["broken", "cleanup"]

    def test_cleanup_runs_after_a_cancel(self) -> None:
        """Cancelling the run cancels what is pending, then calls the cleanup phase."""
        dispatcher, _ = started(always=("after",))
        recorder = Recorder()
        seen: list[Any] = []

        def release(event: object) -> Deferred[None]:
            call = current_call()
            assert call is not None
            seen.append(call.ending)
            d: Deferred[None] = Deferred()
            recorder.pending.setdefault("release", []).append(d)
            return d

        add(dispatcher, recorder.deferred("slow"), "during")
        add(dispatcher, release, "after")
        d = fire(dispatcher)
        d.cancel()
        run = self.successResultOf(d)
        assert run.status == "cancelled"
        assert seen == ["cancelled"]
        assert recorder.pending["slow"][0].called  # cancelled
        assert dispatcher.runs_in_flight()[0].phase == "after"
        recorder.pending["release"][0].callback(None)
        assert dispatcher.runs_in_flight() == []
        assert [o.status for o in run.outcomes] == ["cancelled", "succeeded"]

    def test_stop_timeout_cuts_a_cleanup_short(self) -> None:
        """When stop()'s timeout runs out, a pending cleanup result is cancelled: stop ends."""
        dispatcher, clock = started(always=("after",))
        recorder = Recorder()
        add(dispatcher, recorder.deferred("slow"), "during")
        add(dispatcher, recorder.deferred("cleanup"), "after")
        d = fire(dispatcher)
        stopped = dispatcher.stop(timeout=5)
        clock.advance(5)
        self.successResultOf(stopped)
        run = self.successResultOf(d)
        assert run.status == "cancelled"
        assert [o.status for o in run.outcomes] == ["cancelled", "cancelled"]

    def test_cleanup_phase_is_not_repeated_after_a_late_abort(self) -> None:
        """A veto in the cleanup phase itself ends the run aborted, without running it twice."""
        dispatcher, _ = started(always=("during", "after"))
        recorder = Recorder()
        add(dispatcher, recorder.failing("veto", AbortRun("stop")), "during")
        add(dispatcher, recorder.sync("after"), "after")
        run = self.successResultOf(fire(dispatcher))
        assert run.status == "aborted"
        assert recorder.names() == ["veto", "after"]

    def test_always_must_name_phases(self) -> None:
        """always= naming an unknown phase is refused, naming it and the phases."""
        with pytest.raises(ValueError, match=r"always names 'later'.*'before', 'during'"):
            started(always=("later",))
        with pytest.raises(TypeError, match="always must be a sequence"):
            started(always="after")

    def test_machine_diagram_shows_cleanup_transitions(self) -> None:
        """The run machine diagram draws the aborting and cancelling states of a cleanup phase."""
        dispatcher, _ = started(always=("after",))
        source = viz.run_machine(dispatcher).source
        for state in ('"aborting:after"', '"cancelling:after"'):
            assert state in source
        assert '"aborting:after"' not in viz.run_machine(PHASES).source
        assert '"aborting:after"' in viz.run_machine(PHASES, always=("after",)).source
