package watchlist

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threatwatch/threatwatch/pipeline/store"
)

// unitField is the value stored for a unit hash.
const unitField = "address"

// ListStore is the watchlist as kept in Redis. It holds keyed hashes, the
// ids of the keys that made them, opaque person ids and per-kind counts;
// never a plain detail. Layout, under redis.key_prefix + namespace:
//
//	gen                  counter, bumped after every change; matchers reload on it
//	keyids               SET of key ids whose hashes are live (two during a rotation)
//	check:<kid>          the key's check value: detects a wrong secret for an id
//	persons:<kid>        SET of person ids hashed under <kid>
//	p:<kid>:<person>     HASH: <digest hex> -> "<kind> <words> <tag hex>" for word
//	                     entries (names, handles, addresses, ...) and plates,
//	                     "<kind>" for phones and emails, "address" for the
//	                     unit hashes of addresses (see Record.Units),
//	                     and "_n:<kind>" -> number of details of that kind given
//	lock                 held while a CLI command changes the list
type ListStore struct {
	st *store.Store
	ns string
}

// NewListStore returns the list kept in st under namespace ns ("wl").
func NewListStore(st *store.Store, ns string) *ListStore {
	if ns == "" {
		ns = "wl"
	}
	return &ListStore{st: st, ns: ns}
}

func (l *ListStore) key(parts ...string) string {
	return l.st.Key(append([]string{l.ns}, parts...)...)
}

// ErrLocked reports that another command is changing the list.
var ErrLocked = errors.New("another watchlist change is in progress")

// Lock takes the list's change lock and holds it until the returned func
// is called, renewing it every ttl/3: a change takes as long as it needs
// (a large import, a slow Redis), and the lock of a command that crashed
// expires within ttl, not after a fixed ten minutes. The renewals stop
// with ctx too.
func (l *ListStore) Lock(ctx context.Context, ttl time.Duration) (func(), error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	lease, err := l.st.AcquireLease(ctx, l.key("lock"), hex.EncodeToString(b[:]), ttl)
	if err != nil {
		return nil, fmt.Errorf("cannot take the watchlist lock: %w", err)
	}
	if lease == nil {
		return nil, fmt.Errorf("%w (a crashed command's lock expires within %s)", ErrLocked, ttl)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				// A failed renewal is tried again at the next tick; the
				// lock lapses only if none succeeds within ttl.
				_, _ = lease.Renew(rctx)
			}
		}
	}()
	return func() {
		stop()
		<-done
		_ = lease.Release(context.WithoutCancel(ctx))
	}, nil
}

// Gen returns the change counter (0 for a list never written).
func (l *ListStore) Gen(ctx context.Context) (int64, error) {
	n, err := l.st.Get(ctx, l.key("gen")).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cannot read watchlist generation: %w", err)
	}
	return n, nil
}

// Bump marks a change, so matchers reload.
func (l *ListStore) Bump(ctx context.Context) (int64, error) {
	n, err := l.st.Incr(ctx, l.key("gen")).Result()
	if err != nil {
		return 0, fmt.Errorf("cannot bump watchlist generation: %w", err)
	}
	return n, nil
}

// Active returns the ids of the keys whose hashes are live, sorted.
func (l *ListStore) Active(ctx context.Context) ([]string, error) {
	ids, err := l.st.SMembers(ctx, l.key("keyids")).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot read watchlist key ids: %w", err)
	}
	sort.Strings(ids)
	return ids, nil
}

// CheckKey verifies h against the check value stored for its id. With
// setIfMissing, a key never used before records its check value.
func (l *ListStore) CheckKey(ctx context.Context, h *Hasher, setIfMissing bool) error {
	k := l.key("check", h.ID())
	got, err := l.st.Get(ctx, k).Result()
	if errors.Is(err, redis.Nil) {
		if !setIfMissing {
			return fmt.Errorf("%w: key %q has no check value stored", ErrKey, h.ID())
		}
		ok, err := l.st.SetNX(ctx, k, h.Check(), 0).Result()
		if err != nil {
			return fmt.Errorf("cannot store key check: %w", err)
		}
		if ok {
			return nil
		}
		got, err = l.st.Get(ctx, k).Result()
		if err != nil {
			return fmt.Errorf("cannot read key check: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("cannot read key check: %w", err)
	}
	if got != h.Check() {
		return fmt.Errorf("%w: the secret configured for key %q is not the one its stored hashes were made with", ErrKey, h.ID())
	}
	return nil
}

// Activate makes kid's hashes live.
func (l *ListStore) Activate(ctx context.Context, kid string) error {
	if err := l.st.SAdd(ctx, l.key("keyids"), kid).Err(); err != nil {
		return fmt.Errorf("cannot activate key %s: %w", kid, err)
	}
	return nil
}

// Put replaces everything stored for rec.Person under kid, atomically.
func (l *ListStore) Put(ctx context.Context, kid string, rec Record) error {
	fields := make([]any, 0, 2*(len(rec.Entries)+len(rec.Counts)))
	for _, e := range rec.Entries {
		v := e.Kind.String()
		switch {
		case e.Kind.tagged():
			v += " " + strconv.Itoa(int(e.N)) + " " + strconv.FormatUint(uint64(e.Tag), 16)
			if e.HasSeq {
				v += " " + strconv.FormatUint(uint64(e.Seq), 16)
			}
		case e.HasTail:
			// "phone n tail": versions before tail tags read the tag and
			// leave it unused.
			v += " " + strconv.Itoa(int(e.N)) + " " + strconv.FormatUint(uint64(e.Tail), 16)
		}
		fields = append(fields, e.Digest.String(), v)
	}
	for _, d := range rec.Units {
		// The kind alone, as a phone without a tail tag is stored:
		// versions before unit hashes read it as an address entry
		// without a tag, which no word of a post has.
		fields = append(fields, d.String(), unitField)
	}
	for k, n := range rec.Counts {
		fields = append(fields, "_n:"+k.String(), n)
	}
	pk := l.key("p", kid, rec.Person)
	_, err := l.st.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, pk)
		if len(fields) > 0 {
			p.HSet(ctx, pk, fields...)
		}
		p.SAdd(ctx, l.key("persons", kid), rec.Person)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot store person %s: %w", rec.Person, err)
	}
	return nil
}

// Remove deletes a person under kid, reporting whether it was there.
func (l *ListStore) Remove(ctx context.Context, kid, person string) (bool, error) {
	var n *redis.IntCmd
	_, err := l.st.TxPipelined(ctx, func(p redis.Pipeliner) error {
		n = p.SRem(ctx, l.key("persons", kid), person)
		p.Del(ctx, l.key("p", kid, person))
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("cannot remove person %s: %w", person, err)
	}
	return n.Val() > 0, nil
}

// Persons returns the person ids under kid, sorted.
func (l *ListStore) Persons(ctx context.Context, kid string) ([]string, error) {
	ids, err := l.st.SMembers(ctx, l.key("persons", kid)).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot read persons: %w", err)
	}
	sort.Strings(ids)
	return ids, nil
}

// Load reads every record under kid. Malformed fields are skipped and
// counted in bad (a hand-edited store must not stop matching the rest).
func (l *ListStore) Load(ctx context.Context, kid string) (recs []Record, bad int, err error) {
	ids, err := l.Persons(ctx, kid)
	if err != nil {
		return nil, 0, err
	}
	const chunk = 500
	for i := 0; i < len(ids); i += chunk {
		part := ids[i:min(i+chunk, len(ids))]
		cmds := make([]*redis.MapStringStringCmd, len(part))
		_, err := l.st.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j, id := range part {
				cmds[j] = p.HGetAll(ctx, l.key("p", kid, id))
			}
			return nil
		})
		if err != nil {
			return nil, 0, fmt.Errorf("cannot load watchlist: %w", err)
		}
		for j, c := range cmds {
			rec, b := decodeRecord(part[j], c.Val())
			bad += b
			recs = append(recs, rec)
		}
	}
	return recs, bad, nil
}

func decodeRecord(person string, m map[string]string) (Record, int) {
	rec := Record{Person: person, Counts: map[Kind]int{}, Entries: make([]Entry, 0, len(m))}
	bad := 0
	for f, v := range m {
		if k, ok := strings.CutPrefix(f, "_n:"); ok {
			kind, ok1 := ParseKind(k)
			n, err := strconv.Atoi(v)
			if !ok1 || err != nil {
				bad++
				continue
			}
			rec.Counts[kind] = n
			continue
		}
		d, ok := parseDigest(f)
		if !ok {
			bad++
			continue
		}
		parts := strings.Fields(v)
		// "kind", "kind n tag", or "kind n tag seq" (lists stored
		// before sequence tags have none); a phone's tag is its tail tag
		// (lists stored before those have none).
		if len(parts) != 1 && len(parts) != 3 && len(parts) != 4 {
			bad++
			continue
		}
		kind, ok := ParseKind(parts[0])
		if !ok {
			bad++
			continue
		}
		if len(parts) == 1 && kind == KindAddress {
			// Word entries always carry a tag: an address without one is
			// a unit hash.
			rec.Units = append(rec.Units, d)
			continue
		}
		e := Entry{Digest: d, Kind: kind, N: 1}
		if len(parts) >= 3 {
			n, err1 := strconv.Atoi(parts[1])
			tag, err2 := strconv.ParseUint(parts[2], 16, 24)
			if err1 != nil || err2 != nil || n < 1 || n > maxWords {
				bad++
				continue
			}
			e.N, e.Tag = uint8(n), uint32(tag)
			if kind == KindPhone {
				if n > maxTailDigits || len(parts) == 4 {
					bad++
					continue
				}
				e.Tag, e.Tail, e.HasTail = 0, uint32(tag), true
			}
		}
		if len(parts) == 4 {
			seq, err := strconv.ParseUint(parts[3], 16, 24)
			if err != nil || e.N < 2 {
				bad++
				continue
			}
			e.Seq, e.HasSeq = uint32(seq), true
		}
		rec.Entries = append(rec.Entries, e)
	}
	return rec, bad
}

// Counts returns, per person under kid, how many details of each kind
// were given.
func (l *ListStore) Counts(ctx context.Context, kid string) (map[string]map[Kind]int, error) {
	recs, _, err := l.Load(ctx, kid)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[Kind]int, len(recs))
	for _, r := range recs {
		out[r.Person] = r.Counts
	}
	return out, nil
}

// Drop deletes everything stored under kid: its check value, its persons
// and their hashes. The key must have been deactivated first.
func (l *ListStore) Drop(ctx context.Context, kid string) error {
	ids, err := l.Persons(ctx, kid)
	if err != nil {
		return err
	}
	for i := 0; i < len(ids); i += 500 {
		part := ids[i:min(i+500, len(ids))]
		keys := make([]string, len(part))
		for j, id := range part {
			keys[j] = l.key("p", kid, id)
		}
		if err := l.st.Del(ctx, keys...).Err(); err != nil {
			return fmt.Errorf("cannot delete hashes of key %s: %w", kid, err)
		}
	}
	if err := l.st.Del(ctx, l.key("persons", kid), l.key("check", kid)).Err(); err != nil {
		return fmt.Errorf("cannot delete key %s: %w", kid, err)
	}
	return nil
}

// Stale returns the key ids that have hashes or a check value in Redis
// but are not live: left by a rotation that was interrupted, or by a
// retirement that stopped between deactivating the key and deleting its
// hashes.
func (l *ListStore) Stale(ctx context.Context) ([]string, error) {
	active, err := l.Active(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, kind := range []string{"persons", "check"} {
		prefix := l.key(kind) + ":"
		var cursor uint64
		for {
			keys, next, err := l.st.Scan(ctx, cursor, globEscape(prefix)+"*", 500).Result()
			if err != nil {
				return nil, fmt.Errorf("cannot list the watchlist's keys: %w", err)
			}
			for _, k := range keys {
				kid := strings.TrimPrefix(k, prefix)
				if !seen[kid] && !slices.Contains(active, kid) {
					seen[kid] = true
					out = append(out, kid)
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// Deactivate stops matchers from using kid's hashes.
func (l *ListStore) Deactivate(ctx context.Context, kid string) error {
	if err := l.st.SRem(ctx, l.key("keyids"), kid).Err(); err != nil {
		return fmt.Errorf("cannot deactivate key %s: %w", kid, err)
	}
	return nil
}

// Purge deletes every key of the list under this namespace: its keys,
// persons, hashes, generation and lock. It is for lists made only to be
// measured or tested (`threatwatch bench watchlist`); a real list is
// changed with the admin commands.
func (l *ListStore) Purge(ctx context.Context) error {
	pattern := globEscape(l.key()) + ":*"
	var cursor uint64
	for {
		keys, next, err := l.st.Scan(ctx, cursor, pattern, 500).Result()
		if err != nil {
			return fmt.Errorf("cannot list the keys of watchlist namespace %s: %w", l.ns, err)
		}
		if len(keys) > 0 {
			if err := l.st.Del(ctx, keys...).Err(); err != nil {
				return fmt.Errorf("cannot delete the keys of watchlist namespace %s: %w", l.ns, err)
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// globEscape quotes the characters Redis's SCAN MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\^`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
