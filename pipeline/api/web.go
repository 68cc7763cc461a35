package api

import (
	"embed"
	"io/fs"
	"net/http"
)

// webFS holds the dashboard: hand-written HTML, CSS and JavaScript with no
// external resource, so it works offline and under a strict CSP.
//
//go:embed web
var webFS embed.FS

func (s *Server) webRoutes(mux *http.ServeMux) {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	serveFile := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, sub, name)
		})
	}
	mux.Handle("GET /{$}", serveFile("index.html"))
	mux.Handle("GET /favicon.svg", serveFile("favicon.svg"))
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})))
}
