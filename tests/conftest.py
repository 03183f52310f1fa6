from __future__ import annotations

import os
import sys

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)  # `import jobs` as the worker subprocesses do


@pytest.fixture
def store_path(tmp_path) -> str:
    return str(tmp_path / "jobs.sqlite")
