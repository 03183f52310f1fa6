"""The connection a Redis store's verbs share: connecting, key names, the lease clock,
and Redis' errors mapped to StoreError (``mapped_errors``, on each class of verbs)."""

from __future__ import annotations

import functools
from typing import Any

import redis

from ...exceptions import StoreError
from .. import safe_url
from ..common import LeaseClock
from .scripts import Scripts
from .wakeups import WakeListener


def mapped_errors(cls: type) -> type:
    """Wrap every public verb so that Redis' errors reach callers as StoreError."""

    def wrap(method: Any) -> Any:
        @functools.wraps(method)
        def verb(self: RedisClient, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except redis.RedisError as exc:
                raise StoreError(f"Redis at {safe_url(self.url)}: {exc}") from None

        return verb

    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_") and name != "close":
            setattr(cls, name, wrap(value))
    return cls



class RedisClient:
    """One store's client: ``r`` (redis-py), its scripts, its wake-ups, its key prefix."""

    def __init__(self, url: str, prefix: str = "litejobs", events: bool = True,
                 username: str | None = None, password: str | None = None,
                 **_options: Any) -> None:
        self.url = url
        self.prefix = prefix
        self.events = events
        # a round trip's jitter stays within the tolerance; a step of the wall clock not
        self._lease_clock = LeaseClock(self._server_time, 0.25)
        try:
            credentials = {k: v for k, v in (("username", username), ("password", password))
                           if v is not None}  # given as options, they win over the URL's
            self.r = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30,
                                          health_check_interval=30, retry_on_timeout=True,
                                          **credentials)
            self.r.ping()
        except redis.RedisError as exc:
            raise StoreError(f"cannot reach Redis at {safe_url(url)}: {exc}") from None
        self.r.set(f"{prefix}:events_on", "1" if events else "0")
        self._scripts = Scripts(self.r, prefix)
        self._wakeups = WakeListener(self.r, self._key("wake"))

    def __repr__(self) -> str:
        return f"<RedisTransport {safe_url(self.url)}>"

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _lease_now(self, now: float) -> float:
        """``now`` on the lease clock: the Redis server's ``TIME``, one clock for every
        worker whatever its own wall clock says (``now`` still steps it, for tests)."""
        return self._lease_clock.now(now)

    def _server_time(self) -> float:
        seconds, micros = self.r.time()
        return seconds + micros / 1e6

    def close(self) -> None:
        self._wakeups.close()
        self.r.close()
