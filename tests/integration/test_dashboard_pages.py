"""The dashboard's new pages and actions over HTTP: CSRF, read-only, bad input, escaping."""

from __future__ import annotations

import jobs
from integration.test_dashboard import dashboard  # noqa: F401 - the fixture


def test_new_actions_need_post_a_csrf_token_and_not_read_only(app, dashboard):  # noqa: F811
    failed = jobs.fail.delay("x")
    app.run_until_idle()
    d = dashboard()
    actions = [("/schedules/add", {"name": "s", "task": "jobs.add", "when": "5"}),
               ("/jobs/bulk", {"action": "delete", "id": failed.id})]
    for path, data in actions:
        assert d.request(path)[0] in (200, 405)  # a GET changes nothing (checked below)
        assert d.request(path, data=data)[0] == 403  # no token
        assert d.request(path, data={**data, "csrf": "wrong"})[0] == 403
    assert app.schedules.list() == [] and app.transport.get(failed.id) is not None
    token = d.csrf("/schedules")
    status, _, headers = d.request("/schedules/add", data={**actions[0][1], "csrf": token})
    assert status == 303 and "added+schedule" in headers["location"]
    assert [s.name for s in app.schedules.list()] == ["s"]
    status, _, headers = d.request("/jobs/bulk", data={**actions[1][1], "csrf": token})
    assert status == 303 and "deleted+1+finished+job" in headers["location"]
    assert app.transport.get(failed.id) is None
    for action in ("disable", "run", "remove"):
        assert d.request(f"/schedules/s/{action}", data={})[0] == 403
    ro = dashboard("--read-only")
    token = ro.csrf("/jobs")  # the job list keeps its (hidden) bulk form's token
    assert ro.request("/schedules/s/disable", data={"csrf": token})[0] == 403
    assert ro.request("/jobs/bulk", data={"action": "retry", "id": "x", "csrf": token})[0] == 403
    status, html, _ = ro.request("/schedules")
    assert status == 200 and "add-schedule" not in html and 'value="disable"' not in html
    assert app.schedules.list()[0].enabled


def test_bad_input_is_named_and_changes_nothing(app, dashboard):  # noqa: F811
    d = dashboard()
    token = d.csrf("/schedules")
    status, _, headers = d.request("/schedules/add", data={
        "name": "s", "task": "jobs.add", "when": "whenever", "csrf": token})
    assert status == 303 and "not+added" in headers["location"]
    status, _, headers = d.request("/schedules/add", data={
        "name": "s", "task": "jobs.add", "when": "5", "args": "[1,", "csrf": token})
    assert "args%3A+not+JSON" in headers["location"]
    assert app.schedules.list() == []
    assert d.request("/jobs?sort=nope")[0] == 400
    assert d.request("/jobs?range=2y")[0] == 400
    assert d.request("/jobs?state=nope")[0] == 400
    assert d.request("/api/jobs/nope")[0] == 404
    status, _, headers = d.request("/jobs/bulk", data={"action": "retry", "csrf": token})
    assert "no+jobs+selected" in headers["location"]


def test_arguments_and_messages_are_escaped(app, dashboard):  # noqa: F811
    evil = "<script>alert(1)</script>"
    jobs.add.delay(evil, "y")
    d = dashboard()
    status, html, _ = d.request("/jobs?q=script")
    assert status == 200 and evil not in html and "&lt;script&gt;" in html
    status, html, _ = d.request("/schedules?done=" + evil)
    assert evil not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
