package config_test

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/config"
	"github.com/threatwatch/threatwatch/pipeline/notify"
	"github.com/threatwatch/threatwatch/pipeline/notify/alertmanager"
)

// The check of notify.tick against an Alertmanager receiver that does not
// set resend_interval assumes the sink's default: the two must agree.
func TestTickCheckAssumesTheAlertmanagerSinksDefaultResendInterval(t *testing.T) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("url: http://am.example:9093\n"), &n); err != nil {
		t.Fatal(err)
	}
	s, err := alertmanager.Factory.New(n.Content[0], notify.Deps{Path: "notify.receivers[0].settings"})
	if err != nil {
		t.Fatal(err)
	}
	k, ok := s.(notify.KeepAliver)
	if !ok {
		t.Fatal("the alertmanager sink no longer asks for keep-alives: drop the notify.tick check")
	}
	if got := k.KeepAlive(); got != config.AlertmanagerResendInterval {
		t.Fatalf("the sink's default resend_interval is %v, the config check assumes %v", got, config.AlertmanagerResendInterval)
	}
}
