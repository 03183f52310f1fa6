"""The ``litejobs`` command: the group, and the commands that run processes (worker,
beat). The others live beside it, a module per idea: cli_store (jobs and queues),
cli_monitor (status, events, metrics, dashboard), cli_inspect (inspect, control, ping),
cli_replay, schedule_cli; cli_common holds what they share. Each command is thin: it
parses, calls the library, prints.

Exit codes: 0 done; 1 a litejobs error (message on stderr); 2 bad usage; 3 no such job.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import click

from . import daemon
from .app import App
from .autoscale import parse as parse_autoscale
from .beat import Beat
from .child import StopFlag
from .cli_common import fail, load_app, warn_password_in_url
from .cli_inspect import control, inspect, ping
from .cli_monitor import dashboard, events, metrics, status
from .cli_replay import replay
from .cli_store import backup, jobs_command, pause, purge, resume, retry, revoke
from .exceptions import LiteJobsError
from .loading import setup_logging
from .schedule_cli import schedule
from .supervisor import Supervisor
from .transports import safe_url


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LiteJobsError as exc:
            fail(str(exc))


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
        warn_password_in_url(db)
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
        warn_password_in_url(db)
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


for command in (pause, resume, retry, revoke, purge, jobs_command, backup, status, events,
                metrics, dashboard, inspect, control, ping, replay, schedule):
    main.add_command(command)
