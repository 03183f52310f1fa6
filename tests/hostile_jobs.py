"""Tasks that misbehave on purpose, on the tests' App (`-A hostile_jobs`)."""

from __future__ import annotations

import sys

from jobs import app  # noqa: F401 - the App `-A hostile_jobs` finds

__all__ = ["app"]


class UnprintableError(Exception):
    """An exception whose ``str()`` itself raises."""

    def __str__(self) -> str:
        raise RuntimeError("this exception cannot be printed")


@app.task
def unprintable():
    raise UnprintableError("hidden")


@app.task
def exits(code=3):
    sys.exit(code)
