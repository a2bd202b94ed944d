"""The audit trail: one hash-chained event per request, signed checkpoints, and the verifier.

* ``api.audit.events``: the event and its canonical serialization (what is hashed);
* ``api.audit.writer``: group commit of events onto the one chain, fail closed;
* ``api.audit.signing``: checkpoint signatures (JWS) and their verification;
* ``api.audit.verify`` and ``api.audit.walk``: ``regsosek audit verify``;
* ``api.audit.queries``: what auditors read (``auditEvents``, ``disclosures``).

``docs/audit.md`` describes the whole.
"""
