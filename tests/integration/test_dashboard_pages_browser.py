"""The dashboard's schedules page, live progress and bulk actions in a real headless
Chromium (Debian's, driven by Playwright), against real workers and a real beat."""

from __future__ import annotations

import os
import signal
import time

import jobs
from helpers import wait_until
from integration.conftest import start_beat
from integration.test_dashboard import dashboard  # noqa: F401 - the fixture
from integration.test_dashboard_browser import DOCS, browser  # noqa: F401 - the fixture
from integration.test_stored_schedules import slots


def test_a_schedule_added_on_the_page_fires_on_a_running_beat_and_stops_when_disabled(
        app, store_path, dashboard, browser, tmp_path):  # noqa: F811
    beat = start_beat(store_path, tmp_path, 0)
    try:
        wait_until(lambda: app.transport.get_beat_leader(time.time()), 30, message="a leader")
        d = dashboard()
        page = browser.new_page()
        page.goto(d.base + "/schedules")
        # When a schedule is added with the page's form
        form = "#add-schedule"
        page.fill(f"{form} input[name=name]", "from-page")
        page.fill(f"{form} input[name=task]", "jobs.beat_tick")
        page.fill(f"{form} input[name=when]", "1s")
        page.click(f"{form} button")
        # Then the page says so, lists it, and the running beat fires it
        assert "added schedule 'from-page'" in page.inner_text("#done")
        assert "<every 1s>" in page.inner_text('#schedules tr[data-schedule="from-page"]')
        wait_until(lambda: len(slots(app, "from-page")) >= 2, 20, message="two slots")
        # When it is disabled on the page, it stops firing
        page.click('#schedules tr[data-schedule="from-page"] button[value="disable"]')
        assert "disabled schedule 'from-page'" in page.inner_text("#done")
        assert "disabled" in page.inner_text('#schedules tr[data-schedule="from-page"]')
        disabled_at = time.time()
        time.sleep(0.2)
        count = len(slots(app, "from-page"))
        page.wait_for_timeout(3000)  # three slots that must not fire
        assert len(slots(app, "from-page")) == count
        assert all(s <= disabled_at for s in slots(app, "from-page"))
        # and "run now" sends its job at once, saying which
        page.click('#schedules tr[data-schedule="from-page"] button[value="run"]')
        sent = page.inner_text("#done").removeprefix("sent ").strip()
        assert sent.startswith("beat:from-page:now:") and app.transport.get(sent) is not None
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(10)


def test_a_progress_jobs_bar_moves_without_a_reload(
        app, dashboard, browser, start_worker, tmp_path):  # noqa: F811
    start_worker("-A", "jobs", "-c", "1")
    job = jobs.slow_progress.delay(30, 0.4)  # 12 s: long enough to watch, under load too
    wait_until(lambda: job.state == "PROGRESS", 20, message="the job to report progress")
    d = dashboard()
    page = browser.new_page()
    page.goto(f"{d.base}/jobs/{job.id}")
    page.evaluate("window.__same_page = true")  # gone if the page reloads
    first = page.inner_text("#progress-text")
    wait_until(lambda: page.inner_text("#progress-text") != first, 15,
               message="the bar to move")
    assert page.evaluate("window.__same_page") is True
    assert page.inner_text("#job-state") == "PROGRESS"
    width = page.eval_on_selector("#progress-bar", "el => parseFloat(el.style.width)")
    assert 0 < width <= 100
    if os.environ.get("LITEJOBS_UPDATE_SCREENSHOT"):
        page.screenshot(path=os.path.join(DOCS, "dashboard-job.png"), full_page=True)
    assert job.get(timeout=60) == 30
    wait_until(lambda: page.inner_text("#job-state") == "SUCCESS", 15, message="SUCCESS shown")


def test_bulk_retry_runs_the_selected_jobs(app, dashboard, browser, start_worker):  # noqa: F811
    start_worker("-A", "jobs", "-c", "2")
    failed = [jobs.fail_once.delay(f"bulk-{n}") for n in range(4)]
    for r in failed:
        wait_until(lambda r=r: r.state == "FAILURE", 20, message="the jobs to fail")
    d = dashboard()
    page = browser.new_page()
    page.goto(d.base + "/jobs?state=failure")
    # When three of the four are selected and retried
    chosen, left = failed[:3], failed[3]
    for r in chosen:
        page.check(f'#jobs input[name="id"][value="{r.id}"]')
    assert page.inner_text("#selected-count") == "3 selected"
    page.click("#bulk-retry")
    # Then the page says what it did, and those three run (and succeed), the fourth not
    assert page.inner_text("#done") == "retried 3 jobs"
    assert [r.get(timeout=30) for r in chosen] == [f"bulk-{n} ok" for n in range(3)]
    assert left.state == "FAILURE"
    if os.environ.get("LITEJOBS_UPDATE_SCREENSHOT"):
        page.goto(d.base + "/jobs")
        page.screenshot(path=os.path.join(DOCS, "dashboard-jobs.png"), full_page=True)


def test_the_job_list_filters_sorts_and_finds_a_job_by_an_argument(
        app, dashboard, browser):  # noqa: F811
    # Given jobs of two tasks on two queues, one with a distinctive argument
    needle = jobs.add.apply_async(("invoice-4711", "x"), queue="billing")
    others = [jobs.add.delay(n, n) for n in range(3)] + [jobs.fail.delay("zzz")]
    d = dashboard()
    page = browser.new_page()
    page.goto(d.base + "/jobs")
    listed = page.eval_on_selector_all("#jobs tbody tr", "rows => rows.map(r => r.dataset.job)")
    assert listed == [r.id for r in reversed([needle, *others])]  # newest first
    # When searching for a substring of an argument, only that job is listed, args shown
    page.fill("#filters input[name=q]", "4711")
    page.click("#filters button")
    rows = page.eval_on_selector_all("#jobs tbody tr", "rows => rows.map(r => r.dataset.job)")
    assert rows == [needle.id]
    assert "'invoice-4711', 'x'" in page.inner_text("#jobs tbody td.args")
    # When filtering by queue and by a task substring
    page.goto(d.base + "/jobs")
    page.fill("#filters input[name=queue]", "billing")
    page.click("#filters button")
    assert page.eval_on_selector_all("#jobs tbody tr", "rs => rs.map(r => r.dataset.job)") == [
        needle.id]
    page.goto(d.base + "/jobs")
    page.fill("#filters input[name=task]", "jobs.fa")
    page.click("#filters button")
    assert page.eval_on_selector_all("#jobs tbody tr", "rs => rs.map(r => r.dataset.job)") == [
        others[-1].id]
    # When sorting by task (a header click), then reversing it
    page.goto(d.base + "/jobs")
    page.click('#jobs th a[data-sort="task"]')
    tasks = page.eval_on_selector_all("#jobs tbody td.task", "cs => cs.map(c => c.textContent)")
    assert tasks == sorted(tasks, reverse=True) and tasks[0] == "jobs.fail"
    page.click('#jobs th a[data-sort="task"]')
    tasks = page.eval_on_selector_all("#jobs tbody td.task", "cs => cs.map(c => c.textContent)")
    assert tasks == sorted(tasks) and tasks[-1] == "jobs.fail"


def test_a_job_with_three_attempts_shows_three_tracebacks(
        app, dashboard, browser, start_worker):  # noqa: F811
    # Given a job that failed on each of its three attempts, each time with its own error
    start_worker("-A", "jobs", "-c", "1")
    job = jobs.fails_every_attempt.delay("thrice")
    wait_until(lambda: job.state == "FAILURE", 30, message="the third attempt to fail")
    d = dashboard()
    page = browser.new_page()
    # When its page is opened
    page.goto(f"{d.base}/jobs/{job.id}")
    # Then it lists the three attempts, in order, and how each ended
    rows = page.locator("#attempts tbody tr")
    assert rows.count() == 3
    assert page.eval_on_selector_all("#attempts tbody td.outcome",
                                     "cs => cs.map(c => c.textContent)") == [
        "retry", "retry", "failure"]
    # and each attempt's traceback is that attempt's own: the last one's shown open (the
    # job's final error), the earlier ones when opened
    for n in range(3):
        row = rows.nth(n)
        traceback = row.locator("pre.traceback")
        assert traceback.is_visible() == (n == 2)
        if n < 2:
            row.locator("summary").click()
            assert traceback.is_visible()
        text = traceback.inner_text()
        assert text.startswith("Traceback (most recent call last)")
        assert f"AppError: thrice: attempt {n + 1}" in text
        others = {f"attempt {m + 1}" for m in range(3)} - {f"attempt {n + 1}"}
        assert not any(o in text for o in others)
