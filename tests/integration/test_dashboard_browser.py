"""The dashboard in a real headless browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import os
import shutil

import pytest

import jobs
from helpers import wait_until
from integration.test_dashboard import dashboard  # noqa: F401 - the fixture

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "docs")


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        try:
            yield browser
        finally:
            browser.close()


def test_overview_live_retry_and_pause_in_a_browser(app, dashboard, browser,  # noqa: F811
                                                    start_worker, tmp_path):
    # Given a store with a finished job, a failed job and a running worker
    start_worker("-A", "jobs", "-c", "1")
    assert jobs.add.delay(1, 2).get(timeout=20) == 3
    failed = jobs.fail_once.delay("browser")
    wait_until(lambda: failed.state == "FAILURE", 20, message="the job to fail")
    d = dashboard()
    page = browser.new_page()

    # Then the overview shows the right counts
    page.goto(d.base + "/")
    cell = '#queues tr[data-queue="default"] td[data-state="{}"]'
    assert page.inner_text(cell.format("success")) == "1"
    assert page.inner_text(cell.format("failure")) == "1"
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    # and updates by itself, without a reload, when jobs run
    jobs.add.delay(2, 3).get(timeout=20)
    wait_until(lambda: page.inner_text(cell.format("success")) == "2", 20,
               message="the live overview to show the new job")

    # When a failed job is retried from its page, it runs
    page.goto(f"{d.base}/jobs/{failed.id}")
    page.click("#retry")
    wait_until(lambda: failed.state != "FAILURE", 10, message="the retry to be queued")
    assert failed.get(timeout=20) == "browser ok"

    # When a queue is paused from the page, nothing is claimed from it
    page.goto(d.base + "/")
    page.click('#queues tr[data-queue="default"] button[value="pause"]')
    wait_until(lambda: app.transport.list_paused_queues() == ["default"], 10, message="paused")
    held = jobs.add.delay(5, 5)
    page.wait_for_timeout(1000)
    assert held.state == "PENDING"
    page.click('#queues tr[data-queue="default"] button[value="resume"]')
    assert held.get(timeout=20) == 10
    if os.environ.get("LITEJOBS_UPDATE_SCREENSHOT"):
        page.goto(d.base + "/")
        page.wait_for_timeout(2500)
        page.screenshot(path=os.path.join(DOCS, "dashboard.png"), full_page=True)
