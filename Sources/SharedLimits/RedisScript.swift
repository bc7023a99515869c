/// The Lua scripts the limits run in Redis, each loaded once per connection
/// (SCRIPT LOAD) and run by its SHA-1 (EVALSHA). Every script reads the server's clock
/// (`TIME`), so hosts whose clocks disagree still count the same windows.
///
/// The windows are those of the host-wide table (docs/KEYS.md): 60 one-second buckets,
/// a hash field per second holding that second's requests (or tokens); a bucket counts
/// while its age is under 60 s, and `Retry-After` is 60 minus the oldest counted
/// bucket's age. Each hash also keeps the window's `sum` and the oldest second it may
/// still hold (`from`), so a request reads three fields (with its own second's) and
/// drops only the seconds that left the window since the last one, rather than reading
/// every bucket. Leases are members of a sorted set scored by their expiry in ms.
enum RedisScript: String, CaseIterable, Sendable {
    /// KEYS: requests, tokens, leases. ARGV: rpm, tpm, parallel (-1: none), lease member,
    /// lease TTL ms, idle TTL ms, then members of this key's leases given back since the
    /// last admit (removed first, so they no longer count).
    /// Returns {0, remaining requests or -1, remaining tokens or -1} when admitted, or
    /// {rule (1 rpm, 2 parallel, 3 tpm), retry-after seconds} when refused.
    ///
    /// A request in the same second as the key's last one reads its windows' `sum` and
    /// `from` and writes `sum` back; the older seconds are dropped, and the names' expiry
    /// pushed back, only when the window moved on. Expired slots (a dead host's) are
    /// removed only when the key is at its parallel limit, the one time they matter.
    case admit = """
        local time = redis.call('TIME')
        local now = tonumber(time[1])
        local nowMs = now * 1000 + math.floor(tonumber(time[2]) / 1000)
        local rpm, tpm, parallel = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local first = now - 59
        if #ARGV > 6 then redis.call('ZREM', KEYS[3], unpack(ARGV, 7)) end
        local function window(key)
          local state = redis.call('HMGET', key, 'sum', 'from', now)
          local sum, from, current = tonumber(state[1]), tonumber(state[2]), tonumber(state[3]) or 0
          if sum ~= nil and from == first then return sum, false, current end
          if sum == nil or from == nil or from < first - 60 or from > now then
            sum = 0
            local stale = {}
            local fields = redis.call('HGETALL', key)
            for i = 1, #fields, 2 do
              local second = tonumber(fields[i])
              if second ~= nil and fields[i] ~= 'sum' and fields[i] ~= 'from' then
                if second < first then stale[#stale + 1] = fields[i] else sum = sum + (tonumber(fields[i + 1]) or 0) end
              end
            end
            if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
          elseif from < first then
            local gone = {}
            for second = from, first - 1 do gone[#gone + 1] = second end
            local counts = redis.call('HMGET', key, unpack(gone))
            for i = 1, #counts do sum = sum - (tonumber(counts[i]) or 0) end
            redis.call('HDEL', key, unpack(gone))
          end
          return sum, true, current
        end
        local function keep(key, sum)
          redis.call('HSET', key, 'sum', sum, 'from', first)
          redis.call('PEXPIRE', key, ARGV[6])
        end
        local function retryAfter(key)
          local seconds = {}
          for second = first, now do seconds[#seconds + 1] = second end
          local counts = redis.call('HMGET', key, unpack(seconds))
          for i = 1, #counts do
            if (tonumber(counts[i]) or 0) > 0 then return i end
          end
          return 1
        end
        local requests, requestsMoved, thisSecond = 0, false, 0
        if rpm >= 0 then requests, requestsMoved, thisSecond = window(KEYS[1]) end
        local tokens = 0
        if tpm >= 0 then
          local tokensMoved
          tokens, tokensMoved = window(KEYS[2])
          if tokensMoved then keep(KEYS[2], tokens) end
        end
        local refusal = nil
        if rpm >= 0 and requests >= rpm then
          refusal = {1, retryAfter(KEYS[1])}
        elseif tpm >= 0 and tokens >= tpm then
          refusal = {3, retryAfter(KEYS[2])}
        elseif parallel >= 0 then
          local held = redis.call('ZCARD', KEYS[3])
          if held >= parallel then
            redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', nowMs)
            held = redis.call('ZCARD', KEYS[3])
          end
          if held >= parallel then refusal = {2, 1} end
        end
        if refusal ~= nil then
          if requestsMoved then keep(KEYS[1], requests) end
          return refusal
        end
        if parallel >= 0 then
          redis.call('ZADD', KEYS[3], nowMs + tonumber(ARGV[5]), ARGV[4])
          -- The set outlives its newest slot: pushed back once a second with the request
          -- window when there is one, a second's slack covering the slots taken since.
          if rpm < 0 or requestsMoved then redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[5]) + 1000) end
        end
        if rpm >= 0 then
          redis.call('HSET', KEYS[1], now, thisSecond + 1, 'sum', requests + 1, 'from', first)
          if requestsMoved then redis.call('PEXPIRE', KEYS[1], ARGV[6]) end
        end
        local leftRequests, leftTokens = -1, -1
        if rpm >= 0 then leftRequests = math.max(0, rpm - requests - 1) end
        if tpm >= 0 then leftTokens = tpm - tokens end
        return {0, leftRequests, leftTokens}
        """

    /// KEYS: tokens. ARGV: tokens, idle TTL ms.
    case charge = """
        local now = redis.call('TIME')[1]
        redis.call('HINCRBY', KEYS[1], now, ARGV[1])
        redis.call('HINCRBY', KEYS[1], 'sum', ARGV[1])
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return 1
        """

    /// KEYS: leases. ARGV: lease TTL ms, then the members still held. Leases that
    /// expired meanwhile are not brought back (ZADD XX).
    case refresh = """
        local time = redis.call('TIME')
        local expiry = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[1])
        for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[i]) end
        redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) + 1000)
        return 1
        """

    /// The script's place in `RedisConnection.loaded`.
    var slot: Int {
        switch self {
        case .admit: 0
        case .charge: 1
        case .refresh: 2
        }
    }
}
