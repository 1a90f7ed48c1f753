"""The Lua script that checks and changes usage in Redis in one step.

A WATCH/MULTI/EXEC transaction over the usage keys is retried whenever any other
write of any user lands between its reads and its EXEC, so many simultaneous
writes starve each other into 503s.  A script runs atomically inside Redis: it
reads, decides and writes with nothing in between, and never conflicts.  It
mirrors :func:`davserver.lockstore.usage.plan` and ``undo`` exactly (the other
backends run those in Python) and checks the generation and write counter like
every transaction of the stores (:mod:`davserver.lockstore.redis_guard`).

KEYS: generation, seq, usage:files, usage:paths, usage:totals, usage:journal.
ARGV: 1 "1" if a generation record is expected, 2 that record, 3 the counter's
floor, 4 the operation, then the operation's arguments.

Replies: ``{"ok", seq}`` (written, the counter after), ``{"quota", used, needed}``
(nothing written), ``{"stale", record, has_record, seq}`` (nothing written: the
guard decides what the record and counter found mean).
"""

from __future__ import annotations

SCRIPT = r"""
local FILES, PATHS, TOTALS, JOURNAL = KEYS[3], KEYS[4], KEYS[5], KEYS[6]

local function fmt(n) return string.format('%d', n) end

local function decode(raw)
  local row = cjson.decode(raw)
  return {row[1], row[2]}
end

local function encode(row) return '[' .. cjson.encode(row[1]) .. ',' .. fmt(row[2]) .. ']' end

local function done() return {'ok', redis.call('INCR', KEYS[2])} end

local function stale()
  local raw = redis.call('GET', KEYS[1])
  local seq = redis.call('GET', KEYS[2])
  local count = tonumber(seq or '0')
  local expected = ARGV[1] == '1' and ARGV[2] or false
  if raw ~= expected or count == nil or count < tonumber(ARGV[3]) then
    return {'stale', raw or '', raw and '1' or '0', seq or ''}
  end
  return nil
end

-- rows at top and strictly below it (lo < path < hi) into `into`
local function tree(top, lo, hi, into)
  local paths = redis.call('ZRANGEBYLEX', PATHS, '(' .. lo, '(' .. hi)
  table.insert(paths, 1, top)
  for _, path in ipairs(paths) do
    local raw = redis.call('HGET', FILES, path)
    if raw then into[path] = decode(raw) end
  end
end

local function rebase(path, src, dest)
  if path == src then return dest end
  local rest = src ~= '/' and string.sub(path, #src + 1) or path
  return dest ~= '/' and dest .. rest or rest
end

local function deltas_of(old, new)
  local deltas = {}
  for _, row in pairs(old) do deltas[row[1]] = (deltas[row[1]] or 0) - row[2] end
  for _, row in pairs(new) do deltas[row[1]] = (deltas[row[1]] or 0) + row[2] end
  return deltas
end

-- rows `old` (as read) go, rows `new` come; totals follow
local function replace(old, new)
  for path, _ in pairs(old) do
    if new[path] == nil then
      redis.call('HDEL', FILES, path)
      redis.call('ZREM', PATHS, path)
    end
  end
  for path, row in pairs(new) do
    redis.call('HSET', FILES, path, encode(row))
    redis.call('ZADD', PATHS, 0, path)
  end
  for owner, delta in pairs(deltas_of(old, new)) do
    if delta ~= 0 then redis.call('HINCRBY', TOTALS, owner, fmt(delta)) end
  end
end

local function journal(head, old, new)
  local rows, paths = {}, {}
  for path, row in pairs(old) do rows[#rows + 1] = cjson.encode(path) .. ':' .. encode(row) end
  for path, _ in pairs(new) do paths[#paths + 1] = path end
  table.sort(paths)
  for i, path in ipairs(paths) do paths[i] = cjson.encode(path) end
  return head .. ', "old": {' .. table.concat(rows, ',') .. '}, "new": ['
    .. table.concat(paths, ',') .. ']}'
end

local function apply(ticket, spec_json, head)
  if redis.call('HEXISTS', JOURNAL, ticket) == 1 then return done() end  -- a repeated EXEC
  local spec = cjson.decode(spec_json)
  local old, new = {}, {}
  for _, drop in ipairs(spec.drop) do tree(drop[1], drop[2], drop[3], old) end
  for _, add in ipairs(spec.add) do new[add[1]] = {spec.owner, add[2]} end
  if #spec.move == 4 then
    local src, dest, moved = spec.move[1], spec.move[4], {}
    tree(src, spec.move[2], spec.move[3], moved)
    for path, row in pairs(moved) do
      old[path] = row
      new[rebase(path, src, dest)] = row
    end
  end
  local needed = deltas_of(old, new)[spec.owner] or 0
  if spec.limit >= 0 and needed > 0 then
    local used = tonumber(redis.call('HGET', TOTALS, spec.owner) or '0')
    if used + needed > spec.limit then return {'quota', used, needed} end
  end
  replace(old, new)
  redis.call('HSET', JOURNAL, ticket, journal(head, old, new))
  return done()
end

local function revert(ticket)
  local raw = redis.call('HGET', JOURNAL, ticket)
  if not raw then return done() end
  local entry = cjson.decode(raw)
  local now, back = {}, {}
  for _, path in ipairs(entry.new) do
    local row = redis.call('HGET', FILES, path)
    if row then now[path] = decode(row) end
  end
  for path, row in pairs(entry.old) do back[path] = {row[1], row[2]} end
  replace(now, back)
  redis.call('HDEL', JOURNAL, ticket)
  return done()
end

local function correct(path, owner, seen, size)
  local raw = redis.call('HGET', FILES, path)
  if raw then
    local row = decode(raw)
    if row[1] == owner and row[2] == tonumber(seen) then
      local new = {}
      if size ~= '' then new[path] = {owner, tonumber(size)} end
      replace({[path] = row}, new)
    end
  end
  return done()
end

local refused = stale()
if refused then return refused end
local op = ARGV[4]
if op == 'apply' then return apply(ARGV[5], ARGV[6], ARGV[7]) end
if op == 'settle' then
  redis.call('HDEL', JOURNAL, ARGV[5])
  return done()
end
if op == 'revert' then return revert(ARGV[5]) end
if op == 'correct' then return correct(ARGV[5], ARGV[6], ARGV[7], ARGV[8]) end
return redis.error_reply('unknown usage operation ' .. tostring(op))
"""
