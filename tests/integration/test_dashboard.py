"""The dashboard as a real server: pages, actions with CSRF, auth, read-only, /metrics."""

from __future__ import annotations

import base64
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest

import jobs
from helpers import TESTS_DIR, wait_until

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dashboard:
    def __init__(self, store: str, *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "litejobs", "dashboard", store, "--port", str(self.port),
             *args], cwd=TESTS_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.cookie = ""

    def up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def request(self, path: str, data: dict | None = None, auth: str | None = None,
                cookie: bool = True, headers: dict | None = None) -> tuple[int, str, dict]:
        """GET ``path``, or POST ``data`` (from our own origin, as a browser would, unless
        ``headers`` says otherwise)."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body)
        sent = {"Origin": self.base} if data is not None else {}
        sent.update(headers or {})
        for name, value in sent.items():
            if value is not None:
                req.add_header(name, value)
        if auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
        if cookie and self.cookie:
            req.add_header("Cookie", self.cookie)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=10) as resp:
                return resp.status, resp.read().decode(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(), dict(err.headers)

    def csrf(self, path: str = "/", auth: str | None = None) -> str:
        status, html, headers = self.request(path, auth=auth, cookie=False)
        assert status == 200, html
        self.cookie = headers["set-cookie"].split(";")[0]
        return re.search(r'name="csrf" value="([^"]+)"', html).group(1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stderr:
            self.proc.stderr.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture
def dashboard(store_path, app):
    started = []

    def start(*args: str) -> Dashboard:
        app.transport  # noqa: B018 - the store exists: the dashboard never creates one
        d = Dashboard(store_path, *args)
        started.append(d)
        wait_until(d.up, 20, message="dashboard listening")
        return d

    yield start
    for d in started:
        d.stop()


def test_overview_shows_counts_and_escapes_arguments(app, dashboard):
    jobs.add.delay(1, 2)
    failed = jobs.fail.delay("<script>alert(1)</script>")
    app.run_until_idle()
    jobs.add.delay(3, 4)
    d = dashboard()
    status, html, _ = d.request("/")
    assert status == 200
    assert re.search(r'data-state="success">1<', html)
    assert re.search(r'data-state="failure">1<', html)
    assert re.search(r'data-state="pending">1<', html)
    status, html, _ = d.request(f"/jobs/{failed.id}")
    assert status == 200 and "AppError" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    status, listing, _ = d.request("/jobs?state=failure")
    assert failed.id in listing
    status, found, headers = d.request(f"/jobs?q={failed.id}")
    assert status == 303 and headers["location"].endswith(failed.id)
    status, feed, _ = d.request("/api/overview")
    assert '"queues"' in feed and '"throughput"' in feed


def test_actions_need_post_and_a_csrf_token(app, dashboard, start_worker):
    failed = jobs.fail_once.delay("dash")
    start_worker("-A", "jobs", "-c", "1")
    wait_until(lambda: failed.state == "FAILURE", 20, message="job failed")
    d = dashboard()
    assert d.request(f"/jobs/{failed.id}/retry")[0] == 405  # GET changes nothing
    assert d.request(f"/jobs/{failed.id}/retry", data={})[0] == 403  # no token
    token = d.csrf(f"/jobs/{failed.id}")
    assert d.request(f"/jobs/{failed.id}/retry", data={"csrf": "wrong"})[0] == 403
    assert failed.state == "FAILURE"
    status, _, _ = d.request(f"/jobs/{failed.id}/retry", data={"csrf": token})
    assert status == 303
    assert failed.get(timeout=20) == "dash ok"  # retried from the page, it ran


def test_pause_resume_and_purge_from_the_page(app, dashboard):
    d = dashboard()
    token = d.csrf()
    held = jobs.add.delay(1, 1)
    assert d.request("/queues/default/pause", data={"csrf": token})[0] == 303
    assert app.transport.list_paused_queues() == ["default"]
    assert app.run_until_idle() == 0  # a paused queue is not claimed
    assert d.request("/queues/default/resume", data={"csrf": token})[0] == 303
    assert app.transport.list_paused_queues() == []
    assert d.request("/queues/default/purge", data={"csrf": token})[0] == 303
    assert app.transport.get(held.id) is None


def test_auth_and_read_only(app, dashboard, store_path):
    d = dashboard("--auth", "ada:secret", "--read-only")
    status, _, headers = d.request("/")
    assert status == 401 and "Basic" in headers["www-authenticate"]
    assert d.request("/", auth="ada:wrong")[0] == 401
    status, html, _ = d.request("/", auth="ada:secret")
    assert status == 200 and "read-only" in html and 'name="csrf"' not in html
    status, _, _ = d.request("/metrics", auth="ada:secret")
    assert status == 200


def test_metrics_endpoint(app, dashboard):
    jobs.add.delay(1, 1)
    app.run_until_idle()
    d = dashboard()
    status, text, headers = d.request("/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert 'litejobs_jobs{queue="default",state="success"} 1' in text


def test_binding_beyond_loopback_requires_auth(store_path):
    out = subprocess.run([sys.executable, "-m", "litejobs", "dashboard", store_path, "--host",
                          "0.0.0.0", "--port", str(free_port())], cwd=TESTS_DIR,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "--auth" in out.stderr


def test_dns_rebinding_is_refused(app, dashboard):
    # Given a dashboard on loopback, without --auth, and a name an attacker controls
    d = dashboard("--allow-host", "jobs.internal")
    evil = f"rebind.attacker.test:{d.port}"
    # Then a request naming that host is refused, page or action
    status, body, _ = d.request("/", headers={"Host": evil})
    assert status == 400 and "rebind.attacker.test" in body
    token = d.csrf()
    status, _, _ = d.request("/queues/default/pause", data={"csrf": token},
                             headers={"Host": evil, "Origin": f"http://{evil}"})
    assert status == 400
    assert app.transport.list_paused_queues() == []
    # while loopback names, the bound address and --allow-host names are served
    for host in (f"127.0.0.1:{d.port}", f"localhost:{d.port}", "localhost",
                 f"[::1]:{d.port}", f"jobs.internal:{d.port}", f"JOBS.internal:{d.port}"):
        assert d.request("/", headers={"Host": host})[0] == 200, host


def test_every_post_checks_origin_or_referer(app, dashboard):
    d = dashboard()
    token = d.csrf()
    path, form = "/queues/default/pause", {"csrf": token}
    assert d.request(path, data=form, headers={"Origin": "http://evil.test"})[0] == 403
    assert d.request(path, data=form, headers={"Origin": f"http://localhost:{d.port}"}
                     )[0] == 403  # another origin, though the same machine
    assert d.request(path, data=form, headers={
        "Origin": None, "Referer": "http://evil.test/page"})[0] == 403
    assert d.request(path, data=form, headers={"Origin": None})[0] == 403  # neither
    assert app.transport.list_paused_queues() == []
    assert d.request(path, data=form, headers={
        "Origin": None, "Referer": d.base + "/jobs"})[0] == 303
    assert app.transport.list_paused_queues() == ["default"]


def test_a_planted_csrf_cookie_is_refused(app, dashboard):
    d = dashboard()
    # Given a cookie planted by another page on this host (cookies ignore the port)
    d.cookie = "litejobs_csrf=planted-by-another-port"
    status, _, _ = d.request("/queues/default/pause",
                             data={"csrf": "planted-by-another-port"})
    assert status == 403
    # nor does a token another dashboard process signed work here
    other = dashboard()
    d.cookie, token = "", other.csrf()
    d.cookie = other.cookie
    assert d.request("/queues/default/pause", data={"csrf": token})[0] == 403
    assert app.transport.list_paused_queues() == []


@pytest.mark.parametrize("path", [
    "/jobs?page=99999999999999999999999", "/jobs?page=-99999999999999999999999",
    "/jobs?page=" + "9" * 5000, "/jobs?page=1e9", "/jobs?page=nan", "/jobs?page=%00",
    "/jobs?q=%00", "/jobs?q=%ED%A0%80", "/jobs?queue=%00&task=%FF%FE",
    "/jobs/%ED%A0%80", "/jobs/%00", "/jobs?state=%00", "/jobs?" + "a=1&" * 2000,
])
def test_hostile_urls_never_get_a_500(app, dashboard, path):
    jobs.add.delay(1, 1)
    d = dashboard()
    status, body, _ = d.request(path)
    assert status in (200, 303, 400, 404), (status, body[:500])
