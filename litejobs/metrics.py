"""Numbers about a store, for `litejobs status`, `litejobs metrics` and Prometheus exporters.

``collect(app)`` returns plain data; ``prometheus(app)`` renders it in Prometheus'
text format. Outcome counts and runtimes come from the job events workers record
(the newest 100,000 are kept), so counters cover that window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .job import JobState
from .timeutil import now as clock_now

if TYPE_CHECKING:
    from .app import App


def collect(app: App) -> dict[str, Any]:
    """Queue depth by state, live workers, and per-task outcomes and runtimes."""
    transport = app.transport
    outcomes: dict[str, dict[str, int]] = {}
    runtimes: dict[str, dict[str, float]] = {}
    for (task, kind), (count, total) in transport.count_events().items():
        outcomes.setdefault(task, {})[kind] = count
        if kind in ("task-succeeded", "task-failed", "task-retried"):
            entry = runtimes.setdefault(task, {"count": 0, "sum": 0.0})
            entry["count"] += count
            entry["sum"] += total
    workers = transport.list_workers(clock_now())
    return {
        "queues": transport.count_jobs(),
        "workers": len(workers),
        "running": sum(w.running for w in workers),
        "paused_queues": transport.list_paused_queues(),
        "outcomes": outcomes,
        "runtimes": runtimes,
    }


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus(app: App) -> str:
    """The metrics in Prometheus' text exposition format."""
    data = collect(app)
    lines = [
        "# HELP litejobs_jobs Jobs in the store, by queue and state.",
        "# TYPE litejobs_jobs gauge",
    ]
    for queue, by_state in sorted(data["queues"].items()):
        for state in JobState:
            lines.append(f'litejobs_jobs{{queue="{_label(queue)}",state="{state.value}"}} '
                         f"{by_state.get(state.value, 0)}")
    lines += [
        "# HELP litejobs_workers Live workers (heartbeat within their lease).",
        "# TYPE litejobs_workers gauge",
        f"litejobs_workers {data['workers']}",
        "# HELP litejobs_running_jobs Jobs running in live workers.",
        "# TYPE litejobs_running_jobs gauge",
        f"litejobs_running_jobs {data['running']}",
        "# HELP litejobs_queue_paused 1 if the queue is paused.",
        "# TYPE litejobs_queue_paused gauge",
    ]
    for queue in data["paused_queues"]:
        lines.append(f'litejobs_queue_paused{{queue="{_label(queue)}"}} 1')
    lines += [
        "# HELP litejobs_task_events_total Job events by task and kind (recent window).",
        "# TYPE litejobs_task_events_total counter",
    ]
    for task, kinds in sorted(data["outcomes"].items()):
        for kind, count in sorted(kinds.items()):
            lines.append(f'litejobs_task_events_total{{task="{_label(task)}",'
                         f'event="{_label(kind)}"}} {count}')
    lines += [
        "# HELP litejobs_task_runtime_seconds Time spent running jobs, by task.",
        "# TYPE litejobs_task_runtime_seconds summary",
    ]
    for task, entry in sorted(data["runtimes"].items()):
        label = _label(task)
        lines.append(f'litejobs_task_runtime_seconds_sum{{task="{label}"}} {entry["sum"]:.6f}')
        lines.append(f'litejobs_task_runtime_seconds_count{{task="{label}"}} {entry["count"]}')
    return "\n".join(lines) + "\n"
