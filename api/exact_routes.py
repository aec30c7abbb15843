"""Plain routes with a fixed path, found by one dict lookup instead of the route table scan.

Why: the API has dozens of routes, and FastAPI matches a request against them one by
one through every included router: ~80 µs per request before the handler runs (measured
with the remote-write path on the full app vs. an app holding that router alone). For
remote-write, sent hundreds of times a second, that was about a tenth of the event
loop's time per request.

Only plain Starlette ``Route``s of routers mounted without dependencies qualify (the
remote-write endpoint): they take no FastAPI dependencies or validation, so calling
them directly is what the router would do after matching. ``APIRoute``s, and any path
with parameters, go the usual way. The middleware sits innermost (inside the metrics
middleware), so these requests are still counted and timed under their route template.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send


def exact_plain_routes(routes: Iterable[BaseRoute]) -> dict[tuple[str, str], Route]:
    """(path, method) → route, for plain routes with a fixed path (first one wins).

    >>> from starlette.responses import Response
    >>> async def ok(request): return Response()
    >>> table = exact_plain_routes([Route("/a", ok, methods=["POST"]), Route("/b/{x}", ok)])
    >>> sorted(table)
    [('/a', 'POST')]
    """
    table: dict[tuple[str, str], Route] = {}
    for r in routes:
        if type(r) is not Route or r.param_convertors:  # not subclasses such as APIRoute
            continue
        for method in r.methods or ():
            table.setdefault((r.path, method), r)
    return table


class ExactRoutesMiddleware:
    """Pure ASGI: serve the exact plain routes directly, pass everything else on."""

    def __init__(self, app: ASGIApp, routes: dict[tuple[str, str], Route]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self.routes.get((scope["path"], scope["method"]))
            if route is not None and not scope.get("root_path"):
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {}
                await route.handle(scope, receive, send)
                return
        await self.app(scope, receive, send)
