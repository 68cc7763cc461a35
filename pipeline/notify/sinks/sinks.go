// Package sinks is the registry of alert sinks: an explicit list, one line
// per sink package. Adding a sink is a new package under pipeline/notify
// and one line here; the conformance tests in this package then run on it.
package sinks

import (
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/alertmanager"
	"github.com/threatwatch/threatwatch/pipeline/notify/file"
	"github.com/threatwatch/threatwatch/pipeline/notify/pagerduty"
	"github.com/threatwatch/threatwatch/pipeline/notify/slack"
	"github.com/threatwatch/threatwatch/pipeline/notify/webhook"
)

// All lists every sink type.
func All() []notify.Factory {
	return []notify.Factory{
		alertmanager.Factory,
		pagerduty.Factory,
		slack.Factory,
		webhook.Factory,
		file.Factory,
	}
}
