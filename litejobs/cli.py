"""The ``litejobs`` command. Each command is thin: it parses, calls the library, prints.

Exit codes: 0 done; 1 a litejobs error (message on stderr); 2 bad usage; 3 no such job.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import sys
import time
from typing import Any

import click

from .app import App
from .beat import Beat
from .child import StopFlag
from .exceptions import LiteJobsError
from .job import JobState
from .loading import AppNotFound, setup_logging
from .loading import load_app as _load_app
from .metrics import iso, job_data, prometheus, status_data
from .supervisor import Supervisor
from .timeutil import now as clock_now
from .transports import safe_url

EXIT_ERROR = 1
EXIT_NOT_FOUND = 3


def load_app(spec: str | None, url: str | None) -> App:
    """``loading.load_app``, with a bad ``-A`` reported as click reports bad options.

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
        raise click.BadParameter(str(exc), param_hint="-A/--app") from None


def _group_app_spec() -> str | None:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return (root.obj or {}).get("app") if root is not None else None


def _open(db: str | None) -> App:
    if db and not _group_app_spec():
        return App(db)
    return load_app(None, db)


def _shift(db: str | None, second: str | None) -> tuple[str | None, str | None]:
    """``cmd -A proj ARG``: with -A and one argument, it is the second (DB omitted)."""
    if second is None and _group_app_spec():
        return None, db
    return db, second


def _fail(message: str, code: int = EXIT_ERROR) -> None:
    click.echo(f"litejobs: {message}", err=True)
    sys.exit(code)


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
@click.option("-P", "--pool", type=click.Choice(["prefork", "solo"]), default="prefork",
              show_default=True)
@click.option("--max-tasks-per-child", type=click.IntRange(min=1),
              help="Replace a pool child after this many jobs.")
@click.option("--start-method", type=click.Choice(["fork", "spawn"]),
              help="How pool children start (default: fork where available).")
@click.option("-n", "--hostname", help="Name this worker reports (default: host name).")
@click.option("-B", "--beat", "with_beat", is_flag=True,
              help="Also run the beat (periodic tasks) in this worker's supervisor.")
@click.option("-E", "--task-events", is_flag=True, hidden=True,
              help="Accepted for Celery's -E; events are recorded unless "
                   "worker_send_task_events is False.")
def worker(db: str | None, app_spec: str | None, concurrency: int | None, queues: str | None,
           exclude_queues: str | None, loglevel: str, pool: str, max_tasks_per_child: int | None,
           start_method: str | None, hostname: str | None, with_beat: bool,
           task_events: bool) -> None:
    """Run jobs from DB: a supervisor and a pool of processes.

    -Q takes queue names, each optionally with a limit on how many of its jobs run at
    once across every worker on the store: -Q emails:2,default
    """
    app = load_app(app_spec, db)
    setup_logging(loglevel)  # after loading: the app's setup_logging receivers are connected
    queue_list, queue_limits = parse_queues(queues)
    if exclude_queues:
        queue_list = exclude(app, queue_list, exclude_queues)
    supervisor = Supervisor(app, queues=queue_list, concurrency=concurrency, pool=pool,
                            max_tasks_per_child=max_tasks_per_child,
                            start_method=start_method, hostname=hostname, app_spec=app_spec,
                            loglevel=loglevel, queue_limits=queue_limits, beat=with_beat)
    app.transport  # noqa: B018 - open (and check) the store before announcing anything
    click.echo(f"litejobs worker {supervisor.id}: store {safe_url(app.url)}, queues "
               f"{','.join(supervisor.queues)}, concurrency {supervisor.concurrency} "
               f"({pool}); Ctrl-C to stop", err=True)
    sys.exit(supervisor.run())


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
    app = load_app(app_spec, db)
    setup_logging(loglevel)
    runner = Beat(app)
    if not runner.entries:
        click.echo("litejobs beat: no schedules (beat_schedule, add_periodic_task); "
                   "nothing to do", err=True)
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
    transport = _open(db).transport
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
    click.echo(prometheus(_open(db)), nl=False)


@main.command()
@click.argument("db", required=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5555, show_default=True, type=click.IntRange(0, 65535))
@click.option("--auth", envvar="LITEJOBS_DASHBOARD_AUTH",
              help="USER:PASSWORD for HTTP basic auth (or $LITEJOBS_DASHBOARD_AUTH); "
                   "required to bind anywhere but loopback.")
@click.option("--read-only", is_flag=True, help="Show everything, change nothing.")
def dashboard(db: str | None, host: str, port: int, auth: str | None, read_only: bool) -> None:
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
    app = _open(db)
    app.transport  # noqa: B018 - open (and check) the store before serving
    click.echo(f"litejobs dashboard: http://{host}:{port}/ for {safe_url(app.url)}"
               + (" (read-only)" if read_only else ""), err=True)
    uvicorn.run(create_app(app, auth=credentials, read_only=read_only), host=host, port=port,
                log_level="warning")


@main.command()
@click.argument("db", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(db: str | None, as_json: bool) -> None:
    """Queues by state, live workers, and warnings."""
    data = status_data(_open(db))
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
    app = _open(db)
    job = app.transport.get(job_id)
    if job is None:
        _fail(f"no job {job_id} in {safe_url(app.url)} (never sent, or its result expired)",
              EXIT_NOT_FOUND)
        return
    data = job_data(job)
    if as_json:
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
