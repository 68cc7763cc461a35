package scrapers

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/msg"
	"github.com/threatwatch/threatwatch/pipeline/redistest"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

func TestRunnersShareSites(t *testing.T) {
	ts := newTestSite(t, "telegram")
	s := redistest.New(t)
	cfg := testScrapeConfig()
	cfg.LeaseTTL = 600 * time.Millisecond
	cfg.PollInterval = 50 * time.Millisecond
	cfg.Jitter = 0
	site := fixtureSite(t, "telegram", ts.URL)
	site.Name = "fx"
	cfg.Sites = []config.Site{site}

	var mu sync.Mutex
	rounds := map[string]int{}
	var got []msg.Post
	sink := func(_ context.Context, p []msg.Post) error {
		mu.Lock()
		got = append(got, p...)
		mu.Unlock()
		return nil
	}
	start := func(name string) (context.CancelFunc, chan struct{}) {
		r, err := NewRunner(cfg, s, sink, Options{Log: discardLog()})
		if err != nil {
			t.Fatal(err)
		}
		r.owner = name
		r.OnRound = func(string, RoundStats, error) {
			mu.Lock()
			rounds[name]++
			mu.Unlock()
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = r.Run(ctx); close(done) }()
		return cancel, done
	}
	stopA, doneA := start("A")
	time.Sleep(150 * time.Millisecond) // A takes the lease first
	stopB, doneB := start("B")
	defer func() { stopB(); <-doneB }()
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	a, b := rounds["A"], rounds["B"]
	mu.Unlock()
	if a < 3 || b != 0 {
		t.Fatalf("while A holds the site: A %d rounds, B %d", a, b)
	}
	// A stops cleanly: it releases, B takes over at once.
	stopA()
	<-doneA
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		b = rounds["B"]
		mu.Unlock()
		if b > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("B never took the site over")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]int{}
	for _, p := range got {
		seen[p.ID]++
		if seen[p.ID] > 1 {
			t.Errorf("post %s emitted twice across processes", p.SitePostID)
		}
	}
	if len(seen) != 4 {
		t.Errorf("got %d distinct posts, want 4", len(seen))
	}
}

// A process whose Redis went away kept crawling its site for as long as
// it was away, its renewals failing: its lease lapsed in Redis after one
// TTL, and a process that could still reach Redis (or any, once it was
// back) took the site too, doubling the requests to it. A lease not
// renewed for about its TTL now stops the crawl until it is taken again.
func TestACrawlStopsWhenItsLeaseCannotBeRenewed(t *testing.T) {
	ts := newTestSite(t, "telegram")
	srv := redistest.Start(t)
	s := redistest.Connect(t, srv)
	cfg := testScrapeConfig()
	cfg.LeaseTTL = 600 * time.Millisecond
	cfg.PollInterval = 50 * time.Millisecond
	cfg.Jitter = 0
	site := fixtureSite(t, "telegram", ts.URL)
	site.Name = "fx"
	cfg.Sites = []config.Site{site}
	r, err := NewRunner(cfg, s, func(context.Context, []msg.Post) error { return nil }, Options{Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	rounds := 0
	r.OnRound = func(string, RoundStats, error) { mu.Lock(); rounds++; mu.Unlock() }
	count := func() int { mu.Lock(); defer mu.Unlock(); return rounds }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for count() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the site was never crawled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Stop()
	// Within a TTL and a renewal period the crawl stops; after that,
	// neither rounds nor requests to the site.
	time.Sleep(2*cfg.LeaseTTL + 200*time.Millisecond)
	rs, reqs := count(), ts.requests.Load()
	time.Sleep(4 * cfg.LeaseTTL / 3)
	if n := count() - rs; n > 0 {
		t.Errorf("%d rounds after the lease could not be renewed for its TTL", n)
	}
	if n := ts.requests.Load() - reqs; n > 0 {
		t.Errorf("%d requests to the site after the lease could not be renewed for its TTL", n)
	}
}

// Redis restarted without persistence while process A crawled a site:
// the site's lease was gone, and process B, polling for free sites, took
// it at once while A crawled on until its next renewal, so both crawled
// the site (doubling the requests to it and emitting its posts twice).
// Now B, which had seen the leases' epoch before, finds it gone and waits
// a lease TTL before taking any site; A's next renewal takes its lease
// back in the meantime, and A keeps the site.
func TestASiteHeldWhenRedisLostItsDataIsNotTakenBySecondProcess(t *testing.T) {
	redistest.NeedOwnServer(t, "restarts")
	ts := newTestSite(t, "telegram")
	srv := redistest.Start(t)
	s := redistest.Connect(t, srv)
	// B is another process: a store of its own on the same Redis.
	other, err := store.Open(config.Redis{URL: config.NewSecret(srv.URL), KeyPrefix: s.Prefix}, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cfg := testScrapeConfig()
	cfg.LeaseTTL = 600 * time.Millisecond
	cfg.PollInterval = 50 * time.Millisecond
	cfg.Jitter = 0
	site := fixtureSite(t, "telegram", ts.URL)
	site.Name = "fx"
	cfg.Sites = []config.Site{site}
	r, err := NewRunner(cfg, s, func(context.Context, []msg.Post) error { return nil }, Options{Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	r.owner = "A"
	var mu sync.Mutex
	rounds := 0
	r.OnRound = func(string, RoundStats, error) { mu.Lock(); rounds++; mu.Unlock() }
	count := func() int { mu.Lock(); defer mu.Unlock(); return rounds }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(5 * time.Second); count() < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("A never crawled the site")
		}
	}
	take := func(when string) {
		t.Helper()
		l, err := AcquireLease(ctx, other, "fx", "B", cfg.LeaseTTL)
		if err != nil {
			t.Fatalf("B %s: %v", when, err)
		}
		if l != nil {
			t.Fatalf("B took the site %s, while A crawled it", when)
		}
	}
	take("while A held it")

	srv.Restart(t)
	take("right after Redis lost its data")
	before := count()
	// Past the TTL B waited out: A's renewal has taken the lease back.
	time.Sleep(cfg.LeaseTTL + 300*time.Millisecond)
	take("once it had waited a lease TTL")
	if v, err := s.Get(ctx, s.Key("scrape", "fx", "lease")).Result(); err != nil || v != "A" {
		t.Errorf("the site's lease is %q (%v), want A's", v, err)
	}
	if count() == before {
		t.Error("A stopped crawling the site after Redis lost its data")
	}
}
