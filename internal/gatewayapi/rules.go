package gatewayapi

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/support"
)

// ruleProblems collects what is wrong with a route's rules. Reference
// problems (a missing Service, a forbidden cross-namespace ref) make
// ResolvedRefs False; unsupported values make the rule answer 500 and are
// reported in PartiallyInvalid so the other rules keep serving.
type ruleProblems struct {
	refReason string
	refMsgs   []string
	invalid   []string
	failed    int // rules that answer 500 for an unsupported or invalid value
}

func (p *ruleProblems) ref(reason gwapiv1.RouteConditionReason, format string, args ...any) {
	if p.refReason == "" {
		p.refReason = string(reason)
	}
	p.refMsgs = append(p.refMsgs, fmt.Sprintf(format, args...))
}

// resolvedRefs is the route's ResolvedRefs condition.
func (p *ruleProblems) resolvedRefs(gen int64) metav1.Condition {
	if p.refReason != "" {
		return newCondition(string(gwapiv1.RouteConditionResolvedRefs), "False",
			p.refReason, strings.Join(p.refMsgs, " "), gen)
	}
	return newCondition(string(gwapiv1.RouteConditionResolvedRefs), "True",
		string(gwapiv1.RouteReasonResolvedRefs), msgRouteResolvedRefs, gen)
}

func (p *ruleProblems) unsupported(format string, args ...any) {
	p.invalid = append(p.invalid, fmt.Sprintf(format, args...))
}

// ruleSpec is one rule of a route in HTTPRoute's terms, its matches
// already translated: a GRPCRoute rule's filters and backendRefs are
// HTTPRoute's types under other names (see grpcRuleSpec).
type ruleSpec struct {
	rule    *gwapiv1.HTTPRouteRule
	matches []routeMatch
}

// translateHTTPRules translates the rules of an HTTPRoute.
func (t *translation) translateHTTPRules(route *gwapiv1.HTTPRoute) ([]*routeRule, metav1.Condition, *metav1.Condition) {
	specs := make([]ruleSpec, len(route.Spec.Rules))
	for i := range route.Spec.Rules {
		rule := &route.Spec.Rules[i]
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gwapiv1.HTTPRouteMatch{{}}
		}
		specs[i] = ruleSpec{rule: rule}
		for _, m := range matches {
			specs[i].matches = append(specs[i].matches, translateMatch(m))
		}
	}
	return t.translateRules(httpRouteObject(route), specs, unsupportedRouteFields(kindHTTPRoute, route))
}

// translateRules translates the rules of a route. It also returns the
// ResolvedRefs condition and, when a rule is unusable, PartiallyInvalid;
// when every rule is, Accepted=False instead, as the Gateway API (GEP-1364)
// and Envoy Gateway say. notYet holds the route's unsupported fields (see
// unsupportedRouteFields).
func (t *translation) translateRules(ro routeObject, specs []ruleSpec, notYet map[int][]string) ([]*routeRule, metav1.Condition, *metav1.Condition) {
	var rules []*routeRule
	probs := &ruleProblems{}
	if f := notYet[-1]; len(f) > 0 {
		probs.unsupported("%s %s not supported by Portico yet: the route attaches through its parentRefs only.", strings.Join(f, ", "), isAre(len(f)))
	}
	for i, spec := range specs {
		rules = append(rules, t.translateRule(ro, i, spec, notYet[i], probs))
	}
	gen := ro.meta.Generation
	resolved := probs.resolvedRefs(gen)
	var partial *metav1.Condition
	if len(probs.invalid) > 0 {
		c := newCondition(string(gwapiv1.RouteConditionPartiallyInvalid), "True",
			string(gwapiv1.RouteReasonUnsupportedValue), strings.Join(probs.invalid, " "), gen)
		if len(specs) > 0 && probs.failed == len(specs) {
			c = newCondition(string(gwapiv1.RouteConditionAccepted), "False",
				string(gwapiv1.RouteReasonUnsupportedValue), strings.Join(probs.invalid, " "), gen)
		}
		partial = &c
	}
	return rules, resolved, partial
}

// unsupportedRouteFields are the fields of a route the ledger marks not
// supported yet, by rule index (-1 for route-level fields). Filters are
// left out: applyFilter judges them by type.
func unsupportedRouteFields(kind string, route any) map[int][]string {
	findings := support.Select(support.Findings(kind, route), support.NotYet)
	if len(findings) == 0 {
		return nil
	}
	out := map[int][]string{}
	for _, f := range findings {
		rest, ok := strings.CutPrefix(f.Path, "spec.rules[")
		if !ok {
			out[-1] = append(out[-1], f.Path)
			continue
		}
		if strings.Contains(f.Path, "].filters[") && !strings.Contains(f.Path, "backendRefs") {
			continue
		}
		idx, _, _ := strings.Cut(rest, "]")
		i, err := strconv.Atoi(idx)
		if err != nil {
			continue
		}
		out[i] = append(out[i], f.Path)
	}
	return out
}

func (t *translation) translateRule(ro routeObject, i int, rs ruleSpec, notYet []string, probs *ruleProblems) *routeRule {
	spec := rs.rule
	rule := &routeRule{index: i, name: ro.ruleName(i), matches: rs.matches}
	rule.template.Metadata = &ir.ResourceMetadata{Kind: ro.kind, Name: ro.meta.Name, Namespace: ro.meta.Namespace}
	rule.template.IsHTTP2 = ro.kind == kindGRPCRoute
	if spec.Name != nil {
		rule.template.Metadata.SectionName = string(*spec.Name)
	}

	destName := rule.name
	ruleInvalid := false
	if len(notYet) > 0 {
		probs.unsupported("Rule %d: %s %s not supported by Portico yet.", i, strings.Join(notYet, ", "), isAre(len(notYet)))
		ruleInvalid = true
	}
	for k, f := range spec.Filters {
		if msg := t.applyFilter(ro, &rule.template, f, fmt.Sprintf("%s/filter/%d", destName, k), probs); msg != "" {
			probs.unsupported("Rule %d: %s", i, msg)
			ruleInvalid = true
		}
	}
	if d := t.ruleTraffic(spec); d != nil {
		rule.template.Traffic = d
	}
	if sp := spec.SessionPersistence; sp != nil && !ruleInvalid {
		var msg string
		if rule.template.SessionPersistence, msg = sessionPersistence(sp, destName); msg != "" {
			probs.unsupported("Rule %d: %s", i, msg)
			ruleInvalid = true
		}
	}
	if rule.template.CORS != nil {
		rule.matches = corsPreflights(rule.matches)
	}
	if ruleInvalid {
		probs.failed++
		rule.template.DirectResponse = &ir.DirectResponse{StatusCode: 500}
		return rule
	}
	if rule.template.Redirect != nil {
		return rule // a redirect has no backends
	}
	dest := &ir.RouteDestination{Name: destName, Metadata: rule.template.Metadata}
	for k, br := range spec.BackendRefs {
		setting := t.resolveBackendRef(ro, br.BackendRef, fmt.Sprintf("%s/backend/%d", destName, k), probs)
		if setting != nil {
			dest.Settings = append(dest.Settings, setting)
		}
	}
	if len(dest.Settings) == 0 {
		// Gateway API: requests a rule would send to invalid (or no)
		// backends get a 500.
		rule.template.DirectResponse = &ir.DirectResponse{StatusCode: 500}
		return rule
	}
	rule.template.Destination = dest
	return rule
}

func translateMatch(m gwapiv1.HTTPRouteMatch) routeMatch {
	var rm routeMatch
	pathType, pathValue := gwapiv1.PathMatchPathPrefix, "/"
	if m.Path != nil {
		if m.Path.Type != nil {
			pathType = *m.Path.Type
		}
		if m.Path.Value != nil {
			pathValue = *m.Path.Value
		}
	}
	switch pathType {
	case gwapiv1.PathMatchExact:
		rm.path = &ir.StringMatch{Exact: ptr(pathValue)}
	case gwapiv1.PathMatchRegularExpression:
		rm.path = &ir.StringMatch{SafeRegex: ptr(pathValue)}
	default:
		rm.path = &ir.StringMatch{Prefix: ptr(pathValue)}
	}
	for _, h := range m.Headers {
		regex := h.Type != nil && *h.Type == gwapiv1.HeaderMatchRegularExpression
		rm.headers = append(rm.headers, stringMatch(string(h.Name), regex, h.Value))
	}
	if m.Method != nil {
		rm.headers = append(rm.headers, ir.StringMatch{Name: ":method", Exact: ptr(string(*m.Method))})
	}
	for _, q := range m.QueryParams {
		regex := q.Type != nil && *q.Type == gwapiv1.QueryParamMatchRegularExpression
		rm.query = append(rm.query, stringMatch(string(q.Name), regex, q.Value))
	}
	return rm
}

// stringMatch is a header or query parameter match: exact unless regex.
func stringMatch(name string, regex bool, value string) ir.StringMatch {
	if regex {
		return ir.StringMatch{Name: name, SafeRegex: ptr(value)}
	}
	return ir.StringMatch{Name: name, Exact: ptr(value)}
}

// ruleTraffic maps rule timeouts and retries.
func (t *translation) ruleTraffic(spec *gwapiv1.HTTPRouteRule) *ir.TrafficFeatures {
	var tf ir.TrafficFeatures
	if to := spec.Timeouts; to != nil {
		tf.Timeout = &ir.HTTPTimeout{}
		if to.Request != nil {
			tf.Timeout.RequestTimeout = ptr(normalizeDuration(string(*to.Request)))
		}
		if to.BackendRequest != nil {
			tf.Timeout.BackendRequestTimeout = ptr(normalizeDuration(string(*to.BackendRequest)))
		}
	}
	if r := spec.Retry; r != nil {
		retry := &ir.Retry{}
		if r.Attempts != nil {
			retry.NumRetries = ptr(uint32(*r.Attempts))
		}
		if len(r.Codes) > 0 {
			retry.RetryOn = &ir.RetryOn{}
			for _, c := range r.Codes {
				retry.RetryOn.HTTPStatusCodes = append(retry.RetryOn.HTTPStatusCodes, uint32(c))
			}
		}
		if r.Backoff != nil {
			retry.PerRetry = &ir.PerRetry{BackOff: &ir.BackOff{BaseInterval: ptr(normalizeDuration(string(*r.Backoff)))}}
		}
		tf.Retry = retry
	}
	if tf.Timeout == nil && tf.Retry == nil {
		return nil
	}
	return &tf
}

// normalizeDuration turns a Gateway API duration ("1h2m", "500ms") into the
// canonical Go form the xDS translator parses; CRD validation already
// guarantees the syntax.
func normalizeDuration(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	return d.String()
}
