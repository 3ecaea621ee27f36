package gatewayapi

import (
	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

// defaultAccessLog is what a proxy without access log settings writes.
func defaultAccessLog() *ir.AccessLog {
	return &ir.AccessLog{JSON: []ir.JSONAccessLog{{Path: "/dev/stdout"}}}
}

// accessLogIR maps EnvoyProxy telemetry.accessLog onto the IR, as Envoy
// Gateway does: no settings (and not disabled) means the default log;
// disable means none; each setting writes its format (Text when unset) to
// each of its File sinks. Sinks of other types and CEL matches are in the
// ledger as not supported yet (the EnvoyProxy says so).
func accessLogIR(p *egv1a1.EnvoyProxy) *ir.AccessLog {
	if p == nil || p.Spec.Telemetry == nil || p.Spec.Telemetry.AccessLog == nil {
		return defaultAccessLog()
	}
	al := p.Spec.Telemetry.AccessLog
	if al.Disable {
		return nil
	}
	if len(al.Settings) == 0 {
		return defaultAccessLog()
	}
	out := &ir.AccessLog{}
	for _, s := range al.Settings {
		format := egv1a1.ProxyAccessLogFormat{Type: "Text"}
		if s.Format != nil {
			format = *s.Format
		}
		for _, sink := range s.Sinks {
			if sink.Type != "File" || sink.File == nil {
				continue
			}
			switch format.Type {
			case "JSON":
				out.JSON = append(out.JSON, ir.JSONAccessLog{Path: sink.File.Path, JSON: format.JSON, LogType: s.Type})
			default:
				out.Text = append(out.Text, ir.TextAccessLog{Path: sink.File.Path, Format: format.Text, LogType: s.Type})
			}
		}
	}
	return out
}

// accessLogErrors are Envoy Gateway's access log validation errors.
func accessLogErrors(spec *egv1a1.EnvoyProxySpec) []string {
	if spec.Telemetry == nil || spec.Telemetry.AccessLog == nil || spec.Telemetry.AccessLog.Disable {
		return nil
	}
	var errs []string
	for _, s := range spec.Telemetry.AccessLog.Settings {
		if f := s.Format; f != nil {
			switch {
			case f.Type == "Text" && f.Text == nil:
				errs = append(errs, `unable to configure access log when using Text format but "text" field being empty`)
			case f.Type == "JSON" && len(f.JSON) == 0:
				errs = append(errs, `unable to configure access log when using JSON format but "json" field being empty`)
			}
		}
		for _, sink := range s.Sinks {
			switch {
			case sink.Type == "File" && sink.File == nil:
				errs = append(errs, `unable to configure access log when using File sink type but "file" field being empty`)
			case sink.Type == "OpenTelemetry" && sink.OpenTelemetry == nil:
				errs = append(errs, `unable to configure access log when using OpenTelemetry sink type but "openTelemetry" field being empty`)
			}
		}
	}
	return errs
}
