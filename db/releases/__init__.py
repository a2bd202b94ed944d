"""Releases and the change feed: who entered or left each program's scope, and when.

* :mod:`db.releases.ledger`: recording releases, the one commit-ordered position sequence;
* :mod:`db.releases.scopes`: each program's row scope as SQL and what it can see change, as
  the applied policy recorded them (compiled by ``policies.feed``; applied by
  ``policies.apply``: this package imports no policy);
* :mod:`db.releases.import_changes`: an import's scope changes (before/after);
* :mod:`db.releases.scope_events`: scope changes over the whole registry (seed, policy);
* :mod:`db.releases.deliveries`: webhook deliveries queued with a release.
"""
