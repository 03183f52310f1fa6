"""``search_jobs`` on Redis: walk the enqueue-ordered index, filter and sort in Python.

Redis keeps no secondary indexes of jobs, so a search reads job hashes in pipelined
batches from the ``all`` sorted set (enqueue order). Newest-first (or oldest-first) by
creation stops as soon as the page is full; another order reads every match, among the
newest (or oldest) SCAN_LIMIT jobs at most, so a page stays bounded on a store of
millions (the dashboard says so). Running jobs are read from the workers' sets instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import redis

from ...job import Job, JobState
from ..base import JobQuery
from ..common import job_matches, job_sort_value

BATCH = 500
SCAN_LIMIT = 100_000  # jobs a search reads at most (Transport.search_scan_limit)


def search_jobs(r: redis.Redis, all_key: str,
                get_many: Callable[[Sequence[str]], list[Job | None]],
                q: JobQuery, running: Callable[[], list[str]]) -> list[Job]:
    by_creation = q.sort == "created"
    wanted = q.offset + q.limit
    if q.state is JobState.RUNNING:  # few, and each worker keeps a set of its own
        return _page(_positioned(r, all_key, running(), get_many, q), q, wanted)
    found: list[tuple[int, Job]] = []  # (enqueue position, job)
    start = 0
    unfiltered = by_creation and not (q.state or q.queue or q.task or q.text or q.since
                                      or q.until)
    scan = wanted if unfiltered else max(SCAN_LIMIT, wanted)  # a plain page reads itself
    while not (by_creation and len(found) >= wanted) and start < scan:
        end = min(start + BATCH, scan) - 1
        if q.descending:
            rows = r.zrevrange(all_key, start, end, withscores=True)
        else:
            rows = r.zrange(all_key, start, end, withscores=True)
        if not rows:
            break
        start += len(rows)
        pairs = cast("list[tuple[bytes, float]]", rows)
        ids = [raw.decode() for raw, _score in pairs]
        for (_raw, score), job in zip(pairs, get_many(ids), strict=True):
            if job is not None and job_matches(job, q):
                found.append((int(score), job))
    return _page(found, q, wanted, presorted=by_creation)


def _positioned(r: redis.Redis, all_key: str, ids: list[str],
                get_many: Callable[[Sequence[str]], list[Job | None]],
                q: JobQuery) -> list[tuple[int, Job]]:
    """The matching jobs of ``ids`` with their enqueue positions."""
    pipe = r.pipeline(transaction=False)
    for job_id in ids:
        pipe.zscore(all_key, job_id)
    scores = pipe.execute()
    return [(int(score), job) for score, job in zip(scores, get_many(ids), strict=True)
            if score is not None and job is not None and job_matches(job, q)]


def _page(found: list[tuple[int, Job]], q: JobQuery, wanted: int,
          presorted: bool = False) -> list[Job]:
    if not presorted:
        if q.sort == "created":
            found.sort(key=lambda pair: pair[0], reverse=q.descending)
        else:
            found.sort(key=lambda pair: (job_sort_value(pair[1], q.sort), pair[0]),
                       reverse=q.descending)
    return [job for _seq, job in found[q.offset:wanted]]
