import crypto from 'node:crypto';

/**
 * `gcraStep` (see `gcra.ts`) as one Redis script, so that a take is atomic across the fleet: every limit of the
 * request is checked and, only if all admit it, written. The clock is Redis's own (`TIME`), so processes whose clocks
 * differ share one timeline. KEYS: one per limit (one hash slot: the tenant's part is a `{hash tag}`); ARGV[1]:
 * `take` or `give`, then `windowMs`, `limit`, `cost` per key. Returns `{ allowed (1/0), worst (1-based, 0: none),
 * retryMs, now, tat… }`, numbers as strings (Redis would truncate a Lua number to an integer). Each key expires a
 * second after it holds nothing.
 */
export const LIMIT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local give = ARGV[1] == 'give'
local cur, nxt = {}, {}
local worst, retry = 0, -1
for i = 1, #KEYS do
  local w = tonumber(ARGV[3 * i - 1])
  local lim = tonumber(ARGV[3 * i])
  local c = tonumber(ARGV[3 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if tat < now then tat = now end
  local nt = tat + c * w / lim
  if give then
    if nt < now then nt = now end
  elseif nt - now > w and nt - now - w > retry then
    worst, retry = i, nt - now - w
  end
  cur[i], nxt[i] = tat, nt
end
local out = {}
local tats = nxt
if worst > 0 then
  tats = cur
  out[1] = 0
else
  out[1] = 1
  retry = 0
  for i = 1, #KEYS do
    if nxt[i] > now then
      redis.call('SET', KEYS[i], string.format('%.17g', nxt[i]), 'PX', math.ceil(nxt[i] - now) + 1000)
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
out[2] = worst
out[3] = string.format('%.3f', retry)
out[4] = string.format('%.3f', now)
for i = 1, #KEYS do out[4 + i] = string.format('%.17g', tats[i]) end
return out
`;

/** The script and its SHA-1 (for EVALSHA). */
export const limitScript = Object.freeze({ source: LIMIT_SCRIPT, sha1: crypto.createHash('sha1').update(LIMIT_SCRIPT).digest('hex') });
