-- Every named statement of the SQLite transport; `-- name: X` starts one (schema.Q[X]).
-- (Statements built from parts -- the multi-queue claim, list_jobs' filters, purge by
-- state -- are in reads.py and writes.py, beside the code that builds them.)
-- Job states: scheduled -> pending -> running -> success | failure | revoked.

-- name: schema_1
CREATE TABLE job (
    seq           INTEGER PRIMARY KEY,      -- insertion order: the last claim tie-breaker
    id            TEXT NOT NULL UNIQUE,
    task          TEXT NOT NULL,
    queue         TEXT NOT NULL,
    priority      INTEGER NOT NULL DEFAULT 0,
    state         TEXT NOT NULL,
    eta           REAL NOT NULL,
    expires       REAL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    retries       INTEGER NOT NULL DEFAULT 0,
    acks_late     INTEGER NOT NULL DEFAULT 1,
    payload       BLOB NOT NULL,
    options       BLOB,
    result        BLOB,
    error_type    TEXT,
    error_message TEXT,
    error_args    BLOB,
    traceback     TEXT,
    custom_state  TEXT,
    meta          BLOB,
    worker        TEXT,
    pid           INTEGER,
    created_at    REAL NOT NULL,
    started_at    REAL,
    done_at       REAL,
    purge_at      REAL
);
-- Partial indexes keep each hot lookup O(log n) however many finished jobs are kept.
CREATE INDEX job_pending ON job (queue, priority DESC, eta, seq) WHERE state = 'pending';
CREATE INDEX job_scheduled ON job (eta) WHERE state = 'scheduled';
CREATE INDEX job_running ON job (worker, pid) WHERE state = 'running';
CREATE INDEX job_terminated ON job (worker) WHERE state = 'revoked' AND pid IS NOT NULL;
CREATE INDEX job_purge ON job (purge_at) WHERE purge_at IS NOT NULL;
CREATE INDEX job_failed ON job (task) WHERE state = 'failure';
CREATE TABLE worker (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    queues       TEXT NOT NULL,
    concurrency  INTEGER NOT NULL,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    lease_until  REAL NOT NULL,
    running      INTEGER NOT NULL DEFAULT 0,
    processed    INTEGER NOT NULL DEFAULT 0
);

-- name: schema_2
-- How many times a job lost its process (crash accounting against max_retries).
ALTER TABLE job ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
-- Chords: the header's join counter, idempotent per member (chord_done), and the body
-- to enqueue in the transaction that records the last member. Saved groups.
-- The counter row stays small: SQLite rewrites a whole row on UPDATE, so the member
-- list and body (hundreds of KB for a large chord) live in chord_spec, written once.
CREATE TABLE chord (
    id            TEXT PRIMARY KEY,
    size          INTEGER NOT NULL,
    done          INTEGER NOT NULL DEFAULT 0,
    failed_member TEXT,
    created_at    REAL NOT NULL
);
CREATE TABLE chord_spec (
    id      TEXT PRIMARY KEY,
    members BLOB NOT NULL,
    body    BLOB NOT NULL
);
CREATE TABLE chord_done (
    chord_id TEXT NOT NULL,
    job_id   TEXT NOT NULL,
    PRIMARY KEY (chord_id, job_id)
) WITHOUT ROWID;
CREATE TABLE group_meta (
    id         TEXT PRIMARY KEY,
    members    BLOB NOT NULL,
    created_at REAL NOT NULL
);
-- Periodic tasks: the last slot each schedule fired (so nothing fires twice) and which
-- beat leads (a lease any standby beat takes over once it runs out).
CREATE TABLE beat_entry (
    name     TEXT PRIMARY KEY,
    task     TEXT NOT NULL,
    schedule TEXT NOT NULL,
    last_run REAL,
    next_run REAL
);
CREATE TABLE beat_lock (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    lease_until REAL NOT NULL
);
-- Global rate limits (GCRA: the theoretical arrival time of the next allowed start)
-- and paused queues.
CREATE TABLE rate_limit (
    task TEXT PRIMARY KEY,
    tat  REAL NOT NULL
);
CREATE TABLE queue_state (
    queue  TEXT PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX job_running_queue ON job (queue) WHERE state = 'running';
-- Job events recorded by workers (litejobs events, metrics); capped by prune.
CREATE TABLE event (
    seq     INTEGER PRIMARY KEY,
    ts      REAL NOT NULL,
    kind    TEXT NOT NULL,
    job_id  TEXT NOT NULL,
    task    TEXT NOT NULL,
    queue   TEXT NOT NULL,
    worker  TEXT,
    runtime REAL,
    detail  TEXT
);
CREATE INDEX event_ts ON event (ts);

-- name: schema_3
-- Schedules kept in the store (app.schedules, litejobs schedule, the dashboard) beside
-- those from code: where each comes from, whether it fires, and its definition (JSON).
ALTER TABLE beat_entry ADD COLUMN origin TEXT NOT NULL DEFAULT 'code';
ALTER TABLE beat_entry ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE beat_entry ADD COLUMN spec TEXT;
ALTER TABLE beat_entry ADD COLUMN updated_at REAL;

-- name: schema_4
-- Every attempt of a job (litejobs inspect, AsyncResult.attempts): written in the
-- transaction of each outcome, gone with its job (the trigger), so kept as long as it.
CREATE TABLE attempt (
    job_id      TEXT NOT NULL,
    n           INTEGER NOT NULL,
    started_at  REAL,
    finished_at REAL NOT NULL,
    worker      TEXT,
    pid         INTEGER,
    outcome     TEXT NOT NULL,
    exc_type    TEXT,
    exc_message TEXT,
    traceback   TEXT,
    retry_in    REAL,
    PRIMARY KEY (job_id, n)
) WITHOUT ROWID;
CREATE TRIGGER job_attempts_go_with_it AFTER DELETE ON job
BEGIN
    DELETE FROM attempt WHERE job_id = old.id;
END;

-- name: insert_attempt
-- From the running row, before the outcome clears its worker and pid; nothing for a
-- stale outcome (the same fence as the settle statements).
INSERT OR IGNORE INTO attempt (job_id, n, started_at, finished_at, worker, pid, outcome,
                                exc_type, exc_message, traceback, retry_in)
SELECT id, attempts, started_at, ?3, worker, pid, ?4, ?5, ?6, ?7, ?8
FROM job WHERE id = ?1 AND attempts = ?2 AND state = 'running';

-- name: insert_final_attempt
INSERT OR IGNORE INTO attempt (job_id, n, started_at, finished_at, worker, pid, outcome,
                               exc_type, exc_message, traceback)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: insert_revoked_attempt
-- A running job revoked with terminate: its attempt ends here, as the revocation.
INSERT OR IGNORE INTO attempt (job_id, n, started_at, finished_at, worker, pid, outcome,
                                exc_type, exc_message)
SELECT id, attempts, started_at, ?2, worker, pid, 'revoked', ?3, ?4
FROM job WHERE id = ?1 AND state = 'running';

-- name: list_attempts
SELECT job_id, n, started_at, finished_at, worker, pid, outcome, exc_type, exc_message,
       traceback, retry_in
FROM attempt WHERE job_id = ? ORDER BY n;

-- name: final_attempts
-- The attempt that finished a job is not written to attempt with its outcome: the job's
-- row holds it (reads.final_attempt), which saves a row per job. It is written out
-- (writes.keep_final_attempts) before a finished job runs again.
-- (reads.final_attempts_sql appends the filter)
SELECT id, attempts, started_at, done_at, worker, pid, state, error_type, error_message,
       traceback
FROM job WHERE state IN ('success', 'failure', 'revoked') AND attempts > 0
AND started_at IS NOT NULL AND

-- name: schema_5
-- Control records (app.control): stored rate limits, worker reports, commands.
CREATE TABLE control (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- name: control_put
INSERT INTO control (key, value) VALUES (?1, ?2)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: control_delete
DELETE FROM control WHERE key = ?1;

-- name: control_list
SELECT key, value FROM control WHERE key >= ?1 AND key < ?1 || x'ff' ORDER BY key;

-- name: schema_6
-- Arguments written once. SQLite rewrites a whole row (with its overflow pages) on every
-- UPDATE, so a job's payload and options leave the job row, whose small mutable state
-- claiming, renewing, retrying and settling rewrite, for job_args: written at enqueue,
-- never updated, deleted with its job (job_args_delete). Enqueue inserts through the
-- job_new view, whose trigger writes both rows in the one statement.
CREATE TABLE job_args (
    seq     INTEGER PRIMARY KEY,            -- job.seq
    payload BLOB NOT NULL,
    options BLOB
);
INSERT INTO job_args (seq, payload, options) SELECT seq, payload, options FROM job;
ALTER TABLE job DROP COLUMN payload;
ALTER TABLE job DROP COLUMN options;
CREATE TRIGGER job_args_delete AFTER DELETE ON job BEGIN
    DELETE FROM job_args WHERE seq = OLD.seq;
END;
CREATE VIEW job_new AS
SELECT j.id, j.task, j.queue, j.priority, j.state, j.eta, j.expires, j.retries, j.acks_late,
       a.payload, a.options, j.created_at
FROM job j JOIN job_args a USING (seq);
CREATE TRIGGER job_new_insert INSTEAD OF INSERT ON job_new BEGIN
    INSERT OR IGNORE INTO job (id, task, queue, priority, state, eta, expires, retries,
                               acks_late, created_at)
    VALUES (NEW.id, NEW.task, NEW.queue, NEW.priority, NEW.state, NEW.eta, NEW.expires,
            NEW.retries, NEW.acks_late, NEW.created_at);
    INSERT INTO job_args (seq, payload, options)
    SELECT last_insert_rowid(), NEW.payload, NEW.options WHERE changes() > 0;
END;
-- Worker leases on the host's lease clock (CLOCK_BOOTTIME, lease.py), not wall time:
-- lease_until is on that clock, boot names the boot it belongs to. Rows written before
-- (wall-clock leases, no boot) read as ended, so their jobs are rescued.
ALTER TABLE worker ADD COLUMN boot TEXT;

-- name: schema_7
-- Unique jobs (docs/unique.md): the job holding each unique key. Written only by
-- enqueue_unique, in the transaction of its job's insert; whether the holder still holds
-- it (waiting, running, or a success younger than the caller's unique_for) is read from
-- its job row, so nothing else writes here; a row goes with its job (the trigger).
CREATE TABLE job_unique (
    key    TEXT PRIMARY KEY,
    job_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX job_unique_job ON job_unique (job_id);
CREATE TRIGGER job_unique_delete AFTER DELETE ON job BEGIN
    DELETE FROM job_unique WHERE job_id = OLD.id;
END;

-- name: unique_holder
-- The job holding a unique key, if it still does (?2: now - the caller's unique_for).
SELECT u.job_id FROM job_unique u JOIN job j ON j.id = u.job_id
WHERE u.key = ?1 AND (j.state IN ('scheduled', 'pending', 'running')
                      OR (j.state = 'success' AND j.done_at > ?2));

-- name: unique_take
INSERT OR REPLACE INTO job_unique (key, job_id) VALUES (?1, ?2);

-- name: schema_8
-- Indexes for the dashboard on a store of millions of jobs, each written only when a job
-- finishes (so enqueue and claim never touch them): finished jobs by queue and state,
-- which count_jobs counts from the index alone (waiting and running ones it counts
-- through the partial indexes of schema_1); and the jobs with a runtime, by it, so the
-- job list sorted by runtime reads a page of the index, not every job. Both partial,
-- so that no other query's plan takes them (without statistics SQLite may walk a whole
-- index of the table, a random read per row). (Its WHERE is ORs, not IN: SQLite builds
-- an IN list's lookup table for each statement it checks a row of, which cost a write
-- of a job more than the index itself.)
CREATE INDEX job_finished ON job (queue, state)
WHERE state = 'success' OR state = 'failure' OR state = 'revoked';
-- reads.RUNTIME and reads.HAS_RUNTIME, written the same
CREATE INDEX job_runtime ON job ((done_at - started_at))
WHERE (done_at - started_at) IS NOT NULL;

-- name: insert_job
-- Two rows per new job (job, job_args: the view's trigger); a known id adds none.
INSERT INTO job_new (id, task, queue, priority, state, eta, expires, retries, acks_late,
                     payload, options, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: set_waiting_error
-- The error a chord's body, fired after a member failed, is to end with.
UPDATE job SET error_type = ?2, error_message = ?3 WHERE id = ?1;

-- name: insert_finished_job
-- A job given in a finished state (a chain step that will never run, an imported result).
-- Its arguments follow (insert_args) when this inserted a row.
INSERT OR IGNORE INTO job (id, task, queue, priority, state, eta, expires, retries, acks_late,
                           result, error_type, error_message, error_args, traceback,
                           created_at, done_at, purge_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: insert_args
INSERT INTO job_args (seq, payload, options) VALUES (?, ?, ?);

-- name: claimed_args
-- (writes.claimed_args_sql appends the list of claimed seqs)
SELECT seq, payload, options FROM job_args WHERE seq IN

-- name: insert_chord
INSERT OR IGNORE INTO chord (id, size, created_at) VALUES (?, ?, ?);

-- name: insert_chord_spec
INSERT OR IGNORE INTO chord_spec (id, members, body) VALUES (?, ?, ?);

-- name: chord_member_done
INSERT OR IGNORE INTO chord_done (chord_id, job_id) VALUES (?, ?);

-- name: chord_count
UPDATE chord SET done = done + 1, failed_member = coalesce(failed_member, ?2)
WHERE id = ?1
RETURNING done, size;

-- name: chord_grow
-- Task.add_to_chord: the join waits for more members (the spec's list is rewritten once
-- per call, beside the counter).
UPDATE chord SET size = size + ?2 WHERE id = ?1;

-- name: chord_progress
SELECT done, size FROM chord WHERE id = ?;

-- name: chord_members
SELECT members FROM chord_spec WHERE id = ?;

-- name: chord_members_set
UPDATE chord_spec SET members = ?2 WHERE id = ?1;

-- name: chord_get
SELECT s.members, s.body, c.failed_member FROM chord c JOIN chord_spec s ON s.id = c.id
WHERE c.id = ?;

-- name: chord_delete
DELETE FROM chord WHERE id = ?;

-- name: chord_spec_delete
DELETE FROM chord_spec WHERE id = ?;

-- name: chord_done_delete
DELETE FROM chord_done WHERE chord_id = ?;

-- name: job_result
SELECT result FROM job WHERE id = ?;

-- name: job_error
SELECT error_type, error_message FROM job WHERE id = ?;

-- name: save_group
INSERT OR REPLACE INTO group_meta (id, members, created_at) VALUES (?, ?, ?);

-- name: restore_group
SELECT members FROM group_meta WHERE id = ?;

-- name: delete_group
DELETE FROM group_meta WHERE id = ?;

-- name: beat_lead
INSERT INTO beat_lock (name, holder, lease_until) VALUES ('beat', ?1, ?3)
ON CONFLICT (name) DO UPDATE SET holder = ?1, lease_until = ?3
WHERE beat_lock.holder = ?1 OR beat_lock.lease_until < ?2;

-- name: beat_resign
DELETE FROM beat_lock WHERE name = 'beat' AND holder = ?;

-- name: beat_leader
SELECT holder, lease_until FROM beat_lock WHERE name = 'beat';

-- name: beat_entries
SELECT name, task, schedule, last_run, next_run, origin, enabled, spec, updated_at
FROM beat_entry ORDER BY name;

-- name: beat_upsert
INSERT INTO beat_entry (name, task, schedule) VALUES (?1, ?2, ?3)
ON CONFLICT (name) DO UPDATE SET task = ?2, schedule = ?3, origin = 'code', enabled = 1,
    spec = NULL;

-- name: beat_delete
DELETE FROM beat_entry WHERE name = ?;

-- name: beat_code_names
SELECT name FROM beat_entry WHERE origin = 'code';

-- name: schedule_create
INSERT INTO beat_entry (name, task, schedule, origin, enabled, spec, updated_at)
VALUES (?1, ?2, ?3, 'store', 1, ?4, ?5) ON CONFLICT (name) DO NOTHING;

-- name: schedule_update
UPDATE beat_entry SET task = ?2, schedule = ?3, spec = ?4, updated_at = ?5, next_run = NULL
WHERE name = ?1 AND origin = 'store';

-- name: schedule_delete
DELETE FROM beat_entry WHERE name = ?1 AND origin = 'store';

-- name: schedule_enable
UPDATE beat_entry SET enabled = ?2, updated_at = ?3 WHERE name = ?1 AND origin = 'store';

-- name: beat_mark
UPDATE beat_entry SET last_run = ?2, next_run = ?3
WHERE name = ?1 AND enabled = 1 AND (last_run IS NULL OR last_run < ?2);

-- name: beat_set_next
UPDATE beat_entry SET next_run = ?2 WHERE name = ?1;

-- name: rate_tat
SELECT tat FROM rate_limit WHERE task = ?;

-- name: rate_set
INSERT INTO rate_limit (task, tat) VALUES (?1, ?2)
ON CONFLICT (task) DO UPDATE SET tat = ?2;

-- name: defer_claimed
UPDATE job SET state = CASE WHEN ?2 <= ?3 THEN 'pending' ELSE 'scheduled' END, eta = ?2,
               attempts = attempts - 1, worker = NULL, pid = NULL, started_at = NULL
WHERE id = ?1 AND state = 'running';

-- name: running_in_queue
SELECT count(*) FROM job WHERE state = 'running' AND queue = ?;

-- name: paused_queues
SELECT queue FROM queue_state WHERE paused = 1;

-- name: set_paused
INSERT INTO queue_state (queue, paused) VALUES (?1, ?2)
ON CONFLICT (queue) DO UPDATE SET paused = ?2;

-- name: insert_event
INSERT INTO event (ts, kind, job_id, task, queue, worker, runtime, detail)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);

-- name: events_since
SELECT seq, ts, kind, job_id, task, queue, worker, runtime, detail FROM event
WHERE seq > ? ORDER BY seq LIMIT ?;

-- name: last_event_seq
SELECT coalesce(max(seq), 0) FROM event;

-- name: event_stats
SELECT task, kind, count(*), coalesce(sum(runtime), 0) FROM event GROUP BY task, kind;

-- name: finished_per_bucket
SELECT CAST(ts / ?1 AS INTEGER) * ?1, count(*) FROM event
WHERE ts >= ?2 AND kind IN (SELECT value FROM json_each(?3))
GROUP BY 1 ORDER BY 1;

-- name: prune_events
DELETE FROM event WHERE seq <= (SELECT max(seq) FROM event) - ?;

-- name: promote_due
UPDATE job SET state = 'pending' WHERE state = 'scheduled' AND eta <= ?;

-- name: claim_one_queue
UPDATE job SET state = 'running', attempts = attempts + 1, worker = ?1, pid = ?2, started_at = ?3
WHERE seq IN (SELECT seq FROM job WHERE state = 'pending' AND queue = ?4
              ORDER BY priority DESC, eta, seq LIMIT ?5)
RETURNING seq, id, task, queue, priority, eta, expires, attempts, retries, acks_late,
          created_at;

-- name: claim_job
UPDATE job SET state = 'running', attempts = attempts + 1, worker = ?2, pid = ?3,
               started_at = ?4, done_at = NULL, purge_at = NULL, custom_state = NULL
WHERE id = ?1 AND state != 'running'
RETURNING seq, id, task, queue, priority, eta, expires, attempts, retries, acks_late,
          created_at;

-- name: claim_columns
-- (the arguments are read from job_args after the claim: claimed_args)
seq, id, task, queue, priority, eta, expires, attempts, retries, acks_late, created_at;

-- name: has_pending_one_queue
SELECT 1 FROM job WHERE state = 'pending' AND queue = ? LIMIT 1;

-- name: next_eta
SELECT min(eta) FROM job WHERE state = 'scheduled';

-- name: settle_success
-- The row keeps the pid of its last attempt (final_attempts); Job.pid shows a running
-- job's only (reads.row_to_job).
UPDATE job SET state = 'success', result = ?3, done_at = ?4, purge_at = ?5,
               custom_state = NULL
WHERE id = ?1 AND attempts = ?2 AND state = 'running';

-- name: settle_forget
DELETE FROM job WHERE id = ?1 AND attempts = ?2 AND state = 'running';

-- name: settle_finished
-- (a revoked row's pid marks a kill still to make: terminated_jobs)
UPDATE job SET state = ?3, error_type = ?4, error_message = ?5, error_args = ?6, traceback = ?7,
               done_at = ?8, purge_at = ?9, custom_state = NULL,
               pid = CASE WHEN ?3 = 'revoked' THEN NULL ELSE pid END
WHERE id = ?1 AND attempts = ?2 AND state = 'running';

-- name: settle_retry
UPDATE job SET state = CASE WHEN ?3 <= ?8 THEN 'pending' ELSE 'scheduled' END, eta = ?3,
               retries = ?4, error_type = ?5, error_message = ?6, error_args = NULL,
               traceback = ?7, custom_state = NULL, worker = NULL, pid = NULL
WHERE id = ?1 AND attempts = ?2 AND state = 'running';

-- name: settle_requeue
UPDATE job SET state = 'pending', custom_state = NULL, worker = NULL, pid = NULL,
               started_at = NULL, crashes = crashes + ?3
WHERE id = ?1 AND attempts = ?2 AND state = 'running';

-- name: set_custom_state
UPDATE job SET custom_state = ?3, meta = ?4
WHERE id = ?1 AND attempts = ?2 AND state = 'running';

-- name: job_columns
-- Every column of a job (job JOIN job_args), in the order reads.row_to_job takes them.
seq, id, task, queue, priority, state, eta, expires, attempts, retries, acks_late, payload,
options, result, error_type, error_message, error_args, traceback, custom_state, meta, worker,
pid, created_at, started_at, done_at, purge_at, crashes;

-- name: get_state
SELECT state, custom_state, retries FROM job WHERE id = ?;

-- name: revoke_waiting
UPDATE job SET state = 'revoked', done_at = ?2, purge_at = ?3, error_type = ?4,
               error_message = ?5, worker = NULL, pid = NULL
WHERE id = ?1 AND state IN ('scheduled', 'pending');

-- name: revoke_running
-- worker and pid stay set until that worker has killed the process (terminated_jobs).
UPDATE job SET state = 'revoked', done_at = ?2, purge_at = ?3, error_type = ?4,
               error_message = ?5
WHERE id = ?1 AND state = 'running';

-- name: terminated_jobs
SELECT id, pid FROM job WHERE state = 'revoked' AND worker = ? AND pid IS NOT NULL;

-- name: clear_terminated
UPDATE job SET worker = NULL, pid = NULL WHERE id = ?;

-- name: forget_job
DELETE FROM job WHERE id = ? AND state IN ('success', 'failure', 'revoked');

-- name: waiting_queues
SELECT DISTINCT queue FROM job WHERE state = 'pending'
UNION
SELECT DISTINCT queue FROM job WHERE state = 'scheduled';

-- name: counts
-- Each part read from an index: job_finished (its WHERE, written the same),
-- job_pending, job_scheduled, job_running.
SELECT queue, state, count(*) FROM job
WHERE state = 'success' OR state = 'failure' OR state = 'revoked' GROUP BY queue, state
UNION ALL
SELECT queue, 'pending', count(*) FROM job WHERE state = 'pending' GROUP BY queue
UNION ALL
SELECT queue, 'scheduled', count(*) FROM job WHERE state = 'scheduled' GROUP BY queue
UNION ALL
SELECT queue, 'running', count(*) FROM job WHERE state = 'running' GROUP BY queue;

-- name: upsert_worker
-- lease_until (?8) is on the lease clock of boot ?11 (lease.py)
INSERT INTO worker (id, host, pid, queues, concurrency, started_at, heartbeat_at, lease_until,
                    running, processed, boot)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
ON CONFLICT (id) DO UPDATE SET queues = ?4, concurrency = ?5, heartbeat_at = ?7,
                               lease_until = ?8, running = ?9, processed = ?10, boot = ?11;

-- name: delete_worker
DELETE FROM worker WHERE id = ?;

-- name: live_workers
SELECT id, host, pid, queues, concurrency, started_at, heartbeat_at, lease_until, running,
       processed
FROM worker WHERE lease_until >= ?1 AND boot IS ?2 ORDER BY started_at;

-- name: dead_worker_jobs
SELECT id, attempts, acks_late, crashes, task, options FROM job JOIN job_args USING (seq)
WHERE state = 'running'
  AND (worker IS NULL OR worker NOT IN (SELECT id FROM worker
                                       WHERE lease_until >= ?1 AND boot IS ?2));

-- name: delete_dead_workers
DELETE FROM worker WHERE lease_until < ?1 OR boot IS NOT ?2;

-- name: lost_child_jobs
SELECT id, attempts, acks_late, crashes, task, options FROM job JOIN job_args USING (seq)
WHERE state = 'running' AND worker = ? AND pid = ?;

-- name: worker_jobs
SELECT id, attempts, acks_late, crashes, task, options FROM job JOIN job_args USING (seq)
WHERE state = 'running' AND worker = ?;

-- name: retry_failed_one
UPDATE job SET state = 'pending', eta = ?2, retries = 0, error_type = NULL,
               error_message = NULL, error_args = NULL, traceback = NULL, result = NULL,
               done_at = NULL, purge_at = NULL, custom_state = NULL
WHERE id = ?1 AND state IN ('failure', 'revoked');

-- name: retry_failed_all
UPDATE job SET state = 'pending', eta = ?1, retries = 0, error_type = NULL,
               error_message = NULL, error_args = NULL, traceback = NULL, result = NULL,
               done_at = NULL, purge_at = NULL, custom_state = NULL
WHERE state = 'failure';

-- name: retry_failed_task
UPDATE job SET state = 'pending', eta = ?2, retries = 0, error_type = NULL,
               error_message = NULL, error_args = NULL, traceback = NULL, result = NULL,
               done_at = NULL, purge_at = NULL, custom_state = NULL
WHERE state = 'failure' AND task = ?1;

-- name: purge_waiting
DELETE FROM job WHERE state IN ('pending', 'scheduled');

-- name: purge_waiting_queue
DELETE FROM job WHERE state IN ('pending', 'scheduled') AND queue = ?;

-- name: prune
DELETE FROM job WHERE seq IN (SELECT seq FROM job WHERE purge_at <= ?1 LIMIT ?2);

-- The outbox: jobs written in a Django SQLite database's own transaction (outbox.py),
-- in that database, not the store; relayed into the store once committed.
-- name: outbox_create
CREATE TABLE IF NOT EXISTS litejobs_outbox (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    task       TEXT NOT NULL,
    queue      TEXT NOT NULL,
    priority   INTEGER NOT NULL,
    eta        REAL NOT NULL,
    expires    REAL,
    retries    INTEGER NOT NULL,
    acks_late  INTEGER NOT NULL,
    payload    BLOB NOT NULL,
    options    BLOB,
    created_at REAL NOT NULL
);

-- name: outbox_insert
-- A job id already there is left alone, as the store leaves a known id.
INSERT OR IGNORE INTO litejobs_outbox (id, task, queue, priority, eta, expires, retries,
                                       acks_late, payload, options, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: outbox_exists
SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'litejobs_outbox';

-- name: outbox_waiting
SELECT EXISTS (SELECT 1 FROM litejobs_outbox);

-- name: outbox_take
SELECT seq, id, task, queue, priority, eta, expires, retries, acks_late, payload, options,
       created_at
FROM litejobs_outbox ORDER BY seq LIMIT ?;

-- name: outbox_delete
DELETE FROM litejobs_outbox WHERE seq <= ?;
