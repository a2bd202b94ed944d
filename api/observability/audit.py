"""The audit writer, measured: how long requests wait for their event, chain steps, batches.

``MeteredAuditWriter`` is the ``AuditWriter`` the app runs. Each ``record`` also
hands the event to the current request's ``RequestRecord``, which is how the
request log and the per-program series learn the outcome without any code in
the handlers.
"""

from __future__ import annotations

import time

from api.audit.events import AuditEvent
from api.audit.writer import AuditWriter, _Pending
from api.errors import Unavailable
from api.observability import metrics
from api.observability.middleware import CURRENT


class MeteredAuditWriter(AuditWriter):
    async def record(self, event: AuditEvent) -> int:
        request = CURRENT.get()
        started = time.perf_counter()
        try:
            seq = await super().record(event)
        except BaseException:
            if request is not None:
                request.event, request.audited, request.seq = event, False, None
            raise
        metrics.AUDIT_WAIT.observe(time.perf_counter() - started)
        if request is not None:
            request.event, request.audited, request.seq = event, True, seq
        return seq

    async def _step(self, batch: list[_Pending], *, seal: bool = False) -> list[int]:
        started = time.perf_counter()
        try:
            seqs = await super()._step(batch, seal=seal)
        except Unavailable:
            metrics.AUDIT_FAILURES.inc()
            raise
        metrics.AUDIT_STEP.observe(time.perf_counter() - started)
        if batch:
            metrics.AUDIT_BATCH.observe(len(batch))
        return seqs
