"""Schedules kept in the store, changed while a beat runs (docs/periodic.md)."""

import datetime as dt
import os
import tempfile

import litejobs
from litejobs.beat import Beat
from litejobs.schedules import crontab

app = litejobs.App(os.path.join(tempfile.mkdtemp(), "schedules.sqlite"))


@app.task
def report(kind: str) -> str:
    return f"{kind} report"


app.schedules.add("hourly", "__main__.report", dt.timedelta(hours=1), args=["hourly"])
app.schedules.add("nightly", "__main__.report", crontab(hour=3, minute=0), args=["nightly"])
app.schedules.add("launch", "__main__.report", dt.datetime(2030, 1, 1, 9, 0), args=["launch"])
app.schedules.update("hourly", schedule=dt.timedelta(minutes=30))
app.schedules.disable("nightly")

Beat(app).run_once()  # one look of what `litejobs beat` runs: "hourly" fires at once
print(app.run_until_idle(), "job(s) ran")
print(app.schedules.run_now("launch").id)  # sent now, outside its slot
for s in app.schedules.list():
    print(s.name, s.schedule, s.origin, "enabled" if s.enabled else "disabled")
app.schedules.remove("launch")
