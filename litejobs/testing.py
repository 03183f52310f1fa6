"""Helpers and pytest fixtures for testing code that uses litejobs.

Load the fixtures with ``pytest_plugins = ["litejobs.testing"]`` in a conftest.py
(they are also registered automatically when litejobs is installed):

- ``litejobs_app``: a fresh App on a store in a temporary directory.
- ``litejobs_eager_app``: a fresh App in eager mode (jobs run inline).
- ``litejobs_drain``: a function that runs every due job of an app through the
  real store in this process and returns how many ran.

``use_store(app, path)`` points an existing app (say, your project's) at another
store for the length of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from .app import App


@contextlib.contextmanager
def use_store(app: App, url: str) -> Iterator[App]:
    """Point ``app`` at the store ``url`` inside the block, then back."""
    old_url, old_transport = app.url, app._transport
    app.url, app._transport = url, None
    try:
        yield app
    finally:
        app.close()
        app.url, app._transport = old_url, old_transport


def drain(app: App, queues: Iterable[str] | None = None, timeout: float | None = 60.0) -> int:
    """Run every due job in this process until none is left; return how many ran."""
    return app.run_until_idle(queues=queues, timeout=timeout)


@pytest.fixture
def litejobs_app(tmp_path: Any) -> Iterator[App]:
    app = App(os.path.join(str(tmp_path), "jobs.sqlite"))
    yield app
    app.close()


@pytest.fixture
def litejobs_eager_app(tmp_path: Any) -> Iterator[App]:
    app = App(os.path.join(str(tmp_path), "eager.sqlite"), eager=True,
              task_eager_propagates=True)
    yield app
    app.close()


@pytest.fixture
def litejobs_drain() -> Callable[..., int]:
    return drain
