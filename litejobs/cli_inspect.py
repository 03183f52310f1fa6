"""``litejobs inspect`` (one job, or as ``celery inspect`` what live workers hold),
``litejobs control`` (as ``celery control``) and ``litejobs ping`` (health checks).
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from .cli_common import (
    EXIT_NOT_FOUND,
    fail,
    group_app_spec,
    need,
    open_app,
    shift,
    when,
)
from .metrics import attempt_data, job_data
from .timeutil import now as clock_now
from .transports import safe_url


@click.command()
@click.argument("args", nargs=-1, metavar="[DB] JOB_ID | METHOD [DB] [ID]...")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("-d", "--destination", help="With METHOD: only these workers (comma-separated).")
def inspect(args: tuple[str, ...], as_json: bool, destination: str | None) -> None:
    """One job, whole: arguments, state, attempts, result or error, times.

    Or, as `celery inspect`, what the live workers hold: METHOD is one of
    ping, active, reserved, scheduled, registered, stats, active_queues, query_task.
    """
    if args and args[0] in INSPECT_METHODS:
        _inspect_workers(args[0], list(args[1:]), destination, as_json)
        return
    if len(args) > 2:
        raise click.UsageError("expected [DB] JOB_ID, or METHOD [DB]")
    db, job_id = need(*shift(*(tuple(args) + (None, None))[:2]), "JOB_ID")
    app = open_app(db, "read")
    job = app.transport.get(job_id)
    if job is None:
        fail(f"no job {job_id} in {safe_url(app.url)} (never sent, or its result expired)",
              EXIT_NOT_FOUND)
        return
    data = job_data(job)
    attempts = [attempt_data(a) for a in app.transport.list_attempts(job_id)]
    if as_json:
        data["attempt_count"] = data["attempts"]
        data["attempts"] = attempts
        click.echo(json.dumps(data, indent=2, default=repr))
        return
    for key, value in data.items():
        if key == "traceback" or value is None or value == {}:
            continue
        if key == "error":
            value = f"{value['type']}: {value['message']}"
        click.echo(f"{key + ':':<16}{value!r}" if key in ("args", "kwargs", "result", "meta")
                   else f"{key + ':':<16}{value}")
    if job.traceback:
        click.echo("traceback:")
        click.echo(job.traceback.rstrip())
    if attempts:
        click.echo("attempts:")
    for a in attempts:
        error = f"  {a['exc_type']}: {a['exc_message']}" if a["exc_type"] else ""
        retry = f"  retry in {a['retry_in']:.1f}s" if a["retry_in"] is not None else ""
        click.echo(f"  #{a['attempt']} {a['outcome']:<8} {when(a['started_at'])} -> "
                   f"{when(a['finished_at'])}  {a['worker'] or '-'} pid {a['pid'] or '-'}"
                   f"{error}{retry}")


@click.command()
@click.argument("db", required=False, envvar="LITEJOBS_URL")
@click.option("-d", "--destination", help="Only this worker: its -n name, host or id.")
def ping(db: str | None, destination: str | None) -> None:
    """Exit 0 when a live worker answers (its heartbeat is fresh), 1 otherwise.

    For health checks: Kubernetes probes, systemd, compose (as `celery inspect ping`).
    DB defaults to $LITEJOBS_URL.
    """
    if not db:
        raise click.UsageError("give DB (or set $LITEJOBS_URL)")
    if "://" not in db and not os.path.exists(db):
        fail(f"no store at {db}")
    workers = open_app(db).transport.list_workers(clock_now())
    if destination:
        workers = [w for w in workers if destination in (w.host, w.id)
                   or w.id.startswith(destination + ":")]
    if not workers:
        fail("no live worker answers" + (f" as {destination!r}" if destination else ""))
    now = clock_now()
    for w in workers:
        click.echo(f"-> {w.id}: OK pong (heartbeat {max(0.0, now - w.heartbeat_at):.1f}s ago)")


INSPECT_METHODS = ("ping", "active", "reserved", "scheduled", "registered", "stats",
                   "active_queues", "query_task")
CONTROL_COMMANDS = {"ping": 0, "shutdown": 0, "rate_limit": 2, "add_consumer": 1,
                    "cancel_consumer": 1, "revoke": -1, "purge": 0}


def _store_and_args(rest: list[str]) -> tuple[str | None, list[str]]:
    """``[DB] ARGS...``: the first is DB unless -A was given before the command."""
    if group_app_spec() or not rest:
        return None, rest
    return rest[0], rest[1:]


def _reply(answer: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(answer, indent=2, default=str))
        return
    if not answer:
        fail("Error: No nodes replied within time constraint.")
    items = answer.items() if isinstance(answer, dict) else (
        (name, reply) for one in answer for name, reply in one.items())
    for name, reply in items:
        if isinstance(reply, dict) and set(reply) == {"ok"}:
            click.echo(f"-> {name}: OK {reply['ok']}")
        else:
            click.echo(f"-> {name}:")
            click.echo("    " + json.dumps(reply, indent=2, default=str).replace("\n", "\n    "))


def _inspect_workers(method: str, rest: list[str], destination: str | None,
                     as_json: bool) -> None:
    db, ids = _store_and_args(rest)
    if ids and method != "query_task":
        raise click.UsageError(f"inspect {method} takes no arguments besides DB")
    inspector = open_app(db).control.inspect(destination.split(",") if destination else None)
    answer = getattr(inspector, method)(*ids) if method == "query_task" else \
        getattr(inspector, method)()
    _reply(answer, as_json)


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("command", type=click.Choice(sorted(CONTROL_COMMANDS)))
@click.argument("args", nargs=-1)
@click.option("-d", "--destination", help="Only these workers (comma-separated names).")
@click.option("--terminate", is_flag=True, help="revoke: also kill running jobs.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def control(command: str, args: tuple[str, ...], destination: str | None, terminate: bool,
            as_json: bool) -> None:
    """Act on the workers, as `celery control`: ping, shutdown (warm),
    rate_limit TASK RATE, add_consumer QUEUE, cancel_consumer QUEUE, revoke ID..., purge.

    Arguments come after the optional DB: `litejobs control rate_limit jobs.sqlite
    tasks.add 10/m`, or with -A: `litejobs -A proj control rate_limit tasks.add 10/m`.
    """
    wanted = CONTROL_COMMANDS[command]
    db, rest = _store_and_args(list(args))
    if wanted >= 0 and len(rest) != wanted:
        raise click.UsageError(f"control {command} takes {wanted} argument(s) after DB, "
                               f"not {len(rest)}")
    ctl = open_app(db).control
    dest = destination.split(",") if destination else None
    if command == "revoke":
        if not rest:
            raise click.UsageError("control revoke takes job ids")
        ctl.revoke(rest, terminate=terminate)
        click.echo(f"revoked {len(rest)} job(s)")
        return
    if command == "purge":
        click.echo(f"purged {ctl.purge()} waiting job(s)")
        return
    method = getattr(ctl, command)
    _reply(method(*rest, destination=dest), as_json)
