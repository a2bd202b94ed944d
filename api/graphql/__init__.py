"""The GraphQL edge: ``/graphql`` and what stands behind it.

* ``api.graphql.endpoint``: ``POST /graphql`` (authenticate, execute, audit, answer),
  ``GET /graphql`` (GraphiQL for browsers) and the one refusal of every other method;
* ``api.graphql.startup``: the read pools and the engine (``schema.execute.Engine``),
  rebuilt on each policy reload;
* ``api.graphql.roots``: the registry of value roots (``myAccess``, ``householdStats``,
  the auditors' fields).
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from api.graphql.endpoint import STATIC, graphql_get, graphql_other, graphql_post

OTHER_METHODS = ["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]


def graphql_routes() -> list[BaseRoute]:
    return [
        Route("/graphql", graphql_post, methods=["POST"]),
        Route("/graphql", graphql_get, methods=["GET"]),
        Route("/graphql", graphql_other, methods=OTHER_METHODS),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
