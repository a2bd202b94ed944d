"""The audit writer, measured: how long requests wait for their event, chain steps, batches.

``AuditMetrics`` is the observer (``audit.writer.WriterObserver``) of the writer
the app runs. Each ``record`` also hands the event to the current request's
``RequestRecord``, which is how the request log and the per-program series
learn the outcome without any code in the handlers.
"""

from __future__ import annotations

from api.observability import metrics
from api.observability.middleware import CURRENT
from audit.events import AuditEvent


class AuditMetrics:
    def recorded(self, event: AuditEvent, *, seq: int | None, seconds: float) -> None:
        request = CURRENT.get()
        if seq is not None:
            metrics.AUDIT_WAIT.observe(seconds)
        if request is not None:
            request.event, request.audited, request.seq = event, seq is not None, seq

    def stepped(self, *, events: int, seconds: float | None) -> None:
        if seconds is None:
            metrics.AUDIT_FAILURES.inc()
            return
        metrics.AUDIT_STEP.observe(seconds)
        if events:
            metrics.AUDIT_BATCH.observe(events)
