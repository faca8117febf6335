package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisTimeout bounds one charge in Redis; past it the instance's own buckets decide.
const redisTimeout = 250 * time.Millisecond

// chargeScript charges every bucket in KEYS with the cost ARGV[1], or none: ARGV[2i], ARGV[2i+1]
// are bucket i's rate (per second) and burst. A bucket is a hash of its level (t) and the time
// of that level (ts, in microseconds of Redis' own clock, so that instances' clocks need not
// agree). It returns {0, 0} when charged, else {i, wait in milliseconds} for the first bucket
// short. A bucket expires once it would be full again: a missing bucket is a full one.
var chargeScript = redis.NewScript(`
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local cost = tonumber(ARGV[1])
local levels = {}
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[2*i]), tonumber(ARGV[2*i+1])
  local c = math.min(cost, burst)
  local v = redis.call('HMGET', KEYS[i], 't', 'ts')
  local tokens, ts = tonumber(v[1]), tonumber(v[2])
  if tokens == nil or ts == nil then
    tokens, ts = burst, now
  end
  if now > ts then
    tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
  end
  if tokens < c then
    return {i, math.ceil((c - tokens) * 1000 / rate)}
  end
  levels[i] = tokens - c
end
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[2*i]), tonumber(ARGV[2*i+1])
  redis.call('HSET', KEYS[i], 't', tostring(levels[i]), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((burst - levels[i]) * 1000 / rate) + 1000)
end
return {0, 0}
`)

// OpenRedis connects to the Redis at url (redis://[user:password@]host:port[/db], or
// rediss:// for TLS) and checks that it answers.
func OpenRedis(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("--redis-url: %w", err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("--redis-url: redis at %s does not answer: %w", opts.Addr, err)
	}
	return c, nil
}

// chargeRedis is Charge over the buckets in Redis, shared by every instance that uses it.
// Every key of one charge carries the same hash tag, so that one script may touch them all on
// a Redis Cluster too.
func (l *Limiter) chargeRedis(ctx context.Context, k Keys, cost int) (scope string, retry time.Duration, ok bool, err error) {
	var keys []string
	var scopes []string
	args := []any{max(cost, 1)}
	for _, b := range l.scopes {
		key := k.of(b.scope)
		if key == "" {
			continue
		}
		keys = append(keys, l.prefix+"{rl}:"+b.scope+":"+strconv.Quote(key))
		scopes = append(scopes, b.scope)
		args = append(args, b.limit.Rate, b.limit.Burst)
	}
	if len(keys) == 0 {
		return "", 0, true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	res, err := chargeScript.Run(ctx, l.redis, keys, args...).Int64Slice()
	if err != nil {
		return "", 0, false, err
	}
	if len(res) != 2 || res[0] < 0 || int(res[0]) > len(scopes) {
		return "", 0, false, errors.New("ratelimit: unexpected answer from the charge script")
	}
	if res[0] == 0 {
		return "", 0, true, nil
	}
	return scopes[res[0]-1], time.Duration(res[1]) * time.Millisecond, false, nil
}
