package scrapers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// State is one site's crawl state in Redis. Keys (under the store prefix):
//
//	scrape:<site>:meta            hash: init (first crawl start), done (first crawl finished), base (mirror index)
//	scrape:<site>:http            hash: entry URL -> validators of listing pages
//	scrape:<site>:backlog         hash: entry URL -> JSON list of older pages still to read
//	scrape:<site>:thread:<id>     string: ThreadState JSON, expires seen_ttl after its last change
//	scrape:<site>:seen:<thread>   hash: site post id -> content hash, expires seen_ttl after its last change
//	scrape:<site>:seen:_:<id>     string: content hash of a post with no thread (feeds, channels), expires seen_ttl after it is written
//	scrape:<site>:health          string: Health JSON
//	scrape:<site>:lease           string: lease owner token (lease.go)
//
// Per-thread keys expire, so the state of a big site stays proportional to
// its recently active threads.
type State struct {
	s       *store.Store
	site    string
	seenTTL time.Duration
}

// NewState returns the state of site.
func NewState(s *store.Store, site string, seenTTL time.Duration) *State {
	return &State{s: s, site: site, seenTTL: seenTTL}
}

func (st *State) key(parts ...string) string {
	return st.s.Key(append([]string{"scrape", st.site}, parts...)...)
}

// Meta is a site's crawl bookkeeping.
type Meta struct {
	// Init is when the first crawl started: posts published before it are
	// history (backfill).
	Init time.Time
	// Done says the first crawl finished.
	Done bool
	// Base is the index of the base URL in use (0: the primary).
	Base int
}

// Meta reads the site's bookkeeping.
func (st *State) Meta(ctx context.Context) (Meta, error) {
	m, err := st.s.HGetAll(ctx, st.key("meta")).Result()
	if err != nil {
		return Meta{}, fmt.Errorf("cannot read crawl state: %w", err)
	}
	var out Meta
	if v := m["init"]; v != "" {
		out.Init, _ = time.Parse(time.RFC3339Nano, v)
	}
	out.Done = m["done"] == "1"
	fmt.Sscan(m["base"], &out.Base)
	return out, nil
}

// SetMeta writes the site's bookkeeping.
func (st *State) SetMeta(ctx context.Context, m Meta) error {
	done := "0"
	if m.Done {
		done = "1"
	}
	err := st.s.HSet(ctx, st.key("meta"), "init", m.Init.UTC().Format(time.RFC3339Nano), "done", done, "base", fmt.Sprint(m.Base)).Err()
	if err != nil {
		return fmt.Errorf("cannot write crawl state: %w", err)
	}
	return nil
}

// ThreadState is what the crawler remembers of one thread.
type ThreadState struct {
	// Marker is the listing's marker when the thread was last read to its
	// end; empty while a read is unfinished.
	Marker string `json:"m,omitempty"`
	// Cursor is the page read last (relative to the base URL when on it),
	// where the next read starts.
	Cursor string `json:"c,omitempty"`
	// V are the cursor page's validators.
	V Validators `json:"v,omitzero"`
}

// Thread reads a thread's state; a zero state for an unknown thread.
func (st *State) Thread(ctx context.Context, id string) (ThreadState, error) {
	t, _, err := st.LookupThread(ctx, id)
	return t, err
}

// LookupThread reads a thread's state and reports whether there is any
// (a thread read before may have a zero state).
func (st *State) LookupThread(ctx context.Context, id string) (ThreadState, bool, error) {
	var t ThreadState
	b, err := st.s.Get(ctx, st.key("thread", id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return t, false, nil
	}
	if err != nil {
		return t, false, fmt.Errorf("cannot read thread state: %w", err)
	}
	_ = json.Unmarshal(b, &t) // a damaged record reads as unknown: the thread is re-read
	return t, true, nil
}

// AdoptThread takes over what was recorded of a thread under another id,
// oldID (the id an earlier version gave it), for the thread's id now: its
// state and its seen-set, each post id in it passed through postID. It
// reports whether it took anything over. Posts already recorded under id
// keep their records, and a state written under id since the caller
// found none (by another crawler of the site) is newer than the old one:
// it stays, and is what AdoptThread returns. The records under oldID are
// left to expire: a rollback still finds them.
func (st *State) AdoptThread(ctx context.Context, oldID, id string, postID func(old string) string) (ThreadState, bool, error) {
	var t ThreadState
	var state *redis.StringCmd
	var seen *redis.MapStringStringCmd
	_, err := st.s.Pipelined(ctx, func(p redis.Pipeliner) error {
		state = p.Get(ctx, st.key("thread", oldID))
		seen = p.HGetAll(ctx, st.key("seen", oldID))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return t, false, fmt.Errorf("cannot read thread state: %w", err)
	}
	// The pipeline reports its first error only: a missing state (nil)
	// hid a failed read of the seen-set, and the thread was taken over
	// without it, its posts all new.
	if err := seen.Err(); err != nil {
		return t, false, fmt.Errorf("cannot read seen-set: %w", err)
	}
	b, serr := state.Bytes()
	found := serr == nil
	if found {
		_ = json.Unmarshal(b, &t) // a damaged record reads as unknown, as in LookupThread
	}
	posts := make(map[string]string, len(seen.Val()))
	for old, hash := range seen.Val() {
		posts[postID(old)] = hash
	}
	if !found && len(posts) == 0 {
		return t, false, nil
	}
	// One transaction: the seen-set is never adopted without the state
	// (a crash in between would leave the thread with no state and its
	// seen-set half adopted), nor the state without the seen-set (its
	// posts would all be new). Watched, and given up when the thread has a
	// state under id by then: written meanwhile, it is newer than oldID's.
	tk := st.key("thread", id)
	err = st.s.Watch(ctx, func(tx *redis.Tx) error {
		n, err := tx.Exists(ctx, tk).Result()
		if err != nil {
			return err
		}
		if n > 0 {
			return redis.TxFailedErr
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if len(posts) > 0 {
				k := st.key("seen", id)
				for pid, hash := range posts {
					p.HSetNX(ctx, k, pid, hash)
				}
				p.Expire(ctx, k, st.seenTTL)
			}
			b, _ := json.Marshal(t)
			p.Set(ctx, tk, b, st.seenTTL)
			return nil
		})
		return err
	}, tk)
	if errors.Is(err, redis.TxFailedErr) {
		cur, _, err := st.LookupThread(ctx, id)
		return cur, false, err
	}
	if err != nil {
		return t, false, fmt.Errorf("cannot write thread state: %w", err)
	}
	return t, true, nil
}

// SetThread writes a thread's state.
func (st *State) SetThread(ctx context.Context, id string, t ThreadState) error {
	b, _ := json.Marshal(t)
	if err := st.s.Set(ctx, st.key("thread", id), b, st.seenTTL).Err(); err != nil {
		return fmt.Errorf("cannot write thread state: %w", err)
	}
	return nil
}

// Validators reads a listing page's validators.
func (st *State) Validators(ctx context.Context, u string) (Validators, error) {
	var v Validators
	b, err := st.s.HGet(ctx, st.key("http"), u).Bytes()
	if errors.Is(err, redis.Nil) {
		return v, nil
	}
	if err != nil {
		return v, fmt.Errorf("cannot read validators: %w", err)
	}
	_ = json.Unmarshal(b, &v)
	return v, nil
}

// SetValidators writes a listing page's validators.
func (st *State) SetValidators(ctx context.Context, u string, v Validators) error {
	b, _ := json.Marshal(v)
	if err := st.s.HSet(ctx, st.key("http"), u, b).Err(); err != nil {
		return fmt.Errorf("cannot write validators: %w", err)
	}
	return nil
}

// seenKey is the key of post p's record: its thread's hash, or for a post
// with no thread (a feed's, a channel's) a key of its own. One hash for
// all of a feed's posts would have its expiry renewed by every new post
// and never expire on an active feed, growing by every post it carried.
func (st *State) seenKey(p *msg.Post) (key string, hash bool) {
	if p.ThreadID == "" {
		return st.key("seen", "_", p.SitePostID), false
	}
	return st.key("seen", p.ThreadID), true
}

// Seen returns, for each post, the content hash recorded for it ("" for a
// post never seen).
func (st *State) Seen(ctx context.Context, posts []msg.Post) ([]string, error) {
	if len(posts) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.StringCmd, len(posts))
	_, err := st.s.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range posts {
			if k, hash := st.seenKey(&posts[i]); hash {
				cmds[i] = p.HGet(ctx, k, posts[i].SitePostID)
			} else {
				cmds[i] = p.Get(ctx, k)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("cannot read seen-set: %w", err)
	}
	out := make([]string, len(posts))
	var older []int
	for i, c := range cmds {
		out[i], _ = c.Result()
		if out[i] == "" && posts[i].ThreadID == "" {
			older = append(older, i)
		}
	}
	if len(older) > 0 {
		// Recorded before a threadless post had a key of its own: the
		// site's one hash, which expires seen_ttl after its last write.
		fields := make([]string, len(older))
		for j, i := range older {
			fields[j] = posts[i].SitePostID
		}
		vals, err := st.s.HMGet(ctx, st.key("seen", "_"), fields...).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("cannot read seen-set: %w", err)
		}
		for j, i := range older {
			if j < len(vals) {
				out[i], _ = vals[j].(string)
			}
		}
	}
	return out, nil
}

// MarkSeen records the posts' content hashes. It is called only after the
// posts were durably handed on, so a crash in between re-emits (at least
// once) rather than loses.
func (st *State) MarkSeen(ctx context.Context, posts []msg.Post) error {
	if len(posts) == 0 {
		return nil
	}
	_, err := st.s.Pipelined(ctx, func(p redis.Pipeliner) error {
		keys := map[string]bool{}
		for i := range posts {
			k, hash := st.seenKey(&posts[i])
			if !hash {
				p.Set(ctx, k, posts[i].ContentHash, st.seenTTL)
				continue
			}
			p.HSet(ctx, k, posts[i].SitePostID, posts[i].ContentHash)
			keys[k] = true
		}
		for k := range keys {
			p.Expire(ctx, k, st.seenTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot write seen-set: %w", err)
	}
	return nil
}

// SetHealth records the site's health for other processes and the API.
func (st *State) SetHealth(ctx context.Context, h Health) error {
	b, _ := json.Marshal(h)
	if err := st.s.Set(ctx, st.key("health"), b, 0).Err(); err != nil {
		return fmt.Errorf("cannot write site health: %w", err)
	}
	return nil
}

// ReadHealth reads a site's last recorded health (ok false when none).
func ReadHealth(ctx context.Context, s *store.Store, site string) (Health, bool, error) {
	var h Health
	b, err := s.Get(ctx, s.Key("scrape", site, "health")).Bytes()
	if errors.Is(err, redis.Nil) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("cannot read site health: %w", err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, false, fmt.Errorf("cannot read site health: %w", err)
	}
	return h, true, nil
}

// Backlog reads where walks over an entry's older pages were cut short,
// newest gap first.
func (st *State) Backlog(ctx context.Context, entry string) ([]string, error) {
	var out []string
	b, err := st.s.HGet(ctx, st.key("backlog"), entry).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read listing backlog: %w", err)
	}
	_ = json.Unmarshal(b, &out) // a damaged record reads as none
	return out, nil
}

// SetBacklog writes an entry's backlog (none: removed).
func (st *State) SetBacklog(ctx context.Context, entry string, refs []string) error {
	var err error
	if len(refs) == 0 {
		err = st.s.HDel(ctx, st.key("backlog"), entry).Err()
	} else {
		b, _ := json.Marshal(refs)
		err = st.s.HSet(ctx, st.key("backlog"), entry, b).Err()
	}
	if err != nil {
		return fmt.Errorf("cannot write listing backlog: %w", err)
	}
	return nil
}
