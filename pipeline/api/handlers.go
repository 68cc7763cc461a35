package api

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/alert"
	"github.com/threatwatch/threatwatch/pipeline/alertstate"
	"github.com/threatwatch/threatwatch/pipeline/alertstate/match"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// Audit actions the console writes besides alertstate's own.
const (
	// ActionEvidenceView records an analyst reading raw evidence.
	ActionEvidenceView alertstate.Action = "evidence_view"
	// ActionExport records an analyst exporting alerts with raw evidence.
	ActionExport alertstate.Action = "export"
	// ActionTargetView records an analyst reading a target's ref (often a
	// person's name) behind its pseudonym.
	ActionTargetView alertstate.Action = "target_view"
)

// route is one API endpoint and the least role allowed to call it.
type route struct {
	method, pattern, role string
	h                     func(w http.ResponseWriter, r *http.Request) error
}

// routeTable lists every API endpoint; docs/openapi.yaml documents each
// (a test checks).
func (s *Server) routeTable() []route {
	v, rs, an := config.RoleViewer, config.RoleResponder, config.RoleAnalyst
	return []route{
		{"GET", "/api/v1/me", v, s.handleMe},
		{"GET", "/api/v1/sites", v, s.handleSites},
		{"GET", "/api/v1/sites/{site}", v, s.handleSite},
		{"GET", "/api/v1/levels", v, s.handleLevels},
		{"GET", "/api/v1/alerts", v, s.handleAlerts},
		{"GET", "/api/v1/alerts/{fp}", v, s.handleAlert},
		{"GET", "/api/v1/alerts/{fp}/evidence", an, auditedRead(s.handleEvidence)},
		{"GET", "/api/v1/alerts/{fp}/notifications", v, s.handleNotifications},
		{"POST", "/api/v1/alerts/{fp}/ack", rs, s.handleAck},
		{"DELETE", "/api/v1/alerts/{fp}/ack", rs, s.handleUnack},
		{"POST", "/api/v1/alerts/{fp}/resolve", rs, s.handleResolve},
		{"GET", "/api/v1/silences", v, s.handleSilences},
		{"POST", "/api/v1/silences", rs, s.handleCreateSilence},
		{"DELETE", "/api/v1/silences/{id}", rs, s.handleExpireSilence},
		{"GET", "/api/v1/audit", rs, s.handleAudit},
		{"GET", "/api/v1/targets", v, s.handleTargets},
		{"GET", "/api/v1/targets/{id}", v, s.handleTarget},
		{"GET", "/api/v1/targets/{id}/ref", an, auditedRead(s.handleTargetRef)},
		{"GET", "/api/v1/export/alerts", an, auditedRead(s.handleExport)},
		{"GET", "/api/v1/events", v, s.handleEvents},
	}
}

// auditedRead guards a read that writes an audit entry before it hands
// out raw data: a GET route answers HEAD too, by running the handler, and
// the entry would then record a read or an export that sent nothing.
func auditedRead(h func(w http.ResponseWriter, r *http.Request) error) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			return &httpError{code: http.StatusMethodNotAllowed, msg: "this read is audited: use GET"}
		}
		return h(w, r)
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routeTable() {
		mux.Handle(rt.method+" "+rt.pattern, s.api(rt.role, rt.h))
	}
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	}))
	if s.ops != nil && s.cfg.MountOps {
		mux.Handle("GET /metrics", s.ops)
		mux.Handle("GET /healthz", s.ops)
		mux.Handle("GET /readyz", s.ops)
	}
	s.webRoutes(mux)
	return s.outer(mux)
}

// ---- query helpers ----

func (s *Server) parseTime(q, name string, def time.Time) (time.Time, error) {
	v := q
	if v == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	// A "+" offset typed into a URL unescaped reaches us as a space (a
	// query string's "+" is one): 01:00:00+02:00 must not be refused.
	if i := strings.LastIndexByte(v, ' '); i > 0 {
		if t, err := time.Parse(time.RFC3339, v[:i]+"+"+v[i+1:]); err == nil {
			return t, nil
		}
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(v, "-")); err == nil {
		return s.now().Add(-d), nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		t := time.Unix(n, 0)
		// Past year 9999 a time cannot be encoded in an answer, and far
		// enough out its Unix milliseconds wrap around: a filter would
		// then match everything. Milliseconds sent for seconds land there.
		if t.Year() < 1 || t.Year() > 9999 {
			return time.Time{}, badRequest("%s: %s is out of range: want unix seconds (not milliseconds) of a year up to 9999", name, v)
		}
		return t, nil
	}
	return time.Time{}, badRequest("%s: want RFC 3339, a duration before now (48h) or unix seconds", name)
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("%s: want an integer in %d..%d", name, lo, hi)
	}
	return n, nil
}

func durParam(r *http.Request, name string, max time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > max {
		return 0, badRequest("%s: want a duration up to %v", name, max)
	}
	return d, nil
}

// ---- views ----

// AlertView is an alert shaped for one role.
type AlertView struct {
	Fingerprint string                 `json:"fingerprint"`
	Status      string                 `json:"status"`
	Labels      map[string]string      `json:"labels"`
	Annotations map[string]string      `json:"annotations,omitempty"`
	Site        string                 `json:"site,omitempty"`
	TargetID    string                 `json:"target_id,omitempty"`
	StartsAt    time.Time              `json:"starts_at"`
	EndsAt      time.Time              `json:"ends_at,omitzero"`
	EventTime   time.Time              `json:"event_time"`
	Level       float64                `json:"level"`
	Baseline    float64                `json:"baseline"`
	Signals     map[msg.Signal]float64 `json:"signals,omitempty"`
	Replay      bool                   `json:"replay,omitempty"`
	// Redaction says how evidence was shaped: full, pii or none.
	Redaction string            `json:"redaction"`
	Evidence  []msg.Contributor `json:"evidence,omitempty"`
	Ack       *AckView          `json:"ack,omitempty"`
	Resolve   *AckView          `json:"resolve_request,omitempty"`
	Silenced  []string          `json:"silenced_by,omitempty"`
	// rawLabels are the stored labels, which silences match against.
	rawLabels map[string]string
}

// AckView is an acknowledgement or resolve request as shown.
type AckView struct {
	By   string    `json:"by"`
	At   time.Time `json:"at"`
	Note string    `json:"note,omitempty"`
	Done time.Time `json:"done,omitzero"`
}

// alertView shapes an alert for a role's redaction mode. Analysts read an
// alert's labels, annotations and evidence raw only through rawAlertView,
// which is audited: here they get what responders get.
func (s *Server) alertView(rec *AlertRecord, mode string, evidence bool) AlertView {
	return s.shapeAlert(rec, contentMode(mode), evidence)
}

// rawAlertView is the alert as stored, evidence included. Only the audited
// evidence call may hand it out.
func (s *Server) rawAlertView(rec *AlertRecord) AlertView {
	return s.shapeAlert(rec, RedactNone, true)
}

// contentMode is how an alert's own content (labels, annotations,
// evidence) is shaped outside the audited raw read: an analyst's mode
// becomes a responder's. Operator text (notes, comments) keeps the role's
// mode.
func contentMode(mode string) string {
	if mode == RedactNone {
		return RedactPII
	}
	return mode
}

func (s *Server) shapeAlert(rec *AlertRecord, mode string, evidence bool) AlertView {
	a := &rec.Alert
	v := AlertView{
		Fingerprint: a.Fingerprint, Status: a.Status,
		Labels:      shapeLabels(a.Labels, mode, s.red),
		Annotations: shapeAnnotations(a.Annotations, mode, s.red),
		Site:        a.Labels["site"], TargetID: TargetID(a.Labels["target"]),
		StartsAt: a.StartsAt, EndsAt: a.EndsAt, EventTime: a.EventTime,
		Level: a.Level, Baseline: a.Baseline, Signals: a.Signals, Replay: a.Replay,
		Redaction: mode,
	}
	if evidence {
		v.Evidence = shapeContributors(a.Evidence, mode, s.red)
	}
	return v
}

// shownBy is who acted (an ack's, a resolve request's or a silence's
// "by", an audit entry's actor) as the role may see it. The name is what
// the audit log keeps: a token's configured name, or the IdP's user claim,
// which is often an e-mail address. Responders and analysts act together
// and see it; viewers, on wall screens, get every name as a stable
// pseudonym, the same for one operator everywhere. Not only addresses: the
// default user claim is preferred_username ("jane.smith"), and a token may
// be named after its holder.
func shownBy(name, mode string) string {
	if mode != RedactFull || name == "" {
		return name
	}
	h := sha256.Sum256([]byte("threatwatch-operator\x00" + name))
	return "operator-" + hex.EncodeToString(h[:4])
}

// note shapes operator free text (ack notes, silence comments, sink
// errors): viewers get none of it.
func (s *Server) note(n, mode string) string { return redactField(n, mode, s.red) }

// decorate adds acks, resolve requests and silences to alert views.
func (s *Server) decorate(ctx context.Context, views []AlertView, mode string) error {
	if len(views) == 0 {
		return nil
	}
	fps := make([]string, len(views))
	for i := range views {
		fps[i] = views[i].Fingerprint
	}
	acks, err := s.state.Acks(ctx, fps...)
	if err != nil {
		return err
	}
	sils, err := s.activeSilences(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	for i := range views {
		if a, ok := acks[views[i].Fingerprint]; ok {
			views[i].Ack = &AckView{By: shownBy(a.By, mode), At: a.At, Note: s.note(a.Note, mode)}
		}
		// Silences match the labels the notifier sees: the stored ones.
		views[i].Silenced = alertstate.SilencedBy(sils, views[i].rawLabels, now)
	}
	return nil
}

// activeSilences reads the silences at most once a second: every alert
// list needs them. This replica's own changes take effect at once; other
// replicas' within the second.
func (s *Server) activeSilences(ctx context.Context) ([]alertstate.Silence, error) {
	s.silMu.Lock()
	defer s.silMu.Unlock()
	if s.sils != nil && s.now().Sub(s.silAt) < SitesCacheTTL {
		return s.sils, nil
	}
	sils, err := s.state.Silences(ctx, false)
	if err != nil {
		return nil, err
	}
	s.sils, s.silAt = sils, s.now()
	return sils, nil
}

func (s *Server) forgetSilences() {
	s.silMu.Lock()
	s.sils = nil
	s.silMu.Unlock()
}

// ---- handlers ----

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	writeJSON(w, http.StatusOK, map[string]any{"name": p.Name, "role": p.Role, "via": p.Via, "redaction": redactionFor(p.Role)})
	return nil
}

// handleSites answers from a body encoded at most SitesCacheTTL ago for
// the same window and redaction (every wall screen asks the same
// question), unless this replica applied an update since.
func (s *Server) handleSites(w http.ResponseWriter, r *http.Request) error {
	spark, err := durParam(r, "spark", 14*24*time.Hour)
	if err != nil {
		return err
	}
	mode := redactionFor(principalOf(r).Role)
	key := mode + "|" + spark.String()
	gen := s.model.cache.generation()
	s.bodyMu.Lock()
	c, ok := s.bodies[key]
	s.bodyMu.Unlock()
	if !ok || c.gen != gen || s.now().Sub(c.at) >= SitesCacheTTL {
		at := s.now()
		sites, err := s.model.Sites(r.Context(), SiteOptions{Spark: spark})
		if err != nil {
			return err
		}
		s.addScraperHealth(r.Context(), sites, mode)
		b, err := json.Marshal(map[string]any{"sites": sites, "time": at.UTC()})
		if err != nil {
			return err
		}
		c = cachedBody{at: at, gen: gen, body: append(b, '\n')}
		s.bodyMu.Lock()
		if s.bodies == nil {
			s.bodies = map[string]cachedBody{}
		}
		// The spark window is the caller's to choose: drop answers past
		// their time, or every window ever asked for keeps its body.
		for k, e := range s.bodies {
			if e.gen < gen || at.Sub(e.at) >= SitesCacheTTL {
				delete(s.bodies, k)
			}
		}
		s.bodies[key] = c
		s.bodyMu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(c.body)
	return nil
}

// cachedBody is an encoded answer shared by requests for a moment.
type cachedBody struct {
	at   time.Time
	gen  uint64
	body []byte
}

func (s *Server) addScraperHealth(ctx context.Context, sites []SiteSummary, mode string) {
	defer func() {
		// A scraper's reason can hold a URL: placeholders for responders,
		// nothing for viewers.
		for i := range sites {
			if r, ok := sites[i].Health.Scraper["reason"]; ok {
				sc := maps.Clone(sites[i].Health.Scraper)
				if mode == RedactFull {
					delete(sc, "reason")
				} else if mode == RedactPII {
					sc["reason"] = s.red(r)
				}
				sites[i].Health.Scraper = sc
			}
		}
	}()
	if s.scraper == nil || len(sites) == 0 {
		return
	}
	names := make([]string, len(sites))
	for i := range sites {
		names[i] = sites[i].Site
	}
	h, err := s.scraper.SiteHealth(ctx, names)
	if err != nil {
		// Degrade: the levels still say whether a site is stale.
		s.log.Warn("cannot read scraper health", "err", err)
		return
	}
	for i := range sites {
		if v, ok := h[sites[i].Site]; ok {
			sites[i].Health.Scraper = v
		}
	}
}

func (s *Server) handleSite(w http.ResponseWriter, r *http.Request) error {
	spark, err := durParam(r, "spark", 14*24*time.Hour)
	if err != nil {
		return err
	}
	d, err := s.model.Site(r.Context(), r.PathValue("site"), SiteOptions{Spark: spark})
	if err != nil {
		return err
	}
	one := []SiteSummary{d.SiteSummary}
	mode := redactionFor(principalOf(r).Role)
	s.addScraperHealth(r.Context(), one, mode)
	d.SiteSummary = one[0]
	if mode == RedactNone {
		// The top threads are evidence: analysts read it raw only through
		// /evidence, which is audited; here they get what responders get.
		mode = RedactPII
	}
	d.Contributors = shapeContributors(d.Contributors, mode, s.red)
	writeJSON(w, http.StatusOK, map[string]any{"site": d, "redaction": mode})
	return nil
}

func (s *Server) handleLevels(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	site, target := q.Get("site"), q.Get("target")
	if site == "" && target == "" {
		return badRequest("site or target is required")
	}
	now := s.now()
	to, err := s.parseTime(q.Get("to"), "to", now)
	if err != nil {
		return err
	}
	from, err := s.parseTime(q.Get("from"), "from", to.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	step, err := durParam(r, "step", 31*24*time.Hour)
	if err != nil {
		return err
	}
	if target != "" && !isTargetHash(target) {
		return badRequest("target: want a target id (tgt-…)")
	}
	ser, err := s.model.Levels(r.Context(), site, target, from, to, step)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ser)
	return nil
}

func (s *Server) alertFilter(r *http.Request) (AlertFilter, error) {
	q := r.URL.Query()
	f := AlertFilter{Site: q.Get("site"), Signal: q.Get("signal"), Severity: q.Get("severity"), Status: q.Get("status"), TargetID: q.Get("target"), Cursor: q.Get("cursor")}
	switch f.Status {
	case "", msg.StatusFiring, msg.StatusResolved:
	default:
		return f, badRequest("status: want firing or resolved")
	}
	var err error
	if f.From, err = s.parseTime(q.Get("from"), "from", time.Time{}); err != nil {
		return f, err
	}
	if f.To, err = s.parseTime(q.Get("to"), "to", time.Time{}); err != nil {
		return f, err
	}
	if f.Limit, err = intParam(r, "limit", 100, 1, 1000); err != nil {
		return f, err
	}
	return f, nil
}

func (s *Server) handleAlerts(w http.ResponseWriter, r *http.Request) error {
	f, err := s.alertFilter(r)
	if err != nil {
		return err
	}
	page, err := s.model.Alerts(r.Context(), f)
	if err != nil {
		return err
	}
	mode := redactionFor(principalOf(r).Role)
	views := make([]AlertView, len(page.Alerts))
	for i := range page.Alerts {
		views[i] = s.alertView(&page.Alerts[i], mode, false)
		views[i].rawLabels = page.Alerts[i].Alert.Labels
	}
	if err := s.decorate(r.Context(), views, mode); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": views, "next_cursor": page.NextCursor})
	return nil
}

func (s *Server) handleAlert(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.model.Alert(r.Context(), r.PathValue("fp"))
	if err != nil {
		return err
	}
	mode := redactionFor(principalOf(r).Role)
	if mode == RedactNone {
		// Analysts read raw evidence through /evidence, which is audited;
		// here they get what responders get.
		mode = RedactPII
	}
	v := s.alertView(rec, mode, true)
	v.rawLabels = rec.Alert.Labels
	views := []AlertView{v}
	if err := s.decorate(r.Context(), views, mode); err != nil {
		return err
	}
	if rr, ok, err := s.state.Closed(r.Context(), rec.Alert.Fingerprint); err != nil {
		return err
	} else if ok {
		views[0].Resolve = &AckView{By: shownBy(rr.By, mode), At: rr.At, Note: s.note(rr.Note, mode), Done: rr.Done}
	}
	writeJSON(w, http.StatusOK, views[0])
	return nil
}

// handleEvidence returns raw evidence to an analyst, after writing the
// access to the audit log: no audit entry, no evidence.
func (s *Server) handleEvidence(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.model.Alert(r.Context(), r.PathValue("fp"))
	if err != nil {
		return err
	}
	p := principalOf(r)
	// Which posts were read, by their ids (hashes of site and post id,
	// never the text): the entry must say what was seen without holding it.
	ids := make([]string, len(rec.Alert.Evidence))
	for i, c := range rec.Alert.Evidence {
		ids[i] = c.PostID
	}
	if err := s.state.Record(r.Context(), alertstate.AuditEntry{
		Action: ActionEvidenceView, Actor: p.Name, Fingerprint: rec.Alert.Fingerprint, Labels: shapeLabels(rec.Alert.Labels, RedactPII, s.red),
		Note: "posts=" + strings.Join(ids, ","),
	}); err != nil {
		return fmt.Errorf("cannot audit evidence access, refusing it: %w", err)
	}
	writeJSON(w, http.StatusOK, s.rawAlertView(rec))
	return nil
}

func (s *Server) handleNotifications(w http.ResponseWriter, r *http.Request) error {
	fp := r.PathValue("fp")
	if _, err := s.model.Alert(r.Context(), fp); err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 200, 1, 1000)
	if err != nil {
		return err
	}
	entries, _, err := s.state.Audit(r.Context(), alertstate.AuditQuery{Fingerprint: fp, Limit: limit})
	if err != nil {
		return err
	}
	mode := redactionFor(principalOf(r).Role)
	out := []alertstate.AuditEntry{}
	for _, e := range entries {
		if e.Action != alertstate.ActionNotify {
			continue
		}
		out = append(out, s.shapeAudit(r.Context(), e, mode))
	}
	var deliveries map[string]alertstate.Delivery
	if t, err := s.state.Tracked(r.Context(), fp); err == nil {
		deliveries = t.Deliveries
		for k, d := range deliveries {
			d.LastError = s.note(d.LastError, mode)
			deliveries[k] = d
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": out, "deliveries": deliveries})
	return nil
}

func (s *Server) shapeAudit(ctx context.Context, e alertstate.AuditEntry, mode string) alertstate.AuditEntry {
	// The notifier records an alert's labels as they are: they are the
	// alert's content, read raw only through the audited call.
	e.Labels = shapeLabels(e.Labels, contentMode(mode), s.red)
	e.Actor = shownBy(e.Actor, mode)
	e.Note = s.note(e.Note, mode)
	e.Error = s.note(e.Error, mode)
	for i, m := range e.Matchers {
		if pm, err := alertstate.ParseMatcher(m); err == nil {
			e.Matchers[i] = s.showMatcher(ctx, m, pm, mode)
		} else if mode != RedactNone {
			e.Matchers[i] = "[REDACTED]"
		}
	}
	return e
}

type actionBody struct {
	Note string `json:"note"`
}

const maxNote = 2000

func (s *Server) readNote(r *http.Request) (string, error) {
	var b actionBody
	if r.ContentLength != 0 {
		if err := decodeBody(r, &b); err != nil {
			return "", err
		}
	}
	if len(b.Note) > maxNote {
		return "", badRequest("note: at most %d bytes", maxNote)
	}
	return strings.TrimSpace(b.Note), nil
}

func (s *Server) handleAck(w http.ResponseWriter, r *http.Request) error {
	note, err := s.readNote(r)
	if err != nil {
		return err
	}
	rec, err := s.model.Alert(r.Context(), r.PathValue("fp"))
	if err != nil {
		return err
	}
	p := principalOf(r)
	a, err := s.state.Acknowledge(r.Context(), rec.Alert.Fingerprint, p.Name, note)
	if err != nil {
		return err
	}
	s.log.Info("alert acknowledged", "fingerprint", a.Fingerprint, "by", p.Name)
	s.publishAction(r.Context(), ActionEvent{Action: "ack", Fingerprint: a.Fingerprint, By: a.By, At: a.At, Note: a.Note})
	mode := redactionFor(p.Role)
	writeJSON(w, http.StatusOK, AckView{By: a.By, At: a.At, Note: s.note(a.Note, mode)})
	return nil
}

func (s *Server) handleUnack(w http.ResponseWriter, r *http.Request) error {
	fp := r.PathValue("fp")
	p := principalOf(r)
	if err := s.state.Unacknowledge(r.Context(), fp, p.Name); err != nil {
		return err
	}
	s.log.Info("alert acknowledgement removed", "fingerprint", fp, "by", p.Name)
	s.publishAction(r.Context(), ActionEvent{Action: "unack", Fingerprint: fp, By: p.Name, At: s.now().UTC()})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleResolve(w http.ResponseWriter, r *http.Request) error {
	note, err := s.readNote(r)
	if err != nil {
		return err
	}
	rec, err := s.model.Alert(r.Context(), r.PathValue("fp"))
	if err != nil {
		return err
	}
	p := principalOf(r)
	rr, err := s.state.RequestResolve(r.Context(), rec.Alert.Fingerprint, p.Name, note)
	if err != nil {
		return err
	}
	s.log.Info("alert resolve requested", "fingerprint", rr.Fingerprint, "by", p.Name)
	s.publishAction(r.Context(), ActionEvent{Action: "resolve", Fingerprint: rr.Fingerprint, By: rr.By, At: rr.At, Note: rr.Note})
	writeJSON(w, http.StatusAccepted, AckView{By: rr.By, At: rr.At, Note: s.note(rr.Note, redactionFor(p.Role))})
	return nil
}

// SilenceView is a silence as shown.
type SilenceView struct {
	ID        string    `json:"id"`
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	Comment   string    `json:"comment,omitempty"`
	ExpiredBy string    `json:"expired_by,omitempty"`
	Active    bool      `json:"active"`
}

func (s *Server) silenceView(ctx context.Context, sl alertstate.Silence, mode string) SilenceView {
	v := SilenceView{ID: sl.ID, StartsAt: sl.StartsAt, EndsAt: sl.EndsAt, CreatedBy: shownBy(sl.CreatedBy, mode), CreatedAt: sl.CreatedAt,
		Comment: s.note(sl.Comment, mode), ExpiredBy: shownBy(sl.ExpiredBy, mode), Active: sl.Active(s.now())}
	for _, m := range sl.Matchers {
		v.Matchers = append(v.Matchers, s.showMatcher(ctx, m.String(), m, mode))
	}
	return v
}

// showMatcher is a matcher (text, parsed as m) as the role may see it.
func (s *Server) showMatcher(ctx context.Context, text string, m alertstate.Matcher, mode string) string {
	pattern := m.Op == match.MatchRegexp || m.Op == match.MatchNotRegexp
	known := func(name, value string) bool {
		// A pattern is shown when it is a plain list of known values
		// (severity=~"warning|critical"), not when it could spell anything.
		alts := []string{value}
		if pattern {
			alts = strings.Split(value, "|")
		}
		for _, a := range alts {
			if !s.knownLabelValue(ctx, name, a) {
				return false
			}
		}
		return true
	}
	return shapeMatcher(text, m.Name, m.Value, mode, s.red, known)
}

// knownLabelValue reports whether value is one the pipeline writes for the
// label: an alert name, a signal, a severity, or a site the read model has
// levels for. An error reading the sites counts as unknown: the value is
// then hidden, not shown.
func (s *Server) knownLabelValue(ctx context.Context, name, value string) bool {
	switch name {
	case "alertname":
		return value == alert.NameSiteSpike || value == alert.NameTargetSpike || value == alert.NameOverride
	case "signal":
		return slices.Contains(msg.Signals, msg.Signal(value))
	case "severity":
		return slices.Contains(config.AlertSeverities, value)
	case "site":
		ok, err := s.model.SiteKnown(ctx, value)
		return err == nil && ok
	}
	return false
}

func (s *Server) handleSilences(w http.ResponseWriter, r *http.Request) error {
	all := r.URL.Query().Get("expired") == "true"
	sils, err := s.state.Silences(r.Context(), all)
	if err != nil {
		return err
	}
	mode := redactionFor(principalOf(r).Role)
	out := make([]SilenceView, 0, len(sils))
	for _, sl := range sils {
		out = append(out, s.silenceView(r.Context(), sl, mode))
	}
	writeJSON(w, http.StatusOK, map[string]any{"silences": out})
	return nil
}

type silenceBody struct {
	// Matchers in Alertmanager syntax: site="forum-a", severity=~"high|critical".
	Matchers []string  `json:"matchers"`
	Duration string    `json:"duration"`
	EndsAt   time.Time `json:"ends_at"`
	Comment  string    `json:"comment"`
}

func (s *Server) handleCreateSilence(w http.ResponseWriter, r *http.Request) error {
	var b silenceBody
	if err := decodeBody(r, &b); err != nil {
		return err
	}
	if len(b.Matchers) == 0 || len(b.Matchers) > 20 {
		return badRequest("matchers: want 1..20")
	}
	ms, err := alertstate.ParseMatchers(b.Matchers)
	if err != nil {
		return badRequest("%v", err)
	}
	if len(b.Comment) > maxNote {
		return badRequest("comment: at most %d bytes", maxNote)
	}
	now := s.now()
	end := b.EndsAt
	if b.Duration != "" {
		d, err := time.ParseDuration(b.Duration)
		if err != nil || d <= 0 || d > 90*24*time.Hour {
			return badRequest("duration: want a positive duration up to 90 days")
		}
		end = now.Add(d)
	}
	if end.IsZero() {
		return badRequest("duration or ends_at is required")
	}
	if end.Sub(now) > 90*24*time.Hour {
		return badRequest("ends_at: at most 90 days ahead")
	}
	p := principalOf(r)
	sl, err := s.state.CreateSilence(r.Context(), alertstate.Silence{Matchers: ms, EndsAt: end, CreatedBy: p.Name, Comment: strings.TrimSpace(b.Comment)})
	if err != nil {
		return err
	}
	s.forgetSilences()
	s.log.Info("silence created", "silence", sl.ID, "by", p.Name, "ends", sl.EndsAt)
	s.publishAction(r.Context(), ActionEvent{Action: "silence", SilenceID: sl.ID, By: p.Name, At: sl.CreatedAt})
	writeJSON(w, http.StatusCreated, s.silenceView(r.Context(), sl, redactionFor(p.Role)))
	return nil
}

func (s *Server) handleExpireSilence(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	id := r.PathValue("id")
	if err := s.state.ExpireSilence(r.Context(), id, p.Name); err != nil {
		return err
	}
	s.forgetSilences()
	s.log.Info("silence expired", "silence", id, "by", p.Name)
	s.publishAction(r.Context(), ActionEvent{Action: "unsilence", SilenceID: id, By: p.Name, At: s.now().UTC()})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := intParam(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	since, err := s.parseTime(q.Get("since"), "since", time.Time{})
	if err != nil {
		return err
	}
	entries, next, err := s.state.Audit(r.Context(), alertstate.AuditQuery{Fingerprint: q.Get("fingerprint"), Before: q.Get("before"), Since: since, Limit: limit})
	if err != nil {
		return err
	}
	mode := redactionFor(principalOf(r).Role)
	for i := range entries {
		entries[i] = s.shapeAudit(r.Context(), entries[i], mode)
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "next_cursor": next})
	return nil
}

func (s *Server) handleTargets(w http.ResponseWriter, r *http.Request) error {
	limit, err := intParam(r, "limit", 200, 1, 1000)
	if err != nil {
		return err
	}
	ts, err := s.model.Targets(r.Context(), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"targets": ts})
	return nil
}

// targetOf returns the target the request's path names.
func (s *Server) targetOf(r *http.Request) (*Target, error) {
	id := r.PathValue("id")
	if !isTargetHash(id) {
		return nil, ErrNotFound
	}
	return s.model.Target(r.Context(), id)
}

func (s *Server) handleTarget(w http.ResponseWriter, r *http.Request) error {
	t, err := s.targetOf(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	page, err := s.model.Alerts(r.Context(), AlertFilter{TargetID: id, Limit: 50})
	if err != nil {
		return err
	}
	mode := redactionFor(principalOf(r).Role)
	views := make([]AlertView, len(page.Alerts))
	for i := range page.Alerts {
		views[i] = s.alertView(&page.Alerts[i], mode, false)
		views[i].rawLabels = page.Alerts[i].Alert.Labels
	}
	if err := s.decorate(r.Context(), views, mode); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"target": t, "alerts": views})
	return nil
}

// handleTargetRef returns a target's ref to an analyst, after writing the
// access to the audit log: no audit entry, no ref. The entry names the
// target by its pseudonym, never by the ref it handed out.
func (s *Server) handleTargetRef(w http.ResponseWriter, r *http.Request) error {
	t, err := s.targetOf(r)
	if err != nil {
		return err
	}
	ref := t.Ref
	if ref == "" {
		// Levels keyed by the hash itself carry no other name.
		ref = t.ID
	}
	p := principalOf(r)
	if err := s.state.Record(r.Context(), alertstate.AuditEntry{
		Action: ActionTargetView, Actor: p.Name, Labels: map[string]string{"target": t.ID}, Note: "target=" + t.ID,
	}); err != nil {
		return fmt.Errorf("cannot audit the target ref read, refusing it: %w", err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": t.ID, "ref": ref})
	return nil
}

// handleExport streams alerts matching the filter with raw evidence, as
// JSON lines or CSV, after auditing the export.
//
// A large export on a slow link outlasts any deadline on the whole
// response, so each write gets its own: the export goes on as long as the
// client keeps reading. Once the first byte is sent an error cannot become
// an error status, and must not end the body like a whole one either: the
// connection is then aborted, so the chunked body has no final chunk (an
// HTTP/2 stream is reset) and the client's read fails.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) error {
	f, err := s.alertFilter(r)
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "jsonl"
	}
	if format != "jsonl" && format != "csv" {
		return badRequest("format: want jsonl or csv")
	}
	maxN, err := intParam(r, "max", 10000, 1, 100000)
	if err != nil {
		return err
	}
	p := principalOf(r)
	if err := s.state.Record(r.Context(), alertstate.AuditEntry{
		Action: ActionExport, Actor: p.Name,
		Note: fmt.Sprintf("format=%s site=%s signal=%s severity=%s status=%s max=%d", format, f.Site, f.Signal, f.Severity, f.Status, maxN),
	}); err != nil {
		return fmt.Errorf("cannot audit export, refusing it: %w", err)
	}
	// The first page before any byte: an error here still gets a status.
	f.Limit = min(500, maxN)
	page, err := s.model.Alerts(r.Context(), f)
	if err != nil {
		return err
	}
	s.log.Info("alerts exported", "by", p.Name, "format", format)
	name := "threatwatch-alerts-" + s.now().UTC().Format("20060102T150405Z") + "." + format
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	// Whether more alerts matched than max is known only at the end: the
	// trailers say it, with the count (X-Export-Max lets a client that
	// cannot read trailers, a browser's fetch, tell by counting).
	w.Header().Set("X-Export-Max", strconv.Itoa(maxN))
	w.Header().Set("Trailer", "X-Export-Count, X-Export-Truncated")
	out := &deadlineWriter{w: w, rc: http.NewResponseController(w), timeout: s.writeTimeout}
	var cw *csv.Writer
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw = csv.NewWriter(out)
		_ = cw.Write([]string{"fingerprint", "status", "alertname", "site", "signal", "severity", "target", "starts_at", "ends_at", "level", "baseline", "evidence_post_ids", "summary"})
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	enc := json.NewEncoder(out)
	n := 0
	for {
		for i := range page.Alerts {
			a := &page.Alerts[i].Alert
			if cw != nil {
				ids := make([]string, len(a.Evidence))
				for j, e := range a.Evidence {
					ids[j] = e.PostID
				}
				err = cw.Write([]string{a.Fingerprint, a.Status, a.Labels["alertname"], a.Labels["site"], a.Labels["signal"], a.Labels["severity"], a.Labels["target"],
					a.StartsAt.UTC().Format(time.RFC3339), fmtTime(a.EndsAt), fmtF(a.Level), fmtF(a.Baseline), strings.Join(ids, " "), a.Annotations["summary"]})
			} else {
				err = enc.Encode(a)
			}
			if err != nil {
				s.abortExport(p, n, err)
			}
			n++
		}
		if n >= maxN || page.NextCursor == "" {
			break
		}
		f.Cursor, f.Limit = page.NextCursor, min(500, maxN-n)
		if page, err = s.model.Alerts(r.Context(), f); err != nil {
			s.abortExport(p, n, err)
		}
	}
	if cw != nil {
		if cw.Flush(); cw.Error() != nil {
			s.abortExport(p, n, cw.Error())
		}
	}
	truncated := false
	if n >= maxN && page.NextCursor != "" {
		// A full last page leaves a cursor whether or not anything follows.
		f.Cursor, f.Limit = page.NextCursor, 1
		more, err := s.model.Alerts(r.Context(), f)
		if err != nil {
			s.abortExport(p, n, err)
		}
		truncated = len(more.Alerts) > 0
	}
	w.Header().Set("X-Export-Count", strconv.Itoa(n))
	w.Header().Set("X-Export-Truncated", strconv.FormatBool(truncated))
	if truncated {
		s.log.Info("export stopped at its max; more alerts matched", "by", p.Name, "max", maxN)
	}
	return nil
}

// abortExport ends an export that failed after its first byte: the
// connection is dropped, so the client cannot take what it has for the
// whole export.
func (s *Server) abortExport(p *Principal, sent int, err error) {
	s.log.Warn("export cut short; the client's download fails", "by", p.Name, "alerts_sent", sent, "err", err)
	panic(http.ErrAbortHandler)
}

// deadlineWriter gives each write its own deadline, so a long response
// lasts as long as the client keeps reading, and no longer once it stops.
type deadlineWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.w.Write(b)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
