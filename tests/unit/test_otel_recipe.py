"""The OpenTelemetry recipe of docs/signals.md, run as written, through the real store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import litejobs
from litejobs import signals

pytest.importorskip("opentelemetry.sdk")

DOC = Path(__file__).parents[2] / "docs" / "signals.md"


def test_the_recipe_links_the_job_span_to_the_sender(tmp_path):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    [recipe] = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
                if "opentelemetry" in b]
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    namespace: dict = {"__name__": "recipe"}
    exec(compile(recipe, str(DOC), "exec"), namespace)
    namespace["tracer"] = provider.get_tracer("litejobs")  # the test's own provider
    try:
        app = litejobs.App(str(tmp_path / "otel.sqlite"))

        @app.task(bind=True)
        def traced(self):
            return self.request.headers["traceparent"]

        with namespace["tracer"].start_as_current_span("request") as parent:
            sent = traced.delay()
        app.run_until_idle()
        assert sent.get(timeout=10).split("-")[1] == format(
            parent.get_span_context().trace_id, "032x")
        finished = {s.name: s for s in spans.get_finished_spans()}
        job_span = finished[f"run {traced.name}"]
        assert job_span.parent.span_id == parent.get_span_context().span_id
        assert job_span.attributes["litejobs.state"] == "SUCCESS"
    finally:
        signals.before_task_publish.disconnect(namespace["inject_trace"])
        signals.task_prerun.disconnect(namespace["start_span"])
        signals.task_postrun.disconnect(namespace["end_span"])
