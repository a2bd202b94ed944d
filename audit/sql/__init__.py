"""The SQL of the audit trail: ``chain`` (append and read back), ``lookups`` (``auditEvents``,
``disclosures``), ``reports`` (the overview, a person's disclosures), ``anomalies`` (the rules),
and ``projection`` (the event's JSON fields and the time format, written once)."""
