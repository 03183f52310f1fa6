"""Damaged, truncated, missing, read-only and half-deleted stores, through the real CLI:
one clear refusal each, and nothing written."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

import litejobs
from litejobs.exceptions import StoreError
from litejobs.testing import use_store

import jobs
from helpers import TESTS_DIR, wait_until

pytestmark = pytest.mark.one_store

# Every command, with arguments that would make it write where it can.
COMMANDS = {
    "status": [], "inspect": ["no-such-job"], "metrics": [],
    "events": ["--from-start", "-n", "1", "--timeout", "1"],
    "pause": ["default"], "resume": ["default"], "revoke": ["no-such-job"],
    "retry": ["--failed"], "purge": [], "worker": ["-A", "jobs", "-c", "1"],
    "beat": ["-A", "jobs"], "dashboard": ["--port", "0"],
}
READERS = ["status", "inspect", "metrics", "events", "dashboard"]


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "litejobs", *args], cwd=TESTS_DIR,
                          capture_output=True, text=True, timeout=timeout)


def files(directory) -> dict[str, bytes]:
    """Every file's bytes (a lock file's too: it must not appear either)."""
    found = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            found[name] = f.read()
    return found


def make_store(path: str, count: int = 300) -> None:
    with use_store(jobs.app, path) as app:
        for i in range(count):
            jobs.add.delay(i, i)
        app.transport.checkpoint("TRUNCATE")


def flip_bytes(path: str, start: int, length: int) -> None:
    with open(path, "r+b") as f:
        f.seek(start)
        data = f.read(length)
        f.seek(start)
        f.write(bytes(b ^ 0xFF for b in data))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_a_damaged_store_and_writes_nothing(tmp_path, command):
    store = str(tmp_path / "jobs.sqlite")
    make_store(store)
    flip_bytes(store, os.path.getsize(store) - 3000, 2000)  # inside the last table page
    before = files(tmp_path)
    out = cli(command, store, *COMMANDS[command])
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"store {store} is damaged" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert files(tmp_path) == before


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_truncated_store_is_damaged_or_truncated(tmp_path, command):
    store = str(tmp_path / "jobs.sqlite")
    make_store(store)
    os.truncate(store, os.path.getsize(store) // 2)
    before = files(tmp_path)
    out = cli(command, store, *COMMANDS[command])
    assert out.returncode == 1 and "damaged or truncated" in out.stderr, out.stderr
    assert "not a SQLite database" not in out.stderr
    assert files(tmp_path) == before


@pytest.mark.parametrize("command", READERS)
def test_a_read_command_on_a_missing_path_creates_nothing(tmp_path, command):
    store = str(tmp_path / "typo.sqlite")
    out = cli(command, store, *COMMANDS[command])
    assert out.returncode == 1 and "no such store" in out.stderr, out.stderr
    assert os.listdir(tmp_path) == []


@pytest.fixture
def read_only_mount(tmp_path):
    """A tmpfs holding a store with jobs, then remounted read-only (needs root)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                       check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    try:
        store = str(mount / "jobs.sqlite")
        with use_store(jobs.app, store):
            sent = jobs.add.delay(1, 1)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield store, sent.id
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_store_on_a_read_only_mount_can_be_inspected(read_only_mount):
    store, job_id = read_only_mount
    out = cli("status", store)
    assert out.returncode == 0 and "default" in out.stdout, out.stderr
    out = cli("inspect", store, job_id)
    assert out.returncode == 0 and "jobs.add" in out.stdout, out.stderr
    out = cli("metrics", store)
    assert out.returncode == 0 and 'state="pending"} 1' in out.stdout, out.stderr
    # only writers refuse, saying why
    for command in ("pause", "worker"):
        out = cli(command, store, *COMMANDS[command])
        assert out.returncode == 1 and "read-only" in out.stderr, out.stderr


def test_the_dashboard_serves_a_read_only_mount_with_read_only(read_only_mount):
    pytest.importorskip("uvicorn")
    from integration.test_dashboard import Dashboard

    store, job_id = read_only_mount
    d = Dashboard(store, "--read-only")
    try:
        wait_until(d.up, 20, message="dashboard listening")
        status, html, _ = d.request(f"/jobs/{job_id}")
        assert status == 200 and "jobs.add" in html
    finally:
        d.stop()
    out = cli("dashboard", store, "--port", "0")  # it could act: refused
    assert out.returncode == 1 and "read-only" in out.stderr, out.stderr


def test_an_empty_file_adopted_as_a_store_is_made_private(tmp_path):
    store = tmp_path / "jobs.sqlite"
    store.touch()
    os.chmod(store, 0o644)
    with use_store(jobs.app, str(store)):
        jobs.add.delay(1, 1)
        for suffix in ("", "-wal", "-shm"):
            mode = stat.S_IMODE(os.stat(str(store) + suffix).st_mode)
            assert mode == 0o600, (suffix, oct(mode))


def test_a_deleted_wal_under_a_running_worker_is_named_and_loses_nothing(
        tmp_path, start_worker, store_path):
    store = str(tmp_path / "wal" / "jobs.sqlite")
    os.mkdir(os.path.dirname(store))
    with use_store(jobs.app, store) as app:
        first = jobs.add.delay(1, 1)
        worker = start_worker("-A", "jobs", "-c", "1", store=store, wait=False)
        assert first.get(timeout=30) == 2
        # A job settled after the supervisor's first checkpoint (it runs at start, then
        # every 5 s) leaves commits that only the -wal holds; the one before may not
        # (on a quiet machine the first job can finish before that checkpoint copies it).
        second = jobs.add.delay(2, 3)
        assert second.get(timeout=30) == 5
        os.remove(store + "-wal")
        # a new producer and a new worker are refused, naming the cause
        producer = litejobs.App(store)
        try:
            with pytest.raises(StoreError, match="-wal"):
                producer.send_task("jobs.add", (2, 2))
        finally:
            producer.close()
        out = cli("worker", store, "-A", "jobs", "-c", "1", timeout=60)
        assert out.returncode == 1 and "-wal" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
        # and once the running worker stops, nothing it wrote is lost
        worker.stop()
    with use_store(jobs.app, store) as app:
        assert app.transport.get(first.id).state.value == "success"
        assert app.transport.get(second.id).state.value == "success"
        assert jobs.add.delay(3, 3).id
        assert app.run_until_idle() == 1
