-- Every Lua script of the Redis transport, by name; `-- name: X` starts one (scripts.py).
-- Each runs with prelude.lua in front. ARGV[1] is always the key prefix, ARGV[2] how
-- many events to keep, ARGV[3] the time now.

-- name: has_work
-- ARGV: prefix, events_kept, now, packed queues: is anything claimable now?
local now = tonumber(ARGV[3])
for _, queue in ipairs(cmsgpack.unpack(ARGV[4])) do
  if redis.call('SISMEMBER', P .. ':paused', queue) == 0
     and redis.call('ZCARD', P .. ':q:' .. queue) > 0 then return 1 end
end
if #redis.call('ZRANGEBYSCORE', P .. ':sched', '-inf', now, 'LIMIT', 0, 1) > 0 then return 1 end
return 0

-- name: enqueue
-- ARGV: prefix, events_kept, now, packed jobs, packed chords or ''
local now = tonumber(ARGV[3])
local n = 0
begin_batch()
for _, job in ipairs(cmsgpack.unpack(ARGV[4])) do n = n + insert(job, now) end
end_batch()
if ARGV[5] and ARGV[5] ~= '' then
  for _, c in ipairs(cmsgpack.unpack(ARGV[5])) do store_chord(c, now) end
end
if n > 0 then touch() end
return n

-- name: enqueue_unique
-- ARGV: prefix, events_kept, now, key, unique_for, packed job. The key names the job
-- holding it; whether that job still holds it (waiting, running, or a success younger
-- than unique_for) is read from its hash. A job keeps its key in its 'unique' field, so
-- whatever deletes the job deletes the key (drop_unique).
local now = tonumber(ARGV[3])
local ukey = P .. ':unique:' .. ARGV[4]
local holder = redis.call('GET', ukey)
if holder then
  local state, done_at = unpack(redis.call('HMGET', jk(holder), 'state', 'done_at'))
  if state == 'scheduled' or state == 'pending' or state == 'running'
     or (state == 'success' and tonumber(done_at) > now - tonumber(ARGV[5])) then
    return holder
  end
end
local job = cmsgpack.unpack(ARGV[6])
if insert(job, now) == 1 then
  redis.call('SET', ukey, job.id)
  redis.call('HSET', jk(job.id), 'unique', ARGV[4])
  touch()
end
return job.id

-- name: settle
-- ARGV: prefix, events_kept, now, packed outcomes -> {stale ids, version}
local now = tonumber(ARGV[3])
local stale = {}
begin_batch()
for _, o in ipairs(cmsgpack.unpack(ARGV[4])) do
  if settle_one(o, now) == 0 then table.insert(stale, o.id) end
end
end_batch()
return {stale, touch()}

-- name: claim
-- ARGV: prefix, events_kept, now, packed {queues, worker, pid, limit, settle, rates, limits}
-- -> {stale ids, claimed jobs' fields, version (0: nothing changed)}; when it may claim
-- more than INLINE jobs, the claimed jobs' ids instead of their fields (the caller
-- reads them with plain HGETALLs: a hash turned into a Lua table and back costs the
-- server about four times what a plain HGETALL costs)
local now = tonumber(ARGV[3])
local req = cmsgpack.unpack(ARGV[4])
local changed = false
local stale = {}
begin_batch()
for _, o in ipairs(req.settle or {}) do
  if settle_one(o, now) == 0 then table.insert(stale, o.id) end
  changed = true
end
promote(now)
local candidates = {}
for qi, queue in ipairs(req.queues) do
  if redis.call('SISMEMBER', P .. ':paused', queue) == 0 then
    local room = req.limit
    if req.limits and req.limits[queue] then
      room = math.min(room, req.limits[queue] - count(queue, 'running'))
    end
    if room > 0 then
      local ids = redis.call('ZRANGE', P .. ':q:' .. queue, 0, room - 1, 'WITHSCORES')
      for i = 1, #ids, 2 do
        table.insert(candidates, {id = ids[i], score = tonumber(ids[i + 1]), queue = queue,
                                  rank = (i + 1) / 2, turn = qi})
      end
    end
  end
end
-- queues in turn: the first job of each queue (in the order given), then the second, ...
table.sort(candidates, function(a, b)
  if a.rank ~= b.rank then return a.rank < b.rank end
  return a.turn < b.turn
end)
local INLINE = 4
local inline = math.min(#candidates, req.limit) <= INLINE
local out = {}
local turns = {}
local taken = {}  -- queue -> ids claimed from it, removed from its set in one ZREM
local started = num(now)
local pid = tostring(req.pid)
for _, c in ipairs(candidates) do
  if #out >= req.limit then break end
  local key = jk(c.id)
  -- the job's fields, read once: its task (for its rate), and what the claim returns
  -- once the fields the claim changes are patched in
  local fields, at, task
  if inline then
    fields, at = redis.call('HGETALL', key), {}
    for i = 1, #fields, 2 do at[fields[i]] = i + 1 end
    task = fields[at.task]
  else
    task = redis.call('HGET', key, 'task')
  end
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
    taken[c.queue] = taken[c.queue] or {}
    table.insert(taken[c.queue], c.id)
    local attempts
    if inline then
      attempts = tostring(tonumber(fields[at.attempts] or 0) + 1)
      redis.call('HSET', key, 'state', 'running', 'attempts', attempts, 'worker',
                 req.worker, 'pid', pid, 'started_at', started)
      for name, value in pairs({state = 'running', attempts = attempts, worker = req.worker,
                                pid = pid, started_at = started}) do
        if at[name] then
          fields[at[name]] = value
        else
          table.insert(fields, name)
          table.insert(fields, value)
        end
      end
      table.insert(fields, 'id')
      table.insert(fields, c.id)
      table.insert(out, fields)
    else
      redis.call('HINCRBY', key, 'attempts', 1)
      redis.call('HSET', key, 'state', 'running', 'worker', req.worker, 'pid', pid,
                 'started_at', started)
      table.insert(out, c.id)
    end
    bump(c.queue, 'pending', -1)
    bump(c.queue, 'running', 1)
    event(now, 'task-started', c.id, task, c.queue, req.worker, nil, nil)
    changed = true
  end
end
for queue, ids in pairs(taken) do
  redis.call('ZREM', P .. ':q:' .. queue, unpack(ids))
  redis.call('SADD', P .. ':run:' .. req.worker, unpack(ids))
end
for task, turn in pairs(turns) do redis.call('HSET', P .. ':rate', task, num(turn)) end
if #out > 0 then redis.call('SADD', P .. ':holders', req.worker) end
end_batch()
return {stale, out, changed and touch() or 0, inline and 1 or 0}

-- name: watch
-- ARGV: prefix, events_kept, now (unused), id, seconds a waiter is counted (0: none)
-- The job's fields if it is finished; else count one waiter (settling it pushes a token
-- on P:done:<id> for each) and return nothing.
local key = jk(ARGV[4])
local state = redis.call('HGET', key, 'state')
if state == 'success' or state == 'failure' or state == 'revoked' then
  return redis.call('HGETALL', key)
end
if ARGV[5] ~= '0' then
  local w = P .. ':waiters:' .. ARGV[4]
  redis.call('INCR', w)
  redis.call('EXPIRE', w, ARGV[5])
end
return false

-- name: claim_job
-- ARGV: prefix, events_kept, now, id, worker, pid
local now = tonumber(ARGV[3])
local id = ARGV[4]
local key = jk(id)
local state, queue = unpack(redis.call('HMGET', key, 'state', 'queue'))
if not state or state == 'running' then return false end
redis.call('ZREM', P .. ':q:' .. queue, id)
redis.call('ZREM', P .. ':sched', id)
redis.call('ZREM', P .. ':purge', id)
redis.call('HDEL', key, 'done_at', 'purge_at', 'custom_state')
redis.call('HINCRBY', key, 'attempts', 1)
redis.call('HSET', key, 'state', 'running', 'worker', ARGV[5], 'pid', ARGV[6],
           'started_at', num(now))
redis.call('SADD', P .. ':run:' .. ARGV[5], id)
redis.call('SADD', P .. ':holders', ARGV[5])
bump(queue, state, -1)
bump(queue, 'running', 1)
touch()
return redis.call('HGETALL', key)

-- name: revoke
-- ARGV: prefix, events_kept, now, id, purge_at or '', terminate ('1'/'0'), message,
-- packed follow-up jobs or '', chord id or '', chord member or '', error type
-- (the follow-ups and the chord count are stored with the revocation)
local now = tonumber(ARGV[3])
local id = ARGV[4]
local key = jk(id)
local state, queue = unpack(redis.call('HMGET', key, 'state', 'queue'))
if not state then return 'unknown' end
local function finish()
  redis.call('HSET', key, 'state', 'revoked', 'done_at', num(now),
             'error_type', ARGV[11], 'error_message', ARGV[7])
  if ARGV[5] ~= '' then
    redis.call('HSET', key, 'purge_at', ARGV[5])
    redis.call('ZADD', P .. ':purge', ARGV[5], id)
  end
  bump(queue, 'revoked', 1)
  if ARGV[8] ~= '' then
    for _, job in ipairs(cmsgpack.unpack(ARGV[8])) do insert(job, now) end
  end
  if ARGV[9] ~= '' then chord_member_finished(ARGV[9], ARGV[10], true, now) end
  wake_waiters(id)
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
  local worker, pid, attempts, started = unpack(redis.call('HMGET', key, 'worker', 'pid',
                                                         'attempts', 'started_at'))
  redis.call('RPUSH', P .. ':attempts:' .. id, cmsgpack.pack({
    n = tonumber(attempts), started_at = started and tonumber(started) or nil,
    finished_at = now, worker = worker or nil, pid = pid and tonumber(pid) or nil,
    outcome = 'revoked', exc_type = ARGV[11], exc_message = ARGV[7]}))
  redis.call('SREM', P .. ':run:' .. worker, id)
  redis.call('HSET', P .. ':terminate', id, worker .. '|' .. pid)
  bump(queue, 'running', -1)
  finish()
  return 'terminating'
end
return 'finished'

-- name: retry_failed
-- ARGV: prefix, events_kept, now, id or '', task or '', offset, batch
-- Without an id: one batch of the listing index from offset (the caller loops, so a
-- large store never blocks Redis in one long script).
local now = tonumber(ARGV[3])
local ids = {}
local seen = 0
if ARGV[4] ~= '' then
  ids = {ARGV[4]}
else
  local offset = tonumber(ARGV[6])
  local listed = redis.call('ZRANGE', P .. ':all', offset, offset + tonumber(ARGV[7]) - 1)
  seen = #listed
  for _, id in ipairs(listed) do
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
return {n, seen}

-- name: purge
-- ARGV: prefix, events_kept, now (unused), queue or '', packed list of states or '', source
-- (a sorted set under the prefix: 'all', 'sched' or 'q:<queue>'), offset, batch.
-- One batch from offset; returns {deleted, kept, seen}: the caller moves the offset
-- past the kept ones and stops at a short batch.
local wanted = {}
if ARGV[5] == '' then
  wanted = {pending = true, scheduled = true}
else
  for _, s in ipairs(cmsgpack.unpack(ARGV[5])) do wanted[s] = true end
end
local offset = tonumber(ARGV[7])
local listed = redis.call('ZRANGE', P .. ':' .. ARGV[6], offset, offset + tonumber(ARGV[8]) - 1)
local n, kept = 0, 0
for _, id in ipairs(listed) do
  local key = jk(id)
  local state, queue, unique = unpack(redis.call('HMGET', key, 'state', 'queue', 'unique'))
  if state and wanted[state] and (ARGV[4] == '' or queue == ARGV[4]) then
    redis.call('ZREM', P .. ':q:' .. queue, id)
    redis.call('ZREM', P .. ':sched', id)
    redis.call('ZREM', P .. ':purge', id)
    redis.call('ZREM', P .. ':all', id)
    redis.call('DEL', key, P .. ':attempts:' .. id)
    drop_unique(unique, id)
    bump(queue, state, -1)
    n = n + 1
  elseif state then
    kept = kept + 1
  else  -- a dangling index entry: drop it so the scan moves on
    redis.call('ZREM', P .. ':' .. ARGV[6], id)
  end
end
if n > 0 then touch() end
return {n, kept, #listed}

-- name: prune
-- ARGV: prefix, events_kept, now, limit
local n = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. ':purge', '-inf', ARGV[3],
                               'LIMIT', 0, tonumber(ARGV[4]))) do
  local key = jk(id)
  local state, queue, unique = unpack(redis.call('HMGET', key, 'state', 'queue', 'unique'))
  redis.call('ZREM', P .. ':purge', id)
  if state == 'success' or state == 'failure' or state == 'revoked' then
    redis.call('ZREM', P .. ':all', id)
    redis.call('DEL', key, P .. ':attempts:' .. id)
    drop_unique(unique, id)
    bump(queue, state, -1)
    n = n + 1
  end
end
return n

-- name: custom_state
-- ARGV: prefix, events_kept, now (unused), id, attempt, custom state, packed meta
local key = jk(ARGV[4])
local state, attempts = unpack(redis.call('HMGET', key, 'state', 'attempts'))
if state ~= 'running' or attempts ~= ARGV[5] then return 0 end
redis.call('HSET', key, 'custom_state', ARGV[6], 'meta', ARGV[7])
touch()
return 1

-- name: add_chord_members
-- ARGV: prefix, events_kept, now, chord id, close ('1' or ''), packed jobs or '',
-- packed chords or '', member ids...
local now = tonumber(ARGV[3])
local chord_id = ARGV[4]
local key = P .. ':chord:' .. chord_id
if redis.call('EXISTS', key) == 0 then return 0 end
local close = ARGV[5] == '1'
redis.call('HINCRBY', key, 'size', #ARGV - 7 - (close and 1 or 0))
for i = 8, #ARGV do redis.call('RPUSH', P .. ':chord_members:' .. chord_id, ARGV[i]) end
local n = 0
if ARGV[6] ~= '' then
  for _, job in ipairs(cmsgpack.unpack(ARGV[6])) do n = n + insert(job, now) end
end
if ARGV[7] ~= '' then
  for _, c in ipairs(cmsgpack.unpack(ARGV[7])) do store_chord(c, now) end
end
if close then
  local done, size = unpack(redis.call('HMGET', key, 'done', 'size'))
  if tonumber(done) >= tonumber(size) then fire_chord(chord_id, now); n = n + 1 end
end
if n > 0 then touch() end
return 1

-- name: forget
-- ARGV: prefix, events_kept, now (unused), id
local key = jk(ARGV[4])
local state, queue, unique = unpack(redis.call('HMGET', key, 'state', 'queue', 'unique'))
if state ~= 'success' and state ~= 'failure' and state ~= 'revoked' then return 0 end
redis.call('DEL', key, P .. ':attempts:' .. ARGV[4])
drop_unique(unique, ARGV[4])
redis.call('ZREM', P .. ':all', ARGV[4])
redis.call('ZREM', P .. ':purge', ARGV[4])
bump(queue, state, -1)
return 1

-- name: beat_lead
-- ARGV: prefix, events_kept, now, holder, lease_until
local key = P .. ':beat:lock'
local holder = redis.call('HGET', key, 'holder')
local until_ = tonumber(redis.call('HGET', key, 'until') or 0)
if holder and holder ~= ARGV[4] and until_ >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', key, 'holder', ARGV[4], 'until', ARGV[5])
return 1

-- name: beat_fire
-- ARGV: prefix, events_kept, now, name, slot, next_run, packed job or ''
local now = tonumber(ARGV[3])
if redis.call('SISMEMBER', P .. ':beat:names', ARGV[4]) == 0 then return 0 end
local key = P .. ':beat:entry:' .. ARGV[4]
if redis.call('HGET', key, 'enabled') == '0' then return 0 end
local last = redis.call('HGET', key, 'last_run')
if last and last ~= '' and tonumber(last) >= tonumber(ARGV[5]) then return 0 end
redis.call('HSET', key, 'last_run', ARGV[5], 'next_run', ARGV[6])
if ARGV[7] ~= '' then
  insert(cmsgpack.unpack(ARGV[7]), now)
  touch()
end
return 1

-- name: schedule_save
-- ARGV: prefix, events_kept, now, name, task, schedule text, spec, '1' to create
local names = P .. ':beat:names'
local key = P .. ':beat:entry:' .. ARGV[4]
if ARGV[8] == '1' then
  if redis.call('SADD', names, ARGV[4]) == 0 then return 0 end
  redis.call('HSET', key, 'task', ARGV[5], 'schedule', ARGV[6], 'spec', ARGV[7],
             'origin', 'store', 'enabled', '1', 'updated_at', ARGV[3])
  return 1
end
if redis.call('HGET', key, 'origin') ~= 'store' then return 0 end
redis.call('HSET', key, 'task', ARGV[5], 'schedule', ARGV[6], 'spec', ARGV[7],
           'updated_at', ARGV[3])
redis.call('HDEL', key, 'next_run')
return 1

-- name: schedule_edit
-- ARGV: prefix, events_kept, now, name, 'delete' | 'enable' | 'disable'
local key = P .. ':beat:entry:' .. ARGV[4]
if redis.call('HGET', key, 'origin') ~= 'store' then return 0 end
if ARGV[5] == 'delete' then
  redis.call('SREM', P .. ':beat:names', ARGV[4])
  redis.call('DEL', key)
else
  redis.call('HSET', key, 'enabled', ARGV[5] == 'enable' and '1' or '0', 'updated_at', ARGV[3])
end
return 1
