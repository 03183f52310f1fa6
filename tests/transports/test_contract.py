"""The transport contract: every store passes the same tests.

Every public verb of the interface is called here (``test_every_verb_has_a_contract_test``
fails when one is not).
"""

from __future__ import annotations

import abc
import inspect
import threading
import time
from pathlib import Path

import pytest

from litejobs import serializer
from litejobs.exceptions import LiteJobsError, StoreError
from litejobs.job import ChordSpec, Failure, Job, JobState, Outcome, new_id
from litejobs.transports.base import JobQuery, Transport, WorkerInfo
from litejobs.transports.sqlite import SQLiteTransport

NOW = 1_700_000_000.0


def make_job(task="t.add", queue="default", priority=0, eta=NOW, **kw) -> Job:
    return Job(id=kw.pop("id", None) or new_id(), task=task,
               payload=serializer.dumps_call(task, (1, 2), {}), queue=queue,
               priority=priority, eta=eta, created_at=NOW, **kw)


def worker_info(id="w1", queues=("default",)) -> WorkerInfo:
    return WorkerInfo(id=id, host="h", pid=1, queues=list(queues), concurrency=1,
                      started_at=NOW)


def test_search_jobs_finds_running_jobs_in_order(transport):
    jobs = [make_job(task=f"t.{i}") for i in range(5)]
    for i, j in enumerate(jobs):
        transport.enqueue([j], NOW + i)
    claimed = transport.claim(["default"], "w1", 1, 3, NOW + 10)
    transport.settle([Outcome(claimed[0].id, 1, JobState.SUCCESS)], NOW + 11)
    running = [c.id for c in claimed[1:]]
    found = transport.search_jobs(JobQuery(state=JobState.RUNNING))
    assert [j.id for j in found] == running[::-1]  # newest first
    oldest = transport.search_jobs(JobQuery(state=JobState.RUNNING, descending=False,
                                            limit=1, offset=1))
    assert [j.id for j in oldest] == running[1:]
    by_task = transport.search_jobs(JobQuery(state=JobState.RUNNING, sort="task",
                                             task="t.2"))
    assert [j.task for j in by_task] == ["t.2"]


def test_search_jobs_filters_searches_sorts_and_pages(transport):
    def job(task, queue, args, kwargs, at):
        j = Job(id=f"{queue}-{new_id()}", task=task, queue=queue, eta=at, created_at=at,
                payload=serializer.dumps_call(task, args, kwargs))
        transport.enqueue([j], at)
        return j

    a = job("reports.daily", "default", ("invoice-4711",), {}, NOW)
    b = job("mail.send", "mail", (), {"to": "ann@example.com"}, NOW + 10)
    c = job("reports.weekly", "reports", (42,), {}, NOW + 20)
    (got,) = transport.claim(["mail"], "w1", 1, 1, NOW + 30)
    transport.settle([Outcome(got.id, 1, JobState.SUCCESS, task=b.task, queue="mail",
                              runtime=5)], NOW + 35)
    (got,) = transport.claim(["reports"], "w1", 1, 1, NOW + 31)
    transport.settle([Outcome(got.id, 1, JobState.FAILURE, task=c.task, queue="reports",
                              runtime=2, failure=Failure("x.E", "m"))], NOW + 33)

    def ids(**kw):
        return [j.id for j in transport.search_jobs(JobQuery(**kw))]

    assert ids() == [c.id, b.id, a.id] and ids(descending=False) == [a.id, b.id, c.id]
    assert ids(state=JobState.SUCCESS) == [b.id] and ids(queue="reports") == [c.id]
    assert ids(task="reports") == [c.id, a.id] and ids(task="Reports") == []
    assert ids(text="4711") == [a.id]  # inside a string argument
    assert ids(text="ann@") == [b.id]  # inside a keyword argument's value
    assert ids(text="mail.") == [b.id]  # the task name
    assert ids(text="efault-") == [a.id]  # the id
    assert ids(text="nothing-like-it") == []
    assert ids(since=NOW + 10) == [c.id, b.id] and ids(until=NOW + 10) == [a.id]
    assert ids(since=NOW + 5, until=NOW + 15) == [b.id]
    assert ids(sort="task", descending=False) == [b.id, a.id, c.id]
    assert ids(sort="runtime") == [b.id, c.id, a.id]  # 5 s, 2 s, none
    assert ids(sort="runtime", descending=False) == [a.id, c.id, b.id]
    assert ids(sort="done") == [b.id, c.id, a.id]
    assert ids(sort="state", descending=False) == [c.id, a.id, b.id]  # failure, pending, ...
    assert ids(limit=1, offset=1) == [b.id] and ids(sort="task", limit=2, offset=2) == [b.id]
    assert ids(task="reports", text="weekly", state=JobState.FAILURE) == [c.id]
    with pytest.raises(ValueError, match="sort must be one of"):
        JobQuery(sort="nope")


def test_enqueue_and_get(transport):
    job = make_job(options={"root_id": "r"}, expires=NOW + 5)
    assert transport.enqueue([job], NOW) == 1
    got = transport.get(job.id)
    assert got.id == job.id and got.task == "t.add" and got.state is JobState.PENDING
    assert got.payload == job.payload and got.options == {"root_id": "r"}
    assert got.expires == NOW + 5 and got.attempts == 0
    assert transport.get("nope") is None
    assert transport.get_state(job.id) == (JobState.PENDING, None, 0)
    at_most_once = make_job(acks_late=False, priority=-3, retries=2)
    transport.enqueue([at_most_once], NOW)
    got = transport.get(at_most_once.id)
    assert got.acks_late is False and got.priority == -3 and got.retries == 2
    assert got.created_at == NOW and got.eta == NOW


def test_enqueue_ignores_an_id_it_has(transport):
    job = make_job()
    assert transport.enqueue([job], NOW) == 1
    assert transport.enqueue([job, make_job()], NOW) == 1
    assert sum(c.get("pending", 0) for c in transport.count_jobs().values()) == 2


def _total(transport) -> int:
    return sum(n for states in transport.count_jobs().values() for n in states.values())


def test_enqueue_unique_returns_the_job_holding_its_key_while_it_waits_or_runs(transport):
    # docs/unique.md: waiting (scheduled or pending), running and retrying jobs hold it
    first = make_job(eta=NOW + 60)
    assert transport.enqueue_unique(first, NOW, "t.add:k", 30) == first.id
    assert transport.get(first.id).state is JobState.SCHEDULED
    again = make_job()
    assert transport.enqueue_unique(again, NOW, "t.add:k", 30) == first.id
    assert transport.get(again.id) is None  # nothing stored
    other = make_job()
    assert transport.enqueue_unique(other, NOW, "t.add:other", 30) == other.id
    assert transport.get(other.id).state is JobState.PENDING
    claimed = {j.id for j in transport.claim(["default"], "w1", 1, 10, NOW + 61)}
    assert claimed == {first.id, other.id}
    assert transport.enqueue_unique(make_job(), NOW + 62, "t.add:k", 30) == first.id
    transport.settle([Outcome(first.id, 1, JobState.SCHEDULED, eta=NOW + 100, retries=1)],
                     NOW + 63)  # a retry waits: still held
    assert transport.enqueue_unique(make_job(), NOW + 64, "t.add:k", 0) == first.id
    assert _total(transport) == 2


def test_enqueue_unique_holds_a_success_for_unique_for_seconds(transport):
    first = make_job()
    assert transport.enqueue_unique(first, NOW, "t.add:k", 30) == first.id
    transport.claim(["default"], "w1", 1, 1, NOW + 1)
    transport.settle([Outcome(first.id, 1, JobState.SUCCESS, result=serializer.dumps(3))],
                     NOW + 10)
    assert transport.enqueue_unique(make_job(), NOW + 39, "t.add:k", 30) == first.id
    # the caller's unique_for measures the window
    later = make_job()
    assert transport.enqueue_unique(later, NOW + 39, "t.add:k", 5) == later.id
    assert transport.get(later.id).state is JobState.PENDING
    # and the new job holds the key now
    assert transport.enqueue_unique(make_job(), NOW + 40, "t.add:k", 30) == later.id
    assert _total(transport) == 2


@pytest.mark.parametrize("end", ["failure", "revoked", "forgotten", "pruned", "purged"])
def test_enqueue_unique_frees_the_key_of_a_failed_revoked_or_deleted_job(transport, end):
    first = make_job()
    assert transport.enqueue_unique(first, NOW, "t.add:k", 3600) == first.id
    if end == "revoked":
        transport.revoke(first.id, NOW + 1, None)
    elif end == "purged":
        assert transport.purge() == 1
    else:
        transport.claim(["default"], "w1", 1, 1, NOW + 1)
        state = JobState.FAILURE if end == "failure" else JobState.SUCCESS
        transport.settle([Outcome(first.id, 1, state, purge_at=NOW + 5,
                                  failure=Failure("x.E", "m") if end == "failure" else None,
                                  result=None if end == "failure" else serializer.dumps(1))],
                         NOW + 2)
        if end == "forgotten":
            assert transport.forget(first.id)
        elif end == "pruned":
            assert transport.prune(NOW + 6) == 1
    fresh = make_job()
    assert transport.enqueue_unique(fresh, NOW + 10, "t.add:k", 3600) == fresh.id
    assert transport.get(fresh.id).state is JobState.PENDING
    assert transport.enqueue_unique(make_job(), NOW + 11, "t.add:k", 3600) == fresh.id


def test_a_failed_unique_job_run_again_by_hand_holds_its_key_unless_taken(transport):
    first = make_job()
    transport.enqueue_unique(first, NOW, "t.add:k", 60)
    transport.claim(["default"], "w1", 1, 1, NOW + 1)
    transport.settle([Outcome(first.id, 1, JobState.FAILURE, failure=Failure("x.E", "m"))],
                     NOW + 2)
    assert transport.retry_failed(first.id, now=NOW + 3) == 1
    assert transport.enqueue_unique(make_job(), NOW + 4, "t.add:k", 60) == first.id
    # once a new job took the key, the old one re-run by hand holds it no more
    transport.revoke(first.id, NOW + 5, None)
    fresh = make_job()
    assert transport.enqueue_unique(fresh, NOW + 6, "t.add:k", 60) == fresh.id
    assert transport.retry_failed(first.id, now=NOW + 7) == 1
    transport.revoke(fresh.id, NOW + 8, None)
    third = make_job()
    assert transport.enqueue_unique(third, NOW + 9, "t.add:k", 60) == third.id


def test_enqueue_unique_leaves_a_known_id_alone_and_takes_no_key(transport):
    known = make_job()
    transport.enqueue([known], NOW)
    twin = make_job(id=known.id, task="t.other")
    assert transport.enqueue_unique(twin, NOW, "t.other:k", 60) == known.id
    assert transport.get(known.id).task == "t.add"
    fresh = make_job(task="t.other")
    assert transport.enqueue_unique(fresh, NOW, "t.other:k", 60) == fresh.id


def test_enqueue_unique_stores_one_job_of_racing_producers(make_transport):
    stores = [make_transport() for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    got: list[str] = []

    def produce(t):
        barrier.wait()
        got.extend(t.enqueue_unique(make_job(), NOW, "t.add:race", 60) for _ in range(50))

    threads = [threading.Thread(target=produce, args=(t,)) for t in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(got) == 200 and len(set(got)) == 1
    assert _total(stores[0]) == 1


def test_future_eta_is_scheduled_until_due(transport):
    job = make_job(eta=NOW + 10)
    transport.enqueue([job], NOW)
    assert transport.get(job.id).state is JobState.SCHEDULED
    assert transport.get_next_eta() == NOW + 10
    assert not transport.has_work(["default"], NOW)
    assert transport.claim(["default"], "w1", 1, 10, NOW) == []
    assert transport.has_work(["default"], NOW + 10)
    claimed = transport.claim(["default"], "w1", 1, 10, NOW + 10)
    assert [j.id for j in claimed] == [job.id]


def test_claim_orders_by_priority_then_eta_then_enqueue_order(transport):
    low = make_job(priority=0, eta=NOW - 5)
    high = make_job(priority=9, eta=NOW)
    mid_late = make_job(priority=5, eta=NOW - 1)
    mid_early = make_job(priority=5, eta=NOW - 2)
    same1, same2 = make_job(priority=1), make_job(priority=1)
    transport.enqueue([low, high, mid_late, mid_early, same1, same2], NOW)
    claimed = transport.claim(["default"], "w1", 7, 100, NOW)
    assert [j.id for j in claimed] == [high.id, mid_early.id, mid_late.id, same1.id, same2.id,
                                       low.id]
    assert all(j.state is JobState.RUNNING and j.attempts == 1 for j in claimed)
    assert all(j.worker == "w1" and j.pid == 7 for j in claimed)
    assert transport.get(high.id).state is JobState.RUNNING


def test_claim_orders_the_extreme_priorities_by_eta_too(transport):
    # the whole allowed range, with etas a millisecond apart, keeps its order
    top_late = make_job(priority=255, eta=NOW - 0.001)
    top_early = make_job(priority=255, eta=NOW - 0.002)
    bottom_late = make_job(priority=-255, eta=NOW - 0.001)
    bottom_early = make_job(priority=-255, eta=NOW - 0.002)
    next_to_top = make_job(priority=254, eta=NOW - 3600)
    transport.enqueue([bottom_late, top_late, bottom_early, next_to_top, top_early], NOW)
    claimed = transport.claim(["default"], "w1", 7, 100, NOW)
    assert [j.id for j in claimed] == [top_early.id, top_late.id, next_to_top.id,
                                       bottom_early.id, bottom_late.id]


def test_claim_respects_limit_and_queues(transport):
    jobs = [make_job(queue=q) for q in ("a", "b", "c", "a", "b")]
    transport.enqueue(jobs, NOW)
    first = transport.claim(["a"], "w1", 1, 1, NOW)
    assert [j.id for j in first] == [jobs[0].id]
    both = transport.claim(["a", "b"], "w1", 1, 10, NOW)
    assert {j.id for j in both} == {jobs[1].id, jobs[3].id, jobs[4].id}
    assert transport.claim(["a", "b"], "w1", 1, 10, NOW) == []
    multi_priority = [make_job(queue="x", priority=1), make_job(queue="y", priority=5)]
    transport.enqueue(multi_priority, NOW)
    got = transport.claim(["x", "y"], "w1", 1, 1, NOW)  # queues in turn, x first
    assert [j.id for j in got] == [multi_priority[0].id]


def test_claim_serves_queues_in_turn_keeping_priority_within_each(transport):
    # Given a flood queue of 6 older jobs and a quiet one of 2, newer, one of high priority
    flood = [make_job(queue="flood", eta=NOW - 10 + i) for i in range(6)]
    quiet = [make_job(queue="quiet", priority=0), make_job(queue="quiet", priority=7)]
    transport.enqueue(flood + quiet, NOW)
    # When one claim takes 5 over both queues, then they alternate, best of each first
    got = transport.claim(["flood", "quiet"], "w1", 1, 5, NOW)
    assert [j.id for j in got] == [flood[0].id, quiet[1].id, flood[1].id, quiet[0].id,
                                   flood[2].id]
    # and a claim of one serves the queue named first
    assert [j.id for j in transport.claim(["quiet", "flood"], "w1", 1, 1, NOW)] == [
        flood[3].id]
    transport.enqueue([make_job(queue="quiet")], NOW)
    [one] = transport.claim(["quiet", "flood"], "w1", 1, 1, NOW)
    assert one.queue == "quiet"


def test_claim_over_hundreds_of_queues(transport):
    # Given a worker that consumes 1,000 queues (SQLite caps a compound SELECT at 500
    # terms, one per queue in the in-turn claim), three of which hold jobs
    queues = [f"q{i:04d}" for i in range(1000)]
    jobs = [make_job(queue=queues[i]) for i in (5, 500, 999)]
    transport.enqueue(jobs, NOW)
    # When it claims, then every job is found, and no queue is claimed twice in a batch
    got = transport.claim(queues, "w1", 1, 10, NOW)
    assert sorted(j.id for j in got) == sorted(j.id for j in jobs)
    assert transport.claim(queues, "w1", 1, 10, NOW) == []


def test_a_job_is_claimed_once(make_transport):
    a, b = make_transport(), make_transport()
    jobs = [make_job() for _ in range(200)]
    a.enqueue(jobs, NOW)
    seen: list[str] = []
    lock = threading.Lock()

    def consume(t, name):
        while True:
            got = t.claim(["default"], name, 1, 7, NOW)
            if not got:
                return
            with lock:
                seen.extend(j.id for j in got)

    threads = [threading.Thread(target=consume, args=(t, n)) for t, n in ((a, "w1"), (b, "w2"))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(seen) == sorted(j.id for j in jobs)


def test_settle_each_outcome(transport):
    jobs = [make_job() for _ in range(5)]
    transport.enqueue(jobs, NOW)
    c = transport.claim(["default"], "w1", 1, 5, NOW)
    fail = Failure("builtins.ValueError", "bad", "Traceback...", serializer.dumps(["bad"]))
    stale = transport.settle([
        Outcome(c[0].id, 1, JobState.SUCCESS, result=serializer.dumps(3), purge_at=NOW + 60),
        Outcome(c[1].id, 1, JobState.FAILURE, failure=fail, purge_at=NOW + 60),
        Outcome(c[2].id, 1, JobState.SCHEDULED, failure=fail, eta=NOW + 30, retries=1),
        Outcome(c[3].id, 1, JobState.PENDING),
        Outcome(c[4].id, 1, JobState.SUCCESS, result=serializer.dumps(None), forget=True),
    ], NOW)
    assert stale == []
    ok = transport.get(c[0].id)
    assert ok.state is JobState.SUCCESS and serializer.loads(ok.result) == 3
    # a finished job keeps the worker that ran it (AsyncResult.worker), not its pid
    assert ok.done_at == NOW and ok.purge_at == NOW + 60 and ok.worker == "w1"
    assert ok.pid is None
    failed = transport.get(c[1].id)
    assert failed.state is JobState.FAILURE and failed.error_type == "builtins.ValueError"
    assert failed.worker == "w1"
    assert transport.get(c[2].id).worker is None  # waiting again: held by nobody
    assert failed.traceback == "Traceback..." and serializer.loads(failed.error_args) == ["bad"]
    retry = transport.get(c[2].id)
    assert retry.state is JobState.SCHEDULED and retry.retries == 1 and retry.eta == NOW + 30
    assert transport.get_state(c[2].id) == (JobState.SCHEDULED, None, 1)
    requeued = transport.get(c[3].id)
    assert requeued.state is JobState.PENDING and requeued.started_at is None  # not started
    assert transport.get(c[4].id) is None
    again = transport.claim(["default"], "w1", 1, 5, NOW + 30)
    assert {j.id for j in again} == {c[2].id, c[3].id}
    assert {j.attempts for j in again} == {2}


def test_stale_outcomes_are_dropped(transport):
    job = make_job()
    transport.enqueue([job], NOW)
    first = transport.claim(["default"], "w1", 1, 1, NOW)[0]
    # the job is handed back and claimed again: the first claim's outcome is stale
    transport.settle([Outcome(job.id, first.attempts, JobState.PENDING)], NOW)
    second = transport.claim(["default"], "w2", 2, 1, NOW)[0]
    assert second.attempts == first.attempts + 1
    stale = transport.settle([Outcome(job.id, first.attempts, JobState.SUCCESS,
                                      result=serializer.dumps("old"))], NOW)
    assert stale == [job.id]
    assert transport.get(job.id).state is JobState.RUNNING
    assert not transport.set_custom_state(job.id, first.attempts, "PROGRESS", None)
    assert transport.set_custom_state(job.id, second.attempts, "PROGRESS",
                                      serializer.dumps({"n": 1}))
    assert transport.get_state(job.id) == (JobState.RUNNING, "PROGRESS", 0)
    transport.settle([Outcome(job.id, second.attempts, JobState.SUCCESS,
                              result=serializer.dumps("new"))], NOW)
    assert serializer.loads(transport.get(job.id).result) == "new"


def test_claim_settles_the_previous_batch_in_the_same_transaction(transport):
    jobs = [make_job() for _ in range(2)]
    transport.enqueue(jobs, NOW)
    first = transport.claim(["default"], "w1", 1, 1, NOW)
    second = transport.claim(["default"], "w1", 1, 1, NOW, settle=[
        Outcome(first[0].id, 1, JobState.SUCCESS, result=serializer.dumps(1))])
    assert transport.get(first[0].id).state is JobState.SUCCESS
    assert [j.id for j in second] == [jobs[1].id]


def test_revoke(transport):
    waiting, scheduled, running, done = (make_job(), make_job(eta=NOW + 50), make_job(),
                                         make_job())
    transport.enqueue([running, waiting, scheduled, done], NOW)
    claimed = transport.claim(["default"], "w1", 42, 2, NOW)
    assert {j.id for j in claimed} == {running.id, waiting.id}
    transport.settle([Outcome(waiting.id, 1, JobState.PENDING)], NOW)
    assert transport.revoke(waiting.id, NOW, NOW + 10) == "revoked"
    assert transport.revoke(scheduled.id, NOW, NOW + 10) == "revoked"
    assert transport.get(scheduled.id).state is JobState.REVOKED
    assert transport.claim(["default"], "w1", 1, 10, NOW + 100) != []  # only `done` is left
    assert transport.revoke(running.id, NOW, None) == "running"
    assert transport.get(running.id).state is JobState.RUNNING
    assert transport.revoke(running.id, NOW, None, terminate=True) == "terminating"
    assert transport.get(running.id).state is JobState.REVOKED
    assert transport.list_terminated_jobs("w1") == [(running.id, 42)]
    transport.clear_terminated(running.id)
    assert transport.list_terminated_jobs("w1") == []
    assert transport.revoke(running.id, NOW, None) == "finished"
    assert transport.revoke("nope", NOW, None) == "unknown"
    # a late outcome of the terminated run does not resurrect it
    assert transport.settle([Outcome(running.id, 1, JobState.SUCCESS)], NOW) == [running.id]


def test_lost_jobs_of_a_dead_child_and_of_a_dead_worker(transport):
    jobs = [make_job(acks_late=i % 2 == 0) for i in range(4)]
    transport.enqueue(jobs, NOW)
    transport.record_heartbeat(worker_info("w1"), NOW, 30)
    transport.record_heartbeat(worker_info("w2"), NOW, 30)
    transport.claim(["default"], "w1", 10, 1, NOW)
    transport.claim(["default"], "w1", 11, 1, NOW)
    transport.claim(["default"], "w2", 20, 2, NOW)
    lost = transport.find_lost_jobs(NOW, worker="w1", pid=10)
    assert [(x.job_id, x.acks_late) for x in lost] == [(jobs[0].id, True)]
    assert {x.job_id for x in transport.find_lost_jobs(NOW, worker="w1")} == {
        jobs[0].id, jobs[1].id}
    assert transport.find_lost_jobs(NOW + 29) == []  # every lease still live
    transport.record_heartbeat(worker_info("w1"), NOW + 20, 30)  # w1 renews, w2 does not
    dead = transport.find_lost_jobs(NOW + 31)
    assert {x.job_id for x in dead} == {jobs[2].id, jobs[3].id}
    assert [w.id for w in transport.list_workers(NOW + 31)] == ["w1"]
    assert transport.forget_dead_workers(NOW + 31) == 1
    transport.unregister_worker("w1")
    assert transport.list_workers(NOW) == []


def test_prune_removes_only_expired_results(transport):
    jobs = [make_job() for _ in range(3)]
    transport.enqueue(jobs, NOW)
    c = transport.claim(["default"], "w1", 1, 3, NOW)
    transport.settle([
        Outcome(c[0].id, 1, JobState.SUCCESS, purge_at=NOW + 10),
        Outcome(c[1].id, 1, JobState.FAILURE, failure=Failure("E", "m"), purge_at=NOW + 100),
        Outcome(c[2].id, 1, JobState.SUCCESS, purge_at=None),
    ], NOW)
    assert transport.prune(NOW + 50) == 1
    assert transport.get(c[0].id) is None
    assert transport.get(c[1].id) is not None and transport.get(c[2].id) is not None
    assert transport.prune(NOW + 1000, limit=10) == 1
    assert transport.get(c[2].id) is not None


def test_retry_failed_and_purge(transport):
    jobs = [make_job(task="t.a"), make_job(task="t.b"), make_job(task="t.a"), make_job(),
            make_job(queue="other")]
    transport.enqueue(jobs, NOW)
    c = transport.claim(["default"], "w1", 1, 3, NOW)
    transport.settle([Outcome(j.id, 1, JobState.FAILURE, failure=Failure("E", "m"))
                      for j in c], NOW)
    assert transport.retry_failed(job_id=jobs[1].id, now=NOW) == 1
    assert transport.get(jobs[1].id).state is JobState.PENDING
    assert transport.get(jobs[1].id).error_type is None
    assert transport.retry_failed(task="t.a", now=NOW) == 2
    assert transport.retry_failed(job_id="nope", now=NOW) == 0
    assert transport.purge("other") == 1
    assert transport.purge() == 4
    assert transport.count_jobs() == {}


def test_purge_and_retry_failed_cover_more_jobs_than_one_batch(transport):
    # Redis scans in batches of a few hundred: these counts span several batches, with
    # kept jobs interleaved so a batch's offset has to step past them
    waiting = [make_job(queue="a" if i % 3 else "b", eta=NOW + (60 if i % 5 == 0 else 0))
               for i in range(1300)]
    failed = [make_job(task="t.bad" if i % 2 else "t.other", queue="f") for i in range(1100)]
    transport.enqueue(waiting + failed, NOW)
    claimed = transport.claim(["f"], "w1", 1, 2000, NOW)
    transport.settle([Outcome(j.id, 1, JobState.FAILURE, failure=Failure("E", "m"))
                      for j in claimed], NOW)
    assert transport.retry_failed(task="t.bad", now=NOW) == 550
    assert transport.count_jobs()["f"] == {"pending": 550, "failure": 550}
    assert transport.purge(states=[JobState.FAILURE]) == 550
    assert transport.purge("b") == sum(1 for j in waiting if j.queue == "b")
    assert transport.purge() == sum(1 for j in waiting if j.queue == "a") + 550
    assert transport.count_jobs() == {}


def test_get_many_and_get_states_keep_the_order_asked(transport):
    jobs = [make_job(task=f"t.{i}") for i in range(5)]
    transport.enqueue(jobs, NOW)
    done = transport.claim(["default"], "w1", 1, 1, NOW)[0]
    transport.settle([Outcome(done.id, 1, JobState.SUCCESS, result=serializer.dumps(7))], NOW)
    ids = [jobs[3].id, "unknown", jobs[0].id, jobs[1].id]
    got = transport.get_many(ids)
    assert [j.id if j else None for j in got] == [jobs[3].id, None, jobs[0].id, jobs[1].id]
    assert serializer.loads(got[2].result) == 7
    assert transport.get_states(ids) == [(JobState.PENDING, None, 0), None,
                                         (JobState.SUCCESS, None, 0),
                                         (JobState.PENDING, None, 0)]
    assert transport.get_many([]) == [] and transport.get_states([]) == []


def test_counts_and_list_jobs(transport):
    jobs = [make_job(task="t.a"), make_job(task="t.b", queue="q2"), make_job(task="t.a")]
    transport.enqueue(jobs, NOW)
    transport.claim(["default"], "w1", 1, 1, NOW)
    assert transport.count_jobs() == {"default": {"pending": 1, "running": 1}, "q2": {"pending": 1}}
    assert [j.id for j in transport.list_jobs()] == [j.id for j in reversed(jobs)]
    assert [j.id for j in transport.list_jobs(task="t.a")] == [jobs[2].id, jobs[0].id]
    assert [j.id for j in transport.list_jobs(state=JobState.RUNNING)] == [jobs[0].id]
    assert [j.id for j in transport.list_jobs(queue="q2")] == [jobs[1].id]
    assert [j.id for j in transport.list_jobs(limit=1, offset=1)] == [jobs[1].id]


def test_backup_copies_the_store_or_says_how(transport, tmp_path):
    job = make_job()
    transport.enqueue([job], NOW)
    copy = str(tmp_path / "copy.sqlite")
    if not isinstance(transport, SQLiteTransport):
        with pytest.raises(LiteJobsError, match="BGSAVE"):
            transport.backup(copy)
        assert not Path(copy).exists()
        return
    writer = threading.Thread(target=lambda: transport.enqueue([make_job()], NOW))
    writer.start()  # a write on the way changes nothing of the copy's consistency
    transport.backup(copy)
    writer.join()
    restored = SQLiteTransport(copy)
    try:
        assert restored.get(job.id).id == job.id
    finally:
        restored.close()
    with pytest.raises(StoreError, match="exists"):
        transport.backup(copy)
    assert transport.get(job.id) is not None  # the store itself untouched


def test_list_jobs_since(transport):
    old, new = make_job(task="t.old"), make_job(task="t.new")
    transport.enqueue([old], NOW - 600)
    transport.enqueue([new], NOW)
    assert [j.id for j in transport.list_jobs(since=NOW - 60)] == [new.id]
    assert [j.id for j in transport.list_jobs(since=NOW - 600)] == [new.id, old.id]
    assert transport.list_jobs(since=NOW - 60, task="t.old") == []


def test_wait_for_change_wakes_on_another_connections_commit(make_transport):
    waiter, producer = make_transport(), make_transport()
    waiter.wait_for_change(0)  # take the current version as seen
    assert waiter.wait_for_change(0.05) is False
    timer = threading.Timer(0.1, lambda: producer.enqueue([make_job()], NOW))
    started = time.monotonic()
    timer.start()
    assert waiter.wait_for_change(10) is True
    assert time.monotonic() - started < 5
    timer.join()


def _wait_finished_in_thread(waiter, job_id, timeout):
    got: dict = {}

    def wait():
        got["job"] = waiter.wait_finished(job_id, timeout)
        got["at"] = time.monotonic()

    thread = threading.Thread(target=wait)
    thread.start()
    return thread, got


def test_wait_finished_wakes_when_the_job_finishes(make_transport):
    waiter, worker, other = make_transport(), make_transport(), make_transport()
    job = make_job()
    worker.enqueue([job], NOW)
    started = time.monotonic()
    assert waiter.wait_finished(job.id, 0.2) is None  # pending: waits out its timeout
    assert time.monotonic() - started >= 0.2
    assert waiter.wait_finished("no-such-id", 0) is None
    worker.claim(["default"], "w1", 1, 1, NOW)
    # two waiters on two connections, both woken by one settle (within far less than
    # any polling slice: the wake-up is for this job)
    first = _wait_finished_in_thread(waiter, job.id, 30)
    second = _wait_finished_in_thread(other, job.id, 30)
    time.sleep(0.3)  # let both start waiting (the test needs them blocked, not polling)
    worker.settle([Outcome(job.id, 1, JobState.SUCCESS, result=serializer.dumps(3))],
                  NOW + 1)
    settled_at = time.monotonic()
    for thread, got in (first, second):
        thread.join(10)
        assert got["job"].state is JobState.SUCCESS
        assert serializer.loads(got["job"].result) == 3
        assert got["at"] - settled_at < 0.5
    assert waiter.wait_finished(job.id, 0).id == job.id  # finished: returned at once


def test_wait_finished_wakes_on_revoke_and_on_a_retry_keeps_waiting(make_transport):
    waiter, worker = make_transport(), make_transport()
    pending, retried = make_job(), make_job()
    worker.enqueue([pending, retried], NOW)
    thread, got = _wait_finished_in_thread(waiter, pending.id, 30)
    time.sleep(0.3)
    assert worker.revoke(pending.id, NOW, None) == "revoked"
    revoked_at = time.monotonic()
    thread.join(10)
    assert got["job"].state is JobState.REVOKED and got["at"] - revoked_at < 0.5
    # a retry is a settle that does not finish the job: the waiter waits on
    worker.claim(["default"], "w1", 1, 1, NOW)
    thread, got = _wait_finished_in_thread(waiter, retried.id, 1.5)
    time.sleep(0.3)
    worker.settle([Outcome(retried.id, 1, JobState.SCHEDULED, eta=NOW + 60, retries=1,
                           failure=Failure("x.E", "m"))], NOW)
    thread.join(10)
    assert got["job"] is None and waiter.get(retried.id).state is JobState.SCHEDULED


def test_waiting_queues(transport):
    transport.enqueue([make_job(queue="a"), make_job(queue="b", eta=NOW + 60),
                       make_job(queue="c")], NOW)
    transport.claim(["c"], "w1", 1, 1, NOW)
    assert sorted(transport.list_waiting_queues()) == ["a", "b"]


def _chord(transport, n=3, chord_id="c1"):
    header = [make_job(task="t.member", options={"chord": chord_id}) for _ in range(n)]
    body = Job(id="body-" + chord_id, task="t.body",
               payload=serializer.dumps_call("t.body", ("extra",), {}), eta=NOW,
               created_at=NOW)
    transport.enqueue(header, NOW, chords=[ChordSpec(chord_id, [j.id for j in header], body,
                                                     60.0)])
    return header, body


def _finish(transport, job, value, state=JobState.SUCCESS, attempt=None):
    fail = Failure("builtins.ValueError", "nope") if state is not JobState.SUCCESS else None
    return transport.settle([Outcome(job.id, attempt or job.attempts, state,
                                     result=serializer.dumps(value), failure=fail,
                                     chord_id=job.options.get("chord"))], NOW)


def test_chord_body_fires_once_with_results_in_header_order(transport):
    header, body = _chord(transport)
    claimed = {j.id: j for j in transport.claim(["default"], "w1", 1, 10, NOW)}
    # members finish out of order; the body appears only with the last one
    _finish(transport, claimed[header[2].id], "c")
    _finish(transport, claimed[header[0].id], "a")
    assert transport.get(body.id) is None
    _finish(transport, claimed[header[1].id], "b")
    fired = transport.get(body.id)
    assert fired.state is JobState.PENDING
    assert serializer.loads_call(fired.payload) == ((["a", "b", "c"], "extra"), {})
    # a member outcome applied again (a re-run after a crash) changes nothing
    assert _finish(transport, claimed[header[1].id], "b") == [header[1].id]
    assert len(transport.list_jobs(task="t.body")) == 1


def test_a_chord_grown_by_add_chord_members_waits_for_them_and_joins_them_last(transport):
    header, body = _chord(transport, n=2, chord_id="grown")
    claimed = {j.id: j for j in transport.claim(["default"], "w1", 1, 10, NOW)}
    # a running member adds two more (Task.add_to_chord), then they are sent
    extra = [make_job(task="t.member", options={"chord": "grown"}) for _ in range(2)]
    assert transport.add_chord_members("grown", [j.id for j in extra], NOW) is True
    assert transport.get(extra[0].id) is None  # not sent: that is the caller's
    transport.enqueue(extra, NOW)
    _finish(transport, claimed[header[0].id], "a")
    _finish(transport, claimed[header[1].id], "b")
    assert transport.get(body.id) is None  # the added members are still to come
    more = {j.id: j for j in transport.claim(["default"], "w1", 1, 10, NOW)}
    _finish(transport, more[extra[1].id], "d")
    assert transport.get(body.id) is None
    _finish(transport, more[extra[0].id], "c")
    fired = transport.get(body.id)
    assert serializer.loads_call(fired.payload) == ((["a", "b", "c", "d"], "extra"), {})
    # a fired (or unknown) chord cannot grow: nothing is stored
    assert transport.add_chord_members("grown", ["late"], NOW) is False
    assert transport.add_chord_members("never-stored", ["x"], NOW) is False
    assert transport.get("late") is None


def test_an_open_chord_grows_with_its_members_jobs_and_fires_once_closed(transport):
    # Given a chord stored open (its header is read from a generator), with no members
    body = Job(id="body-open", task="t.body", payload=serializer.dumps_call("t.body", (), {}),
               eta=NOW, created_at=NOW)
    transport.enqueue([], NOW, chords=[ChordSpec("open", [], body, open=True)])
    # When members come one by one, each stored with its growth in one transaction
    first = make_job(task="t.member", options={"chord": "open"})
    assert transport.add_chord_members("open", [first.id], NOW, jobs=[first]) is True
    assert transport.get(first.id).state is JobState.PENDING
    _finish(transport, transport.claim(["default"], "w1", 1, 10, NOW)[0], "a")
    assert transport.get(body.id) is None  # every member so far finished: still open
    second = make_job(task="t.member", options={"chord": "open"})
    transport.add_chord_members("open", [second.id], NOW, jobs=[second])
    _finish(transport, transport.claim(["default"], "w1", 1, 10, NOW)[0], "b")
    assert transport.get(body.id) is None
    # Then closing it fires the body at once, with every member's result in order
    assert transport.add_chord_members("open", [], NOW, close=True) is True
    fired = transport.get(body.id)
    assert serializer.loads_call(fired.payload) == ((["a", "b"],), {})
    assert transport.add_chord_members("open", [], NOW, close=True) is False


def test_an_open_chord_closed_before_its_members_finish_waits_for_them(transport):
    body = Job(id="body-open2", task="t.body", payload=serializer.dumps_call("t.body", (), {}),
               eta=NOW, created_at=NOW)
    transport.enqueue([], NOW, chords=[ChordSpec("open2", [], body, open=True)])
    member = make_job(task="t.member", options={"chord": "open2"})
    transport.add_chord_members("open2", [member.id], NOW, jobs=[member], close=True)
    assert transport.get(body.id) is None
    _finish(transport, transport.claim(["default"], "w1", 1, 10, NOW)[0], 7)
    assert serializer.loads_call(transport.get(body.id).payload) == (([7],), {})
    # an open chord with no members at all fires with [] when closed
    empty = Job(id="body-empty", task="t.body", payload=serializer.dumps_call("t.body", (), {}),
                eta=NOW, created_at=NOW)
    transport.enqueue([], NOW, chords=[ChordSpec("empty", [], empty, open=True)])
    assert transport.get(empty.id) is None
    transport.add_chord_members("empty", [], NOW, close=True)
    assert serializer.loads_call(transport.get(empty.id).payload) == (([],), {})


def test_chord_member_counted_once_even_if_it_runs_twice(transport):
    header, body = _chord(transport, n=2, chord_id="c2")
    first = transport.claim(["default"], "w1", 1, 1, NOW)[0]
    # the worker dies; the member is handed back and runs again, then both finish
    transport.settle([Outcome(first.id, first.attempts, JobState.PENDING)], NOW)
    again = transport.claim(["default"], "w1", 1, 1, NOW)[0]
    assert again.id == first.id and again.attempts == 2
    _finish(transport, again, 1)
    assert transport.get(body.id) is None  # one of two members done, not two
    other = transport.claim(["default"], "w1", 1, 1, NOW)[0]
    _finish(transport, other, 2)
    assert transport.get(body.id).state is JobState.PENDING


def _failed_body(fired):
    """A body fired after a member failed waits marked ``chord_failed`` (the worker ends
    it through the outcome policy), carrying the error it is to end with."""
    assert fired.state is JobState.PENDING and fired.options.get("chord_failed") is True
    return fired


def test_a_failed_member_fires_the_body_marked_to_fail_with_chord_error(transport):
    header, body = _chord(transport, n=2, chord_id="c3")
    claimed = transport.claim(["default"], "w1", 1, 10, NOW)
    _finish(transport, claimed[0], None, state=JobState.FAILURE)
    _finish(transport, claimed[1], 2)
    fired = _failed_body(transport.get(body.id))
    assert fired.error_type == "litejobs.exceptions.ChordError"
    assert f"Dependency {claimed[0].id} raised ValueError: nope" == fired.error_message


def test_a_failure_counted_as_another_member_fails_the_chord_once(transport):
    # a chain's first step fails: it counts as the chain's last step, the member the
    # chord waits for
    header, body = _chord(transport, n=2, chord_id="c4")
    claimed = transport.claim(["default"], "w1", 1, 10, NOW)
    first_step = make_job(task="t.first", id="first-step")
    transport.enqueue([first_step], NOW)
    running = transport.claim(["default"], "w1", 1, 10, NOW)[0]
    transport.settle([Outcome(running.id, running.attempts, JobState.FAILURE,
                              failure=Failure("builtins.ValueError", "early"),
                              chord_id="c4", chord_member=claimed[0].id)], NOW)
    assert transport.get(body.id) is None  # one of two members counted
    _finish(transport, claimed[1], 2)
    fired = _failed_body(transport.get(body.id))
    assert fired.error_type.endswith("ChordError")
    assert fired.error_message.startswith(f"Dependency {claimed[0].id} raised")
    # the member itself finishing later (it should not run, but if it did) counts nothing
    _finish(transport, claimed[0], 1)
    assert len(transport.list_jobs(task="t.body")) == 1


def test_revoke_stores_follow_ups_and_counts_a_chord_member(transport):
    header, body = _chord(transport, n=2, chord_id="c5")
    dead = make_job(task="t.later", id="later-step")
    dead.state, dead.error_type, dead.error_message = JobState.FAILURE, "E", "revoked"
    assert transport.revoke(header[0].id, NOW, NOW + 60, follow_ups=[dead],
                            chord=("c5", header[0].id)) == "revoked"
    assert transport.get("later-step").state is JobState.FAILURE
    assert transport.get(body.id) is None  # one of two members counted
    claimed = transport.claim(["default"], "w1", 1, 10, NOW)
    assert [j.id for j in claimed] == [header[1].id]
    _finish(transport, claimed[0], 2)
    fired = _failed_body(transport.get(body.id))
    assert fired.error_message.startswith(f"Dependency {header[0].id} raised")
    # a revoke that does nothing (finished job) stores nothing with it
    other = make_job(task="t.other", id="not-stored")
    assert transport.revoke(header[1].id, NOW, None, follow_ups=[other]) == "finished"
    assert transport.get("not-stored") is None


def test_a_stale_success_among_many_is_reported_and_the_rest_applied(transport):
    jobs = [make_job() for _ in range(4)]
    transport.enqueue(jobs, NOW)
    claimed = transport.claim(["default"], "w1", 1, 4, NOW)
    transport.settle([Outcome(claimed[1].id, 1, JobState.PENDING)], NOW)  # handed back
    stale = transport.settle([
        Outcome(c.id, 1, JobState.SUCCESS, result=serializer.dumps(i), task="t.add",
                queue="default") for i, c in enumerate(claimed)], NOW + 1)
    assert stale == [claimed[1].id]
    assert [transport.get(c.id).state for c in claimed] == [
        JobState.SUCCESS, JobState.PENDING, JobState.SUCCESS, JobState.SUCCESS]
    assert serializer.loads(transport.get(claimed[3].id).result) == 3
    succeeded = [e.job_id for e in transport.list_events(0) if e.kind == "task-succeeded"]
    assert sorted(succeeded) == sorted(c.id for c in claimed if c.id != claimed[1].id)


def test_follow_ups_are_stored_only_with_an_applied_outcome(transport):
    job = make_job()
    transport.enqueue([job], NOW)
    claimed = transport.claim(["default"], "w1", 1, 1, NOW)[0]
    nxt = make_job(id="next-step")
    stale = transport.settle([Outcome(job.id, claimed.attempts + 5, JobState.SUCCESS,
                                      follow_ups=[nxt])], NOW)
    assert stale == [job.id] and transport.get("next-step") is None
    transport.settle([Outcome(job.id, claimed.attempts, JobState.SUCCESS, follow_ups=[nxt])],
                     NOW)
    assert transport.get("next-step").state is JobState.PENDING


def test_save_and_restore_group(transport):
    transport.save_group("g1", ["a", "b"], NOW)
    assert transport.restore_group("g1") == ["a", "b"]
    assert transport.restore_group("nope") is None
    transport.delete_group("g1")
    assert transport.restore_group("g1") is None


# -- jobs -----------------------------------------------------------------------------
def test_enqueue_stores_a_job_given_finished_as_such(transport):
    failed = make_job(id="given-failed", state=JobState.FAILURE, error_type="x.Boom",
                      error_message="boom", error_args=serializer.dumps(["boom"]),
                      traceback="Traceback ...", purge_at=NOW + 60)
    done = make_job(id="given-done", state=JobState.SUCCESS, result=serializer.dumps(5))
    waiting = make_job()
    assert transport.enqueue([failed], NOW) == 1  # one job: SQLite's one-statement path
    assert transport.enqueue([done, waiting], NOW) == 2
    got = transport.get("given-failed")
    assert got.state is JobState.FAILURE and got.done_at == NOW and got.purge_at == NOW + 60
    assert (got.error_type, got.error_message, got.traceback) == ("x.Boom", "boom",
                                                                 "Traceback ...")
    assert serializer.loads(got.error_args) == ["boom"]
    ok = transport.get("given-done")
    assert ok.state is JobState.SUCCESS and serializer.loads(ok.result) == 5
    assert [j.id for j in transport.claim(["default"], "w1", 1, 10, NOW)] == [waiting.id]
    assert transport.count_jobs() == {"default": {"failure": 1, "success": 1, "running": 1}}
    assert transport.prune(NOW + 61) == 1 and transport.get("given-failed") is None


def test_forget_drops_only_finished_jobs(transport):
    done, waiting = make_job(), make_job()
    transport.enqueue([done, waiting], NOW)
    claimed = transport.claim(["default"], "w1", 1, 1, NOW)[0]
    transport.settle([Outcome(claimed.id, 1, JobState.SUCCESS, result=serializer.dumps(1))],
                     NOW)
    assert transport.forget(waiting.id) is False
    assert transport.forget(done.id) is True
    assert transport.get(done.id) is None
    assert transport.forget(done.id) is False and transport.forget("nope") is False
    assert transport.count_jobs() == {"default": {"pending": 1}}


def test_a_chord_fails_its_body_as_its_spec_says(transport):
    header = [make_job(task="t.member", options={"chord": "c6"}) for _ in range(2)]
    body = Job(id="body-c6", task="t.body", payload=serializer.dumps_call("t.body", (), {}),
               eta=NOW, created_at=NOW)
    transport.enqueue(header, NOW, chords=[ChordSpec(
        "c6", [j.id for j in header], body, 60.0, failure_type="my.errors.Broken",
        failure_message="{type} in {member} ({message}) {unknown} 100%")])
    claimed = transport.claim(["default"], "w1", 1, 10, NOW)
    # a message with braces and % signs: filled in as plain text, never scanned again
    transport.settle([Outcome(claimed[0].id, 1, JobState.FAILURE, chord_id="c6",
                              failure=Failure("pkg.mod.ValueError", "50% {type} %s"))], NOW)
    _finish(transport, claimed[1], 2)
    fired = _failed_body(transport.get(body.id))
    assert fired.error_type == "my.errors.Broken"
    assert fired.error_message == (f"ValueError in {claimed[0].id} (50% {{type}} %s) "
                                   "{unknown} 100%")
    assert fired.purge_at is None  # waiting: the worker's outcome decides its purge_at


# -- queues -----------------------------------------------------------------------------
def test_a_paused_queue_keeps_its_jobs_until_resumed(transport):
    a, b = make_job(queue="a"), make_job(queue="b")
    transport.enqueue([a, b], NOW)
    assert transport.list_paused_queues() == []
    transport.set_queue_paused("c", True)
    transport.set_queue_paused("a", True)
    assert transport.list_paused_queues() == ["a", "c"]
    assert not transport.has_work(["a"], NOW) and transport.has_work(["a", "b"], NOW)
    assert [j.id for j in transport.claim(["a", "b"], "w1", 1, 10, NOW)] == [b.id]
    assert transport.claim(["a"], "w1", 1, 10, NOW) == []
    assert transport.get(a.id).state is JobState.PENDING
    transport.set_queue_paused("a", False)
    assert transport.list_paused_queues() == ["c"]
    assert [j.id for j in transport.claim(["a"], "w1", 1, 10, NOW)] == [a.id]


def test_get_next_eta_is_the_earliest_scheduled_job(transport):
    assert transport.get_next_eta() is None
    transport.enqueue([make_job(eta=NOW + 30), make_job(eta=NOW + 10), make_job()], NOW)
    assert transport.get_next_eta() == NOW + 10
    assert len(transport.claim(["default"], "w1", 1, 10, NOW + 10)) == 2  # promotes one
    assert transport.get_next_eta() == NOW + 30


# -- workers ----------------------------------------------------------------------------
def test_forget_dead_workers_drops_leases_run_out_before_now(transport):
    transport.record_heartbeat(worker_info("w1"), NOW, 30)
    transport.record_heartbeat(worker_info("w2"), NOW, 60)
    assert transport.forget_dead_workers(NOW + 30) == 0  # w1's lease ends at NOW + 30
    assert [w.id for w in transport.list_workers(NOW + 30)] == ["w1", "w2"]
    assert transport.forget_dead_workers(NOW + 31) == 1
    assert [w.id for w in transport.list_workers(NOW)] == ["w2"]
    transport.unregister_worker("w2")
    transport.unregister_worker("never-seen")
    assert transport.list_workers(NOW) == []


# -- beat ---------------------------------------------------------------------------------
def test_one_beat_leads_until_its_lease_runs_out_or_it_resigns(transport):
    assert transport.get_beat_leader(NOW) is None
    assert transport.lead_beat("b1", NOW, 10)
    assert not transport.lead_beat("b2", NOW + 5, 10)
    assert transport.get_beat_leader(NOW + 5) == "b1"
    assert transport.lead_beat("b1", NOW + 5, 10)  # renewed: until NOW + 15
    assert transport.get_beat_leader(NOW + 15) == "b1"
    assert transport.get_beat_leader(NOW + 16) is None
    assert transport.lead_beat("b2", NOW + 16, 10)
    transport.resign_beat("b1")  # not the holder: changes nothing
    assert transport.get_beat_leader(NOW + 17) == "b2"
    transport.resign_beat("b2")
    assert transport.get_beat_leader(NOW + 17) is None
    assert transport.lead_beat("b1", NOW + 17, 10)


def test_schedules_sync_and_each_slot_fires_once(transport):
    transport.sync_schedules([("b", "t.b", "every 5s"), ("a", "t.a", "every 60s")])
    assert [(e.name, e.task, e.schedule, e.last_run, e.next_run)
            for e in transport.list_schedules()] == [("a", "t.a", "every 60s", None, None),
                                                     ("b", "t.b", "every 5s", None, None)]
    assert transport.fire_schedule("a", NOW, make_job(id="a-1"), NOW + 60, NOW)
    assert not transport.fire_schedule("a", NOW, make_job(id="a-again"), NOW + 60, NOW)
    assert not transport.fire_schedule("a", NOW - 60, make_job(id="a-old"), NOW, NOW)
    assert transport.fire_schedule("a", NOW + 60, None, NOW + 120, NOW + 60)  # nothing to send
    assert not transport.fire_schedule("nope", NOW, make_job(id="nope-1"), NOW + 60, NOW)
    assert transport.get("a-1").state is JobState.PENDING
    assert [transport.get(i) for i in ("a-again", "a-old", "nope-1")] == [None] * 3
    transport.set_schedule_next_run("b", NOW + 5)
    entries = {e.name: e for e in transport.list_schedules()}
    assert (entries["a"].last_run, entries["a"].next_run) == (NOW + 60, NOW + 120)
    assert (entries["b"].last_run, entries["b"].next_run) == (None, NOW + 5)
    transport.sync_schedules([("b", "t.b2", "every 10s")])  # a is gone, b keeps its runs
    assert [(e.name, e.task, e.schedule, e.next_run)
            for e in transport.list_schedules()] == [("b", "t.b2", "every 10s", NOW + 5)]


def test_stored_schedules_are_saved_edited_and_kept_apart_from_code(transport):
    transport.sync_schedules([("code", "t.c", "<every 5s>")])
    assert transport.save_schedule("mine", "t.m", "<every 60s>", '{"s": 1}', NOW, create=True)
    assert not transport.save_schedule("mine", "t.x", "x", "{}", NOW, create=True)  # taken
    assert not transport.save_schedule("code", "t.x", "x", "{}", NOW, create=True)
    assert not transport.save_schedule("code", "t.x", "x", "{}", NOW, create=False)  # code's
    assert not transport.save_schedule("nope", "t.x", "x", "{}", NOW, create=False)
    entries = {e.name: e for e in transport.list_schedules()}
    assert (entries["code"].origin, entries["code"].enabled, entries["code"].spec) == (
        "code", True, None)
    mine = entries["mine"]
    assert (mine.origin, mine.enabled, mine.task, mine.schedule, mine.spec, mine.updated_at
            ) == ("store", True, "t.m", "<every 60s>", '{"s": 1}', NOW)
    assert transport.fire_schedule("mine", NOW, make_job(id="m-1"), NOW + 60, NOW)
    # an edit keeps the last run and forgets the next one (the beat recomputes it)
    assert transport.save_schedule("mine", "t.m2", "<every 2s>", '{"s": 2}', NOW + 1,
                                   create=False)
    mine = {e.name: e for e in transport.list_schedules()}["mine"]
    assert (mine.task, mine.schedule, mine.spec, mine.last_run, mine.next_run,
            mine.updated_at) == ("t.m2", "<every 2s>", '{"s": 2}', NOW, None, NOW + 1)
    # disabled: its slots are refused; enabled again: they fire
    assert transport.set_schedule_enabled("mine", False, NOW + 2)
    assert not transport.set_schedule_enabled("code", False, NOW + 2)  # code's: read-only
    assert not transport.set_schedule_enabled("nope", False, NOW + 2)
    assert not {e.name: e for e in transport.list_schedules()}["mine"].enabled
    assert not transport.fire_schedule("mine", NOW + 2, make_job(id="m-2"), NOW + 4, NOW + 2)
    assert transport.get("m-2") is None
    assert transport.set_schedule_enabled("mine", True, NOW + 3)
    assert transport.fire_schedule("mine", NOW + 4, make_job(id="m-3"), NOW + 6, NOW + 4)
    assert transport.get("m-3").state is JobState.PENDING
    # syncing code's schedules forgets code's that are gone, never stored ones
    transport.sync_schedules([])
    assert [e.name for e in transport.list_schedules()] == ["mine"]
    assert not transport.delete_schedule("nope")
    assert transport.delete_schedule("mine")
    assert not transport.delete_schedule("mine")
    assert transport.list_schedules() == []


def test_a_stored_schedule_of_a_name_code_declares_becomes_codes(transport):
    assert transport.save_schedule("x", "t.m", "<every 60s>", "{}", NOW, create=True)
    transport.set_schedule_enabled("x", False, NOW)
    transport.sync_schedules([("x", "t.c", "<every 5s>")])
    (x,) = transport.list_schedules()
    assert (x.origin, x.enabled, x.spec, x.task) == ("code", True, None, "t.c")
    assert not transport.delete_schedule("x")


# -- events ---------------------------------------------------------------------------------
def test_events_of_claims_and_outcomes(transport):
    assert transport.list_events(0) == [] and transport.get_last_event_seq() == 0
    assert transport.count_events() == {} and transport.count_throughput(0, 60) == []
    jobs = [make_job(), make_job(), make_job()]
    transport.enqueue(jobs, NOW)
    c = transport.claim(["default"], "w1", 1, 3, NOW)
    transport.settle([Outcome(c[0].id, 1, JobState.SUCCESS, task="t.add", queue="default",
                              runtime=0.5)], NOW + 1)
    transport.settle([Outcome(c[1].id, 1, JobState.SCHEDULED, task="t.add", queue="default",
                              eta=NOW + 99, retries=1, failure=Failure("x.E", "m"))], NOW + 2)
    transport.settle([Outcome(c[2].id, 1, JobState.FAILURE, task="t.add", queue="default",
                              runtime=0.25, failure=Failure("x.E", "m"))], NOW + 70)
    events = transport.list_events(0)
    assert [(e.kind, e.job_id) for e in events] == [
        *(("task-started", j.id) for j in c), ("task-succeeded", c[0].id),
        ("task-retried", c[1].id), ("task-failed", c[2].id)]
    assert [e.ts for e in events] == [NOW] * 3 + [NOW + 1, NOW + 2, NOW + 70]
    assert all(e.worker == "w1" for e in events[:3]) and events[3].runtime == 0.5
    assert events[5].detail == "x.E" and events[5].task == "t.add"
    assert [e.seq for e in events] == sorted({e.seq for e in events})
    assert transport.list_events(events[3].seq) == events[4:]
    assert transport.list_events(0, limit=2) == events[:2]
    assert transport.get_last_event_seq() == events[-1].seq
    assert transport.count_events() == {
        ("t.add", "task-started"): (3, 0.0), ("t.add", "task-succeeded"): (1, 0.5),
        ("t.add", "task-retried"): (1, 0.0), ("t.add", "task-failed"): (1, 0.25)}
    # finished (succeeded or failed) per minute; a retry is not finished
    first, second = (NOW + 1) // 60 * 60, (NOW + 70) // 60 * 60
    assert transport.count_throughput(NOW - 60, 60) == [(first, 1), (second, 1)]
    assert transport.count_throughput(NOW + 60, 60) == [(second, 1)]  # events from since on
    assert transport.count_throughput(NOW - 60, 60, ["task-failed"]) == [(second, 1)]
    assert transport.count_throughput(NOW - 60, 60, ["task-succeeded"]) == [(first, 1)]


# -- maintenance ------------------------------------------------------------------------------
def test_checkpoint_reports_the_log_or_none(transport):
    transport.enqueue([make_job() for _ in range(10)], NOW)
    for mode in ("PASSIVE", "RESTART", "TRUNCATE"):
        got = transport.checkpoint(mode)
        assert got is None or (len(got) == 2 and all(isinstance(n, int) for n in got)
                               and got[0] >= got[1])
    assert len(transport.list_jobs()) == 10


def test_close_keeps_the_data_and_closing_twice_is_harmless(make_transport):
    first = make_transport()
    job = make_job()
    first.enqueue([job], NOW)
    first.close()
    first.close()
    assert make_transport().get(job.id).state is JobState.PENDING


def test_every_verb_has_a_contract_test():
    groups = [cls for cls in inspect.getmro(Transport)
              if cls not in (Transport, abc.ABC, object)]
    verbs = {name for cls in groups for name, value in vars(cls).items()
             if callable(value) and not name.startswith("_")}
    assert {"enqueue", "claim", "lead_beat", "list_events", "checkpoint", "close"} <= verbs
    # every verb belongs to a group: Transport itself only combines them
    assert not [name for name, value in vars(Transport).items()
                if callable(value) and not name.startswith("_")]
    source = Path(__file__).read_text()
    untested = sorted(v for v in verbs if f".{v}(" not in source)
    assert untested == [], f"verbs with no contract test here: {untested}"


def test_every_attempt_is_kept_with_its_outcome_and_goes_with_the_job(transport):
    job = make_job()
    transport.enqueue([job], NOW)
    boom = Failure("builtins.ValueError", "nope", traceback="Traceback: nope")
    for n in (1, 2):  # two failures that retry, then a success
        claimed = transport.claim(["default"], "w1", 40 + n, 1, NOW + n)[0]
        assert claimed.attempts == n
        transport.settle([Outcome(job.id, n, JobState.SCHEDULED, failure=boom,
                                  eta=NOW + n + 10, retries=n)], NOW + n + 0.5)
        transport.settle([Outcome(job.id, n, JobState.SUCCESS)], NOW + n + 0.6)  # stale
        transport.claim(["default"], "w1", 1, 0, NOW + n + 20)  # promote the retry
    claimed = transport.claim(["default"], "w1", 43, 1, NOW + 30)[0]
    transport.settle([Outcome(job.id, 3, JobState.SUCCESS, result=serializer.dumps(3))],
                     NOW + 31)
    attempts = transport.list_attempts(job.id)
    assert [(a.attempt, a.outcome) for a in attempts] == [
        (1, "retry"), (2, "retry"), (3, "success")]
    first = attempts[0]
    assert (first.job_id, first.worker, first.pid) == (job.id, "w1", 41)
    assert first.started_at == NOW + 1 and first.finished_at == NOW + 1.5
    assert first.exc_type == "builtins.ValueError" and first.exc_message == "nope"
    assert first.traceback == "Traceback: nope" and first.retry_in == 9.5
    last = attempts[2]
    assert last.exc_type is None and last.traceback is None and last.retry_in is None
    assert transport.list_attempts("no-such-job") == []
    assert transport.forget(job.id) is True
    assert transport.list_attempts(job.id) == []  # gone with the job


def test_a_running_job_revoked_with_terminate_ends_its_attempt_as_revoked(transport):
    job = make_job()
    transport.enqueue([job], NOW)
    transport.claim(["default"], "w1", 9, 1, NOW)
    assert transport.revoke(job.id, NOW + 2, None, terminate=True) == "terminating"
    [attempt] = transport.list_attempts(job.id)
    assert (attempt.outcome, attempt.pid, attempt.worker) == ("revoked", 9, "w1")
    assert attempt.finished_at == NOW + 2 and "TaskRevokedError" in attempt.exc_type
    transport.settle([Outcome(job.id, 1, JobState.FAILURE, failure=Failure("E", "m"))],
                     NOW + 3)  # the killed child's late outcome is stale: no second record
    assert len(transport.list_attempts(job.id)) == 1


def test_lost_and_handed_back_attempts(transport):
    lost, handed, killed = make_job(), make_job(), make_job()
    transport.enqueue([lost, handed, killed], NOW)
    claimed = transport.claim(["default"], "w1", 7, 3, NOW)
    assert len(claimed) == 3
    worker_lost = Failure("litejobs.exceptions.WorkerLostError", "died")
    transport.settle([
        Outcome(lost.id, 1, JobState.PENDING, crashed=True),
        Outcome(handed.id, 1, JobState.PENDING),  # never started: no attempt
        Outcome(killed.id, 1, JobState.FAILURE, failure=worker_lost, purge_at=NOW + 5),
    ], NOW + 1)
    assert [a.outcome for a in transport.list_attempts(lost.id)] == ["lost"]
    assert transport.list_attempts(handed.id) == []
    assert [a.outcome for a in transport.list_attempts(killed.id)] == ["lost"]
    assert transport.prune(NOW + 10) == 1
    assert transport.list_attempts(killed.id) == []  # bounded by the result's retention


def test_a_finished_job_run_again_keeps_the_attempts_before(transport):
    job = make_job()
    transport.enqueue([job], NOW)
    transport.claim(["default"], "w1", 5, 1, NOW)
    transport.settle([Outcome(job.id, 1, JobState.FAILURE, failure=Failure("E", "first"))],
                     NOW + 1)
    transport.claim_job(job.id, "replay", 6, NOW + 2)  # run again by hand
    transport.settle([Outcome(job.id, 2, JobState.FAILURE, failure=Failure("E", "second"))],
                     NOW + 3)
    assert transport.retry_failed(job_id=job.id, now=NOW + 4) == 1  # and retried
    transport.claim(["default"], "w1", 7, 1, NOW + 5)
    transport.settle([Outcome(job.id, 3, JobState.SUCCESS, result=serializer.dumps(1))],
                     NOW + 6)
    attempts = transport.list_attempts(job.id)
    assert [(a.attempt, a.outcome, a.exc_message) for a in attempts] == [
        (1, "failure", "first"), (2, "failure", "second"), (3, "success", None)]
    assert [a.worker for a in attempts] == ["w1", "replay", "w1"]
    assert (attempts[0].started_at, attempts[0].finished_at) == (NOW, NOW + 1)
    assert (attempts[2].started_at, attempts[2].finished_at) == (NOW + 5, NOW + 6)


def test_claim_job_takes_one_given_job_that_is_not_running(transport):
    failed, waiting = make_job(), make_job()
    transport.enqueue([failed, waiting], NOW)
    first = transport.claim(["default"], "w1", 5, 1, NOW)[0]
    assert first.id == failed.id
    assert transport.claim_job(failed.id, "w2", 6, NOW) is None  # running: not taken
    transport.settle([Outcome(failed.id, 1, JobState.FAILURE, failure=Failure("E", "m"),
                              purge_at=NOW + 100)], NOW + 1)
    again = transport.claim_job(failed.id, "replay", 7, NOW + 2)
    assert (again.id, again.attempts, again.state) == (failed.id, 2, JobState.RUNNING)
    assert serializer.loads_call(again.payload) == ((1, 2), {})
    assert transport.count_jobs() == {"default": {"pending": 1, "running": 1}}
    transport.settle([Outcome(failed.id, 2, JobState.SUCCESS, result=serializer.dumps(3))],
                     NOW + 3)
    assert transport.get(failed.id).state is JobState.SUCCESS
    assert [a.outcome for a in transport.list_attempts(failed.id)] == ["failure", "success"]
    assert transport.list_attempts(failed.id)[1].worker == "replay"
    taken = transport.claim_job(waiting.id, "replay", 7, NOW + 4)  # a waiting one too
    assert taken.attempts == 1
    assert transport.claim(["default"], "w1", 5, 10, NOW + 5) == []  # not in the queue now
    assert transport.claim_job("no-such-job", "replay", 7, NOW) is None


def test_control_records(make_transport):
    first, second = make_transport(), make_transport()
    assert first.list_controls("") == {}
    first.put_control("rate:t.add", b"\x01")
    first.put_control("rate:t.mul", b"\x02")
    first.put_control("worker:w1", b"\x00\xff")
    first.put_control("ratex", b"no")
    assert second.list_controls("rate:") == {"rate:t.add": b"\x01", "rate:t.mul": b"\x02"}
    first.put_control("rate:t.add", b"\x03")  # replaced
    first.put_control("rate:t.mul", None)  # deleted
    first.put_control("rate:gone", None)  # deleting nothing is harmless
    assert second.list_controls("rate:") == {"rate:t.add": b"\x03"}
    assert second.list_controls("worker:") == {"worker:w1": b"\x00\xff"}
    assert set(second.list_controls("")) == {"rate:t.add", "worker:w1", "ratex"}


def test_a_heartbeat_renews_the_queues_a_worker_consumes(transport):
    transport.record_heartbeat(worker_info("w1", ["default"]), NOW, 30)
    transport.record_heartbeat(worker_info("w1", ["default", "extra"]), NOW + 1, 30)
    [worker] = transport.list_workers(NOW + 2)
    assert worker.queues == ["default", "extra"]
