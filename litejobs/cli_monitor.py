"""``litejobs`` commands that watch a store: status, events, metrics, dashboard.
"""

from __future__ import annotations

import ipaddress
import json
import time

import click

from .cli_common import fail, open_app
from .job import JobState
from .metrics import iso, prometheus, status_data
from .transports import safe_url


@click.command()
@click.argument("db", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--from-start", is_flag=True, help="Print the kept history first.")
@click.option("-n", "--count", type=click.IntRange(min=1), help="Stop after N events.")
@click.option("--timeout", type=float, help="Stop after this many seconds.")
def events(db: str | None, as_json: bool, from_start: bool, count: int | None,
           timeout: float | None) -> None:
    """Tail job events live, like `celery events` (Ctrl-C to stop)."""
    transport = open_app(db, "read").transport
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


@click.command()
@click.argument("db", required=False)
def metrics(db: str) -> None:
    """Print the store's metrics in Prometheus' text format."""
    click.echo(prometheus(open_app(db, "read")), nl=False)


@click.command()
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
        fail("the dashboard needs its extra: pip install 'litejobs[dashboard]'")
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
    app = open_app(db, "read" if read_only else "existing")
    app.transport  # noqa: B018 - open (and check) the store before serving
    click.echo(f"litejobs dashboard: http://{host}:{port}/ for {safe_url(app.url)}"
               + (" (read-only)" if read_only else ""), err=True)
    bound = [] if host in ("0.0.0.0", "::", "") else [host]
    uvicorn.run(create_app(app, auth=credentials, read_only=read_only,
                           allowed_hosts=[*bound, *allow_hosts]),
                host=host, port=port, log_level="warning")


@click.command()
@click.argument("db", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(db: str | None, as_json: bool) -> None:
    """Queues by state, live workers, and warnings."""
    data = status_data(open_app(db, "read"))
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
