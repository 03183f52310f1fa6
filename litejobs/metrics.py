"""What the CLI and the dashboard show of a store: status, one job, metrics.

``status_data(app)`` and ``job_data(job)`` are plain data for `litejobs status`,
`litejobs inspect` and the dashboard; ``collect(app)`` returns the metrics and
``prometheus(app)`` renders them in Prometheus' text format. Outcome counts and
runtimes come from the job events workers record (the newest 100,000 are kept), so
counters cover that window.
"""

from __future__ import annotations

import math
from typing import Any

from . import serializer, states
from .core import Core
from .exceptions import LiteJobsError
from .job import Job, JobState
from .timeutil import from_timestamp
from .timeutil import now as clock_now
from .transports import Attempt, safe_url


def collect(app: Core) -> dict[str, Any]:
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


def prometheus(app: Core) -> str:
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


def status_data(app: Core) -> dict[str, Any]:
    """What `litejobs status` and the dashboard's overview show."""
    transport = app.transport
    now = clock_now()
    counts = transport.count_jobs()
    workers = transport.list_workers(now)
    consumed = {q for w in workers for q in w.queues}
    warnings = []
    for queue, by_state in sorted(counts.items()):
        waiting = by_state.get("pending", 0) + by_state.get("scheduled", 0)
        if waiting and queue not in consumed:
            warnings.append(f"queue {queue!r} has {waiting} waiting job(s) and no live worker "
                            "consumes it")
    leader = transport.get_beat_leader(now)
    return {
        "store": safe_url(app.url),
        "queues": counts,
        "paused": transport.list_paused_queues(),
        "schedules": [
            {"name": e.name, "task": e.task, "schedule": e.schedule,
             "last_run": iso(e.last_run), "next_run": iso(e.next_run),
             "origin": e.origin, "enabled": e.enabled}
            for e in transport.list_schedules()],
        "beat_leader": leader,
        "workers": [
            {"id": w.id, "host": w.host, "pid": w.pid, "queues": w.queues,
             "concurrency": w.concurrency, "running": w.running, "processed": w.processed,
             "heartbeat_age": round(now - w.heartbeat_at, 3), "started_at": w.started_at}
            for w in workers],
        "warnings": warnings,
    }


def job_data(job: Job) -> dict[str, Any]:
    """One job, whole, decoded for `litejobs inspect` and the dashboard's job page."""
    def decoded(blob: bytes | None) -> Any:
        if blob is None:
            return None
        try:
            return serializer.loads(blob)
        except LiteJobsError as exc:
            return f"<undecodable: {exc}>"

    try:
        args, kwargs = serializer.loads_call(job.payload)
    except LiteJobsError as exc:
        args, kwargs = f"<undecodable: {exc}>", None
    return {
        "id": job.id, "task": job.task,
        "state": states.celery_state(job.state, job.custom_state, job.retries),
        "store_state": job.state.value, "queue": job.queue, "priority": job.priority,
        "args": args, "kwargs": kwargs, "attempts": job.attempts, "retries": job.retries,
        "acks_late": job.acks_late, "options": job.options,
        "eta": iso(job.eta), "expires": iso(job.expires), "created": iso(job.created_at),
        "started": iso(job.started_at), "done": iso(job.done_at),
        "result_expires": iso(job.purge_at), "worker": job.worker, "pid": job.pid,
        "result": decoded(job.result), "custom_state": job.custom_state,
        "meta": decoded(job.meta),
        "error": None if job.error_type is None else {
            "type": job.error_type, "message": job.error_message},
        "traceback": job.traceback,
    }


def attempt_data(a: Attempt) -> dict[str, Any]:
    """One attempt of a job, for `litejobs inspect --json` and the dashboard's job page."""
    return {"attempt": a.attempt, "started_at": iso(a.started_at),
            "finished_at": iso(a.finished_at), "worker": a.worker, "pid": a.pid,
            "outcome": a.outcome, "exc_type": a.exc_type, "exc_message": a.exc_message,
            "traceback": a.traceback, "retry_in": a.retry_in,
            "runtime": None if a.started_at is None else max(0.0, a.finished_at - a.started_at)}


def iso(ts: float | None) -> str | None:
    """ISO text of a time; None for none (or never: a one-off schedule that fired)."""
    if ts is not None and not math.isfinite(ts):
        return None
    value = from_timestamp(ts)
    return value.isoformat() if value else None
