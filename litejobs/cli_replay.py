"""``litejobs replay``: run a stored job again in the foreground (``--record``: as an
attempt of its own, its outcome stored).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import threading

import click

from .app import App
from .cli_common import EXIT_ERROR, EXIT_NOT_FOUND, fail, load_app
from .execution import Execution, run_job
from .job import JobState
from .timeutil import now as clock_now
from .transports import WorkerInfo, safe_url


@click.command()
@click.argument("db")
@click.argument("job_id")
@click.option("-A", "--app", "app_spec", help="Module with the App and tasks (module[:attr]).")
@click.option("--pdb", "debug", is_flag=True, help="Stop in the debugger where it fails.")
@click.option("--record", is_flag=True,
              help="Store the run as a new attempt of the job, and its outcome as the job's.")
def replay(db: str, job_id: str, app_spec: str | None, debug: bool, record: bool) -> None:
    """Run a stored job again here, in the foreground, with its arguments.

    Prints its result (exit 0) or its traceback (exit 1). The store is not changed,
    unless --record: then the run is an attempt like a worker's (the job must not be
    running), and its outcome (success, retry, failure) is stored.
    """
    app = load_app(app_spec, db)
    job = app.transport.get(job_id)
    if job is None:
        fail(f"no job {job_id} in {safe_url(db)}", EXIT_NOT_FOUND)
        return
    click.echo(f"replaying {job.task}[{job.id}] (stored as {job.state.value})", err=True)
    if record:
        execution = run_recorded(app, job_id)
    else:
        execution = run_job(app, dataclasses.replace(job, expires=None), eager=True)
    outcome = execution.outcome
    if outcome.state is JobState.SUCCESS:
        click.echo(repr(execution.value))
        return
    failure = outcome.failure
    if failure is not None and failure.traceback:
        click.echo(failure.traceback.rstrip(), err=True)
    if outcome.state is JobState.SCHEDULED:
        click.echo(f"the task asked to be retried: {execution.exc!r}", err=True)
    if debug and execution.exc is not None and execution.exc.__traceback__ is not None:
        import pdb  # noqa: PLC0415 - only when asked for

        pdb.post_mortem(execution.exc.__traceback__)
    sys.exit(EXIT_ERROR)


def run_recorded(app: App, job_id: str) -> Execution:
    """``replay --record``: claim the job as a worker of its own (with a heartbeat, so no
    worker takes it for lost), run it through run_job and settle its outcome."""
    transport = app.transport
    host = socket.gethostname()
    info = WorkerInfo(id=f"replay@{host}:{os.getpid()}", host=host, pid=os.getpid(),
                      queues=[], concurrency=1, started_at=clock_now())
    lease = float(app.conf.worker_lease_timeout)
    transport.record_heartbeat(info, clock_now(), lease)
    done = threading.Event()

    def beat() -> None:
        own = app.open_transport()  # this thread's connection
        try:
            while not done.wait(lease / 3):
                own.record_heartbeat(info, clock_now(), lease)
        finally:
            own.close()

    claimed = transport.claim_job(job_id, info.id, os.getpid(), clock_now())
    if claimed is None:
        transport.unregister_worker(info.id)
        fail(f"cannot record a replay of {job_id}: it is running")
    assert claimed is not None
    heart = threading.Thread(target=beat, daemon=True)
    heart.start()
    try:
        execution = run_job(app, dataclasses.replace(claimed, expires=None), hostname=host)
        transport.settle([execution.outcome], clock_now())
    finally:
        done.set()
        transport.unregister_worker(info.id)
    click.echo(f"recorded: the job is now {execution.outcome.state.value}", err=True)
    return execution
