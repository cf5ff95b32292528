"""OpenTelemetry spans of a dispatcher's runs: the ``otel`` extra.

:func:`instrument` makes one span per run, a child span per phase and, under
it, one per handler call, with the run id, the event details, outcomes and
errors as attributes, events and statuses.  It is never on by default, and
writes to OpenTelemetry's global tracer provider unless given one, so any
exporter works::

    from twisted_event_dispatcher.otel import instrument

    instrumentation = instrument(dispatcher)
    ...  # fire events
    instrumentation.uninstrument()

A cluster node (:mod:`twisted_event_dispatcher.cluster`) whose dispatcher is
instrumented sends the trace context (W3C ``traceparent`` and ``tracestate``)
in the headers of every message, so a run in the receiving node is a child of
the handler that fired it.

OpenTelemetry (``opentelemetry-api``, and ``opentelemetry-sdk`` to export) is
imported only by this package: ``pip install 'twisted_event_dispatcher[otel]'``.

.. versionadded:: 1.1
"""

from __future__ import annotations

from twisted_event_dispatcher.otel._attributes import (
    ATTRIBUTES,
    DEFAULT_VALUE_LIMIT,
    PACKAGE_HINT,
)
from twisted_event_dispatcher.otel._instrument import TRACER_NAME, Instrumentation, instrument

__all__ = [
    "ATTRIBUTES",
    "DEFAULT_VALUE_LIMIT",
    "PACKAGE_HINT",
    "TRACER_NAME",
    "Instrumentation",
    "instrument",
]
