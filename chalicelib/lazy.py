"""Handlers registered by name, imported when first called: what keeps a cold start small.

Every Lambda function of the app imports ``app.py`` and so everything it imports, whichever
handler the function runs. So ``app.py`` names its handlers without importing them:

- **workers** (queues, the stream, schedules): :func:`lazy_handler` gives Chalice a thin
  function named after the handler that imports ``module:function`` on its first call. The
  receipt worker's function then loads the receipt worker and what it needs, nothing else.
- **routes**: Chalice needs every route in ``app.routes`` to package the API and to dispatch a
  request, but not before either happens. :class:`LazyRoutes` replaces that table and imports a
  blueprint module (and registers its blueprint) the first time a path under the blueprint's
  prefix is looked up; listing the table (``chalice package``, chalice's local gateway, the
  OpenAPI document) imports them all. A request to ``/v1/...`` so never loads the console's
  templates and charts, and a worker never loads a route.
"""

from __future__ import annotations

import importlib
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalice.app import Blueprint, Chalice, RouteEntry


def _resolve(target: str) -> Any:
    """The object named by ``package.module:attribute``, importing the module if needed."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def lazy_handler(name: str, target: str) -> Callable[..., Any]:
    """A function called ``name`` that calls ``target`` (``module:function``), imported on first call.

    Chalice packages an event handler as ``app.<function name>``; ``app.py`` resolves that name
    through ``app.handler_map``, so the name given here is the handler's name in the template.
    """
    resolved: list[Callable[..., Any]] = []

    def handler(*args: Any, **kwargs: Any) -> Any:
        if not resolved:
            resolved.append(_resolve(target))
        return resolved[0](*args, **kwargs)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = f"Imports and calls {target} (see chalicelib/lazy.py)."
    return handler


@dataclass(frozen=True)
class LazyBlueprint:
    """A blueprint known by name: every route it declares starts with ``prefix``."""

    prefix: str
    target: str  # "package.module:blueprint_attribute"


class RouteOutsidePrefix(Exception):
    """A lazily registered blueprint declared a route its prefix does not cover: it would be
    packaged but could be looked up before its module is imported."""


class LazyRoutes(MutableMapping[str, dict[str, "RouteEntry"]]):
    """Chalice's route table (path -> method -> route), filled a blueprint at a time on demand.

    Invariant: a path is looked up only after every blueprint whose prefix it starts with has been
    registered; listing, counting or iterating the table registers all of them first. Loading is
    serialised by a lock (the local stack serves requests from threads); a blueprint leaves the
    pending list only once all its routes are in the table.
    """

    def __init__(
        self,
        app: Chalice,
        blueprints: Iterable[LazyBlueprint],
        before_first: Callable[[], None] | None = None,
    ) -> None:
        self._app = app
        self._routes: defaultdict[str, dict[str, RouteEntry]] = defaultdict(dict)
        self._routes.update(app.routes)  # routes declared on the app itself, if any
        self._pending = list(blueprints)
        self._before_first = before_first  # run once, before the first blueprint is imported
        self._lock = threading.RLock()
        self._registering = False  # only ever true in the thread holding the lock

    def load(self, path: str | None = None) -> None:
        """Register the pending blueprints whose prefix ``path`` starts with (all when None)."""
        if not self._pending:
            return
        with self._lock:
            if self._registering:
                return  # Chalice writing a route of the blueprint being registered
            self._registering = True
            try:
                for blueprint in [b for b in self._pending if path is None or path.startswith(b.prefix)]:
                    self._register(blueprint)
                    self._pending.remove(blueprint)
            finally:
                self._registering = False

    def _register(self, lazy: LazyBlueprint) -> None:
        if self._before_first is not None:
            self._before_first()
            self._before_first = None
        before = {(path, method) for path, methods in self._routes.items() for method in methods}
        blueprint: Blueprint = _resolve(lazy.target)
        self._app.register_blueprint(blueprint)
        added = {(path, method) for path, methods in self._routes.items() for method in methods} - before
        outside = sorted(f"{method} {path}" for path, method in added if not path.startswith(lazy.prefix))
        if outside:
            raise RouteOutsidePrefix(f"{lazy.target} declares {', '.join(outside)} outside {lazy.prefix!r}")

    def __getitem__(self, path: str) -> dict[str, RouteEntry]:
        self.load(path)
        return self._routes[path]  # a defaultdict, as Chalice's own table: registration writes through it

    def __setitem__(self, path: str, methods: dict[str, RouteEntry]) -> None:
        self._routes[path] = methods

    def __delitem__(self, path: str) -> None:
        self.load()
        del self._routes[path]

    def __contains__(self, path: object) -> bool:
        if isinstance(path, str):
            self.load(path)
        return path in self._routes

    def __iter__(self) -> Iterator[str]:
        self.load()
        return iter(list(self._routes))

    def __len__(self) -> int:
        self.load()
        return len(self._routes)
