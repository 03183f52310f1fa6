"""What every ``litejobs`` command shares: exit codes, loading the app or opening the
store a command names (DB, or ``-A`` before or after the command), failing in one line.

Exit codes: 0 done; 1 a litejobs error (message on stderr); 2 bad usage; 3 no such job.
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from typing import Any

import click

from .app import App
from .loading import AppNotFound
from .loading import load_app as _load_app
from .log import short_repr

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3


def load_app(spec: str | None, url: str | None) -> App:
    """``loading.load_app``, with a bad ``-A`` reported in one line (exit code 2).

    ``-A`` is the command's, else the one given before the command (``litejobs -A proj
    status``). Without DB, the store is the one the app's configuration names.
    """
    spec = spec or group_app_spec()
    if not url and not spec and not os.environ.get("LITEJOBS_URL"):
        raise click.UsageError("give the store (DB: a path or redis:// URL), or -A MODULE "
                               "whose App names it (its URL or broker_url)")
    try:
        return _load_app(spec, url)
    except AppNotFound as exc:
        fail(f"-A {spec}: {exc}", EXIT_USAGE)
        raise  # unreachable: fail exits


def open_app(db: str | None, mode: str = "existing") -> App:
    """The App on store ``db`` (else the one ``-A`` names) for one command: the store must
    exist (``mode="read"``: and is never written), and a damaged file is refused before
    anything is written."""
    app = App(db) if db and not group_app_spec() else load_app(None, db)
    app.store_mode = mode
    app.verify_store = True
    return app


def group_app_spec() -> str | None:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return (root.obj or {}).get("app") if root is not None else None


def shift(db: str | None, second: str | None) -> tuple[str | None, str | None]:
    """``cmd -A proj ARG``: with -A and one argument, it is the second (DB omitted)."""
    if second is None and group_app_spec():
        return None, db
    return db, second


def fail(message: str, code: int = EXIT_ERROR) -> None:
    click.echo(f"litejobs: {message}", err=True)
    sys.exit(code)


def warn_password_in_url(db: str) -> None:
    """Warn (once, from the process the user started) about a password on the command line."""
    try:
        password = "://" in db and urllib.parse.urlsplit(db).password
    except ValueError:
        password = None
    if password:
        click.echo("litejobs: warning: the store URL carries a password, which every user "
                   "of this machine can read in its command line (ps); give it as "
                   "$LITEJOBS_REDIS_PASSWORD or app.conf.redis_password instead", err=True)


def need(db: str | None, value: str | None, name: str) -> tuple[str | None, str]:
    if not value:
        raise click.UsageError(f"missing argument {name}")
    return db, value


def when(text: str | None) -> str:
    return (text or "-")[:19].replace("T", " ").ljust(19)


def call_text(args: Any, kwargs: Any) -> str:
    parts = ([short_repr(a) for a in args] if isinstance(args, (list, tuple))
             else [str(args)])
    parts += [f"{k}={short_repr(v)}" for k, v in (kwargs or {}).items()]
    text = f"({', '.join(parts)})"
    return text if len(text) <= 60 else text[:57] + "..."
