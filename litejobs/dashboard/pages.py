"""The dashboard's newer pages and actions: schedules, a job's live state, bulk actions.

web.py wires these routes in and hands over its ``page`` (render with the CSRF token)
and ``checked_form`` (refuses read-only mode and a bad CSRF token), so every POST here
goes through the same checks as the rest. Each action redirects back with a line saying
what it did ("retried 12 jobs"), shown on the page it returns to.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import states
from ..app import App
from ..exceptions import LiteJobsError
from ..job import JobState
from ..metrics import iso
from ..schedules import parse_schedule
from ..serializer import loads
from ..timeutil import now as clock_now
from ..transports.base import JobQuery
from . import joblist

Page = Callable[..., Response]
CheckedForm = Callable[[Request], Awaitable[dict[str, Any]]]
BULK_LIMIT = 1000  # ids one bulk action takes
CHART_SECONDS, CHART_BUCKET = 300.0, 10.0  # the throughput chart: 5 minutes, 10 s steps
RUNNING_SHOWN = 500  # running jobs listed under the workers


def confirm(request: Request, message: str, default: str = "/") -> RedirectResponse:
    """Back to the page the action came from (ours only), saying what was done."""
    target = request.headers.get("referer") or default
    if "://" in target and not target.startswith(str(request.base_url)):
        target = default
    parts = urllib.parse.urlsplit(target)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "done"]
    query.append(("done", message))
    return RedirectResponse(urllib.parse.urlunsplit(
        ("", "", parts.path or "/", urllib.parse.urlencode(query), "")), status_code=303)


def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _json_field(form: dict[str, Any], key: str, kind: type) -> Any:
    text = str(form.get(key) or "").strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise LiteJobsError(f"{key}: not JSON ({exc})") from None
    if not isinstance(value, kind):
        raise LiteJobsError(f"{key}: must be a JSON {kind.__name__}")
    return value


def progress_of(meta: Any) -> dict[str, float] | None:
    """``{"current", "total", "percent"}`` from ``update_state`` meta, when it has them."""
    if not isinstance(meta, dict):
        return None
    current, total = meta.get("current"), meta.get("total")
    if not isinstance(current, (int, float)) or not isinstance(total, (int, float)) or \
            isinstance(current, bool) or isinstance(total, bool) or total <= 0:
        return None
    percent = max(0.0, min(100.0, 100.0 * current / total))
    return {"current": current, "total": total, "percent": round(percent, 1)}


def routes(store: App, page: Page, checked_form: CheckedForm) -> list[Route]:
    """The routes of this module, for web.py's ``create_app``."""

    async def schedules(request: Request) -> Response:
        rows = [{
            "name": s.name, "task": s.task, "schedule": s.schedule, "origin": s.origin,
            "enabled": s.enabled, "editable": s.editable,
            "last_run": iso(s.last_run), "args": json.dumps(list(s.args)),
            "kwargs": json.dumps(s.kwargs),
            "next_run": iso(s.next_run),
        } for s in store.schedules.list()]
        return page(request, "schedules.html", schedules=rows,
                    done=request.query_params.get("done"))

    async def add_schedule(request: Request) -> Response:
        form = await checked_form(request)
        name = str(form.get("name") or "").strip()
        try:
            when = parse_schedule(str(form.get("when") or ""))
            store.schedules.add(name, str(form.get("task") or "").strip(), when,
                                args=_json_field(form, "args", list) or (),
                                kwargs=_json_field(form, "kwargs", dict))
        except LiteJobsError as exc:
            return confirm(request, f"not added: {exc}", "/schedules")
        return confirm(request, f"added schedule {name!r} ({when!r})", "/schedules")

    async def schedule_action(request: Request) -> Response:
        form = await checked_form(request)
        name, action = request.path_params["name"], request.path_params["action"]
        s = store.schedules
        try:
            if action == "enable":
                s.enable(name)
                done = f"enabled schedule {name!r}"
            elif action == "disable":
                s.disable(name)
                done = f"disabled schedule {name!r}"
            elif action == "remove":
                s.remove(name)
                done = f"removed schedule {name!r}"
            elif action == "run":
                done = f"sent {s.run_now(name).id}"
            elif action == "update":
                when = str(form.get("when") or "").strip()
                s.update(name, task=str(form.get("task") or "").strip() or None,
                         schedule=parse_schedule(when) if when else None,
                         args=_json_field(form, "args", list),
                         kwargs=_json_field(form, "kwargs", dict))
                done = f"updated schedule {name!r}"
            else:
                return PlainTextResponse(f"unknown action {action!r}", status_code=404)
        except LiteJobsError as exc:
            done = f"not done: {exc}"
        return confirm(request, done, "/schedules")

    async def job_live(request: Request) -> Response:
        """A job's state and progress, polled by its page."""
        found = store.transport.get(request.path_params["job_id"])
        if found is None:
            return JSONResponse({"error": "no such job"}, status_code=404)
        try:
            meta = loads(found.meta) if found.meta is not None else None
        except LiteJobsError:
            meta = None
        return JSONResponse({
            "id": found.id,
            "state": states.celery_state(found.state, found.custom_state, found.retries),
            "finished": found.state.finished, "attempts": found.attempts,
            "progress": progress_of(meta),
            "meta": meta if isinstance(meta, (dict, list, str, int, float)) else None,
        })

    async def charts(request: Request) -> JSONResponse:
        """The overview's live charts: finished jobs per second over the last five
        minutes (success and failure apart) and each live worker's running jobs."""
        now = clock_now()
        since = math.floor((now - CHART_SECONDS) / CHART_BUCKET) * CHART_BUCKET
        t = store.transport
        ok = dict(t.count_throughput(since, CHART_BUCKET, ["task-succeeded"]))
        bad = dict(t.count_throughput(since, CHART_BUCKET, ["task-failed"]))
        points = [{"t": since + i * CHART_BUCKET,
                   "success": ok.get(since + i * CHART_BUCKET, 0) / CHART_BUCKET,
                   "failure": bad.get(since + i * CHART_BUCKET, 0) / CHART_BUCKET}
                  for i in range(int(CHART_SECONDS / CHART_BUCKET) + 1)]
        running: dict[str, list[dict[str, Any]]] = {}
        for j in t.search_jobs(JobQuery(state=JobState.RUNNING, limit=RUNNING_SHOWN)):
            running.setdefault(j.worker or "?", []).append({
                "id": j.id, "task": j.task,
                "for": round(now - j.started_at, 1) if j.started_at else None})
        return JSONResponse({"now": now, "bucket": CHART_BUCKET, "throughput": points,
                             "running": running})

    async def bulk(request: Request) -> Response:
        form = await checked_form(request)
        body = (await request.body()).decode("utf-8", "replace")
        ids = [i for i in urllib.parse.parse_qs(body).get("id", []) if i][:BULK_LIMIT]
        action = str(form.get("action") or "")
        if not ids:
            return confirm(request, "no jobs selected", "/jobs")
        t = store.transport
        if action == "retry":
            n = sum(t.retry_failed(job_id=i, now=clock_now()) for i in ids)
            done = f"retried {_plural(n, 'job')}"
        elif action == "revoke":
            n = sum(store.control.revoke_job(i) in ("revoked", "terminating") for i in ids)
            done = f"revoked {_plural(n, 'job')}"
        elif action == "delete":
            n = sum(t.forget(i) for i in ids)
            done = f"deleted {_plural(n, 'finished job')}"
        else:
            return PlainTextResponse(f"unknown action {action!r}", status_code=400)
        skipped = len(ids) - n
        if skipped:
            done += f" ({skipped} of those selected could not be)"
        return confirm(request, done, "/jobs")

    return [
        Route("/jobs", joblist.make_handler(store, page)),
        Route("/schedules", schedules),
        Route("/schedules/add", add_schedule, methods=["POST"]),
        Route("/schedules/{name}/{action}", schedule_action, methods=["POST"]),
        Route("/api/jobs/{job_id}", job_live),
        Route("/api/charts", charts),
        Route("/jobs/bulk", bulk, methods=["POST"]),
    ]

