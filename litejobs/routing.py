"""``task_routes`` as in Celery's routing guide: a dict (exact names, glob patterns such as
``"feed.tasks.*"``, compiled regexes), a list of ``(pattern, route)`` pairs, a router
function (or ``"module.function"`` naming one), or a list of these; the first router
that answers wins. A route is a queue name or a dict with ``queue`` (and ``priority``);
Celery's ``exchange``/``routing_key`` are accepted and mean nothing here."""

from __future__ import annotations

import fnmatch
import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .exceptions import ConfigurationError

Router = Callable[..., Any]
_ROUTE_KEYS = frozenset({"queue", "priority", "exchange", "exchange_type", "routing_key",
                         "delivery_mode"})


class MapRoute:
    """Exact names first, then patterns in the order given (as Celery's MapRoute)."""

    def __init__(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        self.exact: dict[str, Any] = {}
        self.patterns: list[tuple[re.Pattern[str], Any]] = []
        for key, route in pairs:
            route = _check_route(key, route)
            if isinstance(key, re.Pattern):
                self.patterns.append((key, route))
            elif isinstance(key, str) and any(c in key for c in "*?["):
                self.patterns.append((re.compile(fnmatch.translate(key)), route))
            elif isinstance(key, str):
                self.exact[key] = route
            else:
                raise ConfigurationError(f"task_routes: a key must be a task name, a glob "
                                         f"pattern or a compiled regex, not {key!r}")

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name in self.exact:
            return self.exact[name]
        for pattern, route in self.patterns:
            if pattern.match(name):
                return route
        return None


def _check_route(where: Any, route: Any) -> dict[str, Any]:
    if isinstance(route, str):
        return {"queue": route}
    if not isinstance(route, Mapping):
        raise ConfigurationError(f"task_routes[{where!r}]: a route is a queue name or a "
                                 f"dict such as {{'queue': 'emails'}}, not {route!r}")
    unknown = set(route) - _ROUTE_KEYS
    if unknown:
        raise ConfigurationError(f"task_routes[{where!r}]: unknown route key(s) "
                                 f"{', '.join(sorted(map(str, unknown)))}; use queue= "
                                 "(and priority=)")
    if "queue" in route and not (isinstance(route["queue"], str) and route["queue"]):
        raise ConfigurationError(f"task_routes[{where!r}]: queue must be a queue name, "
                                 f"not {route['queue']!r}")
    return dict(route)


def _import_router(spec: str) -> Router:
    module, _, attr = spec.replace(":", ".").rpartition(".")
    try:
        router = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"task_routes: cannot import router {spec!r}: {exc}") \
            from None
    if not callable(router):
        raise ConfigurationError(f"task_routes: {spec!r} is not callable")
    return router


def _is_pairs(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(p, (tuple, list)) and len(p) == 2 and not callable(p[0]) for p in value)


def compile_routes(value: Any) -> list[Router]:
    """The routers ``task_routes`` describes, checked (a bad entry raises, naming it)."""
    if value is None:
        return []
    if isinstance(value, (Mapping, str)) or callable(value) or _is_pairs(value):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ConfigurationError(f"task_routes: expected a dict, a list of (pattern, route) "
                                 f"pairs, a router function, or a list of these, not "
                                 f"{value!r}")
    routers: list[Router] = []
    for item in value:
        if isinstance(item, Mapping):
            routers.append(MapRoute(item.items()))
        elif _is_pairs(item):
            routers.append(MapRoute(item))
        elif isinstance(item, str):
            routers.append(_import_router(item))
        elif callable(item):
            routers.append(item)
        else:
            raise ConfigurationError(f"task_routes: {item!r} is not a dict, a list of "
                                     "(pattern, route) pairs or a router function")
    return routers


def route(routers: list[Router], name: str, args: Any, kwargs: Any,
          options: dict[str, Any], task: Any) -> dict[str, Any] | None:
    """The first route a router gives for this job, as a dict (``None``: no route)."""
    for router in routers:
        found = router(name, args, kwargs, options, task=task)
        if found is not None:
            return _check_route(name, found)
    return None


def route_queues(routers: list[Router]) -> set[str]:
    """The queues the route maps name (a router function's answers are not known)."""
    queues: set[str] = set()
    for router in routers:
        if isinstance(router, MapRoute):
            for found in (*router.exact.values(), *(r for _, r in router.patterns)):
                if found.get("queue"):
                    queues.add(found["queue"])
    return queues
