"""Waking an idle worker when the store changes: every change script publishes on P:wake.

A subscription keeps the messages in its socket until they are read, so nothing
published after subscribing is missed; a process subscribes on its own (never through
a connection inherited across fork). Each message is the store's new version number:
the versions this connection's own claims and settles made are skipped, since their
caller knows what it changed (a worker is not woken by its own settle to look again).
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis

OWN_KEPT = 256  # own versions remembered until their message is read


class WakeListener:
    """The subscription to one store's wake-up channel, opened on first use per process."""

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._pubsub: Any = None
        self._pid = 0
        self._own: set[bytes] = set()

    def own(self, version: int) -> None:
        """Skip the wake-up of ``version``: a change this connection made itself."""
        if version and self._pubsub is not None and self._pid == os.getpid():
            if len(self._own) >= OWN_KEPT:  # their messages were never read: forget them
                self._own.clear()
            self._own.add(str(version).encode())

    def wait(self, timeout: float) -> bool:
        """Block until a change is published, or ``timeout`` seconds; True if woken."""
        if self._pubsub is None or self._pid != os.getpid():
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            self._pubsub.subscribe(self._channel)
            self._pid = os.getpid()
            self._own.clear()
            return True  # anything before the subscription may have been missed
        try:
            if self._drain():
                return True
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                message = self._pubsub.get_message(timeout=remaining)
                if message is not None and not self._skipped(message):
                    self._drain()
                    return True
        except redis.ConnectionError:
            # Redis restarted, or dropped a subscriber that read too slowly: subscribe
            # again on the next call, and let the caller look at the store meanwhile.
            self._pubsub = None
            return True

    def _skipped(self, message: dict) -> bool:
        data = message.get("data")
        if data in self._own:
            self._own.discard(data)
            return True
        return False

    def _drain(self) -> bool:
        seen = False
        while (message := self._pubsub.get_message(timeout=0)) is not None:
            if not self._skipped(message):
                seen = True
        return seen

    def close(self) -> None:
        if self._pubsub is not None and self._pid == os.getpid():
            self._pubsub.close()
        self._pubsub = None
