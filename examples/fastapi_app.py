"""FastAPI: an app factory, tasks that read the app's settings, delay() from a handler.

    python examples/fastapi_app.py

The settings object is the app's config; the factory points the litejobs App at the
store it names. Handlers send jobs with ``delay()`` and read results by id.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

import litejobs

jobs = litejobs.App(main="fastapi_app")


@dataclasses.dataclass
class Settings:
    store: str = os.environ.get("FASTAPI_JOBS_STORE", "fastapi-jobs.sqlite")
    currency: str = "EUR"
    vat_rate: float = 0.2


settings = Settings()


def create_app(config: Settings | None = None) -> FastAPI:
    global settings
    settings = config or Settings()
    jobs.conf.update(broker_url=settings.store)
    api = FastAPI()
    api.state.settings = settings

    @api.post("/invoices")
    def create_invoice(net: float) -> dict[str, Any]:
        return {"id": invoice_total.delay(net).id}

    @api.get("/invoices/{job_id}")
    def invoice(job_id: str) -> dict[str, Any]:
        found = jobs.AsyncResult(job_id)
        return {"state": found.state, "total": found.result if found.ready() else None}

    return api


@jobs.task
def invoice_total(net: float) -> str:
    return f"{net * (1 + settings.vat_rate):.2f} {settings.currency}"  # the app's settings


if __name__ == "__main__":
    store = os.path.join(tempfile.mkdtemp(prefix="litejobs-fastapi-"), "jobs.sqlite")
    api = create_app(Settings(store=store, currency="NOK", vat_rate=0.25))
    with jobs.start_worker(concurrency=1), TestClient(api) as client:
        job_id = client.post("/invoices", params={"net": 100}).json()["id"]
        print("the task said:", jobs.AsyncResult(job_id).get(timeout=30))
        print("GET /invoices:", client.get(f"/invoices/{job_id}").json())
