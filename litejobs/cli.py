"""The ``litejobs`` command. Each command is thin: it parses, calls the library, prints.

Exit codes: 0 done; 1 a litejobs error (message on stderr); 2 bad usage; 3 no such job.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from typing import Any

import click

from . import daemon
from .app import App
from .autoscale import parse as parse_autoscale
from .beat import Beat
from .child import StopFlag
from .exceptions import LiteJobsError
from .execution import Execution, run_job
from .job import JobState
from .loading import AppNotFound, setup_logging
from .loading import load_app as _load_app
from .log import short_repr
from .metrics import attempt_data, iso, job_data, prometheus, status_data
from .schedule_cli import schedule
from .supervisor import Supervisor
from .timeutil import now as clock_now
from .timeutil import parse_duration
from .transports import WorkerInfo, safe_url

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3


def load_app(spec: str | None, url: str | None) -> App:
    """``loading.load_app``, with a bad ``-A`` reported in one line (exit code 2).

    ``-A`` is the command's, else the one given before the command (``litejobs -A proj
    status``). Without DB, the store is the one the app's configuration names.
    """
    spec = spec or _group_app_spec()
    if not url and not spec and not os.environ.get("LITEJOBS_URL"):
        raise click.UsageError("give the store (DB: a path or redis:// URL), or -A MODULE "
                               "whose App names it (its URL or broker_url)")
    try:
        return _load_app(spec, url)
    except AppNotFound as exc:
        _fail(f"-A {spec}: {exc}", EXIT_USAGE)
        raise  # unreachable: _fail exits


def _open(db: str | None, mode: str = "existing") -> App:
    """The App on store ``db`` (else the one ``-A`` names) for one command: the store must
    exist (``mode="read"``: and is never written), and a damaged file is refused before
    anything is written."""
    app = App(db) if db and not _group_app_spec() else load_app(None, db)
    app.store_mode = mode
    app.verify_store = True
    return app


def _group_app_spec() -> str | None:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return (root.obj or {}).get("app") if root is not None else None


def _shift(db: str | None, second: str | None) -> tuple[str | None, str | None]:
    """``cmd -A proj ARG``: with -A and one argument, it is the second (DB omitted)."""
    if second is None and _group_app_spec():
        return None, db
    return db, second


def _fail(message: str, code: int = EXIT_ERROR) -> None:
    click.echo(f"litejobs: {message}", err=True)
    sys.exit(code)


def _warn_password_in_url(db: str) -> None:
    """Warn (once, from the process the user started) about a password on the command line."""
    try:
        password = "://" in db and urllib.parse.urlsplit(db).password
    except ValueError:
        password = None
    if password:
        click.echo("litejobs: warning: the store URL carries a password, which every user "
                   "of this machine can read in its command line (ps); give it as "
                   "$LITEJOBS_REDIS_PASSWORD or app.conf.redis_password instead", err=True)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LiteJobsError as exc:
            _fail(str(exc))


@click.group(cls=_Group)
@click.version_option(package_name="litejobs")
@click.option("-A", "--app", "app_spec",
              help="Module with the App (as celery -A): its store is used when DB is omitted.")
@click.pass_context
def main(ctx: click.Context, app_spec: str | None) -> None:
    """litejobs: background jobs on a SQLite file (or Redis), with Celery's API."""
    ctx.obj = {"app": app_spec}


@main.command()
@click.argument("db", required=False)
@click.option("-A", "--app", "app_spec", help="Module with the App and tasks (module[:attr]).")
@click.option("-c", "--concurrency", type=click.IntRange(min=1),
              help="Pool processes (default: CPU count).")
@click.option("-Q", "--queues", help="Comma-separated queues to consume (default: default).")
@click.option("-X", "--exclude-queues", help="Comma-separated queues not to consume (without "
              "-Q: every queue the app names, less these).")
@click.option("-l", "--loglevel", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                                case_sensitive=False))
@click.option("-P", "--pool", type=click.Choice(["prefork", "solo", "threads"]),
              default="prefork", show_default=True,
              help="threads: for I/O-bound tasks (soft time limits hold, hard ones do not).")
@click.option("--max-tasks-per-child", type=click.IntRange(min=1),
              help="Replace a pool child after this many jobs.")
@click.option("--max-memory-per-child", type=click.IntRange(min=1), metavar="KB",
              help="Replace a pool child after the job that took its resident memory "
                   "past KB kilobytes.")
@click.option("--autoscale", metavar="MAX,MIN",
              help="Grow the pool up to MAX children while jobs wait, shrink it to MIN "
                   "when idle (prefork pool).")
@click.option("--start-method", type=click.Choice(["fork", "spawn"]),
              help="How pool children start (default: fork where available).")
@click.option("-n", "--hostname", help="Name this worker reports (default: host name).")
@click.option("-B", "--beat", "with_beat", is_flag=True,
              help="Also run the beat (periodic tasks) in this worker's supervisor.")
@click.option("-f", "--logfile", help="Log here instead of stderr (reopened when rotated).")
@click.option("--pidfile", help="Write the worker's pid here; removed on exit.")
@click.option("--detach", is_flag=True,
              help="Run in the background (a daemon); give --logfile and --pidfile.")
@click.option("-E", "--task-events", is_flag=True, hidden=True,
              help="Accepted for Celery's -E; events are recorded unless "
                   "worker_send_task_events is False.")
def worker(db: str | None, app_spec: str | None, concurrency: int | None, queues: str | None,
           exclude_queues: str | None, loglevel: str, pool: str,
           max_tasks_per_child: int | None, max_memory_per_child: int | None,
           autoscale: str | None, start_method: str | None, hostname: str | None,
           with_beat: bool, logfile: str | None, pidfile: str | None, detach: bool,
           task_events: bool) -> None:
    """Run jobs from DB: a supervisor and a pool of processes.

    -Q takes queue names, each optionally with a limit on how many of its jobs run at
    once across every worker on the store: -Q emails:2,default
    """
    if db:
        _warn_password_in_url(db)
    app = load_app(app_spec, db)
    app.verify_store = True  # once, here: the pool children are not checked again
    # after loading: the app's setup_logging receivers are connected
    setup_logging(loglevel, logfile, app.conf.worker_log_format,
                  app.conf.worker_task_log_format)
    queue_list, queue_limits = parse_queues(queues)
    if exclude_queues:
        queue_list = exclude(app, queue_list, exclude_queues)
    try:
        scale = parse_autoscale(autoscale) if autoscale else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--autoscale") from None
    app.transport  # noqa: B018 - open (and check) the store before announcing anything
    if detach:
        app.close()  # no connection crosses the fork
        logfile = logfile and os.path.abspath(logfile)
        pidfile = pidfile and os.path.abspath(pidfile)
        daemon.detach()
        setup_logging(loglevel, logfile, app.conf.worker_log_format,
                      app.conf.worker_task_log_format)
    with daemon.pidfile(pidfile):
        supervisor = Supervisor(app, queues=queue_list, concurrency=concurrency, pool=pool,
                                max_tasks_per_child=max_tasks_per_child,
                                start_method=start_method, hostname=hostname,
                                app_spec=app_spec, loglevel=loglevel,
                                queue_limits=queue_limits, beat=with_beat,
                                max_memory_per_child=max_memory_per_child, logfile=logfile,
                                autoscale=scale)
        if not detach:
            click.echo(supervisor.banner() + "Ctrl-C to stop", err=True)
        code = supervisor.run()
    sys.exit(code)


def _need(db: str | None, value: str | None, name: str) -> tuple[str | None, str]:
    if not value:
        raise click.UsageError(f"missing argument {name}")
    return db, value


def exclude(app: App, queues: list[str] | None, spec: str) -> list[str]:
    """``-X``: the queues to consume (``-Q``'s, or every queue the app names) less these."""
    excluded = {q.strip() for q in spec.split(",") if q.strip()}
    kept = [q for q in (queues or app.known_queues()) if q not in excluded]
    if not kept:
        raise click.BadParameter(f"-X {spec} leaves no queue to consume",
                                 param_hint="-X/--exclude-queues")
    return kept


def parse_queues(spec: str | None) -> tuple[list[str] | None, dict[str, int]]:
    """``"emails:2,default"`` -> (["emails", "default"], {"emails": 2})."""
    if not spec:
        return None, {}
    queues, limits = [], {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, limit = part.partition(":")
        if limit:
            if not limit.isdigit() or int(limit) < 1:
                raise click.BadParameter(f"{part!r}: a queue limit is a whole number >= 1",
                                         param_hint="-Q/--queues")
            limits[name] = int(limit)
        queues.append(name)
    return queues, limits


@main.command()
@click.argument("db", required=False)
@click.option("-A", "--app", "app_spec", help="Module with the App, its tasks and schedules.")
@click.option("-l", "--loglevel", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                                case_sensitive=False))
def beat(db: str | None, app_spec: str | None, loglevel: str) -> None:
    """Send periodic jobs on schedule. Run several: one leads, the others stand by."""
    if db:
        _warn_password_in_url(db)
    app = load_app(app_spec, db)
    app.verify_store = True
    setup_logging(loglevel)  # after loading: the app's setup_logging receivers are connected
    app.transport  # noqa: B018 - open (and check) the store before announcing anything
    runner = Beat(app)
    if not runner.entries:
        click.echo("litejobs beat: no schedules in code (beat_schedule, add_periodic_task); "
                   "firing only those stored (litejobs schedule add)", err=True)
    stop = StopFlag()
    signal.signal(signal.SIGTERM, lambda *a: setattr(stop, "now", True))
    signal.signal(signal.SIGINT, lambda *a: setattr(stop, "now", True))
    click.echo(f"litejobs beat {runner.holder}: store {safe_url(app.url)}, "
               f"{len(runner.entries)} schedule(s); Ctrl-C to stop", err=True)
    runner.run_forever(stop)


@main.command()
@click.argument("db", required=False)
@click.argument("queue", required=False)
def pause(db: str | None, queue: str | None) -> None:
    """Pause QUEUE: its jobs stay queued and no worker claims them until resumed."""
    db, queue = _need(*_shift(db, queue), "QUEUE")
    _open(db).transport.set_queue_paused(queue, True)
    click.echo(f"paused queue {queue!r}")


@main.command()
@click.argument("db", required=False)
@click.argument("queue", required=False)
def resume(db: str | None, queue: str | None) -> None:
    """Resume a paused QUEUE."""
    db, queue = _need(*_shift(db, queue), "QUEUE")
    _open(db).transport.set_queue_paused(queue, False)
    click.echo(f"resumed queue {queue!r}")


@main.command()
@click.argument("db", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--from-start", is_flag=True, help="Print the kept history first.")
@click.option("-n", "--count", type=click.IntRange(min=1), help="Stop after N events.")
@click.option("--timeout", type=float, help="Stop after this many seconds.")
def events(db: str | None, as_json: bool, from_start: bool, count: int | None,
           timeout: float | None) -> None:
    """Tail job events live, like `celery events` (Ctrl-C to stop)."""
    transport = _open(db, "read").transport
    seq = 0 if from_start else transport.get_last_event_seq()
    shown = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            for event in transport.list_events(seq):
                seq = event.seq
                if as_json:
                    click.echo(json.dumps({
                        "seq": event.seq, "ts": event.ts, "kind": event.kind,
                        "job_id": event.job_id, "task": event.task, "queue": event.queue,
                        "worker": event.worker, "runtime": event.runtime,
                        "detail": event.detail}))
                else:
                    extra = f" runtime={event.runtime:.4f}s" if event.runtime is not None else ""
                    extra += f" {event.detail}" if event.detail else ""
                    extra += f" worker={event.worker}" if event.worker else ""
                    click.echo(f"{iso(event.ts)} {event.kind} {event.task}[{event.job_id}] "
                               f"queue={event.queue}{extra}")
                shown += 1
                if count and shown >= count:
                    return
            if deadline is not None and time.monotonic() >= deadline:
                return
            transport.wait_for_change(1.0 if deadline is None
                                      else max(0.0, min(1.0, deadline - time.monotonic())))
    except KeyboardInterrupt:
        return


@main.command()
@click.argument("db", required=False)
def metrics(db: str) -> None:
    """Print the store's metrics in Prometheus' text format."""
    click.echo(prometheus(_open(db, "read")), nl=False)


@main.command()
@click.argument("db", required=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5555, show_default=True, type=click.IntRange(0, 65535))
@click.option("--auth", envvar="LITEJOBS_DASHBOARD_AUTH",
              help="USER:PASSWORD for HTTP basic auth (or $LITEJOBS_DASHBOARD_AUTH); "
                   "required to bind anywhere but loopback.")
@click.option("--read-only", is_flag=True, help="Show everything, change nothing.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also serve requests naming this host (repeatable; '*' for any). "
                   "Loopback names and the bound address are always allowed.")
def dashboard(db: str | None, host: str, port: int, auth: str | None, read_only: bool,
              allow_hosts: tuple[str, ...]) -> None:
    """Serve the web dashboard (queues, workers, jobs, schedules, actions, /metrics)."""
    try:  # the [dashboard] extra: imported only when asked for
        import uvicorn  # noqa: PLC0415 - optional extra

        from .dashboard.web import create_app  # noqa: PLC0415 - needs the extra
    except ImportError:
        _fail("the dashboard needs its extra: pip install 'litejobs[dashboard]'")
        return
    credentials = None
    if auth:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise click.BadParameter("expected USER:PASSWORD", param_hint="--auth")
        credentials = (user, password)
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and credentials is None:
        raise click.UsageError(f"binding to {host} exposes the dashboard beyond this machine: "
                               "give --auth USER:PASSWORD (or $LITEJOBS_DASHBOARD_AUTH)")
    app = _open(db, "read" if read_only else "existing")
    app.transport  # noqa: B018 - open (and check) the store before serving
    click.echo(f"litejobs dashboard: http://{host}:{port}/ for {safe_url(app.url)}"
               + (" (read-only)" if read_only else ""), err=True)
    bound = [] if host in ("0.0.0.0", "::", "") else [host]
    uvicorn.run(create_app(app, auth=credentials, read_only=read_only,
                           allowed_hosts=[*bound, *allow_hosts]),
                host=host, port=port, log_level="warning")


@main.command()
@click.argument("db", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(db: str | None, as_json: bool) -> None:
    """Queues by state, live workers, and warnings."""
    data = status_data(_open(db, "read"))
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"Store: {data['store']}")
    columns = [s.value for s in JobState]
    click.echo("Queues:")
    if not data["queues"]:
        click.echo("  (no jobs)")
    else:
        click.echo("  " + f"{'QUEUE':<20}" + "".join(f"{c.upper():>11}" for c in columns))
        for queue, by_state in sorted(data["queues"].items()):
            click.echo("  " + f"{queue:<20}"
                       + "".join(f"{by_state.get(c, 0):>11}" for c in columns))
    click.echo(f"Workers ({len(data['workers'])} live):")
    for w in data["workers"]:
        click.echo(f"  {w['id']}  host={w['host']} pid={w['pid']} "
                   f"queues={','.join(w['queues'])} concurrency={w['concurrency']} "
                   f"running={w['running']} processed={w['processed']} "
                   f"heartbeat={w['heartbeat_age']:.1f}s ago")
    if data["paused"]:
        click.echo(f"Paused queues: {', '.join(data['paused'])}")
    if data["schedules"]:
        leader = data["beat_leader"] or "none live"
        click.echo(f"Schedules (beat leader: {leader}):")
        for s in data["schedules"]:
            click.echo(f"  {s['name']}  {s['task']}  {s['schedule']}  "
                       f"last={s['last_run'] or '-'}  next={s['next_run'] or '-'}")
    for warning in data["warnings"]:
        click.echo(f"Warning: {warning}")


@main.command()
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
    db, job_id = _need(*_shift(*(tuple(args) + (None, None))[:2]), "JOB_ID")
    app = _open(db, "read")
    job = app.transport.get(job_id)
    if job is None:
        _fail(f"no job {job_id} in {safe_url(app.url)} (never sent, or its result expired)",
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
        click.echo(f"  #{a['attempt']} {a['outcome']:<8} {_when(a['started_at'])} -> "
                   f"{_when(a['finished_at'])}  {a['worker'] or '-'} pid {a['pid'] or '-'}"
                   f"{error}{retry}")


@main.command()
@click.argument("db", required=False)
@click.argument("job_id", required=False)
@click.option("--failed", is_flag=True, help="Retry every failed job.")
@click.option("--task", "task_name", help="With --failed: only jobs of this task.")
def retry(db: str | None, job_id: str | None, failed: bool, task_name: str | None) -> None:
    """Run a failed (or revoked) job again, or all failed jobs."""
    if not failed:
        db, job_id = _shift(db, job_id)
    if bool(job_id) == failed:
        raise click.UsageError("give a JOB_ID or --failed (not both)")
    if task_name and not failed:
        raise click.UsageError("--task goes with --failed")
    transport = _open(db).transport
    if job_id:
        n = transport.retry_failed(job_id=job_id, now=clock_now())
        if not n:
            job = transport.get(job_id)
            why = "no such job" if job is None else f"it is {job.state.value}, not failed"
            _fail(f"cannot retry {job_id}: {why}", EXIT_NOT_FOUND if job is None else EXIT_ERROR)
        click.echo(f"queued {job_id} again")
    else:
        n = transport.retry_failed(task=task_name, now=clock_now())
        click.echo(f"queued {n} failed job(s) again")


@main.command()
@click.argument("db", required=False)
@click.argument("job_id", required=False)
@click.option("--terminate", is_flag=True, help="Also kill the process if it is running.")
def revoke(db: str | None, job_id: str | None, terminate: bool) -> None:
    """Revoke a job: it never runs; with --terminate a running one is killed."""
    db, job_id = _need(*_shift(db, job_id), "JOB_ID")
    app = _open(db)
    result = app.control.revoke_job(job_id, terminate=terminate)
    messages = {
        "revoked": f"revoked {job_id}",
        "terminating": f"revoked {job_id}; its worker kills the running process",
        "running": f"{job_id} is running; it will finish (use --terminate to kill it)",
        "finished": f"{job_id} has already finished",
    }
    if result == "unknown":
        _fail(f"no job {job_id} in {safe_url(app.url)}", EXIT_NOT_FOUND)
    click.echo(messages[result])


@main.command()
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
    n = _open(db).transport.purge(queue, states)
    click.echo(f"purged {n} {state} job(s)" + (f" from {queue!r}" if queue else ""))




main.add_command(schedule)


@main.command("jobs")
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
    found = _open(db).transport.list_jobs(state=state, queue=queue, task=task_name,
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
                   f"{_when(row['created'])}  {_when(row['started'])}  {_when(row['done'])}  "
                   f"{_call(row['args'], row['kwargs'])}")


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


def _when(text: str | None) -> str:
    return (text or "-")[:19].replace("T", " ").ljust(19)


def _call(args: Any, kwargs: Any) -> str:
    parts = ([short_repr(a) for a in args] if isinstance(args, (list, tuple))
             else [str(args)])
    parts += [f"{k}={short_repr(v)}" for k, v in (kwargs or {}).items()]
    text = f"({', '.join(parts)})"
    return text if len(text) <= 60 else text[:57] + "..."


@main.command()
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
        _fail(f"no store at {db}")
    workers = _open(db).transport.list_workers(clock_now())
    if destination:
        workers = [w for w in workers if destination in (w.host, w.id)
                   or w.id.startswith(destination + ":")]
    if not workers:
        _fail("no live worker answers" + (f" as {destination!r}" if destination else ""))
    now = clock_now()
    for w in workers:
        click.echo(f"-> {w.id}: OK pong (heartbeat {max(0.0, now - w.heartbeat_at):.1f}s ago)")


@main.command()
@click.argument("db")
@click.argument("file")
def backup(db: str, file: str) -> None:
    """Copy the store DB to a new FILE while workers keep running (SQLite's backup API)."""
    if "://" not in db and not os.path.exists(db):
        _fail(f"no store at {db}")
    started = time.monotonic()
    _open(db).transport.backup(file)
    click.echo(f"backed up {safe_url(db)} to {file} ({os.path.getsize(file)} bytes, "
               f"{time.monotonic() - started:.2f}s)")


@main.command()
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
        _fail(f"no job {job_id} in {safe_url(db)}", EXIT_NOT_FOUND)
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
        _fail(f"cannot record a replay of {job_id}: it is running")
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


INSPECT_METHODS = ("ping", "active", "reserved", "scheduled", "registered", "stats",
                   "active_queues", "query_task")
CONTROL_COMMANDS = {"ping": 0, "shutdown": 0, "rate_limit": 2, "add_consumer": 1,
                    "cancel_consumer": 1, "revoke": -1, "purge": 0}


def _store_and_args(rest: list[str]) -> tuple[str | None, list[str]]:
    """``[DB] ARGS...``: the first is DB unless -A was given before the command."""
    if _group_app_spec() or not rest:
        return None, rest
    return rest[0], rest[1:]


def _reply(answer: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(answer, indent=2, default=str))
        return
    if not answer:
        _fail("Error: No nodes replied within time constraint.")
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
    inspector = _open(db).control.inspect(destination.split(",") if destination else None)
    answer = getattr(inspector, method)(*ids) if method == "query_task" else \
        getattr(inspector, method)()
    _reply(answer, as_json)


@main.command(context_settings={"ignore_unknown_options": True})
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
    ctl = _open(db).control
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
