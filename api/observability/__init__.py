"""Operations: structured logs (``logs``), Prometheus metrics (``metrics``), and the hooks
that feed them without touching the request handlers (``middleware``, ``audit``).

Nothing here ever sees a token, a secret, a GraphQL document's variables or a
registry value: it works from the HTTP status, the route and the audit event
(who asked, under which program, with what outcome, how many rows).
"""
