"""A Hypothesis state machine: each store against a small model of the job lifecycle.

Checked after every step: each job is in the state the model says, a running job has
exactly one holder (the worker that claimed it last), finished states are absorbing,
attempts count claims, an outcome carrying an old attempt changes nothing, and
count_jobs counts the states the jobs are in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from litejobs import serializer
from litejobs.job import Failure, Job, JobState, Outcome, new_id
from litejobs.transports.base import Transport, WorkerInfo

LEASE = 10.0
WORKERS = ["w1", "w2"]


# About 1.5 s per store here; Redis steps are a little slower (a round trip per verb).
SETTINGS = settings(max_examples=50, stateful_step_count=30, deadline=None)


class Lifecycle(RuleBasedStateMachine):
    def __init__(self, new_store: Callable[[], Transport]) -> None:
        super().__init__()
        self.store = new_store()  # an empty store of its own, for each example
        self.now = 1_000_000.0
        self.jobs: dict[str, dict] = {}  # id -> {"state", "eta", "attempts", "worker"}
        self.beats: dict[str, float] = {}

    def teardown(self) -> None:
        self.store.close()

    def _running(self) -> list[str]:
        return [i for i, j in self.jobs.items() if j["state"] is JobState.RUNNING]

    def _waiting(self) -> list[str]:
        return [i for i, j in self.jobs.items()
                if j["state"] in (JobState.PENDING, JobState.SCHEDULED)]

    @rule(delays=st.lists(st.sampled_from([0.0, 0.0, 5.0, 30.0]), min_size=1, max_size=4))
    def enqueue(self, delays):
        jobs = [Job(id=new_id(), task="t", payload=serializer.dumps([[], {}]),
                    eta=self.now + d, created_at=self.now) for d in delays]
        assert self.store.enqueue(jobs, self.now) == len(jobs)
        for j in jobs:
            state = JobState.SCHEDULED if j.eta > self.now else JobState.PENDING
            self.jobs[j.id] = {"state": state, "eta": j.eta, "attempts": 0, "worker": None}

    @rule(worker=st.sampled_from(WORKERS), limit=st.integers(1, 3))
    def claim(self, worker, limit):
        self.store.record_heartbeat(WorkerInfo(worker, "h", 1, ["default"], 1, self.now),
                             self.now, LEASE)
        self.beats[worker] = self.now
        due = {i for i in self._waiting() if self.jobs[i]["eta"] <= self.now}
        claimed = self.store.claim(["default"], worker, 1, limit, self.now)
        assert len(claimed) == min(limit, len(due))
        for job in claimed:
            assert job.id in due, "claimed a job that was not due"
            model = self.jobs[job.id]
            model["attempts"] += 1
            assert job.attempts == model["attempts"]
            model.update(state=JobState.RUNNING, worker=worker)

    @precondition(lambda self: self._running())
    @rule(data=st.data(), kind=st.sampled_from(["success", "failure", "retry", "requeue"]),
          stale=st.booleans())
    def settle(self, data, kind, stale):
        job_id = data.draw(st.sampled_from(self._running()))
        model = self.jobs[job_id]
        attempt = model["attempts"] - 1 if stale else model["attempts"]
        failure = Failure("E", "m")
        outcome = {
            "success": Outcome(job_id, attempt, JobState.SUCCESS, result=b"\xc0"),
            "failure": Outcome(job_id, attempt, JobState.FAILURE, failure=failure),
            "retry": Outcome(job_id, attempt, JobState.SCHEDULED, failure=failure,
                             eta=self.now + 5, retries=1),
            "requeue": Outcome(job_id, attempt, JobState.PENDING),
        }[kind]
        dropped = self.store.settle([outcome], self.now)
        if stale:
            assert dropped == [job_id]
            return
        assert dropped == []
        if kind in ("retry", "requeue"):  # a finished job keeps the worker that ran it
            model["worker"] = None
        model["state"] = {"success": JobState.SUCCESS, "failure": JobState.FAILURE,
                          "retry": JobState.SCHEDULED, "requeue": JobState.PENDING}[kind]
        if kind == "retry":
            model["eta"] = self.now + 5

    @rule(seconds=st.sampled_from([1.0, 6.0, 11.0]))
    def advance_clock(self, seconds):
        self.now += seconds

    @rule(worker=st.sampled_from(WORKERS))
    def record_heartbeat(self, worker):
        self.store.record_heartbeat(WorkerInfo(worker, "h", 1, ["default"], 1, self.now),
                             self.now, LEASE)
        self.beats[worker] = self.now

    @rule()
    def rescue(self):
        lost = self.store.find_lost_jobs(self.now)
        expected = {i for i in self._running()
                    if self.beats.get(self.jobs[i]["worker"], -1e18) + LEASE < self.now}
        assert {x.job_id for x in lost} == expected
        self.store.settle([Outcome(x.job_id, x.attempt, JobState.PENDING) for x in lost],
                          self.now)
        for job_id in expected:
            self.jobs[job_id].update(state=JobState.PENDING, worker=None)

    @precondition(lambda self: self.jobs)
    @rule(data=st.data())
    def revoke(self, data):
        job_id = data.draw(st.sampled_from(sorted(self.jobs)))
        model = self.jobs[job_id]
        answer = self.store.revoke(job_id, self.now, None)
        if model["state"] in (JobState.PENDING, JobState.SCHEDULED):
            assert answer == "revoked"
            model["state"] = JobState.REVOKED
        elif model["state"] is JobState.RUNNING:
            assert answer == "running"
        else:
            assert answer == "finished"

    @invariant()
    def store_matches_model(self):
        stored: Counter[str] = Counter()
        for job_id, model in self.jobs.items():
            job = self.store.get(job_id)
            stored[job.state.value] += 1
            state = model["state"]
            if state is JobState.SCHEDULED and model["eta"] <= self.now:
                # due jobs are promoted lazily, by the next claim
                assert job.state in (JobState.SCHEDULED, JobState.PENDING)
            elif state is JobState.PENDING:
                assert job.state is JobState.PENDING
            else:
                assert job.state is state, (job_id, job.state, state)
            assert job.attempts == model["attempts"]
            if state is JobState.RUNNING or state.finished:
                assert job.worker == model["worker"]  # exactly one holder; who ran it
            else:
                assert job.worker is None
        assert self.store.count_jobs() == ({"default": dict(stored)} if stored else {})


def test_lifecycle_model(new_store):
    """Run on each store (``new_store`` is parametrized), a fresh store per example."""
    run_state_machine_as_test(lambda: Lifecycle(new_store), settings=SETTINGS)
