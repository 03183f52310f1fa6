"""The Redis store: the same verbs as SQLite, atomic through Lua scripts.

    codec.py        what goes to the scripts (through litejobs.serializer) and comes back
    scripts.py      loading the Lua and running a script by name
    wakeups.py      the subscription an idle worker waits on
    client.py       connecting, key names, the lease clock, errors mapped to StoreError
    transport.py    RedisTransport: each verb of the interface (beat.py: the beat verbs,
                    events.py: the event verbs)
    scripts.lua     every script; prelude.lua, the functions they share

Keys live under one prefix (``conf.redis_key_prefix``, default ``litejobs``):

    P:job:<id>        hash: every field of the job
    P:q:<queue>       sorted set of pending ids; score orders by priority, eta, then id
    P:sched           sorted set of scheduled ids by eta
    P:run:<worker>    set of ids a worker holds (its lease is its heartbeat); P:holders
                      the workers with such a set
    P:workers         sorted set of worker ids by lease end; P:w:<id> their hashes
    P:all             sorted set of every id by enqueue order (listing, newest first)
    P:purge           sorted set of finished ids by result expiry
    P:attempts:<id>   list of the job's attempts (msgpack maps), deleted with the job
    P:counts          hash "queue\\0state" -> n
    P:paused, P:rate, P:group:<id>, P:beat:*, P:events (a capped stream)
    P:version, P:wake a change counter, and the channel idle workers listen on
    P:waiters:<id>    how many result waiters (AsyncResult.get) wait for the job; its
    P:done:<id>       settle pushes one token each on this list, which they BLPOP

Every multi-key change is one Lua script, so the guarantees are SQLite's: a job is
claimed by one worker, outcomes are fenced by the attempt number, a follow-up step is
stored with its outcome, a chord member is counted once and the last one's script
enqueues the body, and a beat slot fires once. All of litejobs' Redis commands live in
this package; ``import litejobs`` does not import it (nor redis-py).
"""

from __future__ import annotations

import redis  # noqa: F401 - first, so a missing redis-py fails here, by its name

from .transport import RedisTransport

__all__ = ["RedisTransport"]
