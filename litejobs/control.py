"""``app.control`` and ``app.control.inspect()``: Celery's remote control over the store.

No broadcast is needed: the store knows every live worker (its heartbeat), what it
runs, and what it reported when it started (``worker:<id>`` control records: host
name, registered tasks, queues, pool). Commands a worker must act on (shutdown,
add_consumer, cancel_consumer) are stored as ``cmd:`` records that each supervisor
reads on its heartbeat. Answers have Celery's shapes: a dict per worker name.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterable
from typing import Any

from . import outcomes, serializer
from .core import Core
from .job import Job, JobState
from .timeutil import from_timestamp, parse_rate
from .timeutil import now as clock_now
from .transports import WorkerInfo

WORKER_KEY = "worker:"
COMMAND_KEY = "cmd:"
COMMAND_TTL = 3600.0  # commands older than this are dropped by the next sender
WORKER_COMMANDS = frozenset({"shutdown", "add_consumer", "cancel_consumer"})


def expand_hostname(name: str) -> str:
    """``-n worker1@%h``: ``%h`` is the host name, ``%n`` its first part, ``%d`` the rest,
    as in Celery."""
    host = socket.getfqdn() or socket.gethostname()
    short, _, domain = host.partition(".")
    return name.replace("%h", host).replace("%n", short).replace("%d", domain)


# -- what a worker stores and reads (called by the supervisor) ---------------------------
def publish_report(core: Core, info: WorkerInfo, pool: str) -> None:
    """Store what ``inspect()`` tells of this worker beside its heartbeat."""
    registered = sorted({*core.tasks, *core.all_task_names()} - {""})
    report = {"hostname": info.host, "pid": info.pid, "queues": list(info.queues),
              "concurrency": info.concurrency, "pool": pool, "started_at": info.started_at,
              "registered": [n for n in registered if not n.startswith("litejobs.")]}
    core.transport.put_control(WORKER_KEY + info.id, serializer.dumps(report, "report"))


def forget_report(core: Core, worker_id: str) -> None:
    core.transport.put_control(WORKER_KEY + worker_id, None)


def commands_for(core: Core, worker_id: str, hostname: str, after: str
                 ) -> list[tuple[str, str, dict[str, Any]]]:
    """Commands sent after the key ``after`` to this worker (or to all): (key, name, args)."""
    out = []
    for key, raw in core.transport.list_controls(COMMAND_KEY).items():
        if key <= after:
            continue
        cmd = serializer.loads(raw)
        destination = cmd.get("destination")
        if destination is None or worker_id in destination or hostname in destination:
            out.append((key, cmd["command"], cmd.get("arguments") or {}))
    return out


def command_key(when: float) -> str:
    return f"{COMMAND_KEY}{when:017.6f}:{secrets.token_hex(4)}"


# -- the caller's side ---------------------------------------------------------------------
def _names(workers: list[WorkerInfo]) -> dict[str, WorkerInfo]:
    """Workers by name: the host name (``-n``) when unique, else the worker's id."""
    counts: dict[str, int] = {}
    for w in workers:
        counts[w.host] = counts.get(w.host, 0) + 1
    return {(w.host if counts[w.host] == 1 else w.id): w for w in workers}


def _iso(ts: float | None) -> str | None:
    when = from_timestamp(ts)
    return when.isoformat() if when is not None else None


def _request(job: Job, name: str) -> dict[str, Any]:
    try:
        args, kwargs = serializer.loads_call(job.payload)
    except Exception as exc:  # a damaged payload is shown, not raised
        args, kwargs = (f"<undecodable: {exc}>",), {}
    return {"id": job.id, "name": job.task, "type": job.task, "args": list(args),
            "kwargs": kwargs, "hostname": name, "time_start": job.started_at,
            "acknowledged": not job.acks_late, "worker_pid": job.pid,
            "delivery_info": {"exchange": "", "routing_key": job.queue,
                              "priority": job.priority, "redelivered": job.attempts > 1},
            "headers": job.options.get("headers") or {}}


class Inspect:
    """``app.control.inspect([destination])``: what the workers hold, from the store."""

    def __init__(self, core: Core, destination: Iterable[str] | str | None = None,
                 timeout: float = 1.0, **_: Any) -> None:
        self.core = core
        self.destination = [destination] if isinstance(destination, str) else (
            list(destination) if destination is not None else None)
        self.timeout = timeout

    def _workers(self) -> dict[str, WorkerInfo]:
        named = _names(self.core.transport.list_workers(clock_now()))
        if self.destination is not None:
            named = {n: w for n, w in named.items()
                     if n in self.destination or w.id in self.destination
                     or w.host in self.destination}
        return named

    def _reports(self) -> dict[str, dict[str, Any]]:
        raw = self.core.transport.list_controls(WORKER_KEY)
        return {key[len(WORKER_KEY):]: serializer.loads(value) for key, value in raw.items()}

    def _answer(self, answer: dict[str, Any]) -> dict[str, Any] | None:
        return answer or None  # Celery answers None when no worker replied

    def ping(self) -> dict[str, Any] | None:
        return self._answer({name: {"ok": "pong"} for name in self._workers()})

    def _running(self) -> dict[str, list[Job]]:
        by_worker: dict[str, list[Job]] = {}
        for job in self.core.transport.list_jobs(state=JobState.RUNNING, limit=10_000):
            if job.worker:
                by_worker.setdefault(job.worker, []).append(job)
        return by_worker

    def active(self) -> dict[str, Any] | None:
        running = self._running()
        return self._answer({name: [_request(j, name) for j in running.get(w.id, [])]
                             for name, w in self._workers().items()})

    def reserved(self) -> dict[str, Any] | None:
        """Nothing is prefetched here: every worker answers an empty list."""
        return self._answer({name: [] for name in self._workers()})

    def _waiting(self, worker: WorkerInfo) -> list[Job]:
        return [job for queue in worker.queues for job in self.core.transport.list_jobs(
            state=JobState.SCHEDULED, queue=queue, limit=10_000)]

    def scheduled(self) -> dict[str, Any] | None:
        """Under each worker, the jobs waiting for their eta in the queues it consumes."""
        return self._answer({
            name: [{"eta": _iso(j.eta), "priority": j.priority,
                    "request": _request(j, name)} for j in self._waiting(w)]
            for name, w in self._workers().items()})

    def registered(self, *taskinfoitems: str) -> dict[str, Any] | None:
        reports = self._reports()
        return self._answer({name: reports.get(w.id, {}).get("registered", [])
                             for name, w in self._workers().items()})

    registered_tasks = registered

    def stats(self) -> dict[str, Any] | None:
        reports = self._reports()
        now = clock_now()
        transport = type(self.core.transport).__name__.replace("Transport", "").lower()
        return self._answer({name: {
            "pid": w.pid, "hostname": w.host, "uptime": round(now - w.started_at),
            "pool": {"implementation": reports.get(w.id, {}).get("pool", "prefork"),
                     "max-concurrency": w.concurrency, "running": w.running},
            "prefetch_count": 0, "total": {}, "processed": w.processed,
            "broker": {"transport": transport}, "id": w.id,
        } for name, w in self._workers().items()})

    def active_queues(self) -> dict[str, Any] | None:
        return self._answer({name: [
            {"name": q, "exchange": {"name": q, "type": "direct"}, "routing_key": q,
             "durable": True, "auto_delete": False, "exclusive": False}
            for q in w.queues] for name, w in self._workers().items()})

    def query_task(self, *ids: str | Iterable[str]) -> dict[str, Any] | None:
        """For each worker, the given jobs it runs (``active``) or holds for their eta
        (``scheduled``): ``{name: {id: [state, request]}}``."""
        wanted = [i for x in ids for i in ([x] if isinstance(x, str) else x)]
        jobs = [j for j in self.core.transport.get_many(wanted) if j is not None]
        answer: dict[str, Any] = {}
        for name, w in self._workers().items():
            mine: dict[str, Any] = {}
            for job in jobs:
                if job.state is JobState.RUNNING and job.worker == w.id:
                    mine[job.id] = ["active", _request(job, name)]
                elif job.state is JobState.SCHEDULED and job.queue in w.queues:
                    mine[job.id] = ["scheduled", _request(job, name)]
            answer[name] = mine
        return self._answer(answer)


def _stamp_matches(stamp: Any, accepted: list[Any]) -> bool:
    values = stamp if isinstance(stamp, list) else [stamp]
    return stamp is not None and any(v in accepted for v in values)


class Control:
    """``app.control``: act on jobs by id and on workers, as Celery's remote control."""

    def __init__(self, app: Core) -> None:
        self.app = app

    def inspect(self, destination: Iterable[str] | str | None = None, timeout: float = 1.0,
                **kwargs: Any) -> Inspect:
        return Inspect(self.app, destination, timeout, **kwargs)

    def ping(self, destination: Iterable[str] | str | None = None, timeout: float = 1.0,
             **_: Any) -> list[dict[str, Any]]:
        answer = Inspect(self.app, destination).ping() or {}
        return [{name: reply} for name, reply in answer.items()]

    def revoke(self, task_id: str | Iterable[str], terminate: bool = False,
               signal: Any = None, **_: Any) -> None:
        for id_ in [task_id] if isinstance(task_id, str) else list(task_id):
            self.revoke_job(id_, terminate)

    def revoke_by_stamped_headers(self, headers: dict[str, Any], terminate: bool = False
                                  ) -> list[str]:
        """Revoke every job not yet finished whose stamps match all of ``headers`` (a
        value, or a list of accepted values); returns their ids."""
        wanted = {k: v if isinstance(v, list) else [v] for k, v in headers.items()}
        states = [JobState.PENDING, JobState.SCHEDULED] + ([JobState.RUNNING] if terminate
                                                           else [])
        matched = []
        for state in states:
            offset = 0
            while True:
                page = self.app.transport.list_jobs(state=state, limit=500, offset=offset)
                for job in page:
                    stamps = job.options.get("stamps") or {}
                    if all(_stamp_matches(stamps.get(k), v) for k, v in wanted.items()):
                        matched.append(job.id)
                if len(page) < 500:
                    break
                offset += 500
        for job_id in matched:  # after the scan: a revoked job leaves its state's pages
            self.revoke_job(job_id, terminate)
        return matched

    def revoke_job(self, job_id: str, terminate: bool = False) -> str:
        """Revoke one job; returns what the store did (see ``Transport.revoke``).

        A revoked workflow step ends its workflow as a failure would: errbacks run, later
        chain steps are stored FAILED, and a chord member counts as failed, so nothing
        waits forever on a job that will never run.
        """
        transport = self.app.transport
        now = clock_now()
        follow_ups, chord = outcomes.revocation(self.app, transport.get(job_id), job_id)
        return transport.revoke(job_id, now, outcomes.purge_at(self.app, now),
                                terminate=terminate, follow_ups=follow_ups, chord=chord)

    def purge(self, queue: str | None = None) -> int:
        return self.app.transport.purge(queue)

    def rate_limit(self, task_name: str, rate_limit: str | float | None,
                   destination: Any = None, **_: Any) -> list[dict[str, Any]]:
        """Set ``task_name``'s rate limit for every worker on the store, at once (stored;
        it outlives restarts). ``None`` or ``0`` lifts it, back to the task's own."""
        if rate_limit not in (None, 0, "0"):
            parse_rate(rate_limit)  # a bad rate raises here, naming it
        self.app.set_stored_rate_limit(task_name, rate_limit)
        return [{name: {"ok": "new rate limit set successfully"}}
                for name in Inspect(self.app, destination).ping() or {}]

    def _command(self, command: str, destination: Any, **arguments: Any
                 ) -> list[dict[str, Any]]:
        assert command in WORKER_COMMANDS
        dest = [destination] if isinstance(destination, str) else (
            list(destination) if destination is not None else None)
        now = time.time()
        transport = self.app.transport
        for key in transport.list_controls(COMMAND_KEY):  # drop commands long done
            if float(key[len(COMMAND_KEY):].partition(":")[0]) < now - COMMAND_TTL:
                transport.put_control(key, None)
        transport.put_control(command_key(now), serializer.dumps(
            {"command": command, "arguments": arguments, "destination": dest}, "command"))
        return [{name: {"ok": f"{command} sent"}}
                for name in Inspect(self.app, destination).ping() or {}]

    def shutdown(self, destination: Any = None, **_: Any) -> list[dict[str, Any]]:
        """Warm shutdown: the workers finish their running jobs, then exit."""
        return self._command("shutdown", destination)

    def add_consumer(self, queue: str, destination: Any = None, **_: Any
                     ) -> list[dict[str, Any]]:
        return self._command("add_consumer", destination, queue=queue)

    def cancel_consumer(self, queue: str, destination: Any = None, **_: Any
                        ) -> list[dict[str, Any]]:
        return self._command("cancel_consumer", destination, queue=queue)
