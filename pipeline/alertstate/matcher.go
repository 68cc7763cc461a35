package alertstate

import "github.com/threatwatch/threatwatch/pipeline/alertstate/match"

// Matcher selects alerts by one label; see package match.
type Matcher = match.Matcher

// MatchOp is how a Matcher compares a label value.
type MatchOp = match.MatchOp

// The match operators, as Alertmanager spells them.
const (
	MatchEqual     = match.MatchEqual
	MatchNotEqual  = match.MatchNotEqual
	MatchRegexp    = match.MatchRegexp
	MatchNotRegexp = match.MatchNotRegexp
)

// ErrMatcher reports a matcher that cannot be parsed or compiled.
var ErrMatcher = match.ErrMatcher

// Matcher constructors and helpers, re-exported so API code needs one import.
var (
	NewMatcher    = match.NewMatcher
	MustMatcher   = match.MustMatcher
	ParseMatcher  = match.ParseMatcher
	ParseMatchers = match.ParseMatchers
	MatchAll      = match.MatchAll
)
