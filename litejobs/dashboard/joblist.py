"""The dashboard's job list: filters, free-text search, sortable columns, paging.

One page is one ``search_jobs`` call (``limit`` + 1 rows, to know whether there is a
next page), so a page of the newest jobs reads ~50 rows however large the store is.
Bad query values get a 400 naming the problem.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from .. import serializer, states
from ..app import App
from ..exceptions import LiteJobsError
from ..job import Job, JobState
from ..timeutil import now as clock_now
from ..transports.base import JOB_SORTS, JobQuery

MAX_PAGE = 10**9  # later pages are clamped to this one (the store's offsets are 64-bit)

PAGE_SIZE = 50
ARGS_SHOWN = 80  # characters of a job's arguments in the list
#: the time-range filter's choices: label -> seconds back from now
RANGES = {"5m": 300, "1h": 3600, "24h": 86400, "7d": 7 * 86400}


def args_text(job: Job, limit: int = ARGS_SHOWN) -> str:
    """A job's arguments as ``repr`` text, shortened to ``limit`` characters."""
    try:
        args, kwargs = serializer.loads_call(job.payload)
    except LiteJobsError:
        return "<undecodable>"
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    text = ", ".join(parts)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def ago(seconds: float | None) -> str:
    """``"12s ago"``, ``"5m ago"``, ``"3h ago"``, ``"2d ago"`` (``"in 5m"`` ahead)."""
    if seconds is None:
        return "-"
    ahead, s = seconds < 0, abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            text = f"{int(s // size)}{unit}"
            break
    else:
        text = f"{int(s)}s"
    return f"in {text}" if ahead else f"{text} ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def row(job: Job, now: float) -> dict[str, Any]:
    runtime = None
    if job.started_at is not None:
        runtime = (job.done_at if job.done_at is not None else now) - job.started_at
    return {
        "id": job.id, "task": job.task, "queue": job.queue, "args": args_text(job),
        "state": states.celery_state(job.state, job.custom_state, job.retries),
        "worker": job.worker or "", "attempts": job.attempts,
        "runtime": duration(runtime) if job.state is not JobState.PENDING else "-",
        "created": job.created_at, "created_ago": ago(now - job.created_at),
        "done": job.done_at, "done_ago": ago(now - job.done_at) if job.done_at else "-",
    }


def query_from(params: dict[str, str], page_no: int, now: float) -> JobQuery:
    """A ``JobQuery`` from the page's query string; ValueError names a bad value."""
    state = params.get("state") or None
    try:
        job_state = JobState(state) if state else None
    except ValueError:
        raise ValueError(f"unknown state {state!r}") from None
    since = None
    if params.get("range"):
        if params["range"] not in RANGES:
            raise ValueError(f"unknown range {params['range']!r}: one of {', '.join(RANGES)}")
        since = now - RANGES[params["range"]]
    sort = params.get("sort") or "created"
    if sort not in JOB_SORTS:
        raise ValueError(f"unknown sort {sort!r}: one of {', '.join(JOB_SORTS)}")
    return JobQuery(state=job_state, queue=params.get("queue") or None,
                    task=params.get("task") or None, text=params.get("q") or None,
                    since=since, sort=sort, descending=params.get("dir", "desc") != "asc",
                    limit=PAGE_SIZE + 1, offset=(page_no - 1) * PAGE_SIZE)


def scan_note(store: App, query: JobQuery) -> str | None:
    """What the page says when the store searched only its newest jobs (Redis)."""
    limit = store.transport.search_scan_limit
    filtered = query.sort != "created" or query.text or query.task or query.queue or (
        query.state not in (None, JobState.RUNNING)) or query.since is not None or (
        query.until is not None)
    if limit is None or not filtered:
        return None
    total = sum(sum(states.values()) for states in store.transport.count_jobs().values())
    if total <= limit:
        return None
    which = "newest" if query.descending else "oldest"
    return (f"This store (Redis) sorts and searches only its {which} {limit:,} jobs "
            f"(of {total:,}); sorted by creation time and unfiltered, the list pages "
            "through them all.")


def make_handler(store: App, page: Any) -> Any:
    async def job_list(request: Request) -> Response:
        params = {k: v.strip() for k, v in request.query_params.items()}
        wanted = params.get("q", "")
        if wanted and store.transport.get(wanted) is not None:  # an exact id: its page
            return RedirectResponse(f"/jobs/{wanted}", status_code=303)
        try:
            page_no = min(max(1, int(params.get("page", "1"))), MAX_PAGE)
        except ValueError:
            page_no = 1
        now = clock_now()
        try:
            query = query_from(params, page_no, now)
        except ValueError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        found = store.transport.search_jobs(query)
        filters = {k: v for k, v in params.items() if k not in ("page", "done") and v}
        return page(request, "jobs.html", jobs=[row(j, now) for j in found[:PAGE_SIZE]],
                    scan_note=scan_note(store, query),
                    page=page_no, more=len(found) > PAGE_SIZE, filters=filters,
                    searched=wanted or None, states=[s.value for s in JobState],
                    ranges=list(RANGES), sort=query.sort,
                    direction="desc" if query.descending else "asc")

    return job_list
