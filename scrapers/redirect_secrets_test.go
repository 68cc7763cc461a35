package scrapers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/threatwatch/threatwatch/config"
)

func TestSiteSecretsStayOnTheSitesHostAcrossRedirects(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			return
		}
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
		_, _ = w.Write([]byte("<html><body>moved</body></html>"))
	}))
	defer other.Close()
	// The same loopback server under another host name: another host for
	// every rule that compares host names.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	var sameHostKey string
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
		case "/moved/":
			http.Redirect(w, r, "/threads/2/", http.StatusFound)
		case "/threads/2/":
			mu.Lock()
			sameHostKey = r.Header.Get("Api-Key")
			mu.Unlock()
			_, _ = w.Write([]byte("<html><body>here</body></html>"))
		default:
			http.Redirect(w, r, otherURL+"/landing", http.StatusFound)
		}
	}))
	defer site.Close()
	f := testFetcher(t, func(c *config.Scrape, s *config.Site) {
		s.Headers = map[string]config.Secret{
			"Authorization": config.NewSecret("Bearer fictional-token"),
			"Api-Key":       config.NewSecret("fictional-discourse-key"),
			"Api-Username":  config.NewSecret("fictional-user"),
			"X-Api-Key":     config.NewSecret("fictional-x-key"),
		}
		s.Cookies = map[string]config.Secret{"xf_session": config.NewSecret("fictional-session")}
	})
	if _, err := f.Get(context.Background(), site.URL+"/threads/1/", Validators{}); err != nil {
		t.Fatalf("get: %v", err)
	}
	if _, err := f.Get(context.Background(), site.URL+"/moved/", Validators{}); err != nil {
		t.Fatalf("get: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sameHostKey != "fictional-discourse-key" {
		t.Errorf("a redirect on the site's own host lost its headers")
	}
	if got == nil {
		t.Fatal("the redirect target was not asked")
	}
	for _, h := range []string{"Authorization", "Api-Key", "Api-Username", "X-Api-Key", "Cookie"} {
		if v := got.Get(h); v != "" {
			t.Errorf("another host received the site's %s header", h)
		}
	}
	if got.Get("User-Agent") == "" {
		t.Errorf("the User-Agent was dropped too")
	}
}
