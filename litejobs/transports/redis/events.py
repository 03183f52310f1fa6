"""The event verbs of the Redis store: a capped stream, and counts per task and kind."""

from __future__ import annotations

from collections.abc import Sequence

from ..base import EVENTS_KEPT, FINISHED_KINDS, Event
from . import codec
from .client import RedisClient, mapped_errors

EVENTS_BATCH = 1000  # events read per round trip when counting throughput


@mapped_errors
class RedisEvents(RedisClient):
    """Events: the stream P:events (capped at EVENTS_KEPT) and P:event_counts."""

    def list_events(self, seq: int, limit: int = 1000) -> list[Event]:
        return [codec.event_from_stream(stream_id, fields) for stream_id, fields in
                self.r.xrange(self._key("events"), codec.seq_to_stream_start(seq), "+",
                              count=limit)]

    def get_last_event_seq(self) -> int:
        last = self.r.xrevrange(self._key("events"), count=1)
        return codec.stream_id_to_seq(last[0][0]) if last else 0

    def count_events(self) -> dict[tuple[str, str], tuple[int, float]]:
        counts = self.r.hgetall(self._key("event_counts"))
        runtimes = self.r.hgetall(self._key("event_runtime"))
        out = {}
        for key, value in counts.items():
            task, _, kind = key.decode().partition("\0")
            out[(task, kind)] = (int(value), float(runtimes.get(key, 0.0)))
        return out

    def count_throughput(self, since: float, bucket: float,
                         kinds: Sequence[str] = FINISHED_KINDS) -> list[tuple[float, int]]:
        # Newest first, by the time each event records (the caller's clock, not the
        # stream ids' server clock), until a whole batch is older than ``since``.
        per: dict[float, int] = {}
        end: str = "+"
        for _ in range(0, EVENTS_KEPT, EVENTS_BATCH):
            batch = self.r.xrevrange(self._key("events"), end, "-", count=EVENTS_BATCH)
            if not batch:
                break
            newest_in_range = False
            for stream_id, fields in batch:
                event = codec.event_from_stream(stream_id, fields)
                if event.ts < since:
                    continue
                newest_in_range = True
                if event.kind in kinds:
                    b = (event.ts // bucket) * bucket
                    per[b] = per.get(b, 0) + 1
            if not newest_in_range or len(batch) < EVENTS_BATCH:
                break
            end = "(" + batch[-1][0].decode()
        return sorted(per.items())
