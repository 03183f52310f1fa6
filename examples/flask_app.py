"""Flask: an app factory, tasks that read the Flask app's config, delay() from a view.

    python examples/flask_app.py

The factory configures the litejobs App from Flask's config (Celery's names under
``LITEJOBS``); a task runs inside the Flask app's context, so ``current_app.config``
works in it. A worker started by ``litejobs worker -A flask_app`` builds the app with
the same factory.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from flask import Flask, current_app, jsonify, request

import litejobs

jobs = litejobs.App(main="flask_app")  # its store comes from the Flask config
_flask_app: Flask | None = None


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    global _flask_app
    app = Flask(__name__)
    app.config.from_mapping(
        GREETING="Hello",
        LITEJOBS={"broker_url": os.environ.get("FLASK_JOBS_STORE", "flask-jobs.sqlite"),
                  "task_default_queue": "web"},
    )
    if test_config:
        app.config.update(test_config)
    jobs.config_from_object(app.config["LITEJOBS"])

    @app.post("/greet")
    def greet() -> Any:
        result = greet_task.delay(request.get_json()["name"])
        return jsonify(id=result.id), 202

    @app.get("/result/<job_id>")
    def result(job_id: str) -> Any:
        found = jobs.AsyncResult(job_id)
        return jsonify(state=found.state, value=found.result if found.ready() else None)

    _flask_app = app
    return app


def flask_app() -> Flask:
    """The Flask app (built by the factory on first use in a worker)."""
    return _flask_app or create_app()


@jobs.task
def greet_task(name: str) -> str:
    with flask_app().app_context():
        return f"{current_app.config['GREETING']}, {name}!"


if __name__ == "__main__":
    store = os.path.join(tempfile.mkdtemp(prefix="litejobs-flask-"), "jobs.sqlite")
    app = create_app({"GREETING": "Bonjour", "LITEJOBS": {"broker_url": store,
                                                          "task_default_queue": "web"}})
    with jobs.start_worker(concurrency=1, queues=["web"]):
        client = app.test_client()
        job_id = client.post("/greet", json={"name": "Ada"}).get_json()["id"]
        print("the task said:", jobs.AsyncResult(job_id).get(timeout=30))
        print("GET /result:", client.get(f"/result/{job_id}").get_json())
