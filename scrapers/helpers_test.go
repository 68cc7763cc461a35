package scrapers

import (
	"log/slog"
	"regexp"
)

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func mustRE(s string) *regexp.Regexp { return regexp.MustCompile(s) }
