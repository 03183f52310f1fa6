"""The dashboard's routes: pages, a JSON feed the pages poll, actions, /metrics.

Everything reads and acts through the transport interface, with the same verbs the
CLI uses. Safe by default: loopback unless ``--auth`` is given; a request naming a host
other than a loopback name, the bound address or an ``--allow-host`` name is refused
(DNS rebinding); every change is a POST from our own origin (``Origin``, else
``Referer``) carrying a CSRF token signed with a secret of this process (the same in a
SameSite=Strict cookie and a form field), so a cookie planted by another page on this
host is worthless; nothing changes on GET; ``--read-only`` hides and refuses every
action.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
import urllib.parse
from collections.abc import Iterable
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

from ..app import App
from ..job import JobState
from ..metrics import attempt_data, job_data, prometheus, status_data
from ..timeutil import from_timestamp
from ..timeutil import now as clock_now
from ..transports import safe_url
from . import pages

HERE = Path(__file__).parent
CSRF_COOKIE = "litejobs_csrf"
PAGE_SIZE = 50
#: names a browser on this machine may use for the dashboard, besides --allow-host ones
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
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


def host_name(header: str) -> str:
    """The host of a ``Host`` header (or a URL's netloc): no port, no brackets, lower case."""
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


class _AllowedHosts(BaseHTTPMiddleware):
    """Refuse a request whose Host header names none of ``hosts`` (DNS rebinding)."""

    def __init__(self, app: Any, hosts: Iterable[str]) -> None:
        super().__init__(app)
        self.hosts = {host_name(h) for h in (*LOOPBACK_HOSTS, *hosts)}
        self.any = "*" in self.hosts

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        header = request.headers.get("host", "")
        if self.any or host_name(header) in self.hosts:
            return await call_next(request)
        return PlainTextResponse(
            f"host {header!r} is not one this dashboard serves; start it with "
            "--allow-host NAME to allow that name", status_code=400)


def _same_origin(request: Request) -> bool:
    """True if a POST comes from a page of ours: its Origin (else Referer) names our host."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return False
    parts = urllib.parse.urlsplit(source)
    host = request.headers.get("host", "")
    return parts.scheme in ("http", "https") and bool(host) and \
        parts.netloc.lower() == host.lower()


def create_app(litejobs_app: App, auth: tuple[str, str] | None = None,
               read_only: bool = False, allowed_hosts: Iterable[str] = ()) -> Starlette:
    """The dashboard as an ASGI app (serve it with uvicorn, or mount it in yours).

    It serves requests naming ``localhost``, a loopback address or one of
    ``allowed_hosts`` (``"*"``: any); mounted behind another name, list that name.
    """
    store = litejobs_app
    secret = secrets.token_bytes(32)  # signs CSRF tokens; a new one each process

    def sign(nonce: str) -> str:
        return hmac.new(secret, nonce.encode(), hashlib.sha256).hexdigest()

    def new_token() -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{sign(nonce)}"

    def signed(token: str) -> bool:
        nonce, sep, mac = token.rpartition(".")
        return bool(sep and nonce) and hmac.compare_digest(mac.encode(), sign(nonce).encode())

    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(["html"]))
    env.filters["iso"] = _iso
    env.filters["short"] = _short
    env.filters["progress"] = pages.progress_of

    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        token = request.cookies.get(CSRF_COOKIE, "")
        if not signed(token):
            token = new_token()
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
        if not _same_origin(request):
            raise _Refused("this POST does not come from a page of this dashboard "
                           "(Origin/Referer)")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        token = str(form.get("csrf", ""))
        if not signed(cookie) or not hmac.compare_digest(cookie.encode(), token.encode()):
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
        *pages.routes(store, page, checked_form),  # schedules, live job state, bulk actions
        Route("/", overview),
        Route("/api/overview", overview_json),
        Route("/jobs/{job_id}", job),
        Route("/jobs/{job_id}/retry", retry_job, methods=["POST"]),
        Route("/jobs/{job_id}/revoke", revoke_job, methods=["POST"]),
        Route("/actions/retry-failed", retry_failed, methods=["POST"]),
        Route("/queues/{queue}/{action}", queue_action, methods=["POST"]),
        Route("/metrics", metrics),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(_AllowedHosts, hosts=list(allowed_hosts))]
    if auth:
        middleware.append(Middleware(_Auth, user=auth[0], password=auth[1]))
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


