package abi

import (
	"io"
	"log/slog"
	"testing"
)

// proxy_get_log_level tells the plugin the proxy's real threshold, so an
// SDK skips formatting what would be dropped (Envoy Gateway's proxies log
// at warn).
func TestLogThreshold(t *testing.T) {
	for _, c := range []struct {
		level slog.Level
		want  LogLevel
	}{
		{slog.LevelDebug, LogDebug},
		{slog.LevelInfo, LogInfo},
		{slog.LevelWarn, LogWarn},
		{slog.LevelError, LogError},
		{slog.LevelError + 4, LogCritical},
	} {
		l := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: c.level}))
		if got := logThreshold(l); got != c.want {
			t.Errorf("logger at %v: %v, want %v", c.level, got, c.want)
		}
	}
}
