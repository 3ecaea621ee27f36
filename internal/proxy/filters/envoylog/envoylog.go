// Package envoylog is Envoy's log levels, as extension code (Lua scripts,
// Wasm plugins) names them, and their mapping onto the proxy's slog levels.
package envoylog

import "log/slog"

// Level is an Envoy log level.
type Level int

// Levels in Envoy's order (proxy-wasm's proxy_log uses the same numbers).
const (
	Trace Level = iota
	Debug
	Info
	Warn
	Error
	Critical
)

func (l Level) String() string {
	if l < Trace || l > Critical {
		return "unknown"
	}
	return [...]string{"trace", "debug", "info", "warn", "error", "critical"}[l]
}

// Slog is the slog level a message of level l is logged at (slog has no
// trace or critical).
func (l Level) Slog() slog.Level {
	switch l {
	case Trace, Debug:
		return slog.LevelDebug
	case Info:
		return slog.LevelInfo
	case Warn:
		return slog.LevelWarn
	}
	return slog.LevelError
}
