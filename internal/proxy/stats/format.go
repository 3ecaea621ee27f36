package stats

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// WriteText writes the samples in the format of Envoy's admin /stats:
// "name: value", one a line, in the samples' order (Snapshot sorts).
// filter, when set, keeps only the names it matches (/stats?filter=).
func WriteText(w io.Writer, samples []Sample, filter *regexp.Regexp) error {
	var b strings.Builder
	for _, s := range samples {
		if filter != nil && !filter.MatchString(s.Name) {
			continue
		}
		b.WriteString(s.Name)
		b.WriteString(": ")
		b.WriteString(strconv.FormatInt(s.Value, 10))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// tagRule is one of Envoy's default tag extractors: the regex's first
// group is cut out of the name, its second is the tag's value.
type tagRule struct {
	tag string
	re  *regexp.Regexp
}

// defaultTags are the extractors of Envoy's default stats_config for the
// stats the built-in proxy keeps (source/common/config/well_known_names),
// in Envoy's order: each applies to what the previous ones left.
var defaultTags = []tagRule{
	{"envoy_response_code_class", regexp.MustCompile(`_rq_((\d))xx$`)},
	{"envoy_http_conn_manager_prefix", regexp.MustCompile(`^http\.(([^.]+)\.)`)},
	{"envoy_listener_address", regexp.MustCompile(`^listener\.((\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}_\d+|\[[_aAbBcCdDeEfF0-9]+\]_\d+)\.)`)},
	{"envoy_cluster_name", regexp.MustCompile(`^cluster\.(([^.]+)\.)`)},
}

// label is one Prometheus label.
type label struct{ name, value string }

// extractTags splits an Envoy stat name into the Prometheus metric name
// Envoy's /stats/prometheus gives it (envoy_ prefix, tags cut out, other
// characters than [a-zA-Z0-9_] made _) and its labels, sorted by name.
func extractTags(name string) (string, []label) {
	var labels []label
	for _, r := range defaultTags {
		m := r.re.FindStringSubmatchIndex(name)
		if m == nil {
			continue
		}
		labels = append(labels, label{r.tag, name[m[4]:m[5]]})
		name = name[:m[2]] + name[m[3]:]
	}
	sort.Slice(labels, func(i, j int) bool { return labels[i].name < labels[j].name })
	return "envoy_" + sanitize(name), labels
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// WritePrometheus writes the samples as Envoy's admin /stats/prometheus
// does: metrics named envoy_<stat with its tags cut out>, the tags as
// labels, a TYPE line per metric (counter or gauge), metrics sorted by
// name and their series by labels.
func WritePrometheus(w io.Writer, samples []Sample) error {
	type series struct {
		labels string
		value  int64
	}
	type metric struct {
		kind   Kind
		series []series
	}
	metrics := map[string]*metric{}
	for _, s := range samples {
		name, labels := extractTags(s.Name)
		m := metrics[name]
		if m == nil {
			m = &metric{kind: s.Kind}
			metrics[name] = m
		}
		m.series = append(m.series, series{formatLabels(labels), s.Value})
	}
	names := make([]string, 0, len(metrics))
	for n := range metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		m := metrics[n]
		kind := "counter"
		if m.kind == KindGauge {
			kind = "gauge"
		}
		fmt.Fprintf(&b, "# TYPE %s %s\n", n, kind)
		sort.Slice(m.series, func(i, j int) bool { return m.series[i].labels < m.series[j].labels })
		for _, s := range m.series {
			fmt.Fprintf(&b, "%s%s %d\n", n, s.labels, s.value)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func formatLabels(labels []label) string {
	if len(labels) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.name)
		b.WriteString(`="`)
		// Stat names come from config, but a label value must be UTF-8
		// whatever a name holds.
		b.WriteString(labelEscaper.Replace(strings.ToValidUTF8(l.value, "\uFFFD")))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}
