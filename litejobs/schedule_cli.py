"""``litejobs schedule ls|add|rm|enable|disable|run DB ...``: stored schedules from a shell.

Thin, as every command: it parses, calls ``app.schedules``, prints. A running beat picks
each change up within a second.
"""

from __future__ import annotations

import json
from typing import Any

import click

from .app import App
from .loading import AppNotFound
from .loading import load_app as _load_app
from .metrics import iso
from .schedules import parse_schedule


def _app(db: str, spec: str | None) -> App:
    if spec is None:
        return App(db)
    try:
        return _load_app(spec, db)
    except AppNotFound as exc:
        raise click.BadParameter(str(exc), param_hint="-A/--app") from None


def _json(text: str | None, what: str, kind: type) -> Any:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=what) from None
    if not isinstance(value, kind):
        raise click.BadParameter(f"must be a JSON {kind.__name__}", param_hint=what)
    return value


APP_OPTION = click.option("-A", "--app", "app_spec",
                          help="Module with the App (to see and run schedules from code).")


@click.group()
def schedule() -> None:
    """Periodic tasks kept in the store: list, add, remove, enable, disable, run now."""


@schedule.command("ls")
@click.argument("db")
@APP_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ls(db: str, app_spec: str | None, as_json: bool) -> None:
    """List schedules: stored ones (editable) and those from code (read-only)."""
    rows = _app(db, app_spec).schedules.list()
    if as_json:
        click.echo(json.dumps([{
            "name": s.name, "task": s.task, "schedule": s.schedule, "origin": s.origin,
            "enabled": s.enabled, "last_run": iso(s.last_run),
            "next_run": iso(s.next_run),
            "args": list(s.args), "kwargs": s.kwargs, "options": s.options,
        } for s in rows], indent=2))
        return
    if not rows:
        click.echo("no schedules")
    for s in rows:
        state = "enabled" if s.enabled else "disabled"
        nxt = iso(s.next_run) or "-"
        click.echo(f"{s.name}  {s.task}  {s.schedule}  [{s.origin}, {state}]  next: {nxt}")


@schedule.command("add")
@click.argument("db")
@click.argument("name")
@click.argument("task")
@click.argument("when")
@click.option("--args", "args_json", help="Positional arguments, a JSON list.")
@click.option("--kwargs", "kwargs_json", help="Keyword arguments, a JSON object.")
@click.option("--options", "options_json", help="Sending options (queue, ...), a JSON object.")
def add(db: str, name: str, task: str, when: str, args_json: str | None,
        kwargs_json: str | None, options_json: str | None) -> None:
    """Store schedule NAME running TASK at WHEN: seconds (30, 5m, 2h), a cron expression
    ("*/15 * * * *") or an ISO datetime (once)."""
    _app(db, None).schedules.add(
        name, task, parse_schedule(when), args=_json(args_json, "--args", list) or (),
        kwargs=_json(kwargs_json, "--kwargs", dict), options=_json(options_json, "--options",
                                                                   dict))
    click.echo(f"added schedule {name!r}: {task} {parse_schedule(when)!r}")


@schedule.command("rm")
@click.argument("db")
@click.argument("name")
def rm(db: str, name: str) -> None:
    """Forget stored schedule NAME."""
    _app(db, None).schedules.remove(name)
    click.echo(f"removed schedule {name!r}")


@schedule.command("enable")
@click.argument("db")
@click.argument("name")
def enable(db: str, name: str) -> None:
    """Let stored schedule NAME fire again."""
    _app(db, None).schedules.enable(name)
    click.echo(f"enabled schedule {name!r}")


@schedule.command("disable")
@click.argument("db")
@click.argument("name")
def disable(db: str, name: str) -> None:
    """Stop stored schedule NAME firing (it stays stored)."""
    _app(db, None).schedules.disable(name)
    click.echo(f"disabled schedule {name!r}")


@schedule.command("run")
@click.argument("db")
@click.argument("name")
@APP_OPTION
def run(db: str, name: str, app_spec: str | None) -> None:
    """Send schedule NAME's job now, outside its slots."""
    result = _app(db, app_spec).schedules.run_now(name)
    click.echo(f"sent {result.id}")
