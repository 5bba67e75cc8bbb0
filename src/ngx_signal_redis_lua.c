
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The Redis function library every command connection loads (FUNCTION
 * LOAD REPLACE): signal_publish and signal_publish_once for backends,
 * signal_emit and signal_history for nginx, and the presence functions.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_redis.h"


#define NGX_SIGNAL_REDIS_STR_(n)  #n
#define NGX_SIGNAL_REDIS_STR(n)   NGX_SIGNAL_REDIS_STR_(n)


/*
 * The function library.  It checks every triple before it changes
 * anything, so that a backend calling it directly gets the same
 * all-or-nothing batches as the notify location.
 */

const char  ngx_signal_redis_library[] =
    "#!lua name=ngx_signal\n"
    "local function name_ok(s)\n"
    "  return #s > 0 and #s <= 1024 and s:find('^[%w_%.:@/%+=%-]+$') ~= nil\n"
    "end\n"
    /*
     * cjson lets through what JSON does not (nan, inf, 0x10, +1, 1., raw
     * control characters, invalid UTF-8), and "data" reaches browsers
     * byte for byte: the rest of JSON's rules are checked with patterns
     * (C speed) once cjson accepted the structure.
     */
    "local function utf8_ok(s)\n"
    "  if not s:find('[\\128-\\255]') then return true end\n"
    "  s = s:gsub('[\\194-\\223][\\128-\\191]', 'x')"
    ":gsub('\\224[\\160-\\191][\\128-\\191]', 'x')"
    ":gsub('[\\225-\\236\\238\\239][\\128-\\191][\\128-\\191]', 'x')"
    ":gsub('\\237[\\128-\\159][\\128-\\191]', 'x')"
    ":gsub('\\240[\\144-\\191][\\128-\\191][\\128-\\191]', 'x')"
    ":gsub('[\\241-\\243][\\128-\\191][\\128-\\191][\\128-\\191]', "
    "'x')"
    ":gsub('\\244[\\128-\\143][\\128-\\191][\\128-\\191]', 'x')\n"
    "  return not s:find('[\\128-\\255]')\n"
    "end\n"
    "local function number_ok(n)\n"
    "  local _, e = n:find('^%-?0')\n"
    "  if not e then _, e = n:find('^%-?[1-9]%d*') end\n"
    "  if not e then return false end\n"
    "  n = n:sub(e + 1):gsub('^%.%d+', '', 1):gsub('^[eE][%+%-]?%d+', '', 1)\n"
    "  return n == ''\n"
    "end\n"
    "local function json_ok(s)\n"
    "  if not pcall(cjson.decode, s) or not utf8_ok(s) then return false end\n"
    "  local t = s:gsub('\\\\.', 'e')\n"
    "  for str in t:gmatch('\"[^\"]*\"') do\n"
    "    if str:find('[%z\\1-\\31]') then return false end\n"
    "  end\n"
    "  t = t:gsub('\"[^\"]*\"', '\"\"'):gsub('true', '')"
    ":gsub('false', ''):gsub('null', '')\n"
    "  if t:find('[^%s%[%]{}:,\"%-%+%.%deE]') then return false end\n"
    "  for n in t:gmatch('[%-%+%.%deE]+') do\n"
    "    if not number_ok(n) then return false end\n"
    "  end\n"
    "  return true\n"
    "end\n"
    /* triples from "from" on (quads with keep flags: step 4) */
    "local function check(args, from, step)\n"
    "  local n = #args - from + 1\n"
    "  if n <= 0 or n % step ~= 0 then\n"
    "    return redis.error_reply('ERR signal_publish takes room, event, "
    "data triples')\n"
    "  end\n"
    "  for i = from, #args, step do\n"
    "    local room, event, data = args[i], args[i + 1], args[i + 2]\n"
    "    if not name_ok(room) or room:sub(-1) == ':' then\n"
    "      return redis.error_reply('ERR invalid room name: ' .. "
    "room:sub(1, 128))\n"
    "    end\n"
    "    if not name_ok(event) then\n"
    "      return redis.error_reply('ERR invalid event name: ' .. "
    "event:sub(1, 128))\n"
    "    end\n"
    "    if not json_ok(data) then\n"
    "      return redis.error_reply('ERR data of ' .. event .. "
    "' is not JSON')\n"
    "    end\n"
    "  end\n"
    "  return nil\n"
    "end\n"

    /*
     * A room: hash signal:room:<room> {seq, epoch, covered}, and its
     * history, stream signal:h:<room> with one entry per seq (id
     * "<seq>-0"): t (when it expires, ms), e and d, or x for an event
     * kept out of history.  A room without an epoch is new, or its data
     * was lost: a new epoch (the time, 16 hex digits), seq from 1.  A
     * room only read (a client subscribed, nothing was published) is
     * forgotten a day after its last read: clients cannot fill Redis
     * with rooms by subscribing.
     */
    "local function now_ms()\n"
    "  local t = redis.call('TIME')\n"
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), t\n"
    "end\n"
    "local function room_epoch(room, ttl)\n"
    "  local key = 'signal:room:' .. room\n"
    "  local ep = redis.call('HGET', key, 'epoch')\n"
    "  if ep then\n"
    "    if ttl and redis.call('PTTL', key) > 0 then\n"
    "      redis.call('PEXPIRE', key, ttl)\n"
    "    end\n"
    "    return ep\n"
    "  end\n"
    "  local _, t = now_ms()\n"
    "  ep = string.format('%08x%08x', tonumber(t[1]), tonumber(t[2]))\n"
    "  redis.call('DEL', key, 'signal:h:' .. room)\n"
    "  redis.call('HSET', key, 'epoch', ep, 'seq', 0)\n"
    "  if ttl then redis.call('PEXPIRE', key, ttl) end\n"
    "  return ep\n"
    "end\n"
    /* what another program left under a room's keys stops it, untouched */
    "local function keys_ok(args, from, step)\n"
    "  for i = from, #args, step do\n"
    "    local key = 'signal:room:' .. args[i]\n"
    "    local kt = redis.call('TYPE', key).ok\n"
    "    local ht = redis.call('TYPE', 'signal:h:' .. args[i]).ok\n"
    "    local f = kt == 'hash' and redis.call('HMGET', key, 'seq', 'epoch')\n"
    "      or {}\n"
    "    if (kt ~= 'none' and kt ~= 'hash') or (ht ~= 'none' and ht ~= "
    "'stream')\n"
    "       or (f[1] and not tostring(f[1]):match('^%d+$'))\n"
    "       or (f[2] and not tostring(f[2]):match('^' .. "
    "string.rep('%x', 16) .. '$'))\n"
    "    then\n"
    "      return redis.error_reply('ERR ' .. key .. ' or signal:h:' .. "
    "args[i] .. ' holds what this module did not write there')\n"
    "    end\n"
    "  end\n"
    "  return nil\n"
    "end\n"
    "local function send(args, from, step, count, age)\n"
    "  local out = {}\n"
    "  local now = now_ms()\n"
    "  for i = from, #args, step do\n"
    "    local room, event, data = args[i], args[i + 1], args[i + 2]\n"
    "    local ep = room_epoch(room)\n"
    "    local key = 'signal:room:' .. room\n"
    "    local seq = redis.call('HINCRBY', key, 'seq', 1)\n"
    "    if seq == 1 then redis.call('PERSIST', key) end\n"
    "    local h = 'signal:h:' .. room\n"
    "    if count == 0 then\n"
    "      redis.call('HSET', key, 'covered', seq + 1)\n"
    "    elseif step == 4 and args[i + 3] == '0' then\n"
    "      redis.call('XADD', h, 'MAXLEN', count, seq .. '-0', "
    "'t', now + age, 'x', '1')\n"
    "      redis.call('PEXPIRE', h, age)\n"
    "    else\n"
    "      redis.call('XADD', h, 'MAXLEN', count, seq .. '-0', "
    "'t', now + age, 'e', event, 'd', data)\n"
    "      redis.call('PEXPIRE', h, age)\n"
    "    end\n"
    "    redis.call('PUBLISH', '" NGX_SIGNAL_REDIS_CHANNEL "' .. room, "
    "seq .. ' ' .. ep .. ' ' .. event .. ' ' .. data)\n"
    "    out[#out + 1] = {seq, ep}\n"
    "  end\n"
    "  return out\n"
    "end\n"

    /* for backends: triples, kept as signal_history's default says */
    "local function publish(keys, args)\n"
    "  local err = check(args, 1, 3) or keys_ok(args, 1, 3)\n"
    "  if err then return err end\n"
    "  return send(args, 1, 3, "
    NGX_SIGNAL_REDIS_STR(NGX_SIGNAL_HISTORY_DEFAULT) ", "
    NGX_SIGNAL_REDIS_STR(NGX_SIGNAL_HISTORY_DEFAULT_AGE) " * 1000)\n"
    "end\n"

    /* id, seconds, triples: published once per id within the seconds */
    "local function publish_once(keys, args)\n"
    "  local err = check(args, 3, 3) or keys_ok(args, 3, 3)\n"
    "  if err then return err end\n"
    "  if not redis.call('SET', 'signal:seen:' .. args[1], '1', 'NX', "
    "'EX', tonumber(args[2])) then\n"
    "    return 'duplicate'\n"
    "  end\n"
    "  return send(args, 3, 3, "
    NGX_SIGNAL_REDIS_STR(NGX_SIGNAL_HISTORY_DEFAULT) ", "
    NGX_SIGNAL_REDIS_STR(NGX_SIGNAL_HISTORY_DEFAULT_AGE) " * 1000)\n"
    "end\n"

    /*
     * nginx's own: count, age (ms), key, seconds, digest, then (room,
     * event, data, keep) quads.  A key seen within its seconds answers
     * what it answered then ("replayed", for the same digest), or
     * "duplicate" (no digest: a webhook delivery); another digest is an
     * error.  Else {"published", {seq, epoch}...}.
     */
    "local function emit(keys, args)\n"
    "  local err = check(args, 6, 4) or keys_ok(args, 6, 4)\n"
    "  if err then return err end\n"
    "  local idem = args[3] ~= '' and 'signal:seen:' .. args[3]\n"
    "  if idem then\n"
    "    local prev = redis.call('GET', idem)\n"
    "    if prev then\n"
    "      if args[5] == '' then return {'duplicate'} end\n"
    "      local digest, rest = prev:match('^(%x*) (.*)$')\n"
    "      if digest ~= args[5] then\n"
    "        return redis.error_reply('ERR idempotency key reused with "
    "another body')\n"
    "      end\n"
    "      local out = {'replayed'}\n"
    "      for seq, ep in rest:gmatch('(%d+):(%x+)') do\n"
    "        out[#out + 1] = {tonumber(seq), ep}\n"
    "      end\n"
    "      return out\n"
    "    end\n"
    "  end\n"
    "  local out = send(args, 6, 4, tonumber(args[1]), tonumber(args[2]))\n"
    "  if idem then\n"
    "    local t = {}\n"
    "    for i = 1, #out do t[i] = out[i][1] .. ':' .. out[i][2] end\n"
    "    redis.call('SET', idem, args[5] .. ' ' .. table.concat(t, ','), "
    "'EX', tonumber(args[4]))\n"
    "  end\n"
    "  table.insert(out, 1, 'published')\n"
    "  return out\n"
    "end\n"

    /*
     * A room's events after since of epoch (at most limit):
     * {epoch, seq, gap, gap_to, {seq, event, data, ...}}, gap "history"
     * (since+1 .. gap_to are gone), "epoch" (another epoch: the events
     * are this one's after gap_to) or "".  Without an epoch: where the
     * room is; epoch "*": since is of the epoch it has now.
     */
    "local function history(keys, args)\n"
    "  local room = args[1]\n"
    "  if not name_ok(room) or room:sub(-1) == ':' then\n"
    "    return redis.error_reply('ERR invalid room name')\n"
    "  end\n"
    "  local since, want, limit = tonumber(args[2]), args[3], "
    "tonumber(args[4])\n"
    "  if not since or not limit or since < 0 or limit < 0 then\n"
    "    return redis.error_reply('ERR signal_history takes room, since, "
    "epoch, limit')\n"
    "  end\n"
    "  local ep = room_epoch(room, 86400000)\n"
    "  local key = 'signal:room:' .. room\n"
    "  local seq = tonumber(redis.call('HGET', key, 'seq')) or 0\n"
    "  if want == '*' then want = ep end\n"
    "  if want == '' or (want == ep and since == seq) then\n"
    "    return {ep, seq, '', 0, {}}\n"
    "  end\n"
    "  local gap = ''\n"
    "  if want ~= ep or since > seq then gap, since = 'epoch', 0 end\n"
    "  local floor = since\n"
    "  local covered = tonumber(redis.call('HGET', key, 'covered')) or 1\n"
    "  if covered - 1 > floor then floor = covered - 1 end\n"
    "  local all = redis.call('XREVRANGE', 'signal:h:' .. room, '+', "
    "(floor + 1) .. '-0', 'COUNT', limit)\n"
    "  local now = now_ms()\n"
    "  local low, kept = seq + 1, {}\n"
    "  for i = 1, #all do\n"
    "    local s = tonumber(all[i][1]:match('^(%d+)'))\n"
    "    local f = {}\n"
    "    for j = 1, #all[i][2], 2 do f[all[i][2][j]] = all[i][2][j + 1] end\n"
    "    if tonumber(f.t) <= now then break end\n"
    "    low = s\n"
    "    if f.e then kept[#kept + 1] = {s, f.e, f.d} end\n"
    "  end\n"
    "  if low - 1 > floor then floor = low - 1 end\n"
    "  local ev = {}\n"
    "  for i = #kept, 1, -1 do\n"
    "    if kept[i][1] > floor then\n"
    "      ev[#ev + 1] = kept[i][1]\n"
    "      ev[#ev + 1] = kept[i][2]\n"
    "      ev[#ev + 1] = kept[i][3]\n"
    "    end\n"
    "  end\n"
    "  if gap == 'epoch' then return {ep, seq, gap, floor, ev} end\n"
    "  if floor > since then return {ep, seq, 'history', floor, ev} end\n"
    "  return {ep, seq, '', 0, ev}\n"
    "end\n"
    "redis.register_function('signal_publish_once', publish_once)\n"
    "redis.register_function('signal_publish', publish)\n"
    "redis.register_function('signal_emit', emit)\n"
    "redis.register_function('signal_history', history)\n"

    /* presence: one field per instance, "<version> <connections> <users>" */
    "local function presence_set(keys, args)\n"
    "  local key = 'signal:presence:' .. args[1]\n"
    "  local v = tonumber(args[5])\n"
    "  local cur = redis.call('HGET', key, args[2])\n"
    "  if cur and tonumber(cur:match('^(%d+)')) >= v then return 0 end\n"
    "  redis.call('HSET', key, args[2], "
    "args[5] .. ' ' .. args[3] .. ' ' .. args[4])\n"

    /*
     * a room nobody is in on any host is forgotten a minute later (the
     * zero counts keep their versions until then, so that a late update
     * cannot bring back old counts)
     */
    "  local all = redis.call('HVALS', key)\n"
    "  local total = 0\n"
    "  for i = 1, #all do\n"
    "    local _, c = all[i]:match('^(%d+) (%d+)')\n"
    "    total = total + (tonumber(c) or 0)\n"
    "  end\n"
    "  redis.call('PEXPIRE', key, total > 0 and 86400000 or 60000)\n"
    "  return 1\n"
    "end\n"
    "local function presence_get(keys, args)\n"
    "  local key = 'signal:presence:' .. args[1]\n"
    "  local all = redis.call('HGETALL', key)\n"
    "  local c, u = 0, 0\n"
    "  for i = 1, #all, 2 do\n"
    "    local id = all[i]\n"
    "    if redis.call('EXISTS', 'signal:alive:' .. id) == 1 then\n"
    "      local _, cc, uu = all[i + 1]:match('^(%d+) (%d+) (%d+)$')\n"
    "      c = c + tonumber(cc)\n"
    "      u = u + tonumber(uu)\n"
    "    elseif redis.call('EXISTS', 'signal:known:' .. id) == 0 then\n"
    "      redis.call('HDEL', key, id)\n"
    "    end\n"
    "  end\n"
    "  return {c, u}\n"
    "end\n"
    "redis.register_function('signal_presence_set', presence_set)\n"
    "redis.register_function('signal_presence_get', presence_get)\n";
