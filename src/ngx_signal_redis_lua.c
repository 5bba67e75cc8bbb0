
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The Redis function library every command connection loads (FUNCTION
 * LOAD REPLACE): signal_publish, and the presence functions.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_redis.h"


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
    "local function check(args, from)\n"
    "  local n = #args - from + 1\n"
    "  if n <= 0 or n % 3 ~= 0 then\n"
    "    return redis.error_reply('ERR signal_publish takes room, event, "
    "data triples')\n"
    "  end\n"
    "  for i = from, #args, 3 do\n"
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
    "local function send(args, from)\n"
    "  local seqs = {}\n"
    "  for i = from, #args, 3 do\n"
    "    local seq = redis.call('INCR', 'signal:seq:' .. args[i])\n"
    "    redis.call('PUBLISH', '" NGX_SIGNAL_REDIS_CHANNEL "' .. args[i], "
    "seq .. ' ' .. args[i + 1] .. ' ' .. args[i + 2])\n"
    "    seqs[#seqs + 1] = seq\n"
    "  end\n"
    "  return seqs\n"
    "end\n"
    "local function publish(keys, args)\n"
    "  local err = check(args, 1)\n"
    "  if err then return err end\n"
    "  return send(args, 1)\n"
    "end\n"

    /* id, seconds, triples: published once per id within the seconds */
    "local function publish_once(keys, args)\n"
    "  local err = check(args, 3)\n"
    "  if err then return err end\n"
    "  if not redis.call('SET', 'signal:seen:' .. args[1], '1', 'NX', "
    "'EX', tonumber(args[2])) then\n"
    "    return 'duplicate'\n"
    "  end\n"
    "  return send(args, 3)\n"
    "end\n"
    "redis.register_function('signal_publish_once', publish_once)\n"
    "redis.register_function('signal_publish', publish)\n"

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
