"""The Lua scripts of the Redis transport (scripts.lua), loaded once and run by name.

Each ``-- name: X`` section of scripts.lua is one script, with the shared ``prelude``
in front. A script's ARGV starts with the key prefix, how many events to keep, and the
time now; its own arguments follow.
"""

from __future__ import annotations

from typing import Any

import redis

from ..base import EVENTS_KEPT, load_named_sections


def _load() -> dict[str, str]:
    sections = load_named_sections(__package__, "scripts.lua")
    prelude = sections.pop("prelude")
    return {name: prelude + body for name, body in sections.items()}


SOURCES = _load()


class Scripts:
    """The scripts registered with one client, under one key prefix."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.prefix = prefix
        self._scripts = {name: client.register_script(code) for name, code in SOURCES.items()}

    def run(self, name: str, now: float, *args: Any) -> Any:
        """Run script ``name`` at time ``now`` (0 for the scripts that read no clock)."""
        return self._scripts[name](args=[self.prefix, EVENTS_KEPT, now, *args])
