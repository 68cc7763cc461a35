package scrapers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/threatwatch/threatwatch/pipeline/store"
)

// Lease is a site held by one process (see store.Lease).
type Lease = store.Lease

// NewOwner returns a token naming this process (host, pid, random).
func NewOwner() string {
	h, _ := os.Hostname()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", h, os.Getpid(), hex.EncodeToString(b))
}

// AcquireLease tries to take the lease of site for owner. It returns nil
// and no error when another process holds it, and for one TTL after Redis
// lost its data: a process still crawling the site then takes its lease
// back at its next renewal, and taking the missing key at once would have
// two processes crawl the site (see store.AcquireLeaseInEpoch).
func AcquireLease(ctx context.Context, s *store.Store, site, owner string, ttl time.Duration) (*Lease, error) {
	return s.AcquireLeaseInEpoch(ctx, s.Key("scrape", site, "lease"), s.Key("scrape-lease-epoch"), owner, ttl)
}
