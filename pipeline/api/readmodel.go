package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// ReadModel is the console's view of levels and alerts, kept in Redis.
//
// Every write is idempotent and ordered by event time inside Redis (Lua
// compare-and-set), so replicas that each consume every update, and a
// stage that sees a message again after a crash, leave the same state.
// Keys hold site names and pseudonymous target ids, never target refs.
type ReadModel struct {
	s *store.Store
	// RawRetention and HourlyRetention bound the two series tiers;
	// AlertRetention bounds resolved alerts.
	RawRetention    time.Duration
	HourlyRetention time.Duration
	AlertRetention  time.Duration
	now             func() time.Time
	cache           sitesCache
}

// NewReadModel returns a read model on s.
func NewReadModel(s *store.Store, raw, hourly, alerts time.Duration) *ReadModel {
	return &ReadModel{s: s, RawRetention: raw, HourlyRetention: hourly, AlertRetention: alerts, now: time.Now}
}

// casScript sets field ARGV[1] in the value hashes KEYS[2..] to
// ARGV[3..] unless the order hash KEYS[1] holds a later order for it.
var casScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and tonumber(old) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], ARGV[1], ARGV[i + 1])
end
return 1
`)

// hourlyScript folds one point into the hourly bucket ARGV[1] of zset
// KEYS[1]: the maximum level, and the latest point's level, baseline,
// stale flag and name. Members are "hour|max|t|level|baseline|stale|name".
// When the bucket is new it also trims the hourly tier before ARGV[7]
// and the raw tier KEYS[2] before ARGV[8]: trimmed at every point, a
// series of a day of 5 s steps (the demo's) cost the embedded Redis,
// which sorts the whole set for a range, most of each write, and the
// console fell minutes behind. Trimmed once an hour, a tier holds at
// most an hour past its retention; reads are bounded by time anyway.
var hourlyScript = redis.NewScript(`
local h = ARGV[1]
local mx, t, lv, bl, st, nm = ARGV[3], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local ex = redis.call('ZRANGEBYSCORE', KEYS[1], h, h)
if ex[1] then
  local _, emx, et, elv, ebl, est, enm = string.match(ex[1], '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
  if emx then
    if tonumber(emx) > tonumber(mx) then mx = emx end
    if tonumber(et) > tonumber(t) then t, lv, bl, st, nm = et, elv, ebl, est, enm end
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], h, h)
else
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[7])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[8])
end
redis.call('ZADD', KEYS[1], h, h .. '|' .. mx .. '|' .. t .. '|' .. lv .. '|' .. bl .. '|' .. st .. '|' .. nm)
return 1
`)

// alertScript stores an alert record unless a later one of the same
// fingerprint is stored, and keeps the indexes in step.
// KEYS: order hash, record, all, firing, site, site-firing, target,
// target-firing, summary, ended.
// ARGV: fp, order, record, startsAt ms, firing(1/0), has target(1/0), summary,
// resolvedAt ms.
var alertScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and tonumber(old) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[9], ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
if ARGV[6] == '1' then redis.call('ZADD', KEYS[7], ARGV[4], ARGV[1]) end
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
  redis.call('ZADD', KEYS[6], ARGV[4], ARGV[1])
  if ARGV[6] == '1' then redis.call('ZADD', KEYS[8], ARGV[4], ARGV[1]) end
  redis.call('ZREM', KEYS[10], ARGV[1])
else
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('ZREM', KEYS[6], ARGV[1])
  if ARGV[6] == '1' then redis.call('ZREM', KEYS[8], ARGV[1]) end
  redis.call('ZADD', KEYS[10], ARGV[8], ARGV[1])
end
return 1
`)

func (m *ReadModel) k(parts ...string) string { return m.s.Key(append([]string{"api"}, parts...)...) }

func seriesKey(site, targetID string) string { return site + "|" + targetID }

func ms(t time.Time) int64 { return t.UnixMilli() }

// cleanName keeps a level name usable inside a stored member.
func cleanName(s string) string { return strings.ReplaceAll(s, "|", "/") }

// ApplyLevel records one level point. It reports whether the point became
// the key's current level (false: an older point arrived late; it still
// goes into the series).
func (m *ReadModel) ApplyLevel(ctx context.Context, l *msg.Level) (bool, error) {
	if l.Time.IsZero() {
		return false, fmt.Errorf("%w: level without time", msg.ErrInvalid)
	}
	if IsHealthSignal(l) {
		return m.applyHealth(ctx, l)
	}
	tid := TargetID(l.Target)
	now := m.now()
	_, err := m.s.Pipelined(ctx, func(p redis.Pipeliner) error {
		m.addPoint(ctx, p, l, tid, now, false)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("cannot store level series: %w", err)
	}
	if l.Target != "" {
		return m.applyTargetLevel(ctx, l, tid)
	}
	return m.applySiteLevel(ctx, l)
}

// addPoint queues the writes of l's point to its raw and hourly series,
// the hourly script by its digest when sha is set (ApplyLevels loads it
// when Redis does not hold it).
func (m *ReadModel) addPoint(ctx context.Context, p redis.Pipeliner, l *msg.Level, tid string, now time.Time, sha bool) {
	key := seriesKey(l.Site, tid)
	t := ms(l.Time)
	stale := "0"
	if l.Stale {
		stale = "1"
	}
	name := cleanName(l.Name)
	member := fmt.Sprintf("%d|%s|%s|%s|%s|%d|%s", t, fmtF(l.Level), fmtF(l.Baseline), fmtF(l.Score), stale, l.Posts, name)
	rk := m.k("lv", key)
	p.ZAdd(ctx, rk, redis.Z{Score: float64(t), Member: member})
	p.Expire(ctx, rk, m.RawRetention+time.Hour)
	hk := m.k("lvh", key)
	hour := l.Time.Truncate(time.Hour)
	args := []any{ms(hour), t, fmtF(l.Level), fmtF(l.Baseline), stale, name,
		ms(now.Add(-m.HourlyRetention)), ms(now.Add(-m.RawRetention))}
	if sha {
		hourlyScript.EvalSha(ctx, p, []string{hk, rk}, args...)
	} else {
		hourlyScript.Eval(ctx, p, []string{hk, rk}, args...)
	}
	p.Expire(ctx, hk, m.HourlyRetention+time.Hour)
}

func fmtF(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// siteScript stores the summary ARGV[4] of site ARGV[1] for a level of
// order ARGV[2] (and its contributors ARGV[5] when KEYS[3] is given):
// 0 when a later level is stored; -1 when the summary is no longer
// ARGV[3] as read ("" for none), so the caller reads it again. Without
// the second check a level and a health signal applied at once (a
// restore's workers, two replicas) each write back the summary they read,
// and one loses the other's change.
// KEYS: level order hash, sites[, contributors].
var siteScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and tonumber(old) > tonumber(ARGV[2]) then return 0 end
if (redis.call('HGET', KEYS[2], ARGV[1]) or '') ~= ARGV[3] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
if KEYS[3] then redis.call('HSET', KEYS[3], ARGV[1], ARGV[5]) end
return 1
`)

// healthScript stores the summary ARGV[4] of site ARGV[1] for a health
// signal of order ARGV[2]: 0 when a later signal is stored; -1 when the
// summary is no longer ARGV[3] as read ("" for none). A site first known
// from its health is ordered before any real level.
// KEYS: health order hash, sites, level order hash.
var healthScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and tonumber(old) > tonumber(ARGV[2]) then return 0 end
if (redis.call('HGET', KEYS[2], ARGV[1]) or '') ~= ARGV[3] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('HSETNX', KEYS[3], ARGV[1], 0)
return 1
`)

// siteWriteTries bounds how often a site write reads the summary again
// after another write changed it in between.
const siteWriteTries = 20

// errSiteBusy reports a site summary that changed under every try. It is
// transient: other writers (a replica, a restore) cause it and stop, so
// the runner backs off and stores the level again. Counted as a failure,
// the level stage skipped and committed the level, which was lost.
var errSiteBusy error = siteBusyError{}

type siteBusyError struct{}

func (siteBusyError) Error() string   { return "the site's summary kept changing while it was written" }
func (siteBusyError) Temporary() bool { return true }

// healthOrder orders a site's health signals: later time wins, and at
// the same time an outage beats a recovery. Its low bit says whether the
// signal was stale.
func healthOrder(l *msg.Level) int64 {
	o := ms(l.Time) * 2
	if l.Stale {
		o++
	}
	return o
}

func (m *ReadModel) applySiteLevel(ctx context.Context, l *msg.Level) (bool, error) {
	for range siteWriteTries {
		raw, prev, hOrder, err := m.siteState(ctx, l.Site)
		if err != nil {
			return false, err
		}
		sb, db, withDetail, err := siteLevelSummary(l, prev, hOrder)
		if err != nil {
			return false, err
		}
		keys := []string{m.k("sites", "t"), m.k("sites")}
		args := []any{l.Site, ms(l.Time), raw, sb}
		if withDetail {
			keys = append(keys, m.k("sites", "contrib"))
			args = append(args, db)
		}
		n, err := siteScript.Run(ctx, m.s, keys, args...).Int()
		if err != nil {
			return false, fmt.Errorf("cannot store site level: %w", err)
		}
		if n == -1 {
			continue
		}
		if n == 1 {
			m.cache.invalidate()
		}
		return n == 1, nil
	}
	return false, fmt.Errorf("cannot store site level: %w", errSiteBusy)
}

// siteLevelSummary is the summary a site level l writes over prev (nil
// for none), given the order hOrder of the site's last health signal, and
// the contributors it writes with it when withDetail is set. ApplyLevel
// and ApplyLevels both decide here, so they store the same bytes.
func siteLevelSummary(l *msg.Level, prev *SiteSummary, hOrder int64) (sum, detail string, withDetail bool, err error) {
	s := SiteSummary{
		Site: l.Site, Time: l.Time.UTC(), Level: l.Level, Baseline: l.Baseline, Score: l.Score,
		Name: l.Name, Signals: l.Signals, Posts: l.Posts,
	}
	if prev != nil {
		s.Health = prev.Health
	}
	// A scraper outage reported after this level still holds: the
	// level was read back late (a restore applies in any order).
	outage := hOrder%2 == 1 && hOrder/2 > ms(l.Time) && s.Health.Stale
	switch {
	case outage:
		if !l.Stale && l.Time.After(s.Health.LastLive) {
			s.Health.LastLive = l.Time.UTC()
		}
	default:
		if !l.Stale && s.Health.Scraper["state"] != "" && s.Health.Stale {
			// A live level means posts arrive again, whatever the scraper said.
			s.Health.Scraper = nil
		}
		s.Health.Stale = l.Stale
		if l.Stale {
			if prev == nil || !prev.Health.Stale || prev.Health.StaleSince.IsZero() {
				s.Health.StaleSince = l.Time.UTC()
			}
			// A stale level during a reported outage is the clock's,
			// not news that the scraper is back.
			if prev == nil || !prev.Health.Stale || prev.Health.StaleReason != StaleScraper {
				s.Health.StaleReason = StaleQuiet
			}
		} else {
			s.Health.StaleSince = time.Time{}
			s.Health.StaleReason = ""
			s.Health.LastLive = l.Time.UTC()
		}
	}
	sb, err := json.Marshal(s)
	if err != nil {
		return "", "", false, err
	}
	contrib := l.Contributors
	if l.Stale && prev != nil {
		// A stale level carries no posts: keep the threads that raised the
		// level last, so the site view still shows them.
		contrib = nil
	}
	db, err := json.Marshal(contrib)
	if err != nil {
		return "", "", false, err
	}
	return string(sb), string(db), contrib != nil || prev == nil, nil
}

// siteState reads a site's stored summary, as stored ("" for none) and
// decoded (nil for none), and the order of its last health signal (0 for
// none).
func (m *ReadModel) siteState(ctx context.Context, site string) (string, *SiteSummary, int64, error) {
	var sum *redis.StringCmd
	var ho *redis.StringCmd
	_, err := m.s.Pipelined(ctx, func(p redis.Pipeliner) error {
		sum = p.HGet(ctx, m.k("sites"), site)
		ho = p.HGet(ctx, m.k("sites", "ht"), site)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", nil, 0, fmt.Errorf("cannot read site: %w", err)
	}
	var order int64
	if v, err := ho.Result(); err == nil {
		order, _ = strconv.ParseInt(v, 10, 64)
	}
	raw, err := sum.Result()
	if errors.Is(err, redis.Nil) {
		return "", nil, order, nil
	}
	if err != nil {
		return "", nil, 0, fmt.Errorf("cannot read site: %w", err)
	}
	var s SiteSummary
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return "", nil, 0, fmt.Errorf("cannot decode stored site: %w", err)
	}
	return raw, &s, order, nil
}

// IsHealthSignal reports whether l is a scraper's health signal (named
// "scraper_<state>", level 0) rather than a measured level: it changes a
// site's health, never its level or series.
func IsHealthSignal(l *msg.Level) bool {
	return l.Target == "" && strings.HasPrefix(l.Name, "scraper_")
}

// applyHealth records a scraper health signal on the site's summary. It
// does not take part in the level ordering (the scraper's clock is not
// the aggregator's event time), but signals are ordered among themselves:
// a restore reads them back in any order, and an old outage applied last
// would mark a recovered site stale. An outage older than the site's
// last live level is over too: that level ended it.
func (m *ReadModel) applyHealth(ctx context.Context, l *msg.Level) (bool, error) {
	for range siteWriteTries {
		raw, prev, _, err := m.siteState(ctx, l.Site)
		if err != nil {
			return false, err
		}
		b, ok, err := healthSummary(l, prev)
		if err != nil || !ok {
			return false, err
		}
		n, err := healthScript.Run(ctx, m.s, []string{m.k("sites", "ht"), m.k("sites"), m.k("sites", "t")}, l.Site, healthOrder(l), raw, b).Int()
		if err != nil {
			return false, fmt.Errorf("cannot store site health: %w", err)
		}
		if n == -1 {
			continue
		}
		if n == 1 {
			m.cache.invalidate()
		}
		return n == 1, nil
	}
	return false, fmt.Errorf("cannot store site health: %w", errSiteBusy)
}

// healthSummary is the summary a health signal l writes over prev (nil
// for none); ok is false when the signal changes nothing (an outage
// older than the site's last live level).
func healthSummary(l *msg.Level, prev *SiteSummary) (sum string, ok bool, err error) {
	s := SiteSummary{Site: l.Site}
	if prev != nil {
		s = *prev
	}
	if l.Stale && l.Time.Before(s.Health.LastLive) {
		return "", false, nil
	}
	state := strings.TrimPrefix(l.Name, "scraper_")
	if l.Stale && !s.Health.Stale {
		s.Health.StaleSince = l.Time.UTC()
	}
	s.Health.Stale = l.Stale
	s.Health.StaleReason = StaleScraper
	if !l.Stale {
		s.Health.StaleSince = time.Time{}
		s.Health.StaleReason = ""
	}
	s.Health.Scraper = map[string]string{"state": state, "at": l.Time.UTC().Format(time.RFC3339)}
	b, err := json.Marshal(s)
	if err != nil {
		return "", false, err
	}
	return string(b), true, nil
}

func (m *ReadModel) applyTargetLevel(ctx context.Context, l *msg.Level, tid string) (bool, error) {
	b, err := targetLevelJSON(l)
	if err != nil {
		return false, err
	}
	n, err := casScript.Run(ctx, m.s, []string{m.k("target", tid, "t"), m.k("target", tid)}, l.Site, ms(l.Time), b).Int()
	if err != nil {
		return false, fmt.Errorf("cannot store target level: %w", err)
	}
	_, err = m.s.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, m.k("targetref"), tid, l.Target)
		p.ZAddGT(ctx, m.k("targets"), redis.Z{Score: float64(ms(l.Time)), Member: tid})
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("cannot index target: %w", err)
	}
	return n == 1, nil
}

func targetLevelJSON(l *msg.Level) (string, error) {
	b, err := json.Marshal(TargetSiteLevel{Site: l.Site, Time: l.Time.UTC(), Level: l.Level, Baseline: l.Baseline, Name: l.Name, Stale: l.Stale})
	return string(b), err
}

// ApplyLevels records levels in the order given and leaves Redis holding
// what ApplyLevel applied to each in turn would, in two round trips for
// the whole batch instead of about three per level: a stage catching up
// on a backlog waited out each round trip in turn. It reports, per level,
// whether it became its key's current level. A level without time fails
// the batch with msg.ErrInvalid before anything is written.
//
// Series and target writes are ordered inside Redis as ApplyLevel's are.
// A site's levels and health signals are folded in Go from its state as
// read, and the result is stored by one script that first checks that
// state is unchanged (else it is read and folded again), so a concurrent
// writer (a replica, a restore) is never overwritten with an older view.
func (m *ReadModel) ApplyLevels(ctx context.Context, ls []*msg.Level) ([]bool, error) {
	for i, l := range ls {
		if l.Time.IsZero() {
			return nil, fmt.Errorf("%w: level %d of the batch has no time", msg.ErrInvalid, i)
		}
	}
	cur := make([]bool, len(ls))
	var sites []string
	bySite := map[string][]int{}
	for i, l := range ls {
		if l.Target != "" {
			continue
		}
		if _, ok := bySite[l.Site]; !ok {
			sites = append(sites, l.Site)
		}
		bySite[l.Site] = append(bySite[l.Site], i)
	}
	now := m.now()
	var cas []*redis.Cmd
	var read []siteRead
	err := m.pipelinedScripts(ctx, func(p redis.Pipeliner) error {
		cas = make([]*redis.Cmd, len(ls))
		for i, l := range ls {
			if IsHealthSignal(l) {
				continue
			}
			tid := TargetID(l.Target)
			m.addPoint(ctx, p, l, tid, now, true)
			if l.Target == "" {
				continue
			}
			b, err := targetLevelJSON(l)
			if err != nil {
				return err
			}
			cas[i] = casScript.EvalSha(ctx, p, []string{m.k("target", tid, "t"), m.k("target", tid)}, l.Site, ms(l.Time), b)
			p.HSet(ctx, m.k("targetref"), tid, l.Target)
			p.ZAddGT(ctx, m.k("targets"), redis.Z{Score: float64(ms(l.Time)), Member: tid})
		}
		// The sites' state rides along: one round trip less.
		read = m.readSites(ctx, p, sites)
		return nil
	}, hourlyScript, casScript)
	if err != nil {
		return nil, fmt.Errorf("cannot store levels: %w", err)
	}
	for i, c := range cas {
		if c != nil {
			n, _ := c.Int()
			cur[i] = n == 1
		}
	}
	for range siteWriteTries {
		if len(sites) == 0 {
			return cur, nil
		}
		busy, err := m.writeSites(ctx, ls, sites, bySite, read, cur)
		if err != nil {
			return nil, err
		}
		sites = busy
		if len(sites) == 0 {
			return cur, nil
		}
		_, err = m.s.Pipelined(ctx, func(p redis.Pipeliner) error {
			read = m.readSites(ctx, p, sites)
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("cannot read sites: %w", err)
		}
	}
	return nil, fmt.Errorf("cannot store site levels: %w", errSiteBusy)
}

// pipelinedScripts runs fill's commands in one pipeline, its scripts
// called by digest. When Redis does not hold one (restarted, flushed) it
// loads scripts and runs fill again: every command ApplyLevels queues is
// idempotent, and a script missing failed every call of it.
func (m *ReadModel) pipelinedScripts(ctx context.Context, fill func(redis.Pipeliner) error, scripts ...*redis.Script) error {
	for attempt := 0; ; attempt++ {
		cmds, err := m.s.Pipelined(ctx, fill)
		if attempt > 0 || !anyNoScript(cmds) {
			if cerr := firstErr(cmds); cerr != nil {
				return cerr
			}
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			return nil
		}
		for _, s := range scripts {
			if err := s.Load(ctx, m.s).Err(); err != nil {
				return fmt.Errorf("cannot load script: %w", err)
			}
		}
	}
}

func anyNoScript(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

// firstErr is the first error of cmds other than a missing value.
func firstErr(cmds []redis.Cmder) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}

// siteRead is a site's state as read: its summary, level order and
// health order as stored ("" for none).
type siteRead struct{ sum, order, hOrder *redis.StringCmd }

func (m *ReadModel) readSites(ctx context.Context, p redis.Pipeliner, sites []string) []siteRead {
	out := make([]siteRead, len(sites))
	for i, site := range sites {
		out[i] = siteRead{p.HGet(ctx, m.k("sites"), site), p.HGet(ctx, m.k("sites", "t"), site), p.HGet(ctx, m.k("sites", "ht"), site)}
	}
	return out
}

func storedVal(c *redis.StringCmd) (string, error) {
	v, err := c.Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

// siteBatchScript stores the state a batch left site ARGV[1] in, unless
// its summary, level order or health order is no longer ARGV[2..4] as read
// ("" for none): -1 then, and the caller reads and folds again.
// ARGV[5..7] are the summary and orders to store ("" leaves an order
// unset), ARGV[8] is 1 when the contributors ARGV[9] are stored.
// KEYS: sites, level order hash, health order hash, contributors.
var siteBatchScript = redis.NewScript(`
if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[2]
  or (redis.call('HGET', KEYS[2], ARGV[1]) or '') ~= ARGV[3]
  or (redis.call('HGET', KEYS[3], ARGV[1]) or '') ~= ARGV[4] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[7]) end
if ARGV[8] == '1' then redis.call('HSET', KEYS[4], ARGV[1], ARGV[9]) end
return 1
`)

// writeSites folds each site's levels and health signals into its state
// as read, as siteScript and healthScript would one after the other, and
// stores the results in one round trip. It returns the sites whose state
// changed since it was read.
func (m *ReadModel) writeSites(ctx context.Context, ls []*msg.Level, sites []string, bySite map[string][]int, read []siteRead, cur []bool) ([]string, error) {
	type write struct {
		site string
		args []any
		cmd  *redis.Cmd
	}
	var writes []write
	for j, site := range sites {
		raw, err := storedVal(read[j].sum)
		if err != nil {
			return nil, fmt.Errorf("cannot read site: %w", err)
		}
		order, err := storedVal(read[j].order)
		if err != nil {
			return nil, fmt.Errorf("cannot read site: %w", err)
		}
		hOrder, err := storedVal(read[j].hOrder)
		if err != nil {
			return nil, fmt.Errorf("cannot read site: %w", err)
		}
		args := []any{site, raw, order, hOrder}
		var prev *SiteSummary
		if raw != "" {
			if prev, err = decodeSite(raw); err != nil {
				return nil, err
			}
		}
		contrib, withContrib, changed := "", false, false
		for _, i := range bySite[site] {
			l := ls[i]
			cur[i] = false
			if IsHealthSignal(l) {
				sum, ok, err := healthSummary(l, prev)
				if err != nil {
					return nil, err
				}
				o := healthOrder(l)
				if !ok || hOrder != "" && parseOrder(hOrder) > o {
					continue
				}
				raw, hOrder = sum, strconv.FormatInt(o, 10)
				if order == "" {
					order = "0" // as healthScript's HSETNX
				}
			} else {
				sum, detail, withDetail, err := siteLevelSummary(l, prev, parseOrder(hOrder))
				if err != nil {
					return nil, err
				}
				o := ms(l.Time)
				if order != "" && parseOrder(order) > o {
					continue
				}
				raw, order = sum, strconv.FormatInt(o, 10)
				if withDetail {
					contrib, withContrib = detail, true
				}
			}
			// The next one reads what this one stored, as it would from Redis.
			if prev, err = decodeSite(raw); err != nil {
				return nil, err
			}
			cur[i], changed = true, true
		}
		if !changed {
			continue
		}
		flag := "0"
		if withContrib {
			flag = "1"
		}
		writes = append(writes, write{site: site, args: append(args, raw, order, hOrder, flag, contrib)})
	}
	if len(writes) == 0 {
		return nil, nil
	}
	err := m.pipelinedScripts(ctx, func(p redis.Pipeliner) error {
		for i := range writes {
			writes[i].cmd = siteBatchScript.EvalSha(ctx, p, []string{m.k("sites"), m.k("sites", "t"), m.k("sites", "ht"), m.k("sites", "contrib")}, writes[i].args...)
		}
		return nil
	}, siteBatchScript)
	if err != nil {
		return nil, fmt.Errorf("cannot store site levels: %w", err)
	}
	m.cache.invalidate()
	var busy []string
	for _, w := range writes {
		if n, _ := w.cmd.Int(); n == -1 {
			busy = append(busy, w.site)
		}
	}
	return busy, nil
}

func parseOrder(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func decodeSite(raw string) (*SiteSummary, error) {
	var s SiteSummary
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return nil, fmt.Errorf("cannot decode stored site: %w", err)
	}
	return &s, nil
}

// alertOrder orders the messages of one episode: later event time wins,
// and at the same time a resolution beats a firing.
func alertOrder(a *msg.Alert) int64 {
	o := ms(a.EventTime) * 2
	if a.Status == msg.StatusResolved {
		o++
	}
	return o
}

// ApplyAlert records one alert message; it reports whether it became the
// alert's current state.
func (m *ReadModel) ApplyAlert(ctx context.Context, a *msg.Alert) (bool, error) {
	if a.EventTime.IsZero() {
		a.EventTime = a.StartsAt
	}
	rec := AlertRecord{Alert: *a, Updated: a.EventTime.UTC()}
	if a.Status == msg.StatusResolved {
		rec.ResolvedAt = a.EndsAt
		if rec.ResolvedAt.IsZero() {
			rec.ResolvedAt = a.EventTime
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return false, err
	}
	// Lists read a summary without the evidence: a tenth of the bytes.
	sumRec := rec
	sumRec.Alert.Evidence = nil
	sb, err := json.Marshal(sumRec)
	if err != nil {
		return false, err
	}
	site := a.Labels["site"]
	tid := TargetID(a.Labels["target"])
	hasTarget := "0"
	if tid != "" {
		hasTarget = "1"
	}
	firing := "0"
	if a.Status == msg.StatusFiring {
		firing = "1"
	}
	start := a.StartsAt
	if start.IsZero() {
		start = a.EventTime
	}
	keys := []string{
		m.k("alerts", "t"), m.k("alert", a.Fingerprint), m.k("alerts"), m.k("alerts", "firing"),
		m.k("alerts", "site", site), m.k("alerts", "firing", "site", site),
		m.k("alerts", "target", tid), m.k("alerts", "firing", "target", tid), m.k("alertsum", a.Fingerprint),
		m.k("alerts", "ended"),
	}
	n, err := alertScript.Run(ctx, m.s, keys, a.Fingerprint, alertOrder(a), string(b), ms(start), firing, hasTarget, string(sb), ms(rec.ResolvedAt)).Int()
	if err != nil {
		return false, fmt.Errorf("cannot store alert: %w", err)
	}
	if n == 1 {
		m.cache.invalidate()
	}
	return n == 1, nil
}

// SiteKnown reports whether the read model has levels for site.
func (m *ReadModel) SiteKnown(ctx context.Context, site string) (bool, error) {
	ok, err := m.s.HExists(ctx, m.k("sites"), site).Result()
	if err != nil {
		return false, fmt.Errorf("cannot read sites: %w", err)
	}
	return ok, nil
}

func (m *ReadModel) siteSummary(ctx context.Context, site string) (*SiteSummary, error) {
	v, err := m.s.HGet(ctx, m.k("sites"), site).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read site: %w", err)
	}
	var s SiteSummary
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return nil, fmt.Errorf("cannot decode stored site: %w", err)
	}
	return &s, nil
}

// pageScript reads a page of an alert index, newest first, and the
// summary of each alert: flat triples of fingerprint, score, summary (false
// when missing). KEYS[1] index; ARGV max, min, offset, count, summary key prefix.
var pageScript = redis.NewScript(`
local z = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES', 'LIMIT', ARGV[3], ARGV[4])
local out = {}
for i = 1, #z, 2 do
  out[#out + 1] = z[i]
  out[#out + 1] = string.format('%d', tonumber(z[i + 1]))
  out[#out + 1] = redis.call('GET', ARGV[5] .. z[i])
end
return out
`)

// ErrNotFound reports an unknown site, alert or target.
var ErrNotFound = errors.New("not found")

// SiteOptions says what to add to site summaries.
type SiteOptions struct {
	// Spark adds hourly maxima over this window (0: none).
	Spark time.Duration
}

// SitesCacheTTL is how long a sites answer is reused. A wall of screens
// loading at once costs one read; what changes meanwhile reaches them as
// live events, and this replica's own updates invalidate it at once.
const SitesCacheTTL = time.Second

type sitesCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[time.Duration]cachedSites
	sf      singleflight.Group
}

type cachedSites struct {
	at    time.Time
	gen   uint64
	sites []SiteSummary
}

func (c *sitesCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *sitesCache) invalidate() {
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
}

// Sites returns every site's summary, sorted by site name. The caller may
// change the returned slice's elements (not their maps).
func (m *ReadModel) Sites(ctx context.Context, o SiteOptions) ([]SiteSummary, error) {
	c := &m.cache
	c.mu.Lock()
	e, ok := c.entries[o.Spark]
	gen := c.gen
	c.mu.Unlock()
	if ok && e.gen == gen && m.now().Sub(e.at) < SitesCacheTTL {
		return slices.Clone(e.sites), nil
	}
	v, err, _ := c.sf.Do(strconv.FormatInt(int64(o.Spark), 10), func() (any, error) {
		at := m.now()
		// Shared by every waiting request: not bound to the first one's life.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		sites, err := m.loadSites(lctx, o)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.entries == nil {
			c.entries = map[time.Duration]cachedSites{}
		}
		// Drop lists past their time: every spark window asked for once
		// would otherwise keep a copy of every site for good.
		for k, e := range c.entries {
			if e.gen < c.gen || at.Sub(e.at) >= SitesCacheTTL {
				delete(c.entries, k)
			}
		}
		c.entries[o.Spark] = cachedSites{at: at, gen: gen, sites: sites}
		c.mu.Unlock()
		return sites, nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Clone(v.([]SiteSummary)), nil
}

func (m *ReadModel) loadSites(ctx context.Context, o SiteOptions) ([]SiteSummary, error) {
	all, err := m.s.HGetAll(ctx, m.k("sites")).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot read sites: %w", err)
	}
	out := make([]SiteSummary, 0, len(all))
	for _, v := range all {
		var s SiteSummary
		if err := json.Unmarshal([]byte(v), &s); err != nil {
			continue // a record this build cannot read must not hide the others
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Site < out[j].Site })
	if err := m.enrich(ctx, out, o); err != nil {
		return nil, err
	}
	return out, nil
}

// Site returns one site with its top contributing threads.
func (m *ReadModel) Site(ctx context.Context, site string, o SiteOptions) (*SiteDetail, error) {
	s, err := m.siteSummary(ctx, site)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, ErrNotFound
	}
	one := []SiteSummary{*s}
	if err := m.enrich(ctx, one, o); err != nil {
		return nil, err
	}
	d := &SiteDetail{SiteSummary: one[0]}
	v, err := m.s.HGet(ctx, m.k("sites", "contrib"), site).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("cannot read contributors: %w", err)
	}
	if v != "" {
		_ = json.Unmarshal([]byte(v), &d.Contributors)
	}
	return d, nil
}

// enrich adds firing counts, trends and sparklines in one round trip.
func (m *ReadModel) enrich(ctx context.Context, sites []SiteSummary, o SiteOptions) error {
	if len(sites) == 0 {
		return nil
	}
	now := m.now()
	hourAgo := strconv.FormatInt(ms(now.Add(-time.Hour)), 10)
	firing := make([]*redis.IntCmd, len(sites))
	prev := make([]*redis.StringSliceCmd, len(sites))
	spark := make([]*redis.StringSliceCmd, len(sites))
	_, err := m.s.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range sites {
			firing[i] = p.ZCard(ctx, m.k("alerts", "firing", "site", s.Site))
			prev[i] = p.ZRevRangeByScore(ctx, m.k("lv", seriesKey(s.Site, "")), &redis.ZRangeBy{Max: hourAgo, Min: "-inf", Count: 1})
			if o.Spark > 0 {
				from := now.Add(-o.Spark).Truncate(time.Hour)
				spark[i] = p.ZRangeByScore(ctx, m.k("lvh", seriesKey(s.Site, "")), &redis.ZRangeBy{Min: strconv.FormatInt(ms(from), 10), Max: "+inf"})
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("cannot read site details: %w", err)
	}
	for i := range sites {
		sites[i].Firing = int(firing[i].Val())
		sites[i].Trend = "steady"
		if v := prev[i].Val(); len(v) == 1 {
			if p, ok := parseRaw(v[0]); ok {
				sites[i].Trend = trend(p.Level, sites[i].Level)
			}
		}
		if spark[i] != nil {
			from := now.Add(-o.Spark).Truncate(time.Hour)
			n := int(now.Sub(from)/time.Hour) + 1
			sites[i].SparkFrom, sites[i].Spark = from.UTC(), make([]*float64, n)
			vals := make([]float64, n)
			for _, v := range spark[i].Val() {
				if p, ok := parseHourly(v); ok {
					if k := int(p.T.Sub(from) / time.Hour); k >= 0 && k < n {
						vals[k] = p.Max
						sites[i].Spark[k] = &vals[k]
					}
				}
			}
		}
	}
	return nil
}

func trend(before, now float64) string {
	d := now - before
	tol := 0.05 * max(before, now, 0.01)
	switch {
	case d > tol:
		return "rising"
	case d < -tol:
		return "falling"
	}
	return "steady"
}

// parseRaw reads a raw-tier member "t|level|baseline|score|stale|posts|name".
func parseRaw(s string) (Point, bool) {
	f := strings.SplitN(s, "|", 7)
	if len(f) != 7 {
		return Point{}, false
	}
	t, err1 := strconv.ParseInt(f[0], 10, 64)
	lv, err2 := strconv.ParseFloat(f[1], 64)
	bl, err3 := strconv.ParseFloat(f[2], 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return Point{}, false
	}
	return Point{T: time.UnixMilli(t).UTC(), Level: lv, Max: lv, Baseline: bl, Stale: f[4] == "1", Name: f[6]}, true
}

// parseHourly reads an hourly member "hour|max|t|level|baseline|stale|name".
func parseHourly(s string) (Point, bool) {
	f := strings.SplitN(s, "|", 7)
	if len(f) != 7 {
		return Point{}, false
	}
	h, err1 := strconv.ParseInt(f[0], 10, 64)
	mx, err2 := strconv.ParseFloat(f[1], 64)
	lv, err3 := strconv.ParseFloat(f[3], 64)
	bl, err4 := strconv.ParseFloat(f[4], 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return Point{}, false
	}
	return Point{T: time.UnixMilli(h).UTC(), Level: lv, Max: mx, Baseline: bl, Stale: f[5] == "1", Name: f[6]}, true
}

// MaxPoints caps the points of one series answer.
const MaxPoints = 5000

// ErrRange reports a series request that cannot be answered as asked.
var ErrRange = errors.New("bad range")

// Levels returns the series of a site (targetID "") or of a target on a
// site over [from, to), downsampled to step: each bucket holds the maximum
// level and the latest point's level, baseline and name. Steps of an hour
// or more, and ranges reaching past the raw retention, are answered from
// the hourly tier, whose buckets start on the hour: its first holds the
// whole hour from falls in, stamped at from.
func (m *ReadModel) Levels(ctx context.Context, site, targetID string, from, to time.Time, step time.Duration) (*Series, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("%w: from must be before to", ErrRange)
	}
	if step <= 0 {
		step = max(to.Sub(from)/500, time.Minute)
	}
	if to.Sub(from)/step > MaxPoints {
		return nil, fmt.Errorf("%w: %v at %v is more than %d points", ErrRange, to.Sub(from), step, MaxPoints)
	}
	tier := "raw"
	key := m.k("lv", seriesKey(site, targetID))
	parse := parseRaw
	// Buckets count from origin. An hourly rollup is stamped with the
	// start of its hour, so the hourly tier counts from the start of the
	// hour from falls in: counted from from itself, that hour's rollup
	// (levels inside the range) fell before the range and was left out,
	// and every bucket was labelled up to an hour early.
	origin := from
	if step >= time.Hour || from.Before(m.now().Add(-m.RawRetention)) {
		tier, key, parse = "hourly", m.k("lvh", seriesKey(site, targetID)), parseHourly
		step = max(step.Truncate(time.Hour), time.Hour)
		origin = from.Truncate(time.Hour)
	}
	vals, err := m.s.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: key, ByScore: true,
		Start: strconv.FormatInt(ms(origin), 10), Stop: "(" + strconv.FormatInt(ms(to), 10),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot read levels: %w", err)
	}
	out := &Series{Site: site, Target: targetID, From: from.UTC(), To: to.UTC(), Step: step.String(), Tier: tier, Points: []Point{}}
	var cur *Point
	var curBucket int64 = -1
	for _, v := range vals {
		p, ok := parse(v)
		if !ok {
			continue
		}
		b := int64(p.T.Sub(origin) / step)
		if b != curBucket {
			if cur != nil {
				out.Points = append(out.Points, *cur)
			}
			bp := p
			// The first bucket may start before from: stamp it at from,
			// so every point stays inside the range asked for.
			bp.T = maxTime(origin.Add(time.Duration(b)*step), from).UTC()
			cur, curBucket = &bp, b
			continue
		}
		cur.Max = max(cur.Max, p.Max)
		cur.Level, cur.Baseline, cur.Name, cur.Stale = p.Level, p.Baseline, p.Name, p.Stale
	}
	if cur != nil {
		out.Points = append(out.Points, *cur)
	}
	return out, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// AlertFilter selects alerts. Zero fields match everything.
type AlertFilter struct {
	Site     string
	Signal   string
	Severity string
	// Status is firing, resolved or "" for both.
	Status string
	// TargetID selects alerts about one target.
	TargetID string
	// From and To bound the alert's start.
	From, To time.Time
	Limit    int
	// Cursor continues a previous page (its NextCursor).
	Cursor string
}

// AlertPage is one page of alerts, newest first.
type AlertPage struct {
	Alerts     []AlertRecord `json:"alerts"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// maxScan bounds how many index entries one page may examine, so a filter
// matching almost nothing cannot make one request read every alert.
const maxScan = 20000

// Alerts lists alerts matching f, newest first.
func (m *ReadModel) Alerts(ctx context.Context, f AlertFilter) (*AlertPage, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	idx := m.k("alerts")
	switch {
	case f.TargetID != "" && f.Status == msg.StatusFiring:
		idx = m.k("alerts", "firing", "target", f.TargetID)
	case f.TargetID != "":
		idx = m.k("alerts", "target", f.TargetID)
	case f.Site != "" && f.Status == msg.StatusFiring:
		idx = m.k("alerts", "firing", "site", f.Site)
	case f.Site != "":
		idx = m.k("alerts", "site", f.Site)
	case f.Status == msg.StatusFiring:
		idx = m.k("alerts", "firing")
	}
	maxS := "+inf"
	if !f.To.IsZero() {
		maxS = "(" + strconv.FormatInt(ms(f.To), 10)
	}
	minS := "-inf"
	if !f.From.IsZero() {
		minS = strconv.FormatInt(ms(f.From), 10)
	}
	var skipScore int64 = -1
	skipFP := ""
	if f.Cursor != "" {
		sc, fp, ok := strings.Cut(f.Cursor, ":")
		n, err := strconv.ParseInt(sc, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("%w: bad cursor", ErrRange)
		}
		skipScore, skipFP = n, fp
		maxS = strconv.FormatInt(n, 10)
		if !f.To.IsZero() && ms(f.To) <= n {
			maxS = "(" + strconv.FormatInt(ms(f.To), 10)
		}
	}
	page := &AlertPage{Alerts: []AlertRecord{}}
	// Only filters the index does not cover need more than a page read.
	batch := int64(f.Limit + 1)
	if f.Signal != "" || f.Severity != "" || f.Status == msg.StatusResolved || (f.TargetID != "" && f.Site != "") {
		batch = int64(max(f.Limit*4, 200))
	}
	var offset int64
	scanned := 0
	var lastScore int64
	lastFP := ""
	for scanned < maxScan {
		// One round trip: the index range and the summaries it names.
		res, err := pageScript.Run(ctx, m.s, []string{idx}, maxS, minS, offset, batch, m.k("alertsum", "")).Slice()
		if err != nil {
			return nil, fmt.Errorf("cannot list alerts: %w", err)
		}
		if len(res) == 0 {
			return page, nil
		}
		n := len(res) / 3
		offset += int64(n)
		scanned += n
		for i := 0; i < n; i++ {
			fp, _ := res[3*i].(string)
			scS, _ := res[3*i+1].(string)
			sc, _ := strconv.ParseInt(scS, 10, 64)
			if sc == skipScore && fp >= skipFP {
				continue
			}
			lastScore, lastFP = sc, fp
			{
				s, ok := res[3*i+2].(string)
				if !ok {
					continue
				}
				var rec AlertRecord
				if json.Unmarshal([]byte(s), &rec) != nil || !f.match(&rec) {
					continue
				}
				page.Alerts = append(page.Alerts, rec)
				if len(page.Alerts) == f.Limit {
					if i == n-1 && int64(n) < batch {
						return page, nil // nothing after it
					}
					page.NextCursor = fmt.Sprintf("%d:%s", lastScore, lastFP)
					return page, nil
				}
			}
		}
		if int64(n) < batch {
			return page, nil
		}
	}
	// Scanned the cap without filling the page: let the caller go on.
	if lastFP != "" {
		page.NextCursor = fmt.Sprintf("%d:%s", lastScore, lastFP)
	}
	return page, nil
}

func (f *AlertFilter) match(r *AlertRecord) bool {
	a := &r.Alert
	switch {
	case f.Site != "" && a.Labels["site"] != f.Site,
		f.Signal != "" && a.Labels["signal"] != f.Signal,
		f.Severity != "" && a.Labels["severity"] != f.Severity,
		f.Status != "" && a.Status != f.Status,
		f.TargetID != "" && TargetID(a.Labels["target"]) != f.TargetID:
		return false
	}
	return true
}

// Alert returns one alert.
func (m *ReadModel) Alert(ctx context.Context, fp string) (*AlertRecord, error) {
	v, err := m.s.Get(ctx, m.k("alert", fp)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read alert: %w", err)
	}
	var rec AlertRecord
	if err := json.Unmarshal([]byte(v), &rec); err != nil {
		return nil, fmt.Errorf("cannot decode stored alert: %w", err)
	}
	return &rec, nil
}

// Targets returns the most recently active targets, newest first.
func (m *ReadModel) Targets(ctx context.Context, limit int) ([]Target, error) {
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	ids, err := m.s.ZRangeArgs(ctx, redis.ZRangeArgs{Key: m.k("targets"), Start: 0, Stop: limit - 1, Rev: true}).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot list targets: %w", err)
	}
	return m.targets(ctx, ids)
}

// Target returns one target by id.
func (m *ReadModel) Target(ctx context.Context, id string) (*Target, error) {
	ts, err := m.targets(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, ErrNotFound
	}
	return &ts[0], nil
}

func (m *ReadModel) targets(ctx context.Context, ids []string) ([]Target, error) {
	if len(ids) == 0 {
		return []Target{}, nil
	}
	levels := make([]*redis.MapStringStringCmd, len(ids))
	firing := make([]*redis.IntCmd, len(ids))
	var refs *redis.SliceCmd
	_, err := m.s.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			levels[i] = p.HGetAll(ctx, m.k("target", id))
			firing[i] = p.ZCard(ctx, m.k("alerts", "firing", "target", id))
		}
		refs = p.HMGet(ctx, m.k("targetref"), ids...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read targets: %w", err)
	}
	out := make([]Target, 0, len(ids))
	for i, id := range ids {
		lv := levels[i].Val()
		if len(lv) == 0 {
			continue
		}
		t := Target{ID: id, Firing: int(firing[i].Val()), Sites: []TargetSiteLevel{}}
		if r, ok := refs.Val()[i].(string); ok {
			t.Ref = r
		}
		for _, v := range lv {
			var sl TargetSiteLevel
			if json.Unmarshal([]byte(v), &sl) != nil {
				continue
			}
			t.Sites = append(t.Sites, sl)
			if sl.Time.After(t.Updated) {
				t.Updated = sl.Time
			}
			if sl.Level >= t.MaxLevel {
				t.MaxLevel, t.Name = sl.Level, sl.Name
			}
		}
		sort.Slice(t.Sites, func(a, b int) bool { return t.Sites[a].Level > t.Sites[b].Level })
		out = append(out, t)
	}
	return out, nil
}

// forgetTargetScript deletes target ARGV[1] from the read model unless a
// level arrived for it since ARGV[2] (its score in the targets index) or
// an alert about it is firing. KEYS: targets index, target ref hash, the
// target's level hash and order hash, its firing alerts.
var forgetTargetScript = redis.NewScript(`
local t = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not t or tonumber(t) >= tonumber(ARGV[2]) then return 0 end
if redis.call('ZCARD', KEYS[5]) > 0 then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[4])
return 1
`)

// ExpireTargets forgets targets with no level for the hourly retention, at
// most limit per call, and reports how many. Their series have expired by
// then; without this, every person ever named kept an entry for good.
func (m *ReadModel) ExpireTargets(ctx context.Context, limit int) (int, error) {
	cut := ms(m.now().Add(-m.HourlyRetention))
	ids, err := m.s.ZRangeArgs(ctx, redis.ZRangeArgs{Key: m.k("targets"), ByScore: true, Start: "-inf", Stop: "(" + strconv.FormatInt(cut, 10), Count: int64(limit)}).Result()
	if err != nil {
		return 0, fmt.Errorf("cannot scan idle targets: %w", err)
	}
	n := 0
	for _, id := range ids {
		keys := []string{m.k("targets"), m.k("targetref"), m.k("target", id), m.k("target", id, "t"), m.k("alerts", "firing", "target", id)}
		done, err := forgetTargetScript.Run(ctx, m.s, keys, id, cut).Int()
		if err != nil {
			return n, fmt.Errorf("cannot forget idle target: %w", err)
		}
		n += done
	}
	return n, nil
}

// expireAlertScript deletes resolved alert ARGV[1] if it ended before
// ARGV[2]: checked here, so an alert written since it was read is kept.
// KEYS: ended index, record, summary, order hash, all, site, target.
var expireAlertScript = redis.NewScript(`
local t = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not t or tonumber(t) >= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`)

// Expire deletes alerts that resolved before the alert retention, at most
// limit of them per call, and reports how many it deleted. Retention
// counts from when an alert ended, not when it started: an alert that
// fired for longer than the retention stays for the whole retention
// after it resolves. Firing alerts never expire.
func (m *ReadModel) Expire(ctx context.Context, limit int) (int, error) {
	if err := m.indexEnded(ctx); err != nil {
		return 0, err
	}
	cut := strconv.FormatInt(ms(m.now().Add(-m.AlertRetention)), 10)
	ended := m.k("alerts", "ended")
	fps, err := m.s.ZRangeArgs(ctx, redis.ZRangeArgs{Key: ended, ByScore: true, Start: "-inf", Stop: "(" + cut, Count: int64(limit)}).Result()
	if err != nil {
		return 0, fmt.Errorf("cannot scan old alerts: %w", err)
	}
	n := 0
	for _, fp := range fps {
		rec, err := m.Alert(ctx, fp)
		if errors.Is(err, ErrNotFound) {
			m.s.ZRem(ctx, ended, fp)
			m.s.ZRem(ctx, m.k("alerts"), fp)
			continue
		}
		if err != nil {
			return n, err
		}
		site, tid := rec.Alert.Labels["site"], TargetID(rec.Alert.Labels["target"])
		keys := []string{ended, m.k("alert", fp), m.k("alertsum", fp), m.k("alerts", "t"), m.k("alerts"), m.k("alerts", "site", site), m.k("alerts", "target", tid)}
		done, err := expireAlertScript.Run(ctx, m.s, keys, fp, cut).Int()
		if err != nil {
			return n, fmt.Errorf("cannot delete old alert: %w", err)
		}
		n += done
	}
	return n, nil
}

// indexEnded puts the resolved alerts stored before the ended index
// existed into it, once: without it they would never expire.
func (m *ReadModel) indexEnded(ctx context.Context) error {
	mark := m.k("alerts", "ended", "indexed")
	if n, err := m.s.Exists(ctx, mark).Result(); err != nil {
		return fmt.Errorf("cannot read the ended index mark: %w", err)
	} else if n == 1 {
		return nil
	}
	// ZSCAN, not ranks: alerts written meanwhile shift ranks, and an
	// alert skipped here would never expire.
	var cursor uint64
	for {
		kv, next, err := m.s.ZScan(ctx, m.k("alerts"), cursor, "", 1000).Result()
		if err != nil {
			return fmt.Errorf("cannot scan alerts to index: %w", err)
		}
		var fps []string
		for i := 0; i < len(kv); i += 2 {
			fps = append(fps, kv[i])
		}
		sums := make([]*redis.StringCmd, len(fps))
		if _, err := m.s.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, fp := range fps {
				sums[i] = p.Get(ctx, m.k("alertsum", fp))
			}
			return nil
		}); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("cannot read alerts to index: %w", err)
		}
		var zs []redis.Z
		for i, c := range sums {
			var rec AlertRecord
			if errors.Is(c.Err(), redis.Nil) {
				continue
			}
			if c.Err() != nil {
				return fmt.Errorf("cannot read alert to index: %w", c.Err())
			}
			if json.Unmarshal([]byte(c.Val()), &rec) != nil || rec.Alert.Status != msg.StatusResolved {
				continue
			}
			end := rec.ResolvedAt
			if end.IsZero() {
				end = rec.Updated
			}
			zs = append(zs, redis.Z{Score: float64(ms(end)), Member: fps[i]})
		}
		if len(zs) > 0 {
			if err := m.s.ZAddNX(ctx, m.k("alerts", "ended"), zs...).Err(); err != nil {
				return fmt.Errorf("cannot index ended alerts: %w", err)
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	if err := m.s.Set(ctx, mark, "1", 0).Err(); err != nil {
		return fmt.Errorf("cannot mark the ended index: %w", err)
	}
	return nil
}
