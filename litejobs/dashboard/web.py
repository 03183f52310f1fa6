"""The dashboard's routes: pages, a JSON feed the pages poll, actions, /metrics.

Everything reads and acts through the transport interface, with the same verbs the
CLI uses. Safe by default: loopback unless ``--auth`` is given; every change is a POST
carrying a CSRF token (double-submit: a SameSite=Strict cookie and a form field must
match); nothing changes on GET; ``--read-only`` hides and refuses every action.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import secrets
import urllib.parse
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import states
from ..app import App
from ..job import JobState
from ..metrics import attempt_data, job_data, prometheus, status_data
from ..timeutil import from_timestamp
from ..timeutil import now as clock_now
from ..transports import safe_url

HERE = Path(__file__).parent
CSRF_COOKIE = "litejobs_csrf"
PAGE_SIZE = 50
TRUNCATE = 2000  # characters of an argument or result shown


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= TRUNCATE else text[:TRUNCATE] + f"… ({len(text)} chars)"


def _iso(ts: float | None) -> str:
    value = from_timestamp(ts)
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


class _Auth(BaseHTTPMiddleware):
    def __init__(self, app: Any, user: str, password: str) -> None:
        super().__init__(app)
        self.expected = f"{user}:{password}".encode()

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                given = base64.b64decode(header[6:], validate=True)
            except (binascii.Error, ValueError):
                given = b""
            if hmac.compare_digest(given, self.expected):
                return await call_next(request)
        return PlainTextResponse("authentication required", status_code=401,
                                 headers={"WWW-Authenticate": 'Basic realm="litejobs"'})


def create_app(litejobs_app: App, auth: tuple[str, str] | None = None,
               read_only: bool = False) -> Starlette:
    """The dashboard as an ASGI app (serve it with uvicorn, or mount it in yours)."""
    store = litejobs_app
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(["html"]))
    env.filters["iso"] = _iso
    env.filters["short"] = _short

    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        html = env.get_template(name).render(request=request, csrf=token, read_only=read_only,
                                             store=safe_url(store.url), **context)
        response = HTMLResponse(html)
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict")
        return response

    async def checked_form(request: Request) -> dict[str, Any]:
        if read_only:
            raise _Refused("the dashboard is read-only")
        # Forms are urlencoded; parsing them here saves a multipart dependency.
        body = (await request.body()).decode("utf-8", "replace")
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body).items()}
        cookie = request.cookies.get(CSRF_COOKIE, "")
        token = str(form.get("csrf", ""))
        if not cookie or not hmac.compare_digest(cookie, token):
            raise _Refused("missing or wrong CSRF token")
        return form

    def back(request: Request, default: str = "/") -> RedirectResponse:
        target = request.headers.get("referer") or default
        if "://" in target and not target.startswith(str(request.base_url)):
            target = default  # only ever back to our own pages
        return RedirectResponse(target, status_code=303)

    # -- pages -------------------------------------------------------------------
    async def overview(request: Request) -> HTMLResponse:
        return page(request, "overview.html", data=_overview(store))

    async def overview_json(request: Request) -> JSONResponse:
        return JSONResponse(_overview(store))

    async def jobs(request: Request) -> Response:
        q = request.query_params
        wanted = q.get("q", "").strip()
        if wanted:
            if store.transport.get(wanted) is not None:
                return RedirectResponse(f"/jobs/{wanted}", status_code=303)
        state = q.get("state") or None
        try:
            job_state = JobState(state) if state else None
        except ValueError:
            return PlainTextResponse(f"unknown state {state!r}", status_code=400)
        try:
            page_no = max(1, int(q.get("page", "1")))
        except ValueError:
            page_no = 1
        rows = store.transport.list_jobs(state=job_state, queue=q.get("queue") or None,
                                         task=q.get("task") or None, limit=PAGE_SIZE + 1,
                                         offset=(page_no - 1) * PAGE_SIZE)
        listed = [{"id": j.id, "task": j.task, "queue": j.queue,
                   "state": states.celery_state(j.state, j.custom_state, j.retries),
                   "attempts": j.attempts, "created": j.created_at, "done": j.done_at}
                  for j in rows[:PAGE_SIZE]]
        return page(request, "jobs.html", jobs=listed, page=page_no,
                    more=len(rows) > PAGE_SIZE, filters=dict(q), not_found=wanted or None,
                    states=[s.value for s in JobState])

    async def job(request: Request) -> Response:
        found = store.transport.get(request.path_params["job_id"])
        if found is None:
            return page(request, "missing.html", job_id=request.path_params["job_id"])
        data = job_data(found)
        links = []
        for key in ("root_id", "parent_id", "group_id", "chord"):
            if found.options.get(key) and found.options[key] != found.id:
                links.append((key, found.options[key]))
        children = [d["sig"]["options"].get("task_id") for d in found.options.get("link", [])
                    if "sig" in d]
        attempts = [attempt_data(a) for a in store.transport.list_attempts(found.id)]
        return page(request, "job.html", job=data, links=links, attempts=attempts,
                    children=[c for c in children if c], running=found.state is JobState.RUNNING,
                    failed=found.state in (JobState.FAILURE, JobState.REVOKED),
                    waiting=found.state in (JobState.PENDING, JobState.SCHEDULED))

    async def metrics(request: Request) -> PlainTextResponse:
        return PlainTextResponse(prometheus(store),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- actions (POST + CSRF) -----------------------------------------------------
    async def retry_job(request: Request) -> Response:
        await checked_form(request)
        store.transport.retry_failed(job_id=request.path_params["job_id"], now=clock_now())
        return back(request)

    async def revoke_job(request: Request) -> Response:
        form = await checked_form(request)
        store.control.revoke_job(request.path_params["job_id"],
                                 terminate=form.get("terminate") == "1")
        return back(request)

    async def retry_failed(request: Request) -> Response:
        form = await checked_form(request)
        store.transport.retry_failed(task=str(form.get("task") or "") or None, now=clock_now())
        return back(request)

    async def queue_action(request: Request) -> Response:
        await checked_form(request)
        queue, action = request.path_params["queue"], request.path_params["action"]
        if action == "purge":
            store.transport.purge(queue)
        elif action in ("pause", "resume"):
            store.transport.set_queue_paused(queue, action == "pause")
        else:
            return PlainTextResponse(f"unknown action {action!r}", status_code=404)
        return back(request)

    async def refused(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(str(exc), status_code=403)

    async def not_allowed(request: Request) -> Response:
        return PlainTextResponse("use POST", status_code=405)

    routes = [
        Route("/", overview),
        Route("/api/overview", overview_json),
        Route("/jobs", jobs),
        Route("/jobs/{job_id}", job),
        Route("/jobs/{job_id}/retry", retry_job, methods=["POST"]),
        Route("/jobs/{job_id}/revoke", revoke_job, methods=["POST"]),
        Route("/actions/retry-failed", retry_failed, methods=["POST"]),
        Route("/queues/{queue}/{action}", queue_action, methods=["POST"]),
        Route("/metrics", metrics),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(_Auth, user=auth[0], password=auth[1])] if auth else []
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={_Refused: refused})


class _Refused(Exception):
    """An action refused: read-only mode, or a bad CSRF token (403)."""


def _overview(store: App) -> dict[str, Any]:
    data = status_data(store)
    now = clock_now()
    bucket = 10.0
    since = math.floor((now - 300) / bucket) * bucket
    done = dict(store.transport.count_throughput(since, bucket))
    data["throughput"] = [
        {"t": since + i * bucket, "per_second": done.get(since + i * bucket, 0) / bucket}
        for i in range(int(300 / bucket) + 1)]
    data["now"] = now
    return data


