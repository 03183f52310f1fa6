"""The Redis transport: the same verbs as SQLite, atomic through Lua scripts.

Keys live under one prefix (``conf.redis_key_prefix``, default ``litejobs``):

    P:job:<id>        hash: every field of the job
    P:q:<queue>       sorted set of pending ids; score orders by priority, eta, then id
    P:sched           sorted set of scheduled ids by eta
    P:run:<worker>    set of ids a worker holds (its lease is its heartbeat); P:holders
                      the workers with such a set
    P:workers         sorted set of worker ids by lease end; P:w:<id> their hashes
    P:all             sorted set of every id by enqueue order (listing, newest first)
    P:purge           sorted set of finished ids by result expiry
    P:counts          hash "queue\\0state" -> n
    P:paused, P:rate, P:group:<id>, P:beat:*, P:events (a capped stream)
    P:version, P:wake a change counter, and the channel idle workers listen on

Every multi-key change is one Lua script, so the guarantees are SQLite's: a job is
claimed by one worker, outcomes are fenced by the attempt number, a follow-up step is
stored with its outcome, a chord member is counted once and the last one's script
enqueues the body, and a beat slot fires once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import msgpack
import redis

from .. import serializer
from ..exceptions import StoreError
from ..job import ChordSpec, Job, JobState, Outcome
from .base import BeatEntryState, Event, Lost, Transport, WorkerInfo

EVENTS_KEPT = 100_000
_FIELDS = ("task", "queue", "priority", "state", "eta", "expires", "attempts", "retries",
           "acks_late", "payload", "options", "result", "error_type", "error_message",
           "error_args", "traceback", "custom_state", "meta", "worker", "pid", "created_at",
           "started_at", "done_at", "purge_at", "crashes", "seq")
_BYTES = {"payload", "options", "result", "error_args", "meta"}
_INTS = {"priority", "attempts", "retries", "pid", "crashes", "seq", "acks_late"}
_FLOATS = {"eta", "expires", "created_at", "started_at", "done_at", "purge_at"}

# Shared Lua: ARGV[1] is always the key prefix. Numbers go in and out as strings
# formatted with %.17g, so timestamps keep every digit.
_PRELUDE = r"""
local P = ARGV[1]
local function jk(id) return P .. ':job:' .. id end
local function num(x) return string.format('%.17g', x) end
local function bump(queue, state, n)
  redis.call('HINCRBY', P .. ':counts', queue .. '\0' .. state, n)
end
local function score(priority, eta, now)
  -- priority first (higher first), then eta in ms; ties fall back to the id's order
  return -tonumber(priority) * 1e13 + math.floor(tonumber(eta) * 1000 - 1.7e12)
end
local function touch()
  redis.call('PUBLISH', P .. ':wake', redis.call('INCR', P .. ':version'))
end
local function event(now, kind, id, task, queue, worker, runtime, detail)
  if redis.call('GET', P .. ':events_on') ~= '1' then return end
  redis.call('XADD', P .. ':events', 'MAXLEN', '~', ARGV[2], '*',
             'ts', num(now), 'kind', kind, 'job_id', id, 'task', task, 'queue', queue,
             'worker', worker or '', 'runtime', runtime and num(runtime) or '',
             'detail', detail or '')
  local stat = task .. '\0' .. kind
  redis.call('HINCRBY', P .. ':event_counts', stat, 1)
  if runtime then redis.call('HINCRBYFLOAT', P .. ':event_runtime', stat, runtime) end
end
local function insert(job, now)
  local key = jk(job.id)
  if redis.call('EXISTS', key) == 1 then return 0 end
  local seq = redis.call('INCR', P .. ':seq')
  local state = job.state or ((tonumber(job.eta) > now) and 'scheduled' or 'pending')
  redis.call('HSET', key, 'task', job.task, 'queue', job.queue, 'priority', job.priority,
             'state', state, 'eta', num(job.eta), 'attempts', 0, 'retries', job.retries or 0,
             'acks_late', job.acks_late and 1 or 0, 'payload', job.payload,
             'created_at', num(now), 'seq', seq, 'crashes', 0)
  if job.expires then redis.call('HSET', key, 'expires', num(job.expires)) end
  if job.options then redis.call('HSET', key, 'options', job.options) end
  redis.call('ZADD', P .. ':all', seq, job.id)
  bump(job.queue, state, 1)
  if state == 'pending' then
    redis.call('ZADD', P .. ':q:' .. job.queue, score(job.priority, job.eta), job.id)
  elseif state == 'scheduled' then
    redis.call('ZADD', P .. ':sched', num(job.eta), job.id)
  else  -- stored finished (a chain step that will never run)
    redis.call('HSET', key, 'error_type', job.error_type or '', 'error_message',
               job.error_message or '', 'done_at', num(now))
    if job.purge_at then
      redis.call('HSET', key, 'purge_at', num(job.purge_at))
      redis.call('ZADD', P .. ':purge', job.purge_at, job.id)
    end
  end
  return 1
end
local function array_header(n)
  if n < 16 then return string.char(0x90 + n) end
  if n < 65536 then return string.char(0xdc, math.floor(n / 256), n % 256) end
  return string.char(0xdd, math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
                     math.floor(n / 256) % 256, n % 256)
end
local function store_chord(c, now)
  local key = P .. ':chord:' .. c.id
  if redis.call('EXISTS', key) == 1 then return end
  redis.call('HSET', key, 'size', #c.members, 'done', 0, 'body', cmsgpack.pack(c.body))
  for _, m in ipairs(c.members) do redis.call('RPUSH', P .. ':chord_members:' .. c.id, m) end
end
local function chord_member_finished(chord_id, job_id, failed, now)
  local key = P .. ':chord:' .. chord_id
  if redis.call('SADD', P .. ':chord_done:' .. chord_id, job_id) == 0 then return end
  if failed then redis.call('HSETNX', key, 'failed_member', job_id) end
  local done = redis.call('HINCRBY', key, 'done', 1)
  if done < tonumber(redis.call('HGET', key, 'size')) then return end
  local body = cmsgpack.unpack(redis.call('HGET', key, 'body'))
  local failed_member = redis.call('HGET', key, 'failed_member')
  local members = redis.call('LRANGE', P .. ':chord_members:' .. chord_id, 0, -1)
  local job = {id = body.id, task = body.task, queue = body.queue, priority = body.priority,
               eta = math.max(body.eta, now), expires = body.expires,
               acks_late = body.acks_late, options = body.options, retries = 0}
  if failed_member then
    local etype, emsg = unpack(redis.call('HMGET', jk(failed_member), 'error_type',
                                          'error_message'))
    job.state = 'failure'
    job.payload = body.payload
    job.error_type = 'litejobs.exceptions.ChordError'
    job.error_message = 'Dependency ' .. failed_member .. ' raised ' ..
      (string.match(etype or 'error', '([^.]+)$') or 'error') .. ': ' .. (emsg or '')
    if body.result_expires then job.purge_at = now + body.result_expires end
  elseif body.immutable then
    job.payload = body.payload
  else
    local parts = {string.char(0x92), array_header(1 + body.n_args), array_header(#members)}
    for _, m in ipairs(members) do
      local result = redis.call('HGET', jk(m), 'result')
      table.insert(parts, result or string.char(0xc0))
    end
    table.insert(parts, body.args_raw)
    table.insert(parts, body.kwargs_raw)
    job.payload = table.concat(parts)
  end
  insert(job, now)
  redis.call('DEL', key, P .. ':chord_done:' .. chord_id, P .. ':chord_members:' .. chord_id)
end
local function leave_running(id, job_queue)
  local worker = redis.call('HGET', jk(id), 'worker')
  if worker and worker ~= '' then redis.call('SREM', P .. ':run:' .. worker, id) end
  redis.call('HDEL', jk(id), 'worker', 'pid', 'custom_state')
end
local function settle_one(o, now)
  local key = jk(o.id)
  local state, attempts, queue, task = unpack(redis.call('HMGET', key, 'state', 'attempts',
                                                         'queue', 'task'))
  if state ~= 'running' or tonumber(attempts) ~= tonumber(o.attempt) then return 0 end
  local new = o.state
  leave_running(o.id, queue)
  bump(queue, 'running', -1)
  local f = o.failure or {}
  if new == 'success' and o.forget then
    redis.call('DEL', key)
    redis.call('ZREM', P .. ':all', o.id)
  elseif new == 'success' or new == 'failure' or new == 'revoked' then
    redis.call('HSET', key, 'state', new, 'done_at', num(now))
    if o.result then redis.call('HSET', key, 'result', o.result) end
    if f.error_type then
      redis.call('HSET', key, 'error_type', f.error_type, 'error_message', f.message or '',
                 'traceback', f.traceback or '')
      if f.args then redis.call('HSET', key, 'error_args', f.args) end
    end
    if o.purge_at then
      redis.call('HSET', key, 'purge_at', num(o.purge_at))
      redis.call('ZADD', P .. ':purge', o.purge_at, o.id)
    end
    bump(queue, new, 1)
  elseif new == 'scheduled' then
    local eta = o.eta or now
    local target = (eta <= now) and 'pending' or 'scheduled'
    redis.call('HSET', key, 'state', target, 'eta', num(eta), 'retries', o.retries,
               'error_type', f.error_type or '', 'error_message', f.message or '',
               'traceback', f.traceback or '')
    if target == 'pending' then
      local priority = redis.call('HGET', key, 'priority')
      redis.call('ZADD', P .. ':q:' .. queue, score(priority, eta), o.id)
    else
      redis.call('ZADD', P .. ':sched', eta, o.id)
    end
    bump(queue, target, 1)
  elseif new == 'pending' then
    local priority, eta = unpack(redis.call('HMGET', key, 'priority', 'eta'))
    redis.call('HSET', key, 'state', 'pending')
    if o.crashed then redis.call('HINCRBY', key, 'crashes', 1) end
    redis.call('ZADD', P .. ':q:' .. queue, score(priority, eta), o.id)
    bump(queue, 'pending', 1)
  end
  local kinds = {success = 'task-succeeded', failure = 'task-failed', revoked = 'task-revoked',
                 scheduled = 'task-retried', pending = 'task-requeued'}
  if o.task then event(now, kinds[new], o.id, o.task, o.queue, nil, o.runtime, f.error_type) end
  for _, follow in ipairs(o.follow_ups or {}) do insert(follow, now) end
  for _, c in ipairs(o.chords or {}) do store_chord(c, now) end
  if o.chord_id and (new == 'success' or new == 'failure' or new == 'revoked') then
    chord_member_finished(o.chord_id, o.id, new ~= 'success', now)
  end
  return 1
end
local function promote(now)
  local due = redis.call('ZRANGEBYSCORE', P .. ':sched', '-inf', now)
  for _, id in ipairs(due) do
    local queue, priority, eta = unpack(redis.call('HMGET', jk(id), 'queue', 'priority', 'eta'))
    redis.call('ZREM', P .. ':sched', id)
    if queue then
      redis.call('HSET', jk(id), 'state', 'pending')
      redis.call('ZADD', P .. ':q:' .. queue, score(priority, eta), id)
      bump(queue, 'scheduled', -1)
      bump(queue, 'pending', 1)
    end
  end
end
"""

# ARGV: prefix, events_kept, now, packed queues: is anything claimable now?
_HAS_WORK = _PRELUDE + r"""
local now = tonumber(ARGV[3])
for _, queue in ipairs(cmsgpack.unpack(ARGV[4])) do
  if redis.call('SISMEMBER', P .. ':paused', queue) == 0
     and redis.call('ZCARD', P .. ':q:' .. queue) > 0 then return 1 end
end
if #redis.call('ZRANGEBYSCORE', P .. ':sched', '-inf', now, 'LIMIT', 0, 1) > 0 then return 1 end
return 0
"""

# ARGV: prefix, events_kept, now, packed jobs, packed chords or ''
_ENQUEUE = _PRELUDE + r"""
local now = tonumber(ARGV[3])
local n = 0
for _, job in ipairs(cmsgpack.unpack(ARGV[4])) do n = n + insert(job, now) end
if ARGV[5] and ARGV[5] ~= '' then
  for _, c in ipairs(cmsgpack.unpack(ARGV[5])) do store_chord(c, now) end
end
if n > 0 then touch() end
return n
"""

# ARGV: prefix, events_kept, now, packed outcomes
_SETTLE = _PRELUDE + r"""
local now = tonumber(ARGV[3])
local stale = {}
for _, o in ipairs(cmsgpack.unpack(ARGV[4])) do
  if settle_one(o, now) == 0 then table.insert(stale, o.id) end
end
touch()
return stale
"""

# ARGV: prefix, events_kept, now, packed {queues, worker, pid, limit, settle, rates, limits}
_CLAIM = _PRELUDE + r"""
local now = tonumber(ARGV[3])
local req = cmsgpack.unpack(ARGV[4])
local changed = false
for _, o in ipairs(req.settle or {}) do settle_one(o, now); changed = true end
promote(now)
local candidates = {}
for _, queue in ipairs(req.queues) do
  if redis.call('SISMEMBER', P .. ':paused', queue) == 0 then
    local room = req.limit
    if req.limits and req.limits[queue] then
      local running = tonumber(redis.call('HGET', P .. ':counts', queue .. '\0running') or 0)
      room = math.min(room, req.limits[queue] - running)
    end
    if room > 0 then
      local ids = redis.call('ZRANGE', P .. ':q:' .. queue, 0, room - 1, 'WITHSCORES')
      for i = 1, #ids, 2 do
        table.insert(candidates, {id = ids[i], score = tonumber(ids[i + 1]), queue = queue})
      end
    end
  end
end
table.sort(candidates, function(a, b)
  if a.score == b.score then return a.id < b.id end
  return a.score < b.score
end)
local out = {}
local turns = {}
for _, c in ipairs(candidates) do
  if #out >= req.limit then break end
  local key = jk(c.id)
  local task = redis.call('HGET', key, 'task')
  local rate = req.rates and req.rates[task]
  local allowed = true
  if rate then
    local turn = turns[task] or tonumber(redis.call('HGET', P .. ':rate', task) or now)
    if turn <= now then
      turns[task] = math.max(turn, now) + 1.02 / rate
    else
      turns[task] = turn
      allowed = false
      redis.call('ZREM', P .. ':q:' .. c.queue, c.id)
      redis.call('HSET', key, 'state', 'scheduled', 'eta', num(turn))
      redis.call('ZADD', P .. ':sched', turn, c.id)
      bump(c.queue, 'pending', -1)
      bump(c.queue, 'scheduled', 1)
    end
  end
  if allowed then
    redis.call('ZREM', P .. ':q:' .. c.queue, c.id)
    local attempts = redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('HSET', key, 'state', 'running', 'worker', req.worker, 'pid', req.pid,
               'started_at', num(now))
    redis.call('SADD', P .. ':run:' .. req.worker, c.id)
    redis.call('SADD', P .. ':holders', req.worker)
    bump(c.queue, 'pending', -1)
    bump(c.queue, 'running', 1)
    event(now, 'task-started', c.id, task, c.queue, req.worker, nil, nil)
    table.insert(out, redis.call('HGETALL', key))
    table.insert(out[#out], 'id')
    table.insert(out[#out], c.id)
    changed = true
  end
end
for task, turn in pairs(turns) do redis.call('HSET', P .. ':rate', task, num(turn)) end
if changed then touch() end
return out
"""

# ARGV: prefix, events_kept, now, id, purge_at or '', terminate ('1'/'0'), message
_REVOKE = _PRELUDE + r"""
local now = tonumber(ARGV[3])
local id = ARGV[4]
local key = jk(id)
local state, queue = unpack(redis.call('HMGET', key, 'state', 'queue'))
if not state then return 'unknown' end
local function finish()
  redis.call('HSET', key, 'state', 'revoked', 'done_at', num(now),
             'error_type', 'litejobs.exceptions.TaskRevokedError', 'error_message', ARGV[7])
  if ARGV[5] ~= '' then
    redis.call('HSET', key, 'purge_at', ARGV[5])
    redis.call('ZADD', P .. ':purge', ARGV[5], id)
  end
  bump(queue, 'revoked', 1)
  touch()
end
if state == 'pending' or state == 'scheduled' then
  redis.call('ZREM', P .. ':q:' .. queue, id)
  redis.call('ZREM', P .. ':sched', id)
  bump(queue, state, -1)
  finish()
  return 'revoked'
end
if state == 'running' then
  if ARGV[6] ~= '1' then return 'running' end
  local worker, pid = unpack(redis.call('HMGET', key, 'worker', 'pid'))
  redis.call('SREM', P .. ':run:' .. worker, id)
  redis.call('HSET', P .. ':terminate', id, worker .. '|' .. pid)
  bump(queue, 'running', -1)
  finish()
  return 'terminating'
end
return 'finished'
"""

# ARGV: prefix, events_kept, now, id or '', task or ''
_RETRY_FAILED = _PRELUDE + r"""
local now = tonumber(ARGV[3])
local ids = {}
if ARGV[4] ~= '' then
  ids = {ARGV[4]}
else
  -- every failed job (optionally of one task), found through the listing index
  for _, id in ipairs(redis.call('ZRANGE', P .. ':all', 0, -1)) do
    local state, task = unpack(redis.call('HMGET', jk(id), 'state', 'task'))
    if state == 'failure' and (ARGV[5] == '' or task == ARGV[5]) then table.insert(ids, id) end
  end
end
local n = 0
for _, id in ipairs(ids) do
  local key = jk(id)
  local state, queue, priority = unpack(redis.call('HMGET', key, 'state', 'queue', 'priority'))
  if state == 'failure' or (state == 'revoked' and ARGV[4] ~= '') then
    redis.call('HDEL', key, 'error_type', 'error_message', 'error_args', 'traceback', 'result',
               'done_at', 'purge_at', 'custom_state')
    redis.call('HSET', key, 'state', 'pending', 'eta', num(now), 'retries', 0)
    redis.call('ZREM', P .. ':purge', id)
    redis.call('ZADD', P .. ':q:' .. queue, score(priority, now), id)
    bump(queue, state, -1)
    bump(queue, 'pending', 1)
    n = n + 1
  end
end
if n > 0 then touch() end
return n
"""

# ARGV: prefix, events_kept, now, queue or '', packed list of states or ''
_PURGE = _PRELUDE + r"""
local wanted = {}
if ARGV[5] == '' then
  wanted = {pending = true, scheduled = true}
else
  for _, s in ipairs(cmsgpack.unpack(ARGV[5])) do wanted[s] = true end
end
local n = 0
for _, id in ipairs(redis.call('ZRANGE', P .. ':all', 0, -1)) do
  local key = jk(id)
  local state, queue = unpack(redis.call('HMGET', key, 'state', 'queue'))
  if state and wanted[state] and (ARGV[4] == '' or queue == ARGV[4]) then
    redis.call('ZREM', P .. ':q:' .. queue, id)
    redis.call('ZREM', P .. ':sched', id)
    redis.call('ZREM', P .. ':purge', id)
    redis.call('ZREM', P .. ':all', id)
    redis.call('DEL', key)
    bump(queue, state, -1)
    n = n + 1
  end
end
if n > 0 then touch() end
return n
"""

# ARGV: prefix, events_kept, now, limit
_PRUNE = _PRELUDE + r"""
local n = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. ':purge', '-inf', ARGV[3],
                               'LIMIT', 0, tonumber(ARGV[4]))) do
  local key = jk(id)
  local state, queue = unpack(redis.call('HMGET', key, 'state', 'queue'))
  redis.call('ZREM', P .. ':purge', id)
  if state == 'success' or state == 'failure' or state == 'revoked' then
    redis.call('ZREM', P .. ':all', id)
    redis.call('DEL', key)
    bump(queue, state, -1)
    n = n + 1
  end
end
return n
"""

# ARGV: prefix, events_kept, now, id, attempt, custom state, packed meta
_CUSTOM_STATE = _PRELUDE + r"""
local key = jk(ARGV[4])
local state, attempts = unpack(redis.call('HMGET', key, 'state', 'attempts'))
if state ~= 'running' or attempts ~= ARGV[5] then return 0 end
redis.call('HSET', key, 'custom_state', ARGV[6], 'meta', ARGV[7])
touch()
return 1
"""

# ARGV: prefix, events_kept, now, id
_FORGET = _PRELUDE + r"""
local key = jk(ARGV[4])
local state, queue = unpack(redis.call('HMGET', key, 'state', 'queue'))
if state ~= 'success' and state ~= 'failure' and state ~= 'revoked' then return 0 end
redis.call('DEL', key)
redis.call('ZREM', P .. ':all', ARGV[4])
redis.call('ZREM', P .. ':purge', ARGV[4])
bump(queue, state, -1)
return 1
"""

# ARGV: prefix, events_kept, now, holder, lease_until
_BEAT_LEAD = _PRELUDE + r"""
local key = P .. ':beat:lock'
local holder = redis.call('HGET', key, 'holder')
local until_ = tonumber(redis.call('HGET', key, 'until') or 0)
if holder and holder ~= ARGV[4] and until_ >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', key, 'holder', ARGV[4], 'until', ARGV[5])
return 1
"""

# ARGV: prefix, events_kept, now, name, slot, next_run, packed job or ''
_BEAT_FIRE = _PRELUDE + r"""
local now = tonumber(ARGV[3])
local key = P .. ':beat:entry:' .. ARGV[4]
local last = redis.call('HGET', key, 'last_run')
if last and last ~= '' and tonumber(last) >= tonumber(ARGV[5]) then return 0 end
redis.call('HSET', key, 'last_run', ARGV[5], 'next_run', ARGV[6])
if ARGV[7] ~= '' then
  insert(cmsgpack.unpack(ARGV[7]), now)
  touch()
end
return 1
"""


def _job_dict(job: Job) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.id, "task": job.task, "queue": job.queue, "priority": job.priority,
        "eta": job.eta, "retries": job.retries, "acks_late": job.acks_late,
        "payload": job.payload,
    }
    if job.expires is not None:
        data["expires"] = job.expires
    if job.options:
        data["options"] = serializer.dumps(job.options, "job options")
    if job.state.finished:
        data.update(state=job.state.value, error_type=job.error_type,
                    error_message=job.error_message, purge_at=job.purge_at)
    return data


def _chord_dict(chord: ChordSpec) -> dict[str, Any]:
    """A chord for the Lua join: the body's own arguments as packed pieces, so that the
    script can put the header's results (raw msgpack) in front without decoding them."""
    body = chord.body
    args, kwargs = serializer.loads_call(body.payload)
    spec: dict[str, Any] = {
        "id": body.id, "task": body.task, "queue": body.queue, "priority": body.priority,
        "eta": body.eta, "acks_late": body.acks_late, "payload": body.payload,
        "args_raw": b"".join(serializer.dumps(a) for a in args), "n_args": len(args),
        "kwargs_raw": serializer.dumps(kwargs),
        "immutable": bool(body.options.get("_immutable")),
    }
    if body.expires is not None:
        spec["expires"] = body.expires
    if body.options:
        spec["options"] = serializer.dumps(body.options, "job options")
    if chord.result_expires:
        spec["result_expires"] = chord.result_expires
    return {"id": chord.id, "members": list(chord.member_ids), "body": spec}


def _outcome_dict(o: Outcome) -> dict[str, Any]:
    data: dict[str, Any] = {"id": o.job_id, "attempt": o.attempt, "state": o.state.value}
    if o.chords:
        data["chords"] = [_chord_dict(c) for c in o.chords]
    if o.chord_id:
        data["chord_id"] = o.chord_id
    for name in ("result", "eta", "retries", "purge_at", "runtime"):
        value = getattr(o, name)
        if value is not None:
            data[name] = value
    if o.forget:
        data["forget"] = True
    if o.crashed:
        data["crashed"] = True
    if o.task:
        data["task"], data["queue"] = o.task, o.queue
    if o.failure is not None:
        failure = {"error_type": o.failure.error_type, "message": o.failure.message,
                   "traceback": o.failure.traceback or ""}
        if o.failure.args is not None:
            failure["args"] = o.failure.args
        data["failure"] = failure
    if o.follow_ups:
        data["follow_ups"] = [_job_dict(j) for j in o.follow_ups]
    return data


def _decode_options(blob: bytes | None) -> dict[str, Any]:
    if not blob:
        return {}
    try:
        return serializer.loads(blob)
    except Exception as exc:  # a damaged options blob fails the job, clearly, when run
        return {"_corrupt": str(exc)}


def _job_from_hash(job_id: str, raw: dict[bytes, bytes]) -> Job:
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.decode()
        if name not in _FIELDS or name == "seq":
            continue
        if name in _BYTES:
            fields[name] = value or None
        elif name in _INTS:
            fields[name] = int(value) if value not in (b"", None) else None
        elif name in _FLOATS:
            fields[name] = float(value) if value not in (b"", None) else None
        else:
            fields[name] = value.decode() if value else None
    fields["state"] = JobState(fields["state"])
    fields["acks_late"] = bool(fields.get("acks_late"))
    fields["options"] = _decode_options(fields.get("options"))
    fields.setdefault("payload", b"")
    for name in ("attempts", "retries", "crashes"):
        fields[name] = fields.get(name) or 0
    fields.setdefault("eta", 0.0)
    fields.setdefault("created_at", 0.0)
    job = Job(id=job_id, **fields)
    job._seq = int(raw.get(b"seq", 0))  # type: ignore[attr-defined]
    return job


def _mapped_errors(cls: type) -> type:
    """Wrap every public verb so that Redis' errors reach callers as StoreError."""
    import functools

    def wrap(method: Any) -> Any:
        @functools.wraps(method)
        def verb(self: RedisTransport, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except redis.RedisError as exc:
                raise StoreError(f"Redis at {_safe(self.url)}: {exc}") from None

        return verb

    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_") and name != "close":
            setattr(cls, name, wrap(value))
    return cls


@_mapped_errors
class RedisTransport(Transport):
    """Jobs, results and heartbeats in Redis, for workers on many machines."""

    def __init__(self, url: str, prefix: str = "litejobs", events: bool = True,
                 **_options: Any) -> None:
        self.url = url
        self.prefix = prefix
        self.events = events
        try:
            self.r = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30,
                                          health_check_interval=30, retry_on_timeout=True)
            self.r.ping()
        except redis.RedisError as exc:
            raise StoreError(f"cannot reach Redis at {_safe(url)}: {exc}") from None
        self.r.set(f"{prefix}:events_on", "1" if events else "0")
        self._scripts = {name: self.r.register_script(code) for name, code in (
            ("enqueue", _ENQUEUE), ("settle", _SETTLE), ("claim", _CLAIM),
            ("revoke", _REVOKE), ("retry_failed", _RETRY_FAILED), ("purge", _PURGE),
            ("prune", _PRUNE), ("custom_state", _CUSTOM_STATE), ("forget", _FORGET),
            ("beat_lead", _BEAT_LEAD), ("beat_fire", _BEAT_FIRE), ("has_work", _HAS_WORK))}
        self._lock = threading.Lock()
        self._pubsub: Any = None
        self._pubsub_pid = 0

    def __repr__(self) -> str:
        return f"<RedisTransport {_safe(self.url)}>"

    def _run(self, name: str, *args: Any) -> Any:
        return self._scripts[name](args=[self.prefix, EVENTS_KEPT, *args])

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def close(self) -> None:
        if self._pubsub is not None and self._pubsub_pid == os.getpid():
            self._pubsub.close()
        self._pubsub = None
        self.r.close()

    # -- producing -------------------------------------------------------------
    def enqueue(self, jobs: Sequence[Job], now: float, chords: Sequence[ChordSpec] = ()) -> int:
        packed = msgpack.packb([_job_dict(j) for j in jobs], use_bin_type=False)
        packed_chords = msgpack.packb([_chord_dict(c) for c in chords],
                                      use_bin_type=False) if chords else ""
        return int(self._run("enqueue", now, packed, packed_chords))

    def save_group(self, group_id: str, member_ids: Sequence[str], now: float) -> None:
        self.r.set(self._key("group", group_id), serializer.dumps(list(member_ids)))

    def restore_group(self, group_id: str) -> list[str] | None:
        blob = self.r.get(self._key("group", group_id))
        return serializer.loads(blob) if blob else None

    def delete_group(self, group_id: str) -> None:
        self.r.delete(self._key("group", group_id))

    # -- consuming ---------------------------------------------------------------
    def claim(self, queues: Sequence[str], worker: str, pid: int, limit: int, now: float,
              settle: Sequence[Outcome] = (), rate_limits: dict[str, float] | None = None,
              queue_limits: dict[str, int] | None = None) -> list[Job]:
        request = {"queues": list(queues), "worker": worker, "pid": pid, "limit": limit,
                   "settle": [_outcome_dict(o) for o in settle]}
        if rate_limits:
            request["rates"] = rate_limits
        if queue_limits:
            request["limits"] = queue_limits
        rows = self._run("claim", now, msgpack.packb(request, use_bin_type=False))
        jobs = []
        for flat in rows:
            raw = dict(zip(flat[0::2], flat[1::2], strict=True))
            job_id = raw.pop(b"id").decode()
            jobs.append(_job_from_hash(job_id, raw))
        jobs.sort(key=lambda j: (-j.priority, j.eta, j.id))
        return jobs

    def settle(self, outcomes: Sequence[Outcome], now: float) -> list[str]:
        packed = msgpack.packb([_outcome_dict(o) for o in outcomes], use_bin_type=False)
        return [s.decode() for s in self._run("settle", now, packed)]

    def set_custom_state(self, job_id: str, attempt: int, state: str, meta: bytes | None) -> bool:
        return bool(self._run("custom_state", time.time(), job_id, attempt, state, meta or b""))

    def has_work(self, queues: Sequence[str], now: float) -> bool:
        return bool(self._run("has_work", now, msgpack.packb(list(queues),
                                                             use_bin_type=False)))

    def next_eta(self) -> float | None:
        first = self.r.zrange(self._key("sched"), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def wait_for_change(self, timeout: float) -> bool:
        """Every change publishes on P:wake; messages wait in our socket until read."""
        if self._pubsub is None or self._pubsub_pid != os.getpid():
            self._pubsub = self.r.pubsub(ignore_subscribe_messages=True)
            self._pubsub.subscribe(self._key("wake"))
            self._pubsub_pid = os.getpid()
            return True  # anything before the subscription may have been missed
        try:
            if self._drain_wakeups():
                return True
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._pubsub.get_message(timeout=remaining) is not None:
                    self._drain_wakeups()
                    return True
        except redis.ConnectionError:
            # Redis restarted, or dropped a subscriber that read too slowly: subscribe
            # again on the next call, and let the caller look at the store meanwhile.
            self._pubsub = None
            return True

    def _drain_wakeups(self) -> bool:
        seen = False
        while self._pubsub.get_message(timeout=0) is not None:
            seen = True
        return seen

    # -- reading -------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        raw = self.r.hgetall(self._key("job", job_id))
        return _job_from_hash(job_id, raw) if raw else None

    def get_state(self, job_id: str) -> tuple[JobState, str | None, int] | None:
        state, custom, retries = self.r.hmget(self._key("job", job_id),
                                              "state", "custom_state", "retries")
        if state is None:
            return None
        return JobState(state.decode()), custom.decode() if custom else None, int(retries or 0)

    def waiting_queues(self) -> list[str]:
        out = set()
        for key, value in self.r.hgetall(self._key("counts")).items():
            queue, _, state = key.decode().partition("\0")
            if state in ("pending", "scheduled") and int(value) > 0:
                out.add(queue)
        return sorted(out)

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for key, value in self.r.hgetall(self._key("counts")).items():
            queue, _, state = key.decode().partition("\0")
            if int(value) > 0:
                out.setdefault(queue, {})[state] = int(value)
        return out

    def list_jobs(self, state: JobState | None = None, queue: str | None = None,
                  task: str | None = None, limit: int = 100, offset: int = 0) -> list[Job]:
        out: list[Job] = []
        skipped = 0
        start = 0
        while len(out) < limit:
            ids = self.r.zrevrange(self._key("all"), start, start + 499)
            if not ids:
                break
            start += len(ids)
            for raw_id in ids:
                job = self.get(raw_id.decode())
                if job is None or (state and job.state is not state) or (
                        queue and job.queue != queue) or (task and job.task != task):
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                out.append(job)
                if len(out) >= limit:
                    break
        return out

    # -- acting on jobs --------------------------------------------------------------
    def revoke(self, job_id: str, now: float, purge_at: float | None,
               terminate: bool = False) -> str:
        answer = self._run("revoke", now, job_id, "" if purge_at is None else purge_at,
                           "1" if terminate else "0",
                           f"job {job_id} was revoked" + (" and terminated" if terminate
                                                          else ""))
        return answer.decode() if isinstance(answer, bytes) else str(answer)

    def terminated_jobs(self, worker: str) -> list[tuple[str, int]]:
        out = []
        for job_id, holder in self.r.hgetall(self._key("terminate")).items():
            who, _, pid = holder.decode().rpartition("|")
            if who == worker:
                out.append((job_id.decode(), int(pid)))
        return out

    def clear_terminated(self, job_id: str) -> None:
        self.r.hdel(self._key("terminate"), job_id)

    def forget(self, job_id: str) -> bool:
        return bool(self._run("forget", time.time(), job_id))

    def retry_failed(self, job_id: str | None = None, task: str | None = None,
                     now: float = 0.0) -> int:
        return int(self._run("retry_failed", now, job_id or "", task or ""))

    def purge(self, queue: str | None = None, states: Sequence[JobState] | None = None) -> int:
        if states is not None and not {s.value for s in states} <= {
                "success", "failure", "revoked"}:
            raise ValueError("only finished jobs can be purged by state")
        packed = "" if states is None else msgpack.packb([s.value for s in states],
                                                         use_bin_type=False)
        return int(self._run("purge", time.time(), queue or "", packed))

    # -- queues ------------------------------------------------------------------------
    def set_paused(self, queue: str, paused: bool) -> None:
        if paused:
            self.r.sadd(self._key("paused"), queue)
        else:
            self.r.srem(self._key("paused"), queue)
        self.r.publish(self._key("wake"), self.r.incr(self._key("version")))

    def paused_queues(self) -> list[str]:
        return sorted(p.decode() for p in self.r.smembers(self._key("paused")))

    # -- workers and maintenance ---------------------------------------------------------
    def heartbeat(self, worker: WorkerInfo, now: float, lease: float) -> None:
        pipe = self.r.pipeline()
        pipe.hset(self._key("w", worker.id), mapping={
            "host": worker.host, "pid": worker.pid, "queues": ",".join(worker.queues),
            "concurrency": worker.concurrency, "started_at": repr(worker.started_at),
            "heartbeat_at": repr(now), "running": worker.running,
            "processed": worker.processed})
        pipe.zadd(self._key("workers"), {worker.id: now + lease})
        pipe.execute()

    def unregister_worker(self, worker_id: str) -> None:
        self.r.zrem(self._key("workers"), worker_id)
        self.r.delete(self._key("w", worker_id))

    def workers(self, now: float) -> list[WorkerInfo]:
        out = []
        for raw_id, until in self.r.zrangebyscore(self._key("workers"), now, "+inf",
                                                  withscores=True):
            wid = raw_id.decode()
            h = {k.decode(): v.decode() for k, v in self.r.hgetall(self._key("w", wid)).items()}
            if not h:
                continue
            out.append(WorkerInfo(
                id=wid, host=h["host"], pid=int(h["pid"]), queues=h["queues"].split(","),
                concurrency=int(h["concurrency"]), started_at=float(h["started_at"]),
                heartbeat_at=float(h["heartbeat_at"]), lease_until=until,
                running=int(h["running"]), processed=int(h["processed"])))
        return sorted(out, key=lambda w: w.started_at)

    def lost_jobs(self, now: float, worker: str | None = None,
                  pid: int | None = None) -> list[Lost]:
        if worker is not None:
            holders = [worker]
        else:
            # every worker that ever held a job is in P:holders until its set empties
            live = {w.decode() for w in self.r.zrangebyscore(self._key("workers"), now, "+inf")}
            holders = [h.decode() for h in self.r.smembers(self._key("holders"))]
            holders = [h for h in holders if h not in live]
        out = []
        for holder in holders:
            held = self.r.smembers(self._key("run", holder))
            if not held and worker is None:
                self.r.srem(self._key("holders"), holder)
            for raw_id in held:
                job = self.get(raw_id.decode())
                if job is None or job.state is not JobState.RUNNING:
                    continue
                if pid is not None and job.pid != pid:
                    continue
                out.append(Lost(job.id, job.attempts, job.acks_late, job.crashes, job.task,
                                job.options.get("max_retries", -1)))
        return out

    def forget_dead_workers(self, now: float) -> int:
        dead = self.r.zrangebyscore(self._key("workers"), "-inf", now)
        for raw_id in dead:
            self.unregister_worker(raw_id.decode())
        return len(dead)

    def prune(self, now: float, limit: int = 500) -> int:
        return int(self._run("prune", now, limit))

    # -- events --------------------------------------------------------------------------
    def events_since(self, seq: int, limit: int = 1000) -> list[Event]:
        start = f"({seq // 1000}-{seq % 1000}" if seq else "-"
        out = []
        for stream_id, fields in self.r.xrange(self._key("events"), start, "+", count=limit):
            ms, _, n = stream_id.decode().partition("-")
            f = {k.decode(): v.decode() for k, v in fields.items()}
            out.append(Event(seq=int(ms) * 1000 + int(n), ts=float(f["ts"]), kind=f["kind"],
                             job_id=f["job_id"], task=f["task"], queue=f["queue"],
                             worker=f["worker"] or None,
                             runtime=float(f["runtime"]) if f["runtime"] else None,
                             detail=f["detail"] or None))
        return out

    def last_event_seq(self) -> int:
        last = self.r.xrevrange(self._key("events"), count=1)
        if not last:
            return 0
        ms, _, n = last[0][0].decode().partition("-")
        return int(ms) * 1000 + int(n)

    def event_stats(self) -> dict[tuple[str, str], tuple[int, float]]:
        counts = self.r.hgetall(self._key("event_counts"))
        runtimes = self.r.hgetall(self._key("event_runtime"))
        out = {}
        for key, value in counts.items():
            task, _, kind = key.decode().partition("\0")
            out[(task, kind)] = (int(value), float(runtimes.get(key, 0.0)))
        return out

    def throughput(self, since: float, bucket: float) -> list[tuple[float, int]]:
        per: dict[float, int] = {}
        for event in self.events_since(int(since * 1000) * 1000, limit=EVENTS_KEPT):
            if event.kind in ("task-succeeded", "task-failed"):
                b = (event.ts // bucket) * bucket
                per[b] = per.get(b, 0) + 1
        return sorted(per.items())

    # -- periodic tasks ------------------------------------------------------------------
    def beat_lead(self, holder: str, now: float, lease: float) -> bool:
        return bool(self._run("beat_lead", now, holder, now + lease))

    def beat_resign(self, holder: str) -> None:
        key = self._key("beat", "lock")
        if self.r.hget(key, "holder") == holder.encode():
            self.r.delete(key)

    def beat_leader(self, now: float) -> str | None:
        holder, until = self.r.hmget(self._key("beat", "lock"), "holder", "until")
        return holder.decode() if holder and float(until or 0) >= now else None

    def beat_entries(self) -> list[BeatEntryState]:
        out = []
        for name in sorted(n.decode() for n in self.r.smembers(self._key("beat", "names"))):
            h = {k.decode(): v.decode()
                 for k, v in self.r.hgetall(self._key("beat", "entry", name)).items()}
            out.append(BeatEntryState(name, h.get("task", ""), h.get("schedule", ""),
                                      float(h["last_run"]) if h.get("last_run") else None,
                                      float(h["next_run"]) if h.get("next_run") else None))
        return out

    def beat_sync(self, entries: Sequence[tuple[str, str, str]]) -> None:
        names = {name for name, _task, _schedule in entries}
        for old in self.r.smembers(self._key("beat", "names")):
            if old.decode() not in names:
                self.r.srem(self._key("beat", "names"), old)
                self.r.delete(self._key("beat", "entry", old.decode()))
        for name, task, schedule in entries:
            self.r.sadd(self._key("beat", "names"), name)
            self.r.hset(self._key("beat", "entry", name),
                        mapping={"task": task, "schedule": schedule})

    def beat_fire(self, name: str, slot: float, job: Job | None, next_run: float,
                  now: float) -> bool:
        packed = msgpack.packb(_job_dict(job), use_bin_type=False) if job is not None else ""
        return bool(self._run("beat_fire", now, name, repr(slot), repr(next_run), packed))

    def beat_set_next(self, name: str, next_run: float) -> None:
        self.r.hset(self._key("beat", "entry", name), "next_run", repr(next_run))


def _safe(url: str) -> str:
    from . import safe_url

    return safe_url(url)
