"""What the SQLite transport writes: jobs, claims, outcomes, revocations and chord joins.

Each function takes a connection already inside ``BEGIN IMMEDIATE`` (or a single
autocommit statement); none commits. The SQL is in queries.sql, except the multi-queue
claim, which is built here from one arm per queue.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import apsw

from ... import serializer
from ...job import ChordSpec, Job, JobState, Outcome
from ..common import (
    REVOKED_ERROR_TYPE,
    attempt_outcome,
    chord_failure_message,
    revoke_message,
)
from .reads import decode_options, final_attempt, final_attempts_sql
from .schema import Q

# Rate-limited starts are spaced 2% wider than 1/rate: a claimed job starts a few ms
# after its claim, and the margin (20 ms per second of starts) keeps any one-second
# window of actual starts within the rate.
RATE_SPACING = 1.02

EVENT_KINDS = {
    JobState.SUCCESS: "task-succeeded", JobState.FAILURE: "task-failed",
    JobState.SCHEDULED: "task-retried", JobState.REVOKED: "task-revoked",
    JobState.PENDING: "task-requeued",
}


# -- jobs -------------------------------------------------------------------------
def job_row(j: Job, now: float, packed: dict[int, bytes]) -> tuple:
    """The ``insert_job`` parameters of a waiting job."""
    return (j.id, j.task, j.queue, j.priority, "scheduled" if j.eta > now else "pending",
            j.eta, j.expires, j.retries, 1 if j.acks_late else 0, j.payload,
            _options(j, packed), now)


def _options(j: Job, packed: dict[int, bytes]) -> bytes | None:
    if not j.options:
        return None
    # jobs of one bulk send share one options dict: pack it once
    options = packed.get(id(j.options))
    if options is None:
        options = packed[id(j.options)] = serializer.dumps(j.options, "job options")
    return options


def insert_jobs(conn: apsw.Connection, jobs: Sequence[Job], now: float) -> int:
    """Store jobs, waiting or (given in a finished state) finished; known ids are kept.

    Returns how many were new.
    """
    packed: dict[int, bytes] = {}
    waiting = [job_row(j, now, packed) for j in jobs if not j.state.finished]
    new = 0
    if waiting:
        before = conn.total_changes()
        conn.executemany(Q["insert_job"], waiting)
        new = (conn.total_changes() - before) // 2  # a job row and its job_args row
    for j in jobs:
        if j.state.finished:
            conn.execute(Q["insert_finished_job"], (
                j.id, j.task, j.queue, j.priority, j.state.value, j.eta, j.expires, j.retries,
                1 if j.acks_late else 0, j.result, j.error_type, j.error_message,
                j.error_args, j.traceback, now, now, j.purge_at))
            if conn.changes():
                conn.execute(Q["insert_args"],
                             (conn.last_insert_rowid(), j.payload, _options(j, packed)))
                new += 1
    return new


# -- claiming -----------------------------------------------------------------------
def claim(conn: apsw.Connection, queues: Sequence[str], worker: str, pid: int, limit: int,
          now: float, rate_limits: dict[str, float] | None,
          queue_limits: dict[str, int] | None, events: bool) -> list[Job]:
    """Promote due jobs and lease up to ``limit`` of the best pending ones."""
    conn.execute(Q["promote_due"], (now,))
    paused = {r[0] for r in conn.execute(Q["paused_queues"])}
    active = [q for q in queues if q not in paused]
    rows: list[tuple] = []
    if queue_limits and any(q in queue_limits for q in active):
        for queue in active:  # a limited queue takes only what it has room for
            room = limit - len(rows)
            if queue in queue_limits:
                running = conn.execute(Q["running_in_queue"], (queue,)).fetchall()
                room = min(room, queue_limits[queue] - running[0][0])
            if room > 0:
                rows += conn.execute(Q["claim_one_queue"],
                                     (worker, pid, now, queue, room)).fetchall()
    elif len(active) == 1:
        rows = conn.execute(Q["claim_one_queue"], (worker, pid, now, active[0], limit)).fetchall()
    elif len(active) > MAX_QUEUES_IN_TURN:
        rows = conn.execute(claim_any_sql(len(active)),
                            (worker, pid, now, limit, *active)).fetchall()
    elif active:
        rows = conn.execute(claim_many_sql(len(active)),
                            (worker, pid, now, limit, *active)).fetchall()
    # the arguments, written once at enqueue, are read beside the claimed rows: one
    # statement for the batch (a statement per row cost 6x as much for 64 rows)
    args = {seq: (payload, options) for seq, payload, options in conn.execute(
        *claimed_args(rows))} if rows else {}
    claimed = [(row[0], _claimed(row, args[row[0]], worker, pid, now)) for row in rows]
    jobs = in_turn(claimed, queues)
    if rate_limits and jobs:
        jobs = _rate_limit(conn, jobs, rate_limits, now)
    if events and jobs:
        conn.executemany(Q["insert_event"], [
            (now, "task-started", j.id, j.task, j.queue, worker, None, None) for j in jobs])
    return jobs


def in_turn(claimed: list[tuple[int, Job]], queues: Sequence[str]) -> list[Job]:
    """Claimed ``(seq, job)`` pairs in the order they are served: queues in turn.

    The first job of each queue (in the order of ``queues``), then the second of each,
    and so on; within a queue, by priority (higher first), eta, then insertion order.
    """
    claimed.sort(key=lambda sj: (-sj[1].priority, sj[1].eta, sj[0]))
    if len(queues) < 2:
        return [job for _seq, job in claimed]
    position = {q: i for i, q in enumerate(queues)}
    rank: dict[str, int] = {}
    turns = []
    for _seq, job in claimed:
        r = rank[job.queue] = rank.get(job.queue, -1) + 1
        turns.append((r, position.get(job.queue, 0), job))
    turns.sort(key=lambda t: (t[0], t[1]))
    return [job for _r, _p, job in turns]


# A claim takes one ordered arm per queue, so up to this many queues are served strictly
# in turn. SQLite allows 500 terms in a compound SELECT; past this many queues one ordered
# claim over all of them takes the batch, which is then served in turn.
MAX_QUEUES_IN_TURN = 64


def claimed_args(rows: list[tuple]) -> tuple[str, list[int]]:
    """The statement reading the arguments of claimed rows, and its parameters.

    The list of seqs is padded to a power of two (repeating the last), so that a few
    statements serve every batch size and stay in the connection's statement cache.
    """
    seqs = [row[0] for row in rows]
    size = 1 << (len(seqs) - 1).bit_length()
    return claimed_args_sql(size), seqs + [seqs[-1]] * (size - len(seqs))


@functools.lru_cache(maxsize=16)
def claimed_args_sql(n_jobs: int) -> str:
    """The arguments of ``n_jobs`` claimed jobs, by seq (parameters: their seqs)."""
    return Q["claimed_args"] + f" ({', '.join('?' * n_jobs)})"


@functools.lru_cache(maxsize=32)
def claim_any_sql(n_queues: int) -> str:
    """The claim over more than MAX_QUEUES_IN_TURN queues: the best ``limit`` pending jobs
    of any of them (parameters: worker, pid, now, limit, *queues)."""
    marks = ", ".join(f"?{5 + i}" for i in range(n_queues))
    returning = Q["claim_columns"].rstrip(";")
    return (
        "UPDATE job SET state = 'running', attempts = attempts + 1, worker = ?1, pid = ?2, "
        f"started_at = ?3 WHERE seq IN (SELECT seq FROM job WHERE state = 'pending' AND "
        f"queue IN ({marks}) ORDER BY priority DESC, eta, seq LIMIT ?4) RETURNING {returning}"
    )


@functools.lru_cache(maxsize=32)
def claim_many_sql(n_queues: int) -> str:
    """The claim over ``n_queues`` queues (parameters: worker, pid, now, limit, *queues)."""
    # One ordered, limited arm per queue, merged in turn (the first of each queue, then
    # the second, ...): each arm walks the pending index, so the claim stays
    # O(queues * log n) instead of sorting every pending job.
    arm = ("SELECT seq, {0} AS turn, row_number() OVER (ORDER BY priority DESC, eta, seq) "
           "AS rank FROM (SELECT seq, priority, eta FROM job WHERE state = 'pending' "
           "AND queue = ?{1} ORDER BY priority DESC, eta, seq LIMIT ?4)")
    merged = " UNION ALL ".join(arm.format(i, 5 + i) for i in range(n_queues))
    returning = Q["claim_columns"].rstrip(";")
    return (
        "UPDATE job SET state = 'running', attempts = attempts + 1, worker = ?1, pid = ?2, "
        f"started_at = ?3 WHERE seq IN (SELECT seq FROM ({merged}) "
        f"ORDER BY rank, turn LIMIT ?4) RETURNING {returning}"
    )


def claim_job(conn: apsw.Connection, job_id: str, worker: str, pid: int,
              now: float) -> Job | None:
    keep_final_attempts(conn, "id = ?", (job_id,))
    rows = conn.execute(Q["claim_job"], (job_id, worker, pid, now)).fetchall()
    if not rows:
        return None
    [(_seq, payload, options)] = conn.execute(*claimed_args(rows)).fetchall()
    return _claimed(rows[0], (payload, options), worker, pid, now)


def _claimed(row: tuple, args: tuple, worker: str, pid: int, now: float) -> Job:
    (_seq, id_, task, queue, priority, eta, expires, attempts, retries, acks_late,
     created_at) = row
    payload, options = args
    return Job(id=id_, task=task, payload=payload, queue=queue, priority=priority,
               state=JobState.RUNNING, eta=eta, expires=expires, attempts=attempts,
               retries=retries, acks_late=bool(acks_late), options=decode_options(options),
               worker=worker, pid=pid, created_at=created_at, started_at=now)


def _rate_limit(conn: apsw.Connection, jobs: list[Job], rate_limits: dict[str, float],
                now: float) -> list[Job]:
    """Keep the jobs their task's rate allows now; put the rest back, due at their turn.

    GCRA: a task's row holds the earliest time its next job may start; each start
    moves it on by 1/rate. A deferred job waits as a scheduled job (no claim spins
    on it, and other tasks of its queue go on), with no attempt spent.
    """
    kept: list[Job] = []
    turns: dict[str, float] = {}
    for job in jobs:
        rate = rate_limits.get(job.task)
        if not rate:
            kept.append(job)
            continue
        if job.task not in turns:
            row = conn.execute(Q["rate_tat"], (job.task,)).fetchall()
            turns[job.task] = row[0][0] if row else now
        turn = turns[job.task]
        if turn <= now:
            turns[job.task] = max(turn, now) + RATE_SPACING / rate
            kept.append(job)
        else:
            conn.execute(Q["defer_claimed"], (job.id, turn, now))
    for task, turn in turns.items():
        conn.execute(Q["rate_set"], (task, turn))
    return kept


# -- outcomes -------------------------------------------------------------------------
def apply_outcomes(conn: apsw.Connection, outcomes: Sequence[Outcome], now: float,
                   events: bool) -> list[str]:
    """Apply each outcome its claim still holds; return the ids of the stale ones."""
    # The attempts that do not end their job (a retry, a lost process) are recorded from
    # the running row, before its worker and pid are cleared; the fence in the statement
    # skips stale outcomes. The attempt that ends a job stays in its row (final_attempt).
    ongoing = _attempt_rows(outcomes, now)
    if ongoing:
        conn.executemany(Q["insert_attempt"], ongoing)
    plain = [o for o in outcomes if _is_plain(o)]
    rest: Sequence[Outcome] = outcomes  # settled one by one, below
    if len(plain) > 1 and _settle_plain(conn, plain, now, events):
        rest = [o for o in outcomes if not _is_plain(o)]
    stale: list[str] = []
    for o in rest:
        state = o.state
        f = o.failure
        if state is JobState.SUCCESS:
            if o.forget:
                conn.execute(Q["settle_forget"], (o.job_id, o.attempt))
            else:
                conn.execute(Q["settle_success"], (o.job_id, o.attempt, o.result, now, o.purge_at))
        elif state is JobState.FAILURE or state is JobState.REVOKED:
            conn.execute(Q["settle_finished"], (
                o.job_id, o.attempt, state.value, f.error_type if f else None,
                f.message if f else None, f.args if f else None, f.traceback if f else None,
                now, o.purge_at))
        elif state is JobState.SCHEDULED:
            conn.execute(Q["settle_retry"], (
                o.job_id, o.attempt, o.eta if o.eta is not None else now, o.retries,
                f.error_type if f else None, f.message if f else None,
                f.traceback if f else None, now))
        elif state is JobState.PENDING:
            conn.execute(Q["settle_requeue"], (o.job_id, o.attempt, 1 if o.crashed else 0))
        else:
            raise ValueError(f"cannot settle a job into state {state}")
        if conn.changes() == 0:
            stale.append(o.job_id)
            continue
        if events and o.task:
            conn.execute(Q["insert_event"], (now, EVENT_KINDS[state], o.job_id, o.task, o.queue,
                                             None, o.runtime, f.error_type if f else None))
        if o.follow_ups:
            insert_jobs(conn, o.follow_ups, now)
        for chord in o.chords:
            insert_chord(conn, chord, now)
        if o.chord_id and state.finished:
            chord_member_finished(conn, o.chord_id, o.chord_member or o.job_id,
                                  state is not JobState.SUCCESS, now)
    return stale


def _is_plain(o: Outcome) -> bool:
    """A success with nothing to follow: most outcomes, settled many to a statement."""
    return (o.state is JobState.SUCCESS and not o.forget and not o.follow_ups
            and not o.chords and not o.chord_id)


def _settle_plain(conn: apsw.Connection, plain: list[Outcome], now: float,
                  events: bool) -> bool:
    """Settle plain successes in one statement; False (and nothing applied) if one was
    stale: the caller then settles them one by one, to tell which."""
    conn.execute("SAVEPOINT plain")
    before = conn.total_changes()
    conn.executemany(Q["settle_success"],
                     [(o.job_id, o.attempt, o.result, now, o.purge_at) for o in plain])
    if conn.total_changes() - before != len(plain):
        conn.execute("ROLLBACK TO plain; RELEASE plain")
        return False
    conn.execute("RELEASE plain")
    if events:
        conn.executemany(Q["insert_event"], [
            (now, "task-succeeded", o.job_id, o.task, o.queue, None, o.runtime, None)
            for o in plain if o.task])
    return True


def _attempt_rows(outcomes: Sequence[Outcome], now: float) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for o in outcomes:
        if o.state.finished:
            continue
        ended = attempt_outcome(o)
        if ended is None:
            continue
        f = o.failure
        if f is None:
            rows.append((o.job_id, o.attempt, now, ended, None, None, None, None))
        else:
            retry_in = max(0.0, o.eta - now) if ended == "retry" and o.eta is not None else None
            rows.append((o.job_id, o.attempt, now, ended, f.error_type, f.message, f.traceback,
                         retry_in))
    return rows


def keep_final_attempts(conn: apsw.Connection, where: str, params: Sequence[object]) -> None:
    """Write out the last attempt of the finished jobs matching ``where``, before they run
    again (claim_job, retry_failed) and their row forgets it."""
    rows = [final_attempt(r) for r in conn.execute(final_attempts_sql(where), params)]
    conn.executemany(Q["insert_final_attempt"], [
        (a.job_id, a.attempt, a.started_at, a.finished_at, a.worker, a.pid, a.outcome,
         a.exc_type, a.exc_message, a.traceback) for a in rows])


def revoke(conn: apsw.Connection, job_id: str, now: float, purge_at: float | None,
           terminate: bool, follow_ups: Sequence[Job], chord: tuple[str, str] | None) -> str:
    """Revoke a job that has not finished (see ``Transport.revoke``)."""
    row = conn.execute(Q["get_state"], (job_id,)).fetchall()
    if not row:
        return "unknown"
    state = row[0][0]
    if state in ("pending", "scheduled"):
        conn.execute(Q["revoke_waiting"], (job_id, now, purge_at, REVOKED_ERROR_TYPE,
                                           revoke_message(job_id, False)))
        answer = "revoked"
    elif state == "running":
        if not terminate:
            return "running"
        conn.execute(Q["insert_revoked_attempt"], (job_id, now, REVOKED_ERROR_TYPE,
                                                   revoke_message(job_id, True)))
        conn.execute(Q["revoke_running"], (job_id, now, purge_at, REVOKED_ERROR_TYPE,
                                           revoke_message(job_id, True)))
        answer = "terminating"
    else:
        return "finished"
    if follow_ups:
        insert_jobs(conn, follow_ups, now)
    if chord:
        chord_member_finished(conn, chord[0], chord[1], True, now)
    return answer


# -- chords ------------------------------------------------------------------------------
def insert_chord(conn: apsw.Connection, chord: ChordSpec, now: float) -> None:
    """Store a chord's join counter and, once, its members and body."""
    body = chord.body
    conn.execute(Q["insert_chord"], (chord.id, len(chord.member_ids) + chord.open, now))
    conn.execute(Q["insert_chord_spec"], (
        chord.id, serializer.dumps(chord.member_ids),
        serializer.dumps({
            "id": body.id, "task": body.task, "payload": body.payload,
            "queue": body.queue, "priority": body.priority, "eta": body.eta,
            "expires": body.expires, "acks_late": body.acks_late,
            "options": body.options, "result_expires": chord.result_expires,
            "failure_type": chord.failure_type, "failure_message": chord.failure_message})))


def add_chord_members(conn: apsw.Connection, chord_id: str, member_ids: Sequence[str],
                      jobs: Sequence[Job], chords: Sequence[ChordSpec], close: bool,
                      now: float) -> bool:
    """Grow a stored chord's join by ``member_ids`` and store their jobs; ``close``: an
    open chord's last call (see ``Transport.add_chord_members``)."""
    conn.execute(Q["chord_grow"], (chord_id, len(member_ids) - close))
    if conn.changes() == 0:
        return False
    if member_ids:
        members = serializer.loads(
            conn.execute(Q["chord_members"], (chord_id,)).fetchall()[0][0])
        conn.execute(Q["chord_members_set"],
                     (chord_id, serializer.dumps([*members, *member_ids])))
    if jobs:
        insert_jobs(conn, jobs, now)
    for chord in chords:
        insert_chord(conn, chord, now)
    if close:
        _fire_if_complete(conn, chord_id, now)
    return True


def chord_member_finished(conn: apsw.Connection, chord_id: str, job_id: str,
                          failed: bool, now: float) -> None:
    """Count a header member once; in the transaction of the last one, fire the body.

    The body is enqueued with the members' results in front of its own arguments or,
    if a member failed, stored FAILED as the chord's spec says.
    """
    conn.execute(Q["chord_member_done"], (chord_id, job_id))
    if conn.changes() == 0:
        return  # counted before (a member that ran twice)
    rows = conn.execute(Q["chord_count"], (chord_id, job_id if failed else None)).fetchall()
    if rows and rows[0][0] >= rows[0][1]:
        _fire(conn, chord_id, now)


def _fire_if_complete(conn: apsw.Connection, chord_id: str, now: float) -> None:
    rows = conn.execute(Q["chord_progress"], (chord_id,)).fetchall()
    if rows and rows[0][0] >= rows[0][1]:
        _fire(conn, chord_id, now)


def _fire(conn: apsw.Connection, chord_id: str, now: float) -> None:
    """Enqueue a chord's body (with the members' results, or marked to fail) and drop
    the chord."""
    members_blob, body_blob, failed_member = conn.execute(
        Q["chord_get"], (chord_id,)).fetchall()[0]
    members = serializer.loads(members_blob)
    spec = serializer.loads(body_blob)
    body = Job(id=spec["id"], task=spec["task"], payload=spec["payload"], queue=spec["queue"],
               priority=spec["priority"], eta=max(spec["eta"], now),
               expires=spec["expires"], acks_late=spec["acks_late"],
               options=spec["options"], created_at=now)
    if failed_member is not None:
        # The body is enqueued marked ``chord_failed``, with the error it is to end with:
        # the worker ends it through the outcome policy (its errbacks, later steps).
        error = conn.execute(Q["job_error"], (failed_member,)).fetchall()
        error_type, message = error[0] if error else (None, None)
        body.options = {**spec["options"], "chord_failed": True}
        # chords stored before these fields existed fail as ChordSpec's defaults say
        body.error_type = spec.get("failure_type", ChordSpec.failure_type)
        body.error_message = chord_failure_message(
            spec.get("failure_message", ChordSpec.failure_message), failed_member,
            error_type, message)
    elif not spec["options"].get("_immutable"):
        results = []
        for member in members:
            row = conn.execute(Q["job_result"], (member,)).fetchall()
            blob = row[0][0] if row else None
            results.append(serializer.loads(blob) if blob is not None else None)
        args, kwargs = serializer.loads_call(spec["payload"])
        body.payload = serializer.dumps_call(body.task, (results, *args), kwargs)
    insert_jobs(conn, [body], now)
    if failed_member is not None:
        conn.execute(Q["set_waiting_error"], (body.id, body.error_type, body.error_message))
    conn.execute(Q["chord_done_delete"], (chord_id,))
    conn.execute(Q["chord_delete"], (chord_id,))
    conn.execute(Q["chord_spec_delete"], (chord_id,))
