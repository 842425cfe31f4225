"""Stream and key names, message fields and the server-side scripts (docs/contracts.md).

Every change that must be all-or-nothing on the broker is one Lua script, which Redis runs
atomically: publishing a claim exactly once per (wizard, task, attempt), refreshing a running
claim only while this consumer still owns it, finishing (the result out, the claim acked) and
taking a dead consumer's claim over as the next attempt.
"""

from __future__ import annotations

PREFIX = "robe:"
#: the executors' consumer group on each wizard's task stream
EXECUTORS = "executors"
#: the hub monitor's consumer group (and its one consumer) on each wizard's result stream
HUB = "hub"
PUBLISHED = PREFIX + "published"   # hash  <wizard>/<ID>/<attempt> -> message ID (idempotence key)
ATTEMPT = PREFIX + "attempt"       # hash  <wizard>/<ID> -> attempt being run now
EXECUTOR_HASH = PREFIX + "executors"  # hash  consumer -> JSON {host, pid, wizards, heartbeat_at, ...}
FLEET = PREFIX + "fleet"           # JSON {hub, yaml, published_at}: what 'robe init --join' copies


def tasks(wizard: str) -> str:
    return f"{PREFIX}tasks:{wizard}"


def results(wizard: str) -> str:
    return f"{PREFIX}results:{wizard}"


def run_key(wizard: str, task_id: str) -> str:
    return f"{wizard}/{task_id}"


def claim_key(wizard: str, task_id: str, attempt: int) -> str:
    """The idempotence key of one claim: a task's attempt, published once whoever repeats it."""
    return f"{wizard}/{task_id}/{attempt}"


def host_of(consumer: str) -> str:
    """A consumer is named ``<host>/<pid>.<start>``: one per executor process."""
    return consumer.split("/", 1)[0]


def flat(fields: dict) -> list[str]:
    out: list[str] = []
    for k, v in fields.items():
        out += [k, "" if v is None else str(v)]
    return out


def pairs(values) -> dict:
    """A script's ``{k1, v1, k2, v2}`` reply as a dict (redis-py gives XREAD's as dicts already)."""
    if isinstance(values, dict):
        return values
    values = list(values or [])
    return dict(zip(values[0::2], values[1::2]))


#: KEYS tasks, published, attempt; ARGV claim key, run key, attempt, field, value, ...
#: -> {message ID, 1 when published now / 0 when it already was}
PUBLISH = """
local have = redis.call('HGET', KEYS[2], ARGV[1])
if have then return {have, 0} end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
redis.call('HSET', KEYS[2], ARGV[1], id)
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return {id, 1}
"""

#: KEYS tasks; ARGV group, consumer, message IDs... -> the IDs this consumer no longer owns.
#: XCLAIM ... JUSTID by the owner resets the entry's idle time (its heartbeat) without counting
#: a delivery; an entry someone else took over is left alone.
BEAT = """
local lost = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
"""

#: KEYS tasks, results, attempt; ARGV group, owners (",a,b,"), message ID, run key, attempt,
#: field, value, ... -> 1 when the claim was ours (acked and removed), 0 when it was not (the
#: result still goes out, as a late one: nothing an agent answered is lost).
FINISH = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
local mine = p[1] and string.find(ARGV[2], ',' .. p[1][2] .. ',', 1, true) ~= nil
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
fields[#fields + 1] = 'owner'
fields[#fields + 1] = mine and '1' or '0'
redis.call('XADD', KEYS[2], '*', unpack(fields))
if mine then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
  redis.call('XDEL', KEYS[1], ARGV[3])
  if redis.call('HGET', KEYS[3], ARGV[4]) == ARGV[5] then redis.call('HDEL', KEYS[3], ARGV[4]) end
end
return mine and 1 or 0
"""

#: KEYS tasks, results, attempt, published; ARGV group, consumer, min idle ms, count, stamp,
#: mode ('auto': XAUTOCLAIM what idled past min idle; 'ids': XCLAIM the IDs that follow).
#: Each claim taken over ends its attempt (a 'lost' record on the result stream) and runs again
#: as the next attempt, unless the message's last_attempt is reached: then it is acked, and the
#: 'lost' record says final. -> {{message ID, next attempt, {field, value, ...}}, ...}
TAKEOVER = """
local before = {}
local claimed
if ARGV[6] == 'auto' then
  for _, e in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], '-', '+', ARGV[4])) do
    before[e[1]] = e
  end
  claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', ARGV[4])[2]
else
  local ids = {}
  for i = 7, #ARGV do
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
    if p[1] then before[ARGV[i]] = p[1]; ids[#ids + 1] = ARGV[i] end
  end
  if #ids == 0 then return {} end
  claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(ids))
end
local out = {}
for _, m in ipairs(claimed) do
  if m and m[2] then
    local id, raw = m[1], m[2]
    local f = {}
    for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
    local run = f['wizard'] .. '/' .. f['id']
    local cur = tonumber(redis.call('HGET', KEYS[3], run) or f['attempt'])
    local last = tonumber(f['last_attempt'] or f['attempt'])
    local prev = before[id]
    local nxt = cur + 1
    local rec = {'kind', 'lost', 'id', f['id'], 'wizard', f['wizard'], 'attempt', tostring(cur),
                 'from', prev and prev[2] or '', 'idle_ms', prev and tostring(prev[3]) or '',
                 'by', ARGV[2], 'at', ARGV[5], 'message', id}
    if nxt > last then
      rec[#rec + 1] = 'next'; rec[#rec + 1] = ''
      redis.call('XADD', KEYS[2], '*', unpack(rec))
      redis.call('XACK', KEYS[1], ARGV[1], id)
      redis.call('XDEL', KEYS[1], id)
      redis.call('HDEL', KEYS[3], run)
    else
      rec[#rec + 1] = 'next'; rec[#rec + 1] = tostring(nxt)
      redis.call('HSET', KEYS[3], run, nxt)
      redis.call('HSET', KEYS[4], run .. '/' .. nxt, id)
      redis.call('XADD', KEYS[2], '*', unpack(rec))
      out[#out + 1] = {id, nxt, raw}
    end
  end
end
return out
"""
