"""Releases and the change feed: who entered or left each program's scope, and when.

* :mod:`db.releases.ledger`: recording releases, the one commit-ordered position sequence;
* :mod:`db.releases.scopes`: each program's row scope as SQL, and what it can see change;
* :mod:`db.releases.import_changes`: an import's scope changes (before/after);
* :mod:`db.releases.scope_events`: scope changes over the whole registry (seed, policy);
* :mod:`db.releases.policy_change`: ``regsosek policy apply`` as a release;
* :mod:`db.releases.deliveries`: webhook deliveries queued with a release.
"""
