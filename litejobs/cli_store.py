"""``litejobs`` commands acting on the store's jobs and queues: pause, resume, retry,
revoke, purge, jobs, backup. Each parses, calls the library, prints.
"""

from __future__ import annotations

import json
import os
import time

import click

from .cli_common import (
    EXIT_ERROR,
    EXIT_NOT_FOUND,
    call_text,
    fail,
    need,
    open_app,
    shift,
    when,
)
from .job import JobState
from .metrics import job_data
from .timeutil import now as clock_now
from .timeutil import parse_duration
from .transports import safe_url


@click.command()
@click.argument("db", required=False)
@click.argument("queue", required=False)
def pause(db: str | None, queue: str | None) -> None:
    """Pause QUEUE: its jobs stay queued and no worker claims them until resumed."""
    db, queue = need(*shift(db, queue), "QUEUE")
    open_app(db).transport.set_queue_paused(queue, True)
    click.echo(f"paused queue {queue!r}")


@click.command()
@click.argument("db", required=False)
@click.argument("queue", required=False)
def resume(db: str | None, queue: str | None) -> None:
    """Resume a paused QUEUE."""
    db, queue = need(*shift(db, queue), "QUEUE")
    open_app(db).transport.set_queue_paused(queue, False)
    click.echo(f"resumed queue {queue!r}")


@click.command()
@click.argument("db", required=False)
@click.argument("job_id", required=False)
@click.option("--failed", is_flag=True, help="Retry every failed job.")
@click.option("--task", "task_name", help="With --failed: only jobs of this task.")
def retry(db: str | None, job_id: str | None, failed: bool, task_name: str | None) -> None:
    """Run a failed (or revoked) job again, or all failed jobs."""
    if not failed:
        db, job_id = shift(db, job_id)
    if bool(job_id) == failed:
        raise click.UsageError("give a JOB_ID or --failed (not both)")
    if task_name and not failed:
        raise click.UsageError("--task goes with --failed")
    transport = open_app(db).transport
    if job_id:
        n = transport.retry_failed(job_id=job_id, now=clock_now())
        if not n:
            job = transport.get(job_id)
            why = "no such job" if job is None else f"it is {job.state.value}, not failed"
            fail(f"cannot retry {job_id}: {why}", EXIT_NOT_FOUND if job is None else EXIT_ERROR)
        click.echo(f"queued {job_id} again")
    else:
        n = transport.retry_failed(task=task_name, now=clock_now())
        click.echo(f"queued {n} failed job(s) again")


@click.command()
@click.argument("db", required=False)
@click.argument("job_id", required=False)
@click.option("--terminate", is_flag=True, help="Also kill the process if it is running.")
def revoke(db: str | None, job_id: str | None, terminate: bool) -> None:
    """Revoke a job: it never runs; with --terminate a running one is killed."""
    db, job_id = need(*shift(db, job_id), "JOB_ID")
    app = open_app(db)
    result = app.control.revoke_job(job_id, terminate=terminate)
    messages = {
        "revoked": f"revoked {job_id}",
        "terminating": f"revoked {job_id}; its worker kills the running process",
        "running": f"{job_id} is running; it will finish (use --terminate to kill it)",
        "finished": f"{job_id} has already finished",
    }
    if result == "unknown":
        fail(f"no job {job_id} in {safe_url(app.url)}", EXIT_NOT_FOUND)
    click.echo(messages[result])


@click.command()
@click.argument("db", required=False)
@click.option("-Q", "--queue", help="Only this queue (default: every queue).")
@click.option("--state", "state",
              type=click.Choice(["waiting", "failure", "failed", "revoked", "success"]),
              default="waiting", show_default=True,
              help="Which jobs: waiting (pending and scheduled), or finished ones in a state.")
@click.option("-f", "--force", is_flag=True, hidden=True,
              help="Accepted for Celery's `purge -f`; litejobs never asks for confirmation.")
def purge(db: str | None, queue: str | None, state: str, force: bool) -> None:
    """Delete waiting jobs, or finished jobs in one state; running jobs are never touched."""
    state = "failure" if state == "failed" else state
    states = None if state == "waiting" else [JobState(state)]
    n = open_app(db).transport.purge(queue, states)
    click.echo(f"purged {n} {state} job(s)" + (f" from {queue!r}" if queue else ""))


@click.command("jobs")
@click.argument("db")
@click.option("--state", "state_name", help="Only jobs in this state (Celery's names too: "
                                             "PENDING, STARTED, RETRY, SUCCESS, FAILURE, ...).")
@click.option("--task", "task_name", help="Only jobs of this task.")
@click.option("-Q", "--queue", help="Only jobs of this queue.")
@click.option("--since", help="Only jobs sent in this long before now: 30s, 10m, 2h, 1d.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of job objects.")
def jobs_command(db: str, state_name: str | None, task_name: str | None, queue: str | None,
                 since: str | None, limit: int, as_json: bool) -> None:
    """List jobs, newest first: id, task, state, queue, times and arguments."""
    state = parse_state(state_name) if state_name else None
    cutoff = None
    if since:
        try:
            cutoff = clock_now() - parse_duration(since)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    found = open_app(db).transport.list_jobs(state=state, queue=queue, task=task_name,
                                          limit=limit, since=cutoff)
    rows = [job_data(job) for job in found]
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=repr))
        return
    if not rows:
        click.echo("(no jobs)")
        return
    click.echo(f"{'ID':<36}  {'TASK':<24} {'STATE':<8} {'QUEUE':<10} {'SENT':<19}  "
               f"{'STARTED':<19}  {'DONE':<19}  ARGS")
    for row in rows:
        click.echo(f"{row['id']:<36}  {row['task']:<24} {row['state']:<8} {row['queue']:<10} "
                   f"{when(row['created'])}  {when(row['started'])}  {when(row['done'])}  "
                   f"{call_text(row['args'], row['kwargs'])}")


def parse_state(name: str) -> JobState:
    """A store state (``failure``) or Celery's name for one (``FAILURE``, ``STARTED``)."""
    aliases = {"started": "running", "retry": "scheduled", "failed": "failure"}
    value = aliases.get(name.lower(), name.lower())
    try:
        return JobState(value)
    except ValueError:
        names = ", ".join(s.value for s in JobState)
        raise click.BadParameter(f"{name!r} is not a state ({names})",
                                 param_hint="--state") from None


@click.command()
@click.argument("db")
@click.argument("file")
def backup(db: str, file: str) -> None:
    """Copy the store DB to a new FILE while workers keep running (SQLite's backup API)."""
    if "://" not in db and not os.path.exists(db):
        fail(f"no store at {db}")
    started = time.monotonic()
    open_app(db).transport.backup(file)
    click.echo(f"backed up {safe_url(db)} to {file} ({os.path.getsize(file)} bytes, "
               f"{time.monotonic() - started:.2f}s)")
