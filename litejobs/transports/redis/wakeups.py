"""Waking an idle worker when the store changes: every change script publishes on P:wake.

A subscription keeps the messages in its socket until they are read, so nothing
published after subscribing is missed; a process subscribes on its own (never through
a connection inherited across fork).
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis


class WakeListener:
    """The subscription to one store's wake-up channel, opened on first use per process."""

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._pubsub: Any = None
        self._pid = 0

    def wait(self, timeout: float) -> bool:
        """Block until a change is published, or ``timeout`` seconds; True if woken."""
        if self._pubsub is None or self._pid != os.getpid():
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            self._pubsub.subscribe(self._channel)
            self._pid = os.getpid()
            return True  # anything before the subscription may have been missed
        try:
            if self._drain():
                return True
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._pubsub.get_message(timeout=remaining) is not None:
                    self._drain()
                    return True
        except redis.ConnectionError:
            # Redis restarted, or dropped a subscriber that read too slowly: subscribe
            # again on the next call, and let the caller look at the store meanwhile.
            self._pubsub = None
            return True

    def _drain(self) -> bool:
        seen = False
        while self._pubsub.get_message(timeout=0) is not None:
            seen = True
        return seen

    def close(self) -> None:
        if self._pubsub is not None and self._pid == os.getpid():
            self._pubsub.close()
        self._pubsub = None
