"""Stores behind one interface; ``open_transport(url)`` picks one from the URL."""

from __future__ import annotations

from typing import Any

from ..exceptions import ConfigurationError
from .base import Attempt, Event, Lost, Transport, WorkerInfo
from .sqlite import SQLiteTransport

__all__ = ["Attempt", "Event", "Lost", "Transport", "WorkerInfo", "open_transport", "safe_url"]


def safe_url(url: str) -> str:
    """The store URL with any password masked, for output and logs."""
    if "://" not in url or "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    credentials, _, host = rest.rpartition("@")
    user = credentials.partition(":")[0]
    return f"{scheme}://{user + ':' if user else ''}***@{host}"


def open_transport(url: str, **options: Any) -> Transport:
    """``redis://`` / ``rediss://`` is Redis; a path or ``sqlite:///path`` is SQLite.

    For a SQLite file, ``mode`` ("create", "existing" or "read": see
    sqlite/connection.py) and ``verify`` (check every page first) say how to open it;
    a Redis server has no file to create or check, and ignores them.
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"store URL must be a non-empty string, not {url!r}")
    mode = options.pop("mode", "create")
    verify = options.pop("verify", False)
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            # only for a redis:// URL: redis-py is an optional extra
            from .redis import RedisTransport  # noqa: PLC0415
        except ModuleNotFoundError as exc:
            if exc.name == "redis":
                raise ConfigurationError(
                    "the Redis transport needs redis-py: pip install 'litejobs[redis]'"
                ) from None
            raise ConfigurationError(
                "this litejobs has no Redis transport yet; use a SQLite path"
            ) from None
        return RedisTransport(url, **options)
    return SQLiteTransport(url, durability=options.get("durability", "normal"),
                           events=options.get("events", True), mode=mode, verify=verify)
