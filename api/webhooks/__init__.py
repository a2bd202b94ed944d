"""Webhooks: pushing each program's changes to its agency, signed, retried, audited.

* :mod:`api.webhooks.targets`: which URLs may be subscribed (https, or http on loopback);
* :mod:`api.webhooks.signing`: the detached JWS of a body (``Regsosek-Signature``);
* :mod:`api.webhooks.delivery`: one attempt of one delivery (audit, POST, receipt, retry);
* :mod:`api.webhooks.worker`: the pgqueuer worker that runs them (``regsosek worker``).
"""
