"""Route templates from the frameworks that expose one: Starlette/FastAPI (the ASGI
scope), Flask (its request's ``url_rule``, through a teardown hook), Django (a Django
middleware), or any app that sets ``ROUTE_KEY`` in its scope or environ itself."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

ROUTE_KEY = "tachikoma_metrics.route"
"""Scope (ASGI) or environ (WSGI) key an app may set to its request's route template; the
middleware reads it first."""

_MOUNT_DEPTH = 16  # nested mounts followed at most (a loop in an app graph must end)


# -- ASGI: Starlette and FastAPI -----------------------------------------------------------


def scope_route(
    scope: MutableMapping[str, Any], before: ScopeState, app: object, status: int
) -> str | None:
    """The template of the route that handled this request inside ``app``, relative to
    where the middleware sits (``before``: the scope as the middleware got it), or
    ``None``.

    Starlette's router sets ``scope["route"]`` (the innermost route; FastAPI's too) and
    every ``Mount`` appends the path it matched to ``scope["root_path"]``: the mounts'
    own templates are found again from ``app``'s routes, so a parameter in a mount path
    stays a parameter. A route set outside the middleware (it was there before) is not
    this request's. A request that ended at a mount with a 404 (nothing inside matched)
    is unmatched."""
    given = scope.get(ROUTE_KEY)
    if given.__class__ is str:
        return given
    route = scope.get("route")
    if route is None or route is before.route:
        return None
    path = getattr(route, "path", None)
    if path.__class__ is not str:
        return None
    is_mount = _is_mount(route)
    if is_mount and status == 404:
        return None
    current = scope.get("root_path", "")
    root_path = before.root_path
    raw = ""
    if current.__class__ is str and current.startswith(root_path):
        raw = current[len(root_path) :]
    if raw:
        prefix = _mount_template(_routes_of(app, scope, before), raw)
        return f"{prefix}/{{path}}" if is_mount else f"{prefix}{path}"
    if is_mount:  # a mount whose app set no root_path (not Starlette's)
        return f"{path}/{{path}}"
    return path


class ScopeState:
    """What the middleware notes of a scope before the app runs: its ``root_path`` and
    the route and router set outside (by an enclosing framework), if any."""

    __slots__ = ("root_path", "route", "router")

    def __init__(self, scope: MutableMapping[str, Any]) -> None:
        root_path = scope.get("root_path", "")
        self.root_path: str = root_path if root_path.__class__ is str else ""
        self.route: object = scope.get("route")
        self.router: object = scope.get("router")


def _routes_of(app: object, scope: MutableMapping[str, Any], before: ScopeState) -> Any:
    """The outermost route table inside the middleware: the router Starlette noted in the
    scope (it notes the first one only, so not when one ran outside), else ``app``'s own
    or that of the app it wraps (``.app``, as Starlette middlewares keep it)."""
    if before.router is None:
        routes = getattr(scope.get("router"), "routes", None)
        if routes is not None:
            return routes
    for _ in range(_MOUNT_DEPTH):
        routes = getattr(app, "routes", None)
        if routes is not None:
            return routes
        app = getattr(app, "app", None)
        if app is None:
            break
    return None


def _is_mount(route: object) -> bool:
    # Starlette's Mount (and Host) have ``routes``; Route and WebSocketRoute do not.
    return hasattr(route, "routes") and not hasattr(route, "endpoint")


def _mount_template(routes: Sequence[Any] | None, raw: str) -> str:
    """The templates of the mounts whose matched paths make up ``raw`` (say
    ``/orgs/acme/teams``), joined (``/orgs/{org}/teams``); where no mount matches, the
    rest of ``raw`` as it is."""
    template = ""
    for _ in range(_MOUNT_DEPTH):
        if not raw:
            return template
        found = None
        for route in routes or ():
            regex = getattr(route, "path_regex", None)
            if regex is None or not _is_mount(route):
                continue
            match = regex.match(raw + "/")
            if match is None:
                continue
            rest = "/" + match.groupdict().get("path", "")
            consumed = len(raw) + 1 - len(rest)
            if consumed > 0:
                found = (route, raw[consumed:])
                break
        if found is None:
            break
        route, raw = found
        template += route.path
        routes = getattr(route, "routes", None)
    return template + raw


# -- WSGI: Flask and Django ---------------------------------------------------------------


def flask_app(app: object) -> Any:
    """The Flask application ``app`` is (a ``flask.Flask``) or whose ``wsgi_app`` method it
    is, else ``None``. Duck-typed: flask is not imported for apps that are not Flask's."""
    owner = getattr(app, "__self__", app)
    if all(hasattr(owner, name) for name in ("wsgi_app", "url_map", "teardown_request")):
        return owner
    return None


def hook_flask(app: Any) -> None:
    """Have a Flask app copy its request's ``url_rule`` into the environ (``ROUTE_KEY``) at
    the request's teardown, which runs for every request (errors included) while the
    request is still known; once per app."""
    extensions = getattr(app, "extensions", None)
    if isinstance(extensions, dict):
        if extensions.get(ROUTE_KEY):
            return
        extensions[ROUTE_KEY] = True
    from flask import request  # only reached for a Flask app: flask is there

    def keep_route(error: BaseException | None) -> None:
        rule = request.url_rule
        if rule is not None:
            request.environ[ROUTE_KEY] = rule.rule

    app.teardown_request(keep_route)


def environ_route(environ: MutableMapping[str, Any]) -> str | None:
    given = environ.get(ROUTE_KEY)
    return given if given.__class__ is str else None


class DjangoRouteMiddleware:
    """A Django middleware (add its dotted path,
    ``"tachikoma_metrics.middleware.DjangoRouteMiddleware"``, to ``MIDDLEWARE``) that hands
    ``request.resolver_match.route`` to ``wsgi_middleware``/``asgi_middleware`` wrapping
    Django's WSGI or ASGI application: Django keeps its request to itself, so the route
    goes into the environ (WSGI, ``request.META`` is it) or the scope (ASGI)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        try:
            return self.get_response(request)
        finally:
            match = getattr(request, "resolver_match", None)
            route = getattr(match, "route", None)
            if route.__class__ is str:
                scope = getattr(request, "scope", None)
                target = scope if isinstance(scope, dict) else getattr(request, "META", None)
                if isinstance(target, dict):
                    target[ROUTE_KEY] = route
