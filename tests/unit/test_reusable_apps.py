"""``shared_task`` and ``autodiscover_tasks``: tasks of a library or Django app that
never import the project's App."""

from __future__ import annotations

import sys
import textwrap

import pytest

import litejobs
from litejobs.exceptions import ConfigurationError


@pytest.fixture
def packages(tmp_path, monkeypatch):
    """Write packages under tmp_path, importable; forget them afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def make(name: str, tasks: str | None) -> None:
        pkg = tmp_path / name
        pkg.mkdir()
        (pkg / "__init__.py").write_text("")
        if tasks is not None:
            (pkg / "tasks.py").write_text(textwrap.dedent(tasks))
        made.append(name)

    yield make
    for name in list(sys.modules):
        if name.split(".")[0] in made:
            del sys.modules[name]


LIBRARY = """
    from litejobs import shared_task

    @shared_task
    def double(x):
        return 2 * x

    @shared_task(name="{name}.custom", max_retries=1)
    def custom():
        return "ok"
"""


def test_shared_task_binds_to_the_current_app(packages, tmp_path):
    packages("lib_before", LIBRARY.format(name="lib_before"))
    import lib_before.tasks as lib  # imported before the App exists

    app = litejobs.App(str(tmp_path / "a.sqlite"), eager=True)
    assert lib.double.name == "lib_before.tasks.double"
    assert lib.double.delay(21).get() == 42
    assert lib.double(2) == 4
    assert app.tasks["lib_before.custom"].max_retries == 1
    assert lib.double.app is app

    other = litejobs.App(str(tmp_path / "b.sqlite"))  # a newer App: it is the current one
    sent = lib.double.delay(1)
    assert other.transport.get(sent.id).task == "lib_before.tasks.double"
    assert "lib_before.tasks.double" in other.tasks


def test_shared_task_declared_after_the_app(packages, tmp_path):
    app = litejobs.App(str(tmp_path / "a.sqlite"), eager=True)
    packages("lib_after", LIBRARY.format(name="lib_after"))
    import lib_after.tasks as lib

    assert "lib_after.tasks.double" in app.tasks
    assert (lib.double.s(2) | lib.double.s()).delay().get() == 8


def test_shared_task_checks_options():
    with pytest.raises(ConfigurationError, match="unknown task option"):
        litejobs.shared_task(retries=3)(lambda: None)


def test_autodiscover_tasks(packages, tmp_path):
    packages("app_one", """
        from litejobs import shared_task

        @shared_task
        def one():
            return 1
    """)
    packages("app_two", None)  # no tasks module: skipped
    packages("app_broken", "import no_such_module_anywhere\n")
    app = litejobs.App(str(tmp_path / "a.sqlite"))
    app.autodiscover_tasks(["app_one", "app_two"])
    assert "app_one.tasks.one" not in app.tasks  # lazy, as in Celery
    app.import_default_modules()  # what the worker does when it loads the app
    assert "app_one.tasks.one" in app.tasks
    with pytest.raises(ModuleNotFoundError, match="no_such_module_anywhere"):
        app.autodiscover_tasks(lambda: ["app_broken"], force=True)
