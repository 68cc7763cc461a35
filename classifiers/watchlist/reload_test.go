package watchlist

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/obs/obstest"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
)

// inMatcher marks the matcher's context, so a fault hook hits the
// matcher's reads and not the operator's.
type inMatcher struct{}

// failingReads makes the next n reads of a key whose name contains part
// fail as a dropped connection would, for commands run under a context
// marked inMatcher.
type failingReads struct {
	part string
	n    atomic.Int64
}

func (f *failingReads) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *failingReads) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if ctx.Value(inMatcher{}) != nil && cmd.Name() == "get" && len(cmd.Args()) > 1 {
			if k, _ := cmd.Args()[1].(string); strings.Contains(k, f.part) && f.n.Add(-1) >= 0 {
				err := errors.New("read tcp: connection reset by peer")
				cmd.SetErr(err)
				return err
			}
		}
		return next(ctx, cmd)
	}
}

func (f *failingReads) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestARedisErrorDuringAReloadKeepsTheLoadedList: Redis drops a
// connection while a running classify stage reloads the list after a
// change, just as it reads a key's check value. That is not a wrong key:
// the matcher must keep the list it had (not swap in one without that
// key, which protects nobody) and try again at its next refresh, so the
// change is picked up once Redis answers.
func TestARedisErrorDuringAReloadKeepsTheLoadedList(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := redistest.New(t)
	faults := &failingReads{part: ":check:"}
	st.AddHook(faults)
	cfg := testConfig("k1")
	a, _ := NewAdmin(cfg, st)
	if _, err := a.Import(ctx, parse(t, twoPersons), false); err != nil {
		t.Fatal(err)
	}
	var logs obstest.Buffer
	reg := prometheus.NewRegistry()
	m, err := Open(context.WithValue(ctx, inMatcher{}, true), cfg, st, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	address := &msg.Post{Text: "she is at 123 main ave"}
	if len(m.Find(address)) != 1 {
		t.Fatal("scenario: the listed address is not matched")
	}
	faults.n.Store(1)
	if _, err := a.Add(ctx, parse(t, "persons:\n  - id: p-3\n    names: [Third Person]\n")); err != nil {
		t.Fatal(err)
	}
	third := &msg.Post{Text: "ask third person"}
	deadline := time.Now().Add(5 * time.Second)
	for len(m.Find(third)) == 0 && time.Now().Before(deadline) {
		if len(m.Find(address)) != 1 {
			t.Fatalf("a Redis error during the reload dropped the loaded list: %+v", m.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(m.Find(third)) != 1 {
		t.Fatalf("the change was never picked up after the failed reload: %+v", m.Stats())
	}
	if len(m.Find(address)) != 1 {
		t.Fatal("the listed address is not matched after the reload")
	}
	if faults.n.Load() >= 0 {
		t.Fatal("scenario: no read failed")
	}
	if got := testutil.ToFloat64(m.met.reloads.WithLabelValues("error")); got < 1 {
		t.Errorf("reloads{result=error} = %v, want the failure counted", got)
	}
}

// TestImportAndRemoveReachPersonsListedUnderOneKeyOnly: a forced rotation
// (`rotate --to k2 --force`) to a file with a person the old key does not
// hold lists that person under the new key only. `import` promises the
// list becomes exactly the file and `remove` that a listed person goes:
// both must see the person, whichever live key holds it, or it stays
// listed (and paged on) after the old key is retired.
func TestImportAndRemoveReachPersonsListedUnderOneKeyOnly(t *testing.T) {
	extra := twoPersons + "  - id: p-9\n    names: [Nadia Okonkwo]\n"
	f := func(name string, change func(t *testing.T, ctx context.Context, a *Admin) error) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := redistest.New(t)
			old, _ := NewAdmin(testConfig("k1"), st)
			if _, err := old.Import(ctx, parse(t, twoPersons), false); err != nil {
				t.Fatal(err)
			}
			a, _ := NewAdmin(testConfig("k1", "k2"), st)
			if _, err := a.RotateTo(ctx, "k2", parse(t, extra), true); err != nil {
				t.Fatal(err)
			}
			if ids, _ := a.list.Persons(ctx, "k2"); !slices.Contains(ids, "p-9") {
				t.Fatalf("scenario: p-9 is not listed under k2: %v", ids)
			}
			if err := change(t, ctx, a); err != nil {
				t.Fatal(err)
			}
			for _, kid := range []string{"k1", "k2"} {
				if ids, _ := a.list.Persons(ctx, kid); slices.Contains(ids, "p-9") {
					t.Errorf("p-9 is still listed under %s: %v", kid, ids)
				}
				if n, _ := st.Exists(ctx, a.list.key("p", kid, "p-9")).Result(); n != 0 {
					t.Errorf("p-9's hashes are still stored under %s", kid)
				}
			}
			m, err := Open(ctx, testConfig("k1", "k2"), st, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Find(&msg.Post{Text: "ask nadia okonkwo"}); len(got) != 0 {
				t.Errorf("a matcher still finds the removed person: %+v", got)
			}
		})
	}
	f("import of a file without the person", func(t *testing.T, ctx context.Context, a *Admin) error {
		sum, err := a.Import(ctx, parse(t, twoPersons), false)
		if err == nil && sum.Removed != 1 {
			t.Errorf("import summary says %d removed, want 1", sum.Removed)
		}
		return err
	})
	f("remove of the person", func(t *testing.T, ctx context.Context, a *Admin) error {
		_, err := a.Remove(ctx, []string{"p-9"})
		return err
	})
}

// TestAClassifyStageWithAnEmptyListSaysItProtectsNobody: a classify
// process that starts after Redis lost the list (or before anyone
// imported it) loads nothing and raises no vanished gauge, since it never
// had a list. With keys configured, that is protection lost: it must say
// so at warning level, and threatwatch_watchlist_persons (which
// ThreatWatchWatchlistProtectsNobody watches) must read 0.
func TestAClassifyStageWithAnEmptyListSaysItProtectsNobody(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := redistest.New(t)
	var logs obstest.Buffer
	reg := prometheus.NewRegistry()
	m, err := Open(ctx, testConfig("k1"), st, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.met.persons); got != 0 {
		t.Errorf("threatwatch_watchlist_persons = %v, want 0", got)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "protects nobody") {
		t.Errorf("an empty watchlist was loaded without a warning:\n%s", logs.String())
	}
	// Once a person is listed, the warning is not repeated.
	a, _ := NewAdmin(testConfig("k1"), st)
	if _, err := a.Import(ctx, parse(t, twoPersons), false); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(logs.String(), "protects nobody"); got != 1 {
		t.Errorf("%d warnings about an empty list, want 1:\n%s", got, logs.String())
	}
	if got := testutil.ToFloat64(m.met.persons); got != 2 {
		t.Errorf("threatwatch_watchlist_persons = %v, want 2", got)
	}
}
