"""Rows the SQLite transport writes inside a caller's transaction: jobs and chord joins.

Each function takes an open connection inside ``BEGIN IMMEDIATE``; none commits.
"""

from __future__ import annotations

from collections.abc import Sequence

import apsw

from .. import serializer
from ..job import ChordSpec, Job, JobState
from .sqlite_schema import Q


def job_row(j: Job, now: float, packed: dict[int, bytes]) -> tuple:
    options = None
    if j.options:
        # jobs of one bulk send share one options dict: pack it once
        options = packed.get(id(j.options))
        if options is None:
            options = packed[id(j.options)] = serializer.dumps(j.options, "job options")
    return (j.id, j.task, j.queue, j.priority, "scheduled" if j.eta > now else "pending",
            j.eta, j.expires, j.retries, 1 if j.acks_late else 0, j.payload, options, now)

def insert_jobs(conn: apsw.Connection, jobs: Sequence[Job], now: float) -> None:
    packed: dict[int, bytes] = {}
    waiting = [job_row(j, now, packed) for j in jobs if not j.state.finished]
    if waiting:
        conn.executemany(Q["insert_job"], waiting)
    for j in jobs:
        if j.state.finished:  # a chain member that will never run, stored as failed
            conn.execute(Q["insert_finished_job"], (
                j.id, j.task, j.queue, j.priority, j.state.value, j.eta, j.payload,
                serializer.dumps(j.options) if j.options else None, j.error_type,
                j.error_message, now, now, j.purge_at))

def insert_chord(conn: apsw.Connection, chord: ChordSpec, now: float) -> None:
    body = chord.body
    conn.execute(Q["insert_chord"], (chord.id, len(chord.member_ids), now))
    conn.execute(Q["insert_chord_spec"], (
        chord.id, serializer.dumps(chord.member_ids),
        serializer.dumps({
            "id": body.id, "task": body.task, "payload": body.payload,
            "queue": body.queue, "priority": body.priority, "eta": body.eta,
            "expires": body.expires, "acks_late": body.acks_late,
            "options": body.options, "result_expires": chord.result_expires})))

def chord_member_finished(conn: apsw.Connection, chord_id: str, job_id: str,
                           failed: bool, now: float) -> None:
    """Count a header member once; in the transaction of the last one, fire the body."""
    conn.execute(Q["chord_member_done"], (chord_id, job_id))
    if conn.changes() == 0:
        return  # counted before (a member that ran twice)
    rows = conn.execute(Q["chord_count"], (chord_id, job_id if failed else None)).fetchall()
    if not rows or rows[0][0] < rows[0][1]:
        return
    members_blob, body_blob, failed_member = conn.execute(
        Q["chord_get"], (chord_id,)).fetchall()[0]
    members = serializer.loads(members_blob)
    spec = serializer.loads(body_blob)
    args, kwargs = serializer.loads_call(spec["payload"])
    body = Job(id=spec["id"], task=spec["task"], payload=b"", queue=spec["queue"],
               priority=spec["priority"], eta=max(spec["eta"], now),
               expires=spec["expires"], acks_late=spec["acks_late"],
               options=spec["options"], created_at=now)
    if failed_member is not None:
        error = conn.execute(Q["job_error"], (failed_member,)).fetchall()
        kind, message = error[0] if error else ("unknown", "")
        from ..exceptions import ChordError
        from ..failure import class_path

        body.state = JobState.FAILURE
        body.error_type = class_path(ChordError)
        body.error_message = (f"Dependency {failed_member} raised "
                              f"{(kind or 'an error').rpartition('.')[2]}: {message}")
        body.payload = serializer.dumps_call(body.task, args, kwargs)
        keep = spec.get("result_expires")
        body.purge_at = now + keep if keep else None
    else:
        results = []
        for member in members:
            row = conn.execute(Q["job_result"], (member,)).fetchall()
            blob = row[0][0] if row else None
            results.append(serializer.loads(blob) if blob is not None else None)
        if spec["options"].get("_immutable"):
            body.payload = spec["payload"]
        else:
            body.payload = serializer.dumps_call(body.task, (results, *args), kwargs)
    insert_jobs(conn, [body], now)
    conn.execute(Q["chord_done_delete"], (chord_id,))
    conn.execute(Q["chord_delete"], (chord_id,))
    conn.execute(Q["chord_spec_delete"], (chord_id,))
