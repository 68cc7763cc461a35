package sinks_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/threatwatch/threatwatch/pipeline/notify/notifytest"
	"github.com/threatwatch/threatwatch/pipeline/notify/sinks"
)

// jsonServer answers 200 (202 for PagerDuty's enqueue) and records
// whether every request body was valid JSON.
type jsonServer struct {
	bodies [][]byte
}

func (j *jsonServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	_, _ = b.ReadFrom(r.Body)
	j.bodies = append(j.bodies, b.Bytes())
	if strings.Contains(r.URL.Path, "enqueue") {
		w.WriteHeader(http.StatusAccepted)
	}
}

// FuzzSinkPayloads gives every sink alerts whose free text is anything,
// with an address, a phone number and an e-mail set in it between spaces:
// each sink delivers (no error from a server that accepts everything),
// every body or line it writes is valid JSON, and none holds the planted
// personal data.
func FuzzSinkPayloads(f *testing.F) {
	f.Add("Doxxing on forum-a", "posts list a phone", "reach out", "call her", "She lives here")
	f.Add("\"quoted\" \\ <b>&amp;</b>", "\x00\x1f\u2028\u2029", "\xff\xfe", "{\"a\":1}", "${x} {{.Labels}}")
	f.Add(strings.Repeat("é", 3000), "", "ok", "", "\n\n")
	f.Fuzz(func(t *testing.T, summary, desc, label, snippet, thread string) {
		for _, s := range []string{summary, desc, label, snippet, thread} {
			for _, p := range notifytest.RawPII {
				if strings.Contains(s, p) {
					return // the planted data must come only from below
				}
			}
		}
		plant := func(s string, raw string) string { return s + " " + raw + " " + s }
		a := notifytest.Alert("forum-a")
		a.Annotations["summary"] = plant(summary, notifytest.RawAddress)
		a.Annotations["description"] = plant(desc, notifytest.RawPhone)
		a.Labels["note"] = plant(label, notifytest.RawEmail)
		a.Evidence = notifytest.PIIAlert("forum-a").Evidence
		a.Evidence[0].Snippet = plant(snippet, notifytest.RawPhone)
		a.Evidence[1].Thread = plant(thread, notifytest.RawAddress)
		for _, fac := range sinks.All() {
			srv := &jsonServer{}
			hs := httptest.NewServer(srv)
			file := filepath.Join(t.TempDir(), "alerts.jsonl")
			s := build(t, fac, hs.URL, file)
			_, err := s.Notify(context.Background(), a)
			hs.Close()
			if err != nil {
				t.Fatalf("%s: %v", fac.Type, err)
			}
			bodies := srv.bodies
			if fac.Type == "file" {
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				sc := bufio.NewScanner(bytes.NewReader(b))
				sc.Buffer(nil, 1<<24)
				for sc.Scan() {
					bodies = append(bodies, bytes.Clone(sc.Bytes()))
				}
			}
			if len(bodies) == 0 {
				t.Fatalf("%s sent nothing", fac.Type)
			}
			for _, b := range bodies {
				if !json.Valid(b) || !utf8.Valid(b) {
					t.Fatalf("%s wrote invalid JSON: %q", fac.Type, b)
				}
				if leaked := notifytest.LeakedPII(b); len(leaked) > 0 {
					t.Fatalf("%s sent raw %q in:\n%s", fac.Type, leaked, b)
				}
			}
		}
	})
}
