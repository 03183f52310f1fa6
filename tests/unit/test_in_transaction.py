"""delay_in_transaction's refusals that need no Django project (the rest, with real
Django and a real worker, is tests/test_django_transaction.py)."""

from __future__ import annotations

import sys

import pytest

import litejobs
from litejobs.exceptions import ConfigurationError


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    if "django.conf" in sys.modules:
        pytest.skip("this process has imported Django's settings")
    app = litejobs.App(str(tmp_path / "store.sqlite"))
    yield app
    app.close()


def test_outside_a_django_project_it_is_refused_and_nothing_is_sent(app):
    @app.task
    def add(x, y):
        return x + y

    with pytest.raises(ConfigurationError, match="delay_in_transaction needs Django"):
        add.delay_in_transaction(1, 2)
    assert app.transport.list_jobs() == []


def test_links_and_unknown_options_are_refused_naming_the_valid_ones(app):
    @app.task
    def add(x, y):
        return x + y

    with pytest.raises(ConfigurationError, match="option.*link for .*add sent in a transac"):
        add.apply_async_in_transaction((1, 2), link=add.s(3))
    with pytest.raises(ConfigurationError, match="countdwn.*valid options: .*countdown"):
        add.apply_async_in_transaction((1, 2), countdwn=5)
    with pytest.raises(TypeError):
        add.delay_in_transaction(1, 2, 3)  # a task's signature is checked, as delay() does
    assert app.transport.list_jobs() == []


def test_a_unique_job_is_not_sent_in_a_transaction(app):
    @app.task(unique_for=60)
    def once(x):
        return x

    with pytest.raises(ConfigurationError, match="unique task .*cannot be sent inside"):
        once.delay_in_transaction(1)
    with pytest.raises(ConfigurationError, match="option.*unique_for .*sent in a transac"):
        app.tasks[once.name].apply_async_in_transaction((1,), unique_for=5)
    assert app.transport.list_jobs() == []
