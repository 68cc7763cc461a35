package api

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestTheOpenAPIFileDocumentsEveryEndpoint keeps docs/openapi.yaml and the
// route table in step, roles included.
func TestTheOpenAPIFileDocumentsEveryEndpoint(t *testing.T) {
	b, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string `yaml:"openapi"`
		Paths   map[string]map[string]struct {
			Description string `yaml:"description"`
			Responses   map[string]any
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	documented := map[string]string{}
	for p, ops := range doc.Paths {
		for m, op := range ops {
			documented[strings.ToUpper(m)+" "+param.ReplaceAllString(p, "{}")] = op.Description
		}
	}
	h := newHarness(t, nil)
	for _, rt := range h.srv.routeTable() {
		key := rt.method + " " + param.ReplaceAllString(rt.pattern, "{}")
		desc, ok := documented[key]
		if !ok {
			t.Errorf("%s is not documented", key)
			continue
		}
		if !strings.Contains(desc, "Role `"+rt.role+"`") {
			t.Errorf("%s: the description does not say it needs role %s", key, rt.role)
		}
		delete(documented, key)
	}
	for k := range documented {
		if !strings.HasPrefix(k, "GET /healthz") && !strings.HasPrefix(k, "GET /readyz") && !strings.HasPrefix(k, "GET /metrics") {
			t.Errorf("%s is documented but not served", k)
		}
	}
}
