package watchlist

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/store"
)

// Admin changes the list: the engine behind `threatwatch watchlist`. Every
// change hashes the plain details it is given and writes hashes only. A
// file is hashed completely before anything is written, so a bad entry
// changes nothing. Changes take the list's lock, so two operators cannot
// interleave (a rotation in particular).
type Admin struct {
	list    *ListStore
	hashers []*Hasher
	region  string
	// LockTTL bounds how long a crashed command keeps the list locked; a
	// running one renews it.
	LockTTL time.Duration
	// Targets makes the target labels List prints: keyed as the
	// aggregate stage's are (aggregate.target_key), so a route on one
	// matches its alerts.
	Targets alert.TargetLabeler
}

// NewAdmin returns an Admin on the list in st.
func NewAdmin(cfg config.Watchlist, st *store.Store) (*Admin, error) {
	hs, err := Hashers(cfg)
	if err != nil {
		return nil, err
	}
	region := ""
	if len(cfg.PhoneRegions) > 0 {
		region = cfg.PhoneRegions[0]
	}
	return &Admin{list: NewListStore(st, cfg.Namespace), hashers: hs, region: region, LockTTL: 30 * time.Second}, nil
}

// Summary reports what a change did.
type Summary struct {
	// Persons written (added or replaced), and removed.
	Persons, Removed int
	// Hashes written per key.
	Hashes int
	// Keys the hashes were written under.
	Keys       []string
	Generation int64
	// DryRun marks a summary of changes not made.
	DryRun bool
	// Leftovers are the keys whose hashes an interrupted rotation or
	// retirement had left, deleted by this change.
	Leftovers []string
}

// lock takes the change lock and, unless dryRun, deletes the hashes an
// interrupted rotation or retirement left under keys no longer (or not
// yet) live: a retired key may be the one that leaked, and its hashes are
// what retiring it was to delete. They are returned for the summary.
func (a *Admin) lock(ctx context.Context, dryRun bool) (unlock func(), leftovers []string, err error) {
	if unlock, err = a.list.Lock(ctx, a.LockTTL); err != nil {
		return nil, nil, err
	}
	if dryRun {
		return unlock, nil, nil
	}
	if leftovers, err = a.list.Stale(ctx); err == nil {
		for _, kid := range leftovers {
			if err = a.list.Drop(ctx, kid); err != nil {
				break
			}
		}
	}
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return unlock, leftovers, nil
}

func (a *Admin) hasher(id string) *Hasher {
	for _, h := range a.hashers {
		if h.ID() == id {
			return h
		}
	}
	return nil
}

// writeKeys returns the keys changes are written under: every live key
// (two during a rotation, so both stay complete), or for a list never
// written the last configured key.
func (a *Admin) writeKeys(ctx context.Context) ([]*Hasher, error) {
	active, err := a.list.Active(ctx)
	if err != nil {
		return nil, err
	}
	if len(active) == 0 {
		return []*Hasher{a.hashers[len(a.hashers)-1]}, nil
	}
	var out []*Hasher
	for _, id := range active {
		h := a.hasher(id)
		if h == nil {
			return nil, fmt.Errorf("%w: key %q holds live hashes but is not in watchlist.keys; add it to the config", ErrKey, id)
		}
		if err := a.list.CheckKey(ctx, h, false); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func (a *Admin) region4(f *File) string {
	if f.Region != "" {
		return f.Region
	}
	return a.region
}

// hashAll hashes every person of f under h, or reports every problem.
func (a *Admin) hashAll(f *File, h *Hasher) ([]Record, int, error) {
	var errs []error
	recs := make([]Record, 0, len(f.Persons))
	n := 0
	for i := range f.Persons {
		r, err := f.Persons[i].Hash(h, a.region4(f))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n += len(r.Entries)
		recs = append(recs, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrFile, err)
	}
	return recs, n, nil
}

// Add adds the persons of f, replacing any already listed under the same id.
func (a *Admin) Add(ctx context.Context, f *File) (Summary, error) {
	return a.write(ctx, f, false, false)
}

// Import makes the list exactly f: persons of f are added or replaced, and
// listed persons not in f are removed. With dryRun it only reports.
func (a *Admin) Import(ctx context.Context, f *File, dryRun bool) (Summary, error) {
	return a.write(ctx, f, true, dryRun)
}

func (a *Admin) write(ctx context.Context, f *File, replace, dryRun bool) (Summary, error) {
	unlock, leftovers, err := a.lock(ctx, dryRun)
	if err != nil {
		return Summary{}, err
	}
	defer unlock()
	keys, err := a.writeKeys(ctx)
	if err != nil {
		return Summary{}, err
	}
	recs := make([][]Record, len(keys))
	sum := Summary{DryRun: dryRun, Persons: len(f.Persons), Leftovers: leftovers}
	for i, h := range keys {
		if recs[i], sum.Hashes, err = a.hashAll(f, h); err != nil {
			return Summary{}, err
		}
		sum.Keys = append(sum.Keys, h.ID())
	}
	inFile := map[string]bool{}
	for _, p := range f.Persons {
		inFile[p.ID] = true
	}
	var stale []string
	if replace {
		listed, err := a.listed(ctx, keys)
		if err != nil {
			return Summary{}, err
		}
		for _, id := range listed {
			if !inFile[id] {
				stale = append(stale, id)
			}
		}
		sum.Removed = len(stale)
	}
	if dryRun {
		return sum, nil
	}
	for i, h := range keys {
		if err := a.list.CheckKey(ctx, h, true); err != nil {
			return Summary{}, err
		}
		for _, r := range recs[i] {
			if err := a.list.Put(ctx, h.ID(), r); err != nil {
				return Summary{}, err
			}
		}
		for _, id := range stale {
			if _, err := a.list.Remove(ctx, h.ID(), id); err != nil {
				return Summary{}, err
			}
		}
		if err := a.list.Activate(ctx, h.ID()); err != nil {
			return Summary{}, err
		}
	}
	if sum.Generation, err = a.list.Bump(ctx); err != nil {
		return Summary{}, err
	}
	return sum, nil
}

// listed returns the persons listed under any of keys, sorted. The live
// keys of a rotation forced to a file with other persons (rotate --force)
// hold different persons: one listed under either is on the list, and
// import and remove must reach it under both.
func (a *Admin) listed(ctx context.Context, keys []*Hasher) ([]string, error) {
	var out []string
	for _, h := range keys {
		ids, err := a.list.Persons(ctx, h.ID())
		if err != nil {
			return nil, err
		}
		out = append(out, ids...)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ErrUnknownPerson reports a person id that is not listed.
var ErrUnknownPerson = errors.New("person not on the watchlist")

// Remove removes persons by id. If any id is not listed nothing is removed.
func (a *Admin) Remove(ctx context.Context, ids []string) (Summary, error) {
	unlock, leftovers, err := a.lock(ctx, false)
	if err != nil {
		return Summary{}, err
	}
	defer unlock()
	keys, err := a.writeKeys(ctx)
	if err != nil {
		return Summary{}, err
	}
	listed, err := a.listed(ctx, keys)
	if err != nil {
		return Summary{}, err
	}
	// Named by position, not echoed: an operator who typed a person's
	// name for their id would see it in the terminal and in CI logs.
	var unknown []string
	for i, id := range ids {
		if !slices.Contains(listed, id) {
			unknown = append(unknown, "argument "+strconv.Itoa(i+1))
		}
	}
	if len(unknown) > 0 {
		return Summary{}, fmt.Errorf("%w: %s (nothing removed; ids are listed by watchlist list)", ErrUnknownPerson, strings.Join(unknown, ", "))
	}
	sum := Summary{Removed: len(ids), Leftovers: leftovers}
	for _, h := range keys {
		for _, id := range ids {
			if _, err := a.list.Remove(ctx, h.ID(), id); err != nil {
				return Summary{}, err
			}
		}
		sum.Keys = append(sum.Keys, h.ID())
	}
	if sum.Generation, err = a.list.Bump(ctx); err != nil {
		return Summary{}, err
	}
	return sum, nil
}

// Listing is what `list` shows: counts, never values.
type Listing struct {
	Generation int64           `json:"generation"`
	Keys       []KeyListing    `json:"keys"`
	Persons    []PersonListing `json:"persons"`
}

// KeyListing describes one live key's hashes.
type KeyListing struct {
	ID         string `json:"id"`
	Configured bool   `json:"configured"`
	Persons    int    `json:"persons"`
	Hashes     int    `json:"hashes"`
	// UnitHashes counts the unit hashes of addresses that name a unit
	// (two an address: Record.Units), apart from Hashes: they are never
	// matched against a post, only compared once an address is found.
	UnitHashes int `json:"unit_hashes"`
	// WithoutSeqTags counts the entries of two words or more stored
	// without a sequence tag (by a version before them): matching works,
	// but costs more until the file is imported again.
	WithoutSeqTags int `json:"without_sequence_tags"`
	// WithoutTailTags counts the phones stored without a tail tag, the
	// same way.
	WithoutTailTags int `json:"without_phone_tail_tags"`
}

// PersonListing counts one person's details by kind.
type PersonListing struct {
	ID string `json:"id"`
	// TargetLabel is the target label of the person's alerts, for notify
	// routes (target="tgt-...").
	TargetLabel string         `json:"target_label"`
	Counts      map[string]int `json:"counts"`
}

// List describes the list. Counts are taken from the first live key.
func (a *Admin) List(ctx context.Context) (Listing, error) {
	var l Listing
	var err error
	if l.Generation, err = a.list.Gen(ctx); err != nil {
		return l, err
	}
	active, err := a.list.Active(ctx)
	if err != nil {
		return l, err
	}
	for i, kid := range active {
		recs, _, err := a.list.Load(ctx, kid)
		if err != nil {
			return l, err
		}
		kl := KeyListing{ID: kid, Configured: a.hasher(kid) != nil, Persons: len(recs)}
		for _, r := range recs {
			kl.Hashes += len(r.Entries)
			kl.UnitHashes += len(r.Units)
			for _, e := range r.Entries {
				if e.needsSeq() && !e.HasSeq {
					kl.WithoutSeqTags++
				}
				if e.Kind == KindPhone && !e.HasTail {
					kl.WithoutTailTags++
				}
			}
		}
		l.Keys = append(l.Keys, kl)
		if i > 0 {
			continue
		}
		sort.Slice(recs, func(x, y int) bool { return recs[x].Person < recs[y].Person })
		for _, r := range recs {
			pl := PersonListing{ID: r.Person, TargetLabel: a.Targets.Label(r.Person), Counts: map[string]int{}}
			for k, n := range r.Counts {
				pl.Counts[k.String()] = n
			}
			l.Persons = append(l.Persons, pl)
		}
	}
	return l, nil
}

// ErrRotation reports a rotation that cannot proceed.
var ErrRotation = errors.New("cannot rotate")

// RotateTo re-hashes the list from f with the key newID and makes those
// hashes live beside the current ones; matchers then match against both
// until the old key is retired. Unless force, f must describe exactly the
// listed persons with the same number of details of each kind: a stale
// import file would silently drop protection.
func (a *Admin) RotateTo(ctx context.Context, newID string, f *File, force bool) (Summary, error) {
	unlock, leftovers, err := a.lock(ctx, false)
	if err != nil {
		return Summary{}, err
	}
	defer unlock()
	h := a.hasher(newID)
	if h == nil {
		return Summary{}, fmt.Errorf("%w: key %q is not in watchlist.keys; add it (beside the current key) first", ErrRotation, newID)
	}
	active, err := a.list.Active(ctx)
	if err != nil {
		return Summary{}, err
	}
	if len(active) == 0 {
		return Summary{}, fmt.Errorf("%w: the list is empty; use import", ErrRotation)
	}
	if slices.Contains(active, newID) {
		return Summary{}, fmt.Errorf("%w: key %q is live already; retire the old key, or use import to change the list", ErrRotation, newID)
	}
	if len(active) > 1 {
		return Summary{}, fmt.Errorf("%w: a rotation is under way (live keys %s); retire one first", ErrRotation, strings.Join(active, ", "))
	}
	recs, n, err := a.hashAll(f, h)
	if err != nil {
		return Summary{}, err
	}
	if !force {
		cur, err := a.list.Counts(ctx, active[0])
		if err != nil {
			return Summary{}, err
		}
		if diff := compareCounts(cur, recs); len(diff) > 0 {
			return Summary{}, fmt.Errorf("%w: the file does not match the list under key %q: %s (use --force to rotate to the file as it is)", ErrRotation, active[0], strings.Join(diff, "; "))
		}
	}
	// Leftovers of an interrupted rotation to the same key go first.
	if err := a.list.Drop(ctx, newID); err != nil {
		return Summary{}, err
	}
	if err := a.list.CheckKey(ctx, h, true); err != nil {
		return Summary{}, err
	}
	for _, r := range recs {
		if err := a.list.Put(ctx, newID, r); err != nil {
			return Summary{}, err
		}
	}
	if err := a.list.Activate(ctx, newID); err != nil {
		return Summary{}, err
	}
	sum := Summary{Persons: len(recs), Hashes: n, Keys: []string{newID}, Leftovers: leftovers}
	if sum.Generation, err = a.list.Bump(ctx); err != nil {
		return Summary{}, err
	}
	return sum, nil
}

func compareCounts(cur map[string]map[Kind]int, recs []Record) []string {
	var diff []string
	inFile := map[string]bool{}
	for _, r := range recs {
		inFile[r.Person] = true
		c, ok := cur[r.Person]
		if !ok {
			diff = append(diff, r.Person+" is not listed")
			continue
		}
		for _, k := range Kinds {
			if c[k] != r.Counts[k] {
				diff = append(diff, fmt.Sprintf("%s has %d %s listed, %d in the file", r.Person, c[k], k, r.Counts[k]))
			}
		}
	}
	for id := range cur {
		if !inFile[id] {
			diff = append(diff, id+" is listed but not in the file")
		}
	}
	sort.Strings(diff)
	if len(diff) > 20 {
		diff = append(diff[:20], fmt.Sprintf("and %d more", len(diff)-20))
	}
	return diff
}

// Retire ends a rotation: matchers stop using oldID (on their next check)
// and its hashes are deleted. Another key must be live.
func (a *Admin) Retire(ctx context.Context, oldID string) (Summary, error) {
	unlock, leftovers, err := a.lock(ctx, false)
	if err != nil {
		return Summary{}, err
	}
	defer unlock()
	active, err := a.list.Active(ctx)
	if err != nil {
		return Summary{}, err
	}
	if !slices.Contains(active, oldID) {
		return Summary{}, fmt.Errorf("%w: key %q is not live (live: %s)", ErrRotation, oldID, strings.Join(active, ", "))
	}
	if len(active) < 2 {
		return Summary{}, fmt.Errorf("%w: key %q is the only live key; rotate to a new one first", ErrRotation, oldID)
	}
	if err := a.list.Deactivate(ctx, oldID); err != nil {
		return Summary{}, err
	}
	sum := Summary{Keys: []string{oldID}, Leftovers: leftovers}
	if sum.Generation, err = a.list.Bump(ctx); err != nil {
		return Summary{}, err
	}
	if err := a.list.Drop(ctx, oldID); err != nil {
		return Summary{}, err
	}
	return sum, nil
}
