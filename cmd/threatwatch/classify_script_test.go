package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/threatwatch/threatwatch/classifiers"
	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline"
	"github.com/threatwatch/threatwatch/pipeline/msg"
)

// A site whose posts the classifiers cannot read must not look calm: each
// post is counted by its script, and the log says, once per site, that a
// site's posts go unread, without quoting them.
func TestClassifyCountsPostsTheClassifiersDoNotRead(t *testing.T) {
	c, err := classifiers.New(config.Default().Classify)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h := &classifyHandler{c: c, out: "scored", m: newClassifyMetrics(prometheus.NewRegistry()),
		log: slog.New(slog.NewJSONHandler(&logs, nil))}
	const ru = "Вот её адрес: ул. Ленина 5, кв. 12. Приезжайте к ней домой, я её убью."
	posts := []struct{ site, text string }{
		{"en", "I know where you live, Marek, and I will come tonight."},
		{"en", "555-201-3344 !!!"},
		{"ru", ru},
		{"ru", ru + " Ещё раз."},
		{"ru", "lol ok"},
		{"ru", ru + " И ещё."},
		{"cn", "她住在北京市朝阳区，今晚去她家。"},
	}
	for i, p := range posts {
		post := &msg.Post{Site: p.site, SitePostID: string(rune('a' + i)), Text: p.text}
		post.Normalize()
		if _, err := h.Handle(context.Background(), post, pipeline.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		site, script string
		want         float64
	}{
		{"en", classifiers.ScriptLatin, 1}, {"en", classifiers.ScriptNone, 1},
		{"ru", "cyrillic", 3}, {"ru", classifiers.ScriptLatin, 1}, {"cn", "han", 1},
	} {
		if got := testutil.ToFloat64(h.m.script.WithLabelValues(tc.site, tc.script)); got != tc.want {
			t.Errorf("posts_by_script{site=%s,script=%s} = %v, want %v", tc.site, tc.script, got, tc.want)
		}
	}
	out := logs.String()
	if n := strings.Count(out, `"site":"ru"`); n != 1 {
		t.Errorf("%d warnings for site ru, want 1 (once an hour):\n%s", n, out)
	}
	if n := strings.Count(out, `"site":"cn"`); n != 1 || !strings.Contains(out, `"script":"han"`) {
		t.Errorf("want one warning for site cn naming the script:\n%s", out)
	}
	if strings.Contains(out, `"site":"en"`) {
		t.Errorf("a warning for a site the classifiers read:\n%s", out)
	}
	for _, word := range []string{"Ленина", "адрес", "北京"} {
		if strings.Contains(out, word) {
			t.Errorf("the log quotes a post (%q):\n%s", word, out)
		}
	}
}

// Sites come from the posts: a stream that names thousands of them must
// not give the metric thousands of series.
func TestScriptMetricBoundsItsSites(t *testing.T) {
	c, err := classifiers.New(config.Default().Classify)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h := &classifyHandler{c: c, out: "scored", m: newClassifyMetrics(reg)}
	for i := range maxScriptSites + 50 {
		h.noteScript(&msg.Post{Site: fmt.Sprintf("site-%d", i), Text: "hello there"})
	}
	if n := testutil.CollectAndCount(h.m.script); n != maxScriptSites+1 {
		t.Errorf("%d series, want %d sites and _other", n, maxScriptSites)
	}
	if got := testutil.ToFloat64(h.m.script.WithLabelValues("_other", classifiers.ScriptLatin)); got != 50 {
		t.Errorf("_other counted %v posts, want 50", got)
	}
	if got := testutil.ToFloat64(h.m.script.WithLabelValues("site-7", classifiers.ScriptLatin)); got != 1 {
		t.Errorf("site-7 counted %v posts, want 1", got)
	}
}
