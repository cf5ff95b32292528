"""The automat state machines that carry runs and the dispatcher's lifecycle.

They are exposed for introspection (diagrams, documentation): the runtime
builds and drives them; applications never need to.
"""

from __future__ import annotations

from twisted_event_dispatcher.machines._lifecycle import LifecycleInputs, make_lifecycle_machine
from twisted_event_dispatcher.machines._run import (
    END_STATES,
    RunInputs,
    cleanup_state_names,
    make_run_machine,
    phase_state_name,
)

__all__ = [
    "END_STATES",
    "LifecycleInputs",
    "RunInputs",
    "cleanup_state_names",
    "make_lifecycle_machine",
    "make_run_machine",
    "phase_state_name",
]
