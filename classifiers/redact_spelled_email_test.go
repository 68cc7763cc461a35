package classifiers

import "testing"

// An address with its "@" written as a bare word ("jane at example dot
// com") was left in clear: only "(at)" and "[dot]" in brackets were read
// as an address.
func TestRedactHidesEmailsSpelledWithBareWords(t *testing.T) {
	hidden(t, "email her: jane at example dot com", "jane", "example")
	hidden(t, "her email is jane dot roe at gmail dot com lol", "jane", "roe", "gmail")
	hidden(t, "mail her: janeroe at gmail.com now", "janeroe", "gmail")
	hidden(t, "contact jroe99 at protonmail dot com", "jroe99", "protonmail")
	hidden(t, "Jane.Roe at Example dot Org", "Jane.Roe", "Example")
	hidden(t, "spam her inbox, jane_roe AT example DOT co DOT uk", "jane_roe", "example")
}

// "at" in prose before a site's name is not an address.
func TestRedactLeavesAtBeforeASiteInProseAlone(t *testing.T) {
	unchanged(t,
		"look at google dot com for it",
		"she is mad at reddit.com mods",
		"I saw it at example.com yesterday",
		"the meetup is at 5.30 at the station",
		"we arrived at the station at 5. Then left",
		"it was posted at kiwifarms dot net first",
		"the docs are at golang.org now",
	)
}
