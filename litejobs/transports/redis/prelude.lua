-- The shared functions of the Redis transport's scripts, prepended to each script in
-- scripts.lua (scripts.py). ARGV[1] is always the key prefix, ARGV[2] how many events
-- to keep, ARGV[3] the time now.
-- Numbers go in and out as strings formatted with %.17g, so timestamps keep every digit.
local P = ARGV[1]
local function jk(id) return P .. ':job:' .. id end
local function num(x) return string.format('%.17g', x) end
-- A claim or a settle script batches its count changes (begin_batch ... end_batch): one
-- HINCRBY per queue and state (and per task for the event counts) instead of per job.
local batched = nil
local function bump(queue, state, n)
  local field = queue .. '\0' .. state
  if batched then
    batched.counts[field] = (batched.counts[field] or 0) + n
  else
    redis.call('HINCRBY', P .. ':counts', field, n)
  end
end
local function count(queue, state)  -- P:counts as this script has changed it so far
  local field = queue .. '\0' .. state
  local n = tonumber(redis.call('HGET', P .. ':counts', field) or 0)
  return n + (batched and batched.counts[field] or 0)
end
local function begin_batch()
  batched = {counts = {}, events = {}, runtime = {}}
end
local function end_batch()
  for field, n in pairs(batched.counts) do
    if n ~= 0 then redis.call('HINCRBY', P .. ':counts', field, n) end
  end
  for stat, n in pairs(batched.events) do
    redis.call('HINCRBY', P .. ':event_counts', stat, n)
  end
  for stat, runtime in pairs(batched.runtime) do
    redis.call('HINCRBYFLOAT', P .. ':event_runtime', stat, runtime)
  end
  batched = nil
end
local function score(priority, eta, now)
  -- priority first (higher first), then eta in ms; ties fall back to the id's order
  return -tonumber(priority) * 1e13 + math.floor(tonumber(eta) * 1000 - 1.7e12)
end
local function touch()
  -- the new version, published: a script returns it to its caller, whose own listener
  -- then skips it (wakeups.py), so a worker is not woken by its own claim or settle
  local version = redis.call('INCR', P .. ':version')
  redis.call('PUBLISH', P .. ':wake', version)
  return version
end
local function wake_waiters(id)
  -- a result waiter (the watch script) counted itself in P:waiters:<id>: one token each
  -- on P:done:<id>, which it blocks on (BLPOP); nobody waiting costs one GET
  local w = P .. ':waiters:' .. id
  local n = tonumber(redis.call('GET', w) or 0)
  if n > 0 then
    local d = P .. ':done:' .. id
    redis.call('DEL', w)
    for _ = 1, math.min(n, 64) do redis.call('RPUSH', d, '1') end
    redis.call('EXPIRE', d, 60)
  end
end
local events_on = nil  -- read once per script
local function event(now, kind, id, task, queue, worker, runtime, detail)
  if events_on == nil then events_on = redis.call('GET', P .. ':events_on') == '1' end
  if not events_on then return end
  redis.call('XADD', P .. ':events', 'MAXLEN', '~', ARGV[2], '*',
             'ts', num(now), 'kind', kind, 'job_id', id, 'task', task, 'queue', queue,
             'worker', worker or '', 'runtime', runtime and num(runtime) or '',
             'detail', detail or '')
  local stat = task .. '\0' .. kind
  if batched then
    batched.events[stat] = (batched.events[stat] or 0) + 1
    if runtime then batched.runtime[stat] = (batched.runtime[stat] or 0) + runtime end
    return
  end
  redis.call('HINCRBY', P .. ':event_counts', stat, 1)
  if runtime then redis.call('HINCRBYFLOAT', P .. ':event_runtime', stat, runtime) end
end
local function insert(job, now)
  local key = jk(job.id)
  if redis.call('EXISTS', key) == 1 then return 0 end
  local seq = redis.call('INCR', P .. ':seq')
  local state = job.state or ((tonumber(job.eta) > now) and 'scheduled' or 'pending')
  local fields = {'task', job.task, 'queue', job.queue, 'priority', job.priority,
                  'state', state, 'eta', num(job.eta), 'attempts', 0,
                  'retries', job.retries or 0, 'acks_late', job.acks_late and 1 or 0,
                  'payload', job.payload, 'created_at', num(now), 'seq', seq, 'crashes', 0}
  if job.expires then
    table.insert(fields, 'expires'); table.insert(fields, num(job.expires))
  end
  if job.options then table.insert(fields, 'options'); table.insert(fields, job.options) end
  redis.call('HSET', key, unpack(fields))
  redis.call('ZADD', P .. ':all', seq, job.id)
  bump(job.queue, state, 1)
  if state == 'pending' then
    redis.call('ZADD', P .. ':q:' .. job.queue, score(job.priority, job.eta), job.id)
  elseif state == 'scheduled' then
    redis.call('ZADD', P .. ':sched', num(job.eta), job.id)
  else  -- stored finished (a chain step that will never run, an imported result)
    redis.call('HSET', key, 'error_type', job.error_type or '', 'error_message',
               job.error_message or '', 'done_at', num(now))
    if job.result then redis.call('HSET', key, 'result', job.result) end
    if job.error_args then redis.call('HSET', key, 'error_args', job.error_args) end
    if job.traceback then redis.call('HSET', key, 'traceback', job.traceback) end
    if job.purge_at then
      redis.call('HSET', key, 'purge_at', num(job.purge_at))
      redis.call('ZADD', P .. ':purge', job.purge_at, job.id)
    end
    wake_waiters(job.id)
  end
  return 1
end
local function drop_unique(unique, id)
  -- a deleted unique job's key, if it still names this job (a unique job keeps its key
  -- in its hash's 'unique' field; see enqueue_unique)
  if unique and redis.call('GET', P .. ':unique:' .. unique) == id then
    redis.call('DEL', P .. ':unique:' .. unique)
  end
end
local function array_header(n)
  if n < 16 then return string.char(0x90 + n) end
  if n < 65536 then return string.char(0xdc, math.floor(n / 256), n % 256) end
  return string.char(0xdd, math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
                     math.floor(n / 256) % 256, n % 256)
end
local function fill(template, values)
  -- {name} placeholders replaced by plain text (string.find with plain = true, no
  -- patterns): a value is never scanned again, and an unknown {name} is left as it is
  local out, i = {}, 1
  while true do
    local s = string.find(template, '{', i, true)
    if not s then break end
    local e = string.find(template, '}', s + 1, true)
    if not e then break end
    local value = values[string.sub(template, s + 1, e - 1)]
    if value then
      table.insert(out, string.sub(template, i, s - 1))
      table.insert(out, value)
      i = e + 1
    else
      table.insert(out, string.sub(template, i, s))
      i = s + 1
    end
  end
  table.insert(out, string.sub(template, i))
  return table.concat(out)
end
local function short_type(etype)
  -- a class path without its module ('an error' when there is none)
  if not etype or etype == '' then return 'an error' end
  local last = etype
  local dot = string.find(last, '.', 1, true)
  while dot do
    last = string.sub(last, dot + 1)
    dot = string.find(last, '.', 1, true)
  end
  return last
end
local function store_chord(c, now)
  local key = P .. ':chord:' .. c.id
  if redis.call('EXISTS', key) == 1 then return end
  -- an open chord (a header read from a generator) also waits for its closing call
  redis.call('HSET', key, 'size', #c.members + (c.open and 1 or 0), 'done', 0,
             'body', cmsgpack.pack(c.body))
  for _, m in ipairs(c.members) do redis.call('RPUSH', P .. ':chord_members:' .. c.id, m) end
end
local function fire_chord(chord_id, now)
  -- enqueue a chord's body (the members' results in front, or marked to fail); drop it
  local key = P .. ':chord:' .. chord_id
  local body = cmsgpack.unpack(redis.call('HGET', key, 'body'))
  local failed_member = redis.call('HGET', key, 'failed_member')
  local members = redis.call('LRANGE', P .. ':chord_members:' .. chord_id, 0, -1)
  local job = {id = body.id, task = body.task, queue = body.queue, priority = body.priority,
               eta = math.max(body.eta, now), expires = body.expires,
               acks_late = body.acks_late, options = body.options, retries = 0}
  if failed_member then
    local etype, emsg = unpack(redis.call('HMGET', jk(failed_member), 'error_type',
                                          'error_message'))
    -- enqueued marked chord_failed: the worker ends it through the outcome policy
    job.options = body.failed_options
    job.payload = body.payload
    job.error_type = body.failure_type
    job.error_message = fill(body.failure_message, {member = failed_member,
                             type = short_type(etype), message = emsg or ''})
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
  if failed_member then
    redis.call('HSET', jk(job.id), 'error_type', job.error_type, 'error_message',
               job.error_message)
  end
  redis.call('DEL', key, P .. ':chord_done:' .. chord_id, P .. ':chord_members:' .. chord_id)
end
local function chord_member_finished(chord_id, job_id, failed, now)
  local key = P .. ':chord:' .. chord_id
  if redis.call('EXISTS', key) == 0 then return end  -- fired (or never stored): nothing
  if redis.call('SADD', P .. ':chord_done:' .. chord_id, job_id) == 0 then return end
  if failed then redis.call('HSETNX', key, 'failed_member', job_id) end
  local done = redis.call('HINCRBY', key, 'done', 1)
  if done < tonumber(redis.call('HGET', key, 'size')) then return end
  fire_chord(chord_id, now)
end
local SETTLE_KINDS = {success = 'task-succeeded', failure = 'task-failed',
                      revoked = 'task-revoked', scheduled = 'task-retried',
                      pending = 'task-requeued'}
local function settle_one(o, now)
  local key = jk(o.id)
  local state, attempts, queue, started, worker, pid = unpack(redis.call(
    'HMGET', key, 'state', 'attempts', 'queue', 'started_at', 'worker', 'pid'))
  if state ~= 'running' or tonumber(attempts) ~= tonumber(o.attempt) then return 0 end
  local new = o.state
  local f = o.failure or {}
  if worker == '' then worker = false end
  if o.ended and not o.forget then  -- the attempt's record, before worker and pid go
    local retry_in = nil
    if o.ended == 'retry' and o.eta then retry_in = math.max(0, o.eta - now) end
    redis.call('RPUSH', P .. ':attempts:' .. o.id, cmsgpack.pack({
      n = tonumber(attempts), started_at = started and tonumber(started) or nil,
      finished_at = now, worker = worker or nil, pid = pid and tonumber(pid) or nil,
      outcome = o.ended, exc_type = f.error_type, exc_message = f.message,
      traceback = f.traceback ~= '' and f.traceback or nil, retry_in = retry_in}))
  end
  o.worker = worker or nil
  if worker then redis.call('SREM', P .. ':run:' .. worker, o.id) end
  bump(queue, 'running', -1)
  if new == 'success' and o.forget then
    drop_unique(redis.call('HGET', key, 'unique'), o.id)
    redis.call('DEL', key, P .. ':attempts:' .. o.id)
    redis.call('ZREM', P .. ':all', o.id)
  elseif new == 'success' or new == 'failure' or new == 'revoked' then
    -- the worker stays: who ran it; its pid and any custom state go
    if worker then
      redis.call('HDEL', key, 'pid', 'custom_state')
    else
      redis.call('HDEL', key, 'worker', 'pid', 'custom_state')
    end
    local fields = {'state', new, 'done_at', num(now)}
    if o.result then table.insert(fields, 'result'); table.insert(fields, o.result) end
    if f.error_type then
      for _, v in ipairs({'error_type', f.error_type, 'error_message', f.message or '',
                          'traceback', f.traceback or ''}) do table.insert(fields, v) end
      if f.args then table.insert(fields, 'error_args'); table.insert(fields, f.args) end
    end
    if o.purge_at then
      table.insert(fields, 'purge_at'); table.insert(fields, num(o.purge_at))
      redis.call('ZADD', P .. ':purge', o.purge_at, o.id)
    end
    redis.call('HSET', key, unpack(fields))
    bump(queue, new, 1)
  elseif new == 'scheduled' then
    redis.call('HDEL', key, 'worker', 'pid', 'custom_state')
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
    redis.call('HDEL', key, 'worker', 'pid', 'custom_state', 'started_at')
    if o.crashed then redis.call('HINCRBY', key, 'crashes', 1) end
    redis.call('ZADD', P .. ':q:' .. queue, score(priority, eta), o.id)
    bump(queue, 'pending', 1)
  end
  if o.task then
    event(now, SETTLE_KINDS[new], o.id, o.task, o.queue, nil, o.runtime, f.error_type)
  end
  for _, follow in ipairs(o.follow_ups or {}) do insert(follow, now) end
  for _, c in ipairs(o.chords or {}) do store_chord(c, now) end
  if o.chord_id and (new == 'success' or new == 'failure' or new == 'revoked') then
    chord_member_finished(o.chord_id, o.chord_member or o.id, new ~= 'success', now)
  end
  wake_waiters(o.id)
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
