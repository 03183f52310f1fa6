"""Tasks are typed: mypy flags wrong arguments and knows what .get() returns."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

EXAMPLE = textwrap.dedent('''
    import litejobs

    app = litejobs.App("typed.sqlite")

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(bind=True, max_retries=2)
    def greet(self: litejobs.Task, name: str) -> str:
        return "hi " + name

    total: int = add(1, 2)
    reveal_type(add.delay(1, 2).get())
    reveal_type(greet.delay("ada").get())
    add.delay("x", 2)
    greet.delay(3)
''')


@pytest.mark.timeout(300)
def test_mypy_checks_task_calls(tmp_path):
    pytest.importorskip("mypy")
    path = tmp_path / "typed_example.py"
    path.write_text(EXAMPLE)
    import litejobs

    # An editable install hides the package from mypy; point it at the source.
    root = os.path.dirname(os.path.dirname(os.path.abspath(litejobs.__file__)))
    env = dict(os.environ, MYPY_CACHE_DIR=str(tmp_path / ".mypy_cache"), MYPYPATH=root)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--hide-error-context",
         "--follow-imports=silent", str(path)],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    lines = out.stdout.splitlines()
    revealed = [line.split("Revealed type is ")[1] for line in lines if "Revealed type" in line]
    assert [r.strip('"').removeprefix("builtins.") for r in revealed] == ["int", "str"], out.stdout
    errors = [line for line in lines if ": error:" in line]
    assert len(errors) == 2, out.stdout
    assert 'Argument 1 to "delay" of "Task" has incompatible type "str"' in errors[0]
    assert 'Argument 1 to "delay" of "Task" has incompatible type "int"' in errors[1]
