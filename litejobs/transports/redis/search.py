"""``search_jobs`` on Redis: walk the enqueue-ordered index, filter and sort in Python.

Redis keeps no secondary indexes of jobs, so a search reads job hashes in pipelined
batches from the ``all`` sorted set (enqueue order). Newest-first (or oldest-first) by
creation stops as soon as the page is full; another order reads every match.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import redis

from ...job import Job
from ..base import JobQuery
from ..common import job_matches, job_sort_value

BATCH = 500


def search_jobs(r: redis.Redis, all_key: str,
                get_many: Callable[[Sequence[str]], list[Job | None]],
                q: JobQuery) -> list[Job]:
    by_creation = q.sort == "created"
    wanted = q.offset + q.limit
    found: list[tuple[int, Job]] = []  # (enqueue position, job)
    start = 0
    while not (by_creation and len(found) >= wanted):
        if q.descending:
            rows = r.zrevrange(all_key, start, start + BATCH - 1, withscores=True)
        else:
            rows = r.zrange(all_key, start, start + BATCH - 1, withscores=True)
        if not rows:
            break
        start += len(rows)
        pairs = cast("list[tuple[bytes, float]]", rows)
        ids = [raw.decode() for raw, _score in pairs]
        for (_raw, score), job in zip(pairs, get_many(ids), strict=True):
            if job is not None and job_matches(job, q):
                found.append((int(score), job))
    if not by_creation:
        found.sort(key=lambda pair: (job_sort_value(pair[1], q.sort), pair[0]),
                   reverse=q.descending)
    return [job for _seq, job in found[q.offset:wanted]]
