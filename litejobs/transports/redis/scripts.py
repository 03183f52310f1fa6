"""The Lua scripts of the Redis transport (scripts.lua), loaded once and run by name.

Each ``-- name: X`` section of scripts.lua is one script, with prelude.lua (the shared
functions) in front. A script's ARGV starts with the key prefix, how many events to
keep, and the time now; its own arguments follow.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import redis

from ..base import EVENTS_KEPT
from ..common import load_named_sections


def _load() -> dict[str, str]:
    prelude = resources.files(__package__).joinpath("prelude.lua").read_text()
    sections = load_named_sections(__package__, "scripts.lua")
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
