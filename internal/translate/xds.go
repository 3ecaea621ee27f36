package translate

import (
	"fmt"

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/xds/bootstrap"
	"github.com/portico-gw/portico/internal/xds/configdump"
	"github.com/portico-gw/portico/internal/yamlout"
)

// addXDS translates each IR to xDS and adds egctl's `xds` key. egctl takes a
// single -t value; several are accepted here and rendered side by side
// (as `all` does) because a user asking for routes and clusters wants both.
// Resources the xDS translator rejects are reported in Errors and left out;
// the rest of the fleet's xDS is still shown.
func addXDS(report *Report, result *pipeline.Result, types []string) error {
	parsed, err := parseTypes(types)
	if err != nil {
		return err
	}
	bs := bootstrap.Build(bootstrap.EnvoyGatewayDefaults())
	out := map[string]any{}
	for _, fleet := range result.Fleets {
		key, res := fleet.Key, fleet.Resources
		if res == nil {
			continue
		}
		// Each section is rendered when it is printed (see Output.Write).
		section := func(t configdump.Type) yamlout.Lazy {
			return func() (any, error) { return configdump.Render(res, bs, t) }
		}
		if len(parsed) == 1 && parsed[0] != configdump.All {
			out[key] = section(parsed[0])
			continue
		}
		types := parsed
		if parsed[0] == configdump.All {
			types = configdump.Sections(res, bs)
		}
		var configs []any
		for _, t := range types {
			configs = append(configs, section(t))
		}
		out[key] = map[string]any{"configs": configs}
	}
	report.Output["xds"] = out
	return nil
}

func parseTypes(types []string) ([]configdump.Type, error) {
	if len(types) == 0 {
		return []configdump.Type{configdump.All}, nil
	}
	var out []configdump.Type
	for _, s := range types {
		t, err := configdump.ParseType(s)
		if err != nil {
			return nil, err
		}
		if t == configdump.All && len(types) > 1 {
			return nil, fmt.Errorf("-t all cannot be combined with other types")
		}
		out = append(out, t)
	}
	return out, nil
}
