package notify

import (
	"fmt"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/alertstate/match"
)

// Router picks the receivers of an alert from its labels.
type Router struct {
	routes   []route
	defaults []string
}

type route struct {
	matchers  []match.Matcher
	receivers []string
	cont      bool
}

// NewRouter compiles the configured routes.
func NewRouter(c config.Notify) (*Router, error) {
	r := &Router{defaults: c.DefaultReceivers}
	for i, rc := range c.Routes {
		ms, err := match.ParseMatchers(rc.Matchers)
		if err != nil {
			return nil, fmt.Errorf("notify.routes[%d].matchers: %w", i, err)
		}
		r.routes = append(r.routes, route{matchers: ms, receivers: rc.Receivers, cont: rc.Continue})
	}
	return r, nil
}

// Match returns the receivers for an alert with these labels, each once, in
// route order. Routes are tried in order; a matching route adds its
// receivers and ends the search unless it has continue set. A route with
// no matchers matches every alert. When no route matched, the default
// receivers get the alert.
func (r *Router) Match(labels map[string]string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(names []string) {
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	matched := false
	for _, rt := range r.routes {
		if !match.MatchAll(rt.matchers, labels) {
			continue
		}
		matched = true
		add(rt.receivers)
		if !rt.cont {
			break
		}
	}
	if !matched {
		add(r.defaults)
	}
	return out
}
