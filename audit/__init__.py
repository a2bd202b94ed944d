"""The audit trail: one hash-chained event per request, signed checkpoints, the verifier, and
what auditors read.

* ``audit.events``: the event, its outcomes, and how it is stored;
* ``audit.chain``: the hash rule, the canonical form, and ``step`` (one stored event checked);
* ``audit.writer``: group commit of events onto the one chain, fail closed;
  ``audit.maintenance``: merging the id indexes' pending lists beside it;
* ``audit.signing``: checkpoint signatures (JWS) and their verification;
* ``audit.verify`` and ``audit.walk``: ``regsosek audit verify``;
  ``audit.status``: ``chainStatus``, incrementally;
* ``audit.lookups``: ``auditEvents`` and ``disclosures``;
  ``audit.reports``, ``audit.anomaly_rules``, ``audit.report_html``: the overview, the anomalies
  and a person's disclosures, in the console and in ``regsosek audit report``;
* ``audit.roots``: the auditors' GraphQL root fields (value roots of ``schema.execute``);
* ``audit.sql``: every statement of the above (the chain, lookups, reports, anomalies) and
  the event's JSON projection.

The package sits beside the layers: it uses ``db`` (engines, the WIB clock), ``errors`` and
the value-root protocol of ``schema.execute``; ``api`` starts it and serves it.
``docs/audit.md`` describes the whole.
"""
