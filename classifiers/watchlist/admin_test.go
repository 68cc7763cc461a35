package watchlist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/obs/obstest"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

const (
	secretK1 = "k1-secret-0123456789abcdef0123456789abcdef"
	secretK2 = "k2-secret-fedcba9876543210fedcba9876543210"
)

func testConfig(keys ...string) config.Watchlist {
	c := config.Default().Watchlist
	for _, k := range keys {
		s := secretK1
		if k == "k2" {
			s = secretK2
		}
		c.Keys = append(c.Keys, config.WatchlistKey{ID: k, Secret: config.NewSecret(s)})
	}
	c.PhoneRegions = []string{"US", "GB"}
	c.Refresh = 100 * time.Millisecond
	return c
}

func parse(t testing.TB, s string) *File {
	t.Helper()
	f, err := ParseFile(strings.NewReader(s), "test")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// dumpRedis returns every key and value under the store's prefix, as one
// string, whatever the value types.
func dumpRedis(t testing.TB, st *store.Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	iter := st.Scan(ctx, 0, "*", 1000).Iterator()
	n := 0
	for iter.Next(ctx) {
		k := iter.Val()
		n++
		b.WriteString(k + "\n")
		typ, err := st.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "string":
			b.WriteString(st.Get(ctx, k).Val())
		case "hash":
			for f, v := range st.HGetAll(ctx, k).Val() {
				b.WriteString(f + "=" + v + "\n")
			}
		case "set":
			b.WriteString(strings.Join(st.SMembers(ctx, k).Val(), "\n"))
		case "list":
			b.WriteString(strings.Join(st.LRange(ctx, k, 0, -1).Val(), "\n"))
		case "zset":
			b.WriteString(strings.Join(st.ZRange(ctx, k, 0, -1).Val(), "\n"))
		case "stream":
			for _, m := range st.XRange(ctx, k, "-", "+").Val() {
				for f, v := range m.Values {
					b.WriteString(f + "=" + toString(v) + "\n")
				}
			}
		default:
			t.Fatalf("key %s has type %s the dump does not know", k, typ)
		}
		b.WriteString("\n")
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("redis is empty: the dump would prove nothing")
	}
	return b.String()
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

const twoPersons = `
persons:
  - id: p-1
    names: [Clara Sorrenti]
    addresses: ["123 Main Avenue, Apt 4"]
    phones: ["+1 555 010 4477"]
  - id: p-2
    names: [Ines Dalgaard]
    emails: [ines@dalgaard.example]
`

func TestAdminAddListRemove(t *testing.T) {
	ctx := context.Background()
	st := redistest.New(t)
	a, err := NewAdmin(testConfig("k1"), st)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := a.Add(ctx, parse(t, twoPersons))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Persons != 2 || sum.Hashes == 0 || len(sum.Keys) != 1 || sum.Keys[0] != "k1" || sum.Generation != 1 {
		t.Fatalf("summary = %+v", sum)
	}
	l, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Persons) != 2 || l.Persons[0].ID != "p-1" || l.Persons[0].Counts["address"] != 1 || l.Persons[0].Counts["phone"] != 1 || l.Persons[1].Counts["email"] != 1 {
		t.Fatalf("listing = %+v", l)
	}
	dump := strings.ToLower(dumpRedis(t, st))
	for _, v := range []string{"clara", "sorrenti", "main", "4477", "5550104477", "ines", "dalgaard"} {
		if strings.Contains(dump, v) {
			t.Errorf("redis holds %q", v)
		}
	}
	if _, err := a.Remove(ctx, []string{"p-2", "p-9"}); !errors.Is(err, ErrUnknownPerson) {
		t.Fatalf("removing an unknown id: err = %v", err)
	}
	// An operator who typed a name for an id must not see it echoed into
	// a terminal or a CI log: the error names the argument by position.
	if _, err := a.Remove(ctx, []string{"p-2", "Clara Sorrenti"}); !errors.Is(err, ErrUnknownPerson) || strings.Contains(err.Error(), "Clara") || !strings.Contains(err.Error(), "argument 2") {
		t.Fatalf("removing a name given for an id: err = %v", err)
	}
	if l, _ := a.List(ctx); len(l.Persons) != 2 {
		t.Fatalf("a failed remove removed something: %+v", l)
	}
	if _, err := a.Remove(ctx, []string{"p-2"}); err != nil {
		t.Fatal(err)
	}
	if l, _ := a.List(ctx); len(l.Persons) != 1 || l.Persons[0].ID != "p-1" {
		t.Fatalf("after remove: %+v", l)
	}
	// Adding the same person again replaces, not duplicates.
	if _, err := a.Add(ctx, parse(t, "persons:\n  - id: p-1\n    names: [Clara Sorrenti]\n")); err != nil {
		t.Fatal(err)
	}
	if l, _ := a.List(ctx); len(l.Persons) != 1 || l.Persons[0].Counts["address"] != 0 || l.Keys[0].Hashes != 1 {
		t.Fatalf("after replace: %+v", l)
	}
}

func TestImportMakesTheListExactlyTheFile(t *testing.T) {
	ctx := context.Background()
	st := redistest.New(t)
	a, _ := NewAdmin(testConfig("k1"), st)
	if _, err := a.Import(ctx, parse(t, twoPersons), false); err != nil {
		t.Fatal(err)
	}
	one := "persons:\n  - id: p-2\n    names: [Ines Dalgaard]\n"
	dry, err := a.Import(ctx, parse(t, one), true)
	if err != nil || dry.Removed != 1 || !dry.DryRun {
		t.Fatalf("dry run = %+v, %v", dry, err)
	}
	if l, _ := a.List(ctx); len(l.Persons) != 2 {
		t.Fatalf("dry run changed the list: %+v", l)
	}
	if _, err := a.Import(ctx, parse(t, one), false); err != nil {
		t.Fatal(err)
	}
	if l, _ := a.List(ctx); len(l.Persons) != 1 || l.Persons[0].ID != "p-2" {
		t.Fatalf("after import: %+v", l)
	}
	// A file with one bad entry changes nothing.
	bad := "persons:\n  - id: p-3\n    names: [Someone Else]\n  - id: p-4\n    phones: [\"12\"]\n"
	if _, err := a.Import(ctx, parse(t, bad), false); !errors.Is(err, ErrFile) {
		t.Fatalf("err = %v", err)
	}
	if l, _ := a.List(ctx); len(l.Persons) != 1 || l.Persons[0].ID != "p-2" {
		t.Fatalf("a bad import changed the list: %+v", l)
	}
}

func TestChangesAreSerializedByTheLock(t *testing.T) {
	ctx := context.Background()
	st := redistest.New(t)
	a, _ := NewAdmin(testConfig("k1"), st)
	unlock, err := a.list.Lock(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Add(ctx, parse(t, twoPersons)); !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	unlock()
	if _, err := a.Add(ctx, parse(t, twoPersons)); err != nil {
		t.Fatal(err)
	}
}

func TestAWrongSecretForAKeyIsRefused(t *testing.T) {
	ctx := context.Background()
	st := redistest.New(t)
	a, _ := NewAdmin(testConfig("k1"), st)
	if _, err := a.Add(ctx, parse(t, twoPersons)); err != nil {
		t.Fatal(err)
	}
	c := testConfig()
	c.Keys = []config.WatchlistKey{{ID: "k1", Secret: config.NewSecret(secretK2)}}
	b, _ := NewAdmin(c, st)
	if _, err := b.Add(ctx, parse(t, twoPersons)); !errors.Is(err, ErrKey) {
		t.Fatalf("add with another secret: err = %v", err)
	}
	if _, err := Open(ctx, c, st, nil, nil); !errors.Is(err, ErrKey) {
		t.Fatalf("open with another secret: err = %v", err)
	}
	if _, err := Open(ctx, testConfig("k2"), st, nil, nil); !errors.Is(err, ErrKey) {
		t.Fatalf("open without the live key: err = %v", err)
	}
}

func TestMatcherPicksUpChangesWithoutRestart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := redistest.New(t)
	cfg := testConfig("k1")
	m, err := Open(ctx, cfg, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	post := &msg.Post{Text: "she is at 123 main ave"}
	if got := m.Find(post); len(got) != 0 {
		t.Fatalf("empty list matched %+v", got)
	}
	a, _ := NewAdmin(cfg, st)
	if _, err := a.Add(ctx, parse(t, twoPersons)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the added person to be matched", func() bool { return len(m.Find(post)) == 1 })
	if _, err := a.Remove(ctx, []string{"p-1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the removed person to stop matching", func() bool { return len(m.Find(post)) == 0 })
}

// TestAVanishedWatchlistKeepsMatchingAndSaysSo: Redis loses the
// watchlist (restarted empty, failed over). A running matcher must not
// swap in the nothing it now finds, which would stop protecting everyone
// without a word: it keeps the loaded list, logs an error and raises
// threatwatch_watchlist_vanished until the list is imported again.
func TestAVanishedWatchlistKeepsMatchingAndSaysSo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := redistest.New(t)
	cfg := testConfig("k1")
	a, _ := NewAdmin(cfg, st)
	if _, err := a.Import(ctx, parse(t, twoPersons), false); err != nil {
		t.Fatal(err)
	}
	var logs obstest.Buffer
	reg := prometheus.NewRegistry()
	m, err := Open(ctx, cfg, st, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	post := &msg.Post{Text: "she is at 123 main ave"}
	if len(m.Find(post)) != 1 {
		t.Fatal("scenario: the listed address is not matched")
	}
	keys, err := st.Keys(ctx, st.Prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	if err := st.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the loss to be noticed", func() bool { return testutil.ToFloat64(m.met.vanished) == 1 })
	if len(m.Find(post)) != 1 {
		t.Error("the loaded list was dropped when Redis lost it")
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "watchlist vanished from Redis") {
		t.Errorf("no error logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "123") {
		t.Error("a listed detail reached the log")
	}
	// Imported again: the gauge falls, and the list is read anew.
	if _, err := a.Import(ctx, parse(t, twoPersons), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the import to be picked up", func() bool { return testutil.ToFloat64(m.met.vanished) == 0 })
	if len(m.Find(post)) != 1 {
		t.Error("the imported list does not match")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRotationKeepsMatchingThroughout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := redistest.New(t)
	file := parse(t, twoPersons)
	old, _ := NewAdmin(testConfig("k1"), st)
	if _, err := old.Import(ctx, file, false); err != nil {
		t.Fatal(err)
	}
	// Step 1: the new key is configured beside the old one; a classify
	// stage restarted with both keeps matching with the old.
	both := testConfig("k1", "k2")
	m, err := Open(ctx, both, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A reader matches posts without pause through the whole rotation.
	post := &msg.Post{Text: "address 123 Main Av, call 555-010-4477"}
	var misses, checks atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ms := m.Find(post)
			checks.Add(1)
			if len(ms) != 2 {
				misses.Add(1)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	a, _ := NewAdmin(both, st)
	// A stale file is refused.
	stale := parse(t, "persons:\n  - id: p-1\n    names: [Clara Sorrenti]\n")
	if _, err := a.RotateTo(ctx, "k2", stale, false); !errors.Is(err, ErrRotation) || !strings.Contains(err.Error(), "p-2 is listed but not in the file") {
		t.Fatalf("stale file: err = %v", err)
	}
	// Step 2: re-hash from the file under the new key.
	sum, err := a.RotateTo(ctx, "k2", file, false)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Persons != 2 || sum.Keys[0] != "k2" {
		t.Fatalf("rotate summary %+v", sum)
	}
	waitFor(t, "the matcher to load both keys", func() bool { return m.Stats().Keys == 2 })
	if _, err := a.Add(ctx, parse(t, "persons:\n  - id: p-3\n    names: [Third Person]\n")); err != nil {
		t.Fatal(err)
	}
	l, _ := a.List(ctx)
	if len(l.Keys) != 2 || l.Keys[0].Persons != 3 || l.Keys[1].Persons != 3 {
		t.Fatalf("an add during rotation must reach both keys: %+v", l.Keys)
	}
	// Step 3: retire the old key.
	if _, err := a.Retire(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the matcher to drop the old key", func() bool { return m.Stats().Keys == 1 })
	close(stop)
	wg.Wait()
	if checks.Load() == 0 || misses.Load() != 0 {
		t.Fatalf("%d of %d matches missed during the rotation", misses.Load(), checks.Load())
	}
	// The old key's hashes are gone, and the new key alone matches.
	if n, _ := st.Exists(ctx, st.Key("wl", "persons", "k1"), st.Key("wl", "check", "k1")).Result(); n != 0 {
		t.Fatalf("old key data left: %d keys", n)
	}
	m2, err := Open(ctx, testConfig("k2"), st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := m2.Find(post); len(got) != 2 {
		t.Fatalf("new key alone found %+v", got)
	}
	if _, err := a.Retire(ctx, "k2"); !errors.Is(err, ErrRotation) {
		t.Fatalf("retiring the last key: err = %v", err)
	}
}

// Sequence tags are stored with the list and filter the HMACs; a list
// stored before they existed (no fourth field) loads and matches the same.
func TestSequenceTagsAreStoredAndOldListsStillMatch(t *testing.T) {
	st := redistest.New(t)
	h, recs := hashedK1(t, twoPersons)
	posts := map[string]int{
		"she is at 123 main ave, apt 4": 1, "ask clara sorrenti": 1,
		"124 main ave": 0, "123 maine ave": 0, "clara sorrent": 0,
	}
	for _, old := range []bool{false, true} {
		ls, loaded := storeAndLoad(t, st, fmt.Sprintf("seq-old-%v", old), recs, func(e *Entry) {
			if old {
				e.Seq, e.HasSeq = 0, false
			}
		})
		seqs := 0
		for _, r := range loaded {
			for _, e := range r.Entries {
				if e.HasSeq {
					seqs++
					if e.N < 2 {
						t.Errorf("a sequence tag on an entry of %d word", e.N)
					}
				}
			}
		}
		if old != (seqs == 0) {
			t.Fatalf("old list %v: %d sequence tags loaded", old, seqs)
		}
		// `watchlist list` says which keys lack them.
		if without := keyListing(t, ls, h).WithoutSeqTags; old && without == 0 || !old && without != 0 {
			t.Errorf("old list %v: listing counts %d entries without sequence tags", old, without)
		}
		m, s := loadedMatcher(h, loaded)
		if filtered := s.keys[0].seqBits != nil; filtered == old {
			t.Fatalf("old list %v: sequence filter in use %v", old, filtered)
		}
		for text, want := range posts {
			if got := len(m.Find(&msg.Post{Text: text})); got != want {
				t.Errorf("old list %v: %q found %d, want %d", old, text, got, want)
			}
		}
	}
}

// An address's unit hashes are stored with the list, as the bare kind
// that versions before them read as an address no post word has, and say
// which unit a post names; a list stored before them (none) matches the
// building as before, without comparing units.
func TestUnitHashesAreStoredAndOldListsStillMatch(t *testing.T) {
	st := redistest.New(t)
	ctx := context.Background()
	h, recs := hashedK1(t, twoPersons)
	for _, old := range []bool{false, true} {
		rs := slices.Clone(recs)
		if old {
			for i := range rs {
				rs[i].Units = nil
			}
		}
		prefix := fmt.Sprintf("unit-old-%v", old)
		ls, loaded := storeAndLoad(t, st, prefix, rs, func(*Entry) {})
		units := 0
		for _, r := range loaded {
			units += len(r.Units)
		}
		// The building's marker and its unit.
		if want := map[bool]int{false: 2, true: 0}[old]; units != want {
			t.Fatalf("old list %v: %d unit hashes loaded, want %d", old, units, want)
		}
		if kl := keyListing(t, ls, h); kl.UnitHashes != units || kl.Hashes == 0 {
			t.Errorf("old list %v: listing counts %d unit hashes (and %d hashes), want %d", old, kl.UnitHashes, kl.Hashes, units)
		}
		if !old {
			stored, err := st.HGetAll(ctx, ls.key("p", "k1", "p-1")).Result()
			if err != nil {
				t.Fatal(err)
			}
			bare := 0
			for _, v := range stored {
				if v == "address" {
					bare++
				}
			}
			if bare != units {
				t.Errorf("%d unit hashes stored as the bare kind, want %d", bare, units)
			}
		}
		m, _ := loadedMatcher(h, loaded)
		for text, want := range map[string]UnitMatch{
			"she is at 123 main ave, apt 4": map[bool]UnitMatch{false: UnitSame, true: UnitNotCompared}[old],
			"she is at 123 main ave, apt 5": map[bool]UnitMatch{false: UnitOther, true: UnitNotCompared}[old],
			"she is at 123 main ave":        UnitNotCompared,
		} {
			got := m.Find(&msg.Post{Text: text})
			if len(got) != 1 || got[0].Kind != KindAddress || got[0].Unit != want {
				t.Errorf("old list %v: %q found %+v, want the address with %v", old, text, got, want)
			}
		}
		if got := m.Find(&msg.Post{Text: "124 main ave apt 4"}); len(got) != 0 {
			t.Errorf("old list %v: near miss found %+v", old, got)
		}
	}
}

// The sequence filter turns away most unlisted sequences whose first word
// is listed, and never a listed one.
func TestSequenceFilterPassesListedSequencesOnly(t *testing.T) {
	f := syntheticFile(2000, 7)
	s := benchMatcher(t, f, 1).snap.Load()
	ks := s.keys[0]
	if ks.seqBits == nil {
		t.Fatal("no sequence filter for a freshly hashed list")
	}
	in := func(w ...string) []byte {
		return append([]byte{domWords, 0}, strings.Join(w, " ")...)
	}
	for _, p := range f.Persons[:200] {
		for _, name := range append(p.Names, p.Relatives...) {
			w := words(name, false)
			if !ks.seqListed(in(w...), len(w)) {
				t.Fatalf("listed name %q turned away", name)
			}
		}
	}
	passed := 0
	const tries = 10000
	for i := range tries {
		if ks.seqListed(in("mary", fmt.Sprintf("x%dy", i)), 2) {
			passed++
		}
	}
	if passed > tries/10 {
		t.Errorf("%d of %d unlisted sequences passed the filter", passed, tries)
	}
}

// hashedK1 hashes the persons of a watchlist file under key k1.
func hashedK1(t *testing.T, file string) (*Hasher, []Record) {
	t.Helper()
	h, err := NewHasher("k1", []byte(secretK1))
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := (&Admin{hashers: []*Hasher{h}, region: "US"}).hashAll(parse(t, file), h)
	if err != nil {
		t.Fatal(err)
	}
	return h, recs
}

// storeAndLoad stores recs under key k1 with the given prefix, each entry
// first changed by edit (a list as an earlier version stored it), and
// loads them back as the matcher would.
func storeAndLoad(t *testing.T, st *store.Store, prefix string, recs []Record, edit func(*Entry)) (*ListStore, []Record) {
	t.Helper()
	ctx := context.Background()
	ls := NewListStore(st, prefix)
	for _, r := range recs {
		r.Entries = slices.Clone(r.Entries)
		for i := range r.Entries {
			edit(&r.Entries[i])
		}
		if err := ls.Put(ctx, "k1", r); err != nil {
			t.Fatal(err)
		}
	}
	if err := ls.Activate(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	loaded, bad, err := ls.Load(ctx, "k1")
	if err != nil || bad != 0 {
		t.Fatalf("load: %d bad fields, %v", bad, err)
	}
	return ls, loaded
}

// keyListing is what `watchlist list` says of the one key of ls.
func keyListing(t *testing.T, ls *ListStore, h *Hasher) KeyListing {
	t.Helper()
	l, err := (&Admin{list: ls, hashers: []*Hasher{h}}).List(context.Background())
	if err != nil || len(l.Keys) != 1 {
		t.Fatalf("list: %+v, %v", l, err)
	}
	return l.Keys[0]
}

// loadedMatcher is a matcher of the records loaded under key k1.
func loadedMatcher(h *Hasher, loaded []Record) (*Matcher, *snapshot) {
	m := newMatcher([]*Hasher{h}, []string{"US"}, nil, nil)
	s := newSnapshot(1, m.regions, m.hashers, map[string][]Record{"k1": loaded})
	m.snap.Store(s)
	return m, s
}

// Phones carry tail tags; a list stored before them has none and matches
// the same, with every digit run parsed.
func TestPhoneTailTagsAreStoredAndOldListsStillMatch(t *testing.T) {
	st := redistest.New(t)
	// A Falklands number has a national number of five digits: its tail
	// covers those five.
	h, recs := hashedK1(t, `
persons:
  - id: p-1
    names: [Clara Sorrenti]
    phones: ["+1 555 010 4477", "+500 31245"]
`)
	posts := map[string]int{
		"call (555) 010-4477 now": 1, "call 1-555-010-4477": 1, "+1 555 010 4477": 1, "001 555 010 4477": 1,
		"555.010.4477": 1, "+500 31245": 1, "00500 31245": 1,
		"call (555) 010-4478 now": 0, "+500 31246": 0, "555 010 4470": 0,
	}
	for _, old := range []bool{false, true} {
		ls, loaded := storeAndLoad(t, st, fmt.Sprintf("tail-old-%v", old), recs, func(e *Entry) {
			if old && e.Kind == KindPhone {
				e.N, e.Tail, e.HasTail = 1, 0, false
			}
		})
		var lens []int
		for _, r := range loaded {
			for _, e := range r.Entries {
				if e.HasTail {
					lens = append(lens, int(e.N))
				}
			}
		}
		slices.Sort(lens)
		if want := []int{5, 6}; !old && !slices.Equal(lens, want) || old && len(lens) != 0 {
			t.Fatalf("old list %v: tails of %v digits loaded", old, lens)
		}
		if without := keyListing(t, ls, h).WithoutTailTags; old && without != 2 || !old && without != 0 {
			t.Errorf("old list %v: listing counts %d phones without tail tags", old, without)
		}
		m, s := loadedMatcher(h, loaded)
		if filtered := s.keys[0].tailBits != nil; filtered == old {
			t.Fatalf("old list %v: tail filter in use %v", old, filtered)
		}
		for text, want := range posts {
			got := 0
			for _, mt := range m.Find(&msg.Post{Text: text}) {
				if mt.Kind == KindPhone {
					got++
				}
			}
			if got != want {
				t.Errorf("old list %v: %q found %d phones, want %d", old, text, got, want)
			}
		}
	}
}

// The tail filter passes every listed phone in the forms a post writes it
// and turns away nearly every other number, which is what saves the
// parses.
func TestTailFilterPassesListedPhonesOnly(t *testing.T) {
	f := syntheticFile(2000, 7)
	m := benchMatcher(t, f, 1)
	ks := m.snap.Load().keys[0]
	if ks.tailBits == nil {
		t.Fatal("no tail filter")
	}
	digits := func(s string) string {
		var b strings.Builder
		for _, c := range s {
			if c >= '0' && c <= '9' {
				b.WriteRune(c)
			}
		}
		return b.String()
	}
	listed := 0
	for _, p := range f.Persons {
		for _, ph := range p.Phones {
			d := digits(ph)
			for _, form := range []string{d, "+" + d, "00" + d, d[1:]} {
				if !ks.tailListed(form) {
					t.Fatalf("listed phone %q turned away as %q", ph, form)
				}
			}
			listed++
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	passed := 0
	const tries = 20000
	for range tries {
		if ks.tailListed(fmt.Sprintf("%010d", rng.Int64N(1e10))) {
			passed++
		}
	}
	// A random number passes when its tail's tag hits a set bit (about
	// listed/2^20) or its last six digits are a listed phone's (about
	// listed/10^6): under 1% here.
	if passed > tries/33 {
		t.Errorf("%d of %d random numbers passed the tail filter (%d phones listed)", passed, tries, listed)
	}
}

// The change lock had a fixed ten minutes: a change that took longer (a
// large import, a slow Redis) lost it halfway and a second command could
// interleave its writes, while a crashed command's lock kept everyone out
// for the full ten minutes. A running change now renews it; a crashed
// one's lapses within the TTL.
func TestTheLockLastsAsLongAsTheChangeAndNoLonger(t *testing.T) {
	st := redistest.New(t)
	l := NewListStore(st, "wl")
	const ttl = time.Second // renewed every 333 ms: room for a loaded machine
	unlock, err := l.Lock(context.Background(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	// Held for several TTLs: renewed, so nobody else gets it.
	for range 5 {
		time.Sleep(ttl / 2)
		if _, err := l.Lock(context.Background(), ttl); !errors.Is(err, ErrLocked) {
			t.Fatalf("a second lock during a long change: %v, want ErrLocked", err)
		}
	}
	unlock()
	unlock2, err := l.Lock(context.Background(), ttl)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock2()

	// A command that crashes: its renewals stop with it (here with its
	// context), and the lock lapses within the TTL.
	ctx, crash := context.WithCancel(context.Background())
	if _, err := l.Lock(ctx, ttl); err != nil {
		t.Fatal(err)
	}
	crash()
	deadline := time.Now().Add(2 * ttl)
	for {
		unlock3, err := l.Lock(context.Background(), ttl)
		if err == nil {
			unlock3()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a crashed command's lock still held after %v: %v", 2*ttl, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A retirement that stopped between deactivating the old key and deleting
// its hashes left them in Redis for good: the hashes under a key that may
// be the one that leaked, which retiring it was to delete. So did a
// rotation interrupted while it wrote the new key's hashes. The next change
// deletes them, and says so; a dry run does not.
func TestLeftoversOfAnInterruptedRotationAreDeletedByTheNextChange(t *testing.T) {
	ctx := context.Background()
	st := redistest.New(t)
	file := parse(t, twoPersons)
	first, _ := NewAdmin(testConfig("k1"), st)
	if _, err := first.Import(ctx, file, false); err != nil {
		t.Fatal(err)
	}
	a, _ := NewAdmin(testConfig("k1", "k2"), st)
	// Retirement of k1 cut short after deactivation: what Retire does
	// before it deletes the hashes.
	if _, err := a.RotateTo(ctx, "k2", file, false); err != nil {
		t.Fatal(err)
	}
	if err := a.list.Deactivate(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.list.Bump(ctx); err != nil {
		t.Fatal(err)
	}
	held := func(kid string) int {
		t.Helper()
		n, err := st.Exists(ctx, a.list.key("persons", kid), a.list.key("check", kid)).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids, err := a.list.Persons(ctx, kid)
		if err != nil {
			t.Fatal(err)
		}
		return int(n) + len(ids)
	}
	if held("k1") == 0 {
		t.Fatal("the cut-short retirement left nothing: the test sets up nothing")
	}
	if stale, err := a.list.Stale(ctx); err != nil || len(stale) != 1 || stale[0] != "k1" {
		t.Fatalf("stale keys %v, %v; want [k1]", stale, err)
	}
	// A dry run changes nothing, leftovers included.
	if sum, err := a.Import(ctx, file, true); err != nil || len(sum.Leftovers) != 0 || held("k1") == 0 {
		t.Fatalf("dry run: %+v, %v; k1 holds %d", sum, err, held("k1"))
	}
	sum, err := a.Add(ctx, parse(t, twoPersons))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Leftovers) != 1 || sum.Leftovers[0] != "k1" || held("k1") != 0 {
		t.Errorf("after a change: leftovers %v, k1 still holds %d keys and persons", sum.Leftovers, held("k1"))
	}
	if held("k2") == 0 {
		t.Error("the live key's hashes were deleted too")
	}
}
