
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The Redis function library every command connection loads (FUNCTION
 * LOAD REPLACE): signal_publish, and the presence functions.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal.h"
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
    "    if not pcall(cjson.decode, data) then\n"
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
    "  redis.call('PEXPIRE', key, 86400000)\n"
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
