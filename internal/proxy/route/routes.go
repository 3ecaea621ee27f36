// Package route is the built-in proxy's route configuration: an RDS
// RouteConfiguration (or an HCM's inline one) compiled into an immutable
// Table, and what the HCM asks of it per request: the virtual host for a
// host name, the first route matching a request, its action (forward,
// redirect, direct response), header mutations, retry and mirror policies,
// per-filter configs and metadata. A configuration is compiled per
// virtual host, so an update that changes one host among many reuses the
// rest (CompileBytes).
package route

import (
	"math/rand/v2"
	"regexp"
	"time"

	"github.com/portico-gw/portico/internal/proxy/match"
)

// Table is a compiled, immutable RouteConfiguration.
type Table struct {
	Name       string
	exact      map[string]*VirtualHost
	suffix     []wildHost // "*.example.com", longest first
	prefix     []wildHost // "example.*", longest first
	star       *VirtualHost
	ignorePort bool
	// RequestHeaders and ResponseHeaders are the configuration's own
	// header mutations (the least specific level).
	RequestHeaders, ResponseHeaders HeaderOps
	// MostSpecificWins is most_specific_header_mutations_wins.
	MostSpecificWins bool
	perFilter        map[string]perFilter
	clusterNames     []string
}

// Empty is the table of an HCM whose RDS configuration has not arrived:
// every request is answered 404.
var Empty = &Table{exact: map[string]*VirtualHost{}}

type wildHost struct {
	part string
	vh   *VirtualHost
}

// VirtualHost is a compiled virtual host.
type VirtualHost struct {
	Name                            string
	routes                          []*Route
	RequestHeaders, ResponseHeaders HeaderOps
	perFilter                       map[string]perFilter
	// AttemptCountInRequest and AttemptCountInResponse are
	// include_request_attempt_count and include_attempt_count_in_response.
	AttemptCountInRequest  bool
	AttemptCountInResponse bool
	retry                  *RetryPolicy
}

// Kind is what a route does.
type Kind int

// The route actions.
const (
	KindRoute    Kind = iota // forward to a cluster (Action)
	KindRedirect             // answer with a redirect (Redirect)
	KindDirect               // answer directly (Direct)
)

// Route is a compiled route.
type Route struct {
	Name     string
	m        Match
	Kind     Kind
	Action   *Action
	Redirect *Redirect
	Direct   *DirectResponse
	// RequestHeaders and ResponseHeaders are the route's own header
	// mutations.
	RequestHeaders, ResponseHeaders HeaderOps
	// Metadata is the route's filter_metadata by namespace (nil when it
	// has none), which filters read (filters.Stream.RouteMetadata).
	Metadata  map[string]map[string]any
	perFilter map[string]perFilter
	merged    map[string]perFilter // with the virtual host's and table's
	// configs are merged's filter configs, what filters.Stream.PerRoute
	// answers (nil when there are none: most routes).
	configs map[string]any
}

type pathKind int

const (
	pathPrefix pathKind = iota
	pathExact
	pathRegex
	pathSeparatedPrefix
)

// Match is a compiled RouteMatch.
type Match struct {
	kind          pathKind
	value         string
	re            *regexp.Regexp
	caseSensitive bool
	headers       []*match.Header
	query         []*match.Query
	grpc          bool
}

// Action is a compiled RouteAction: where and how the router forwards.
type Action struct {
	// Cluster, ClusterHeader and Weighted name the upstream cluster: one of
	// them is set.
	Cluster       string
	ClusterHeader string // lower case
	Weighted      []WeightedCluster
	totalWeight   uint64
	// NotFoundCode answers a cluster that does not exist.
	NotFoundCode  int
	prefixRewrite string
	hasPrefixRW   bool
	regexRewrite  *regexp.Regexp
	regexSubst    string
	// HostLiteral, AutoHostRewrite and HostHeader rewrite the authority.
	HostLiteral          string
	AutoHostRewrite      bool
	HostHeader           string
	AppendXForwardedHost bool
	Timeout              time.Duration // 0: none
	TimeoutMs            string        // Timeout in milliseconds, for x-envoy-expected-rq-timeout-ms
	IdleTimeout          time.Duration
	Retry                *RetryPolicy
	WebSocket            UpgradeSetting // the route's upgrade_configs entry for websocket
	Mirrors              []MirrorPolicy
}

// PickWeighted draws one of the weighted clusters by weight.
func (a *Action) PickWeighted() *WeightedCluster {
	x := rand.Uint64N(a.totalWeight)
	for i := range a.Weighted {
		if x < a.Weighted[i].weight {
			return &a.Weighted[i]
		}
		x -= a.Weighted[i].weight
	}
	return &a.Weighted[len(a.Weighted)-1] // not reached: the weights sum to totalWeight
}

// WeightedCluster is one entry of weighted_clusters.
type WeightedCluster struct {
	Name                            string
	weight                          uint64
	RequestHeaders, ResponseHeaders HeaderOps
	perFilter                       map[string]perFilter
	HostLiteral                     string
}

// Redirect is a compiled RedirectAction.
type Redirect struct {
	scheme        string
	host          string
	port          uint32
	path          string
	prefixRewrite string
	hasPrefixRW   bool
	regex         *regexp.Regexp
	subst         string
	Code          int
	stripQuery    bool
}

// DirectResponse is a compiled DirectResponseAction.
type DirectResponse struct {
	Status int
	Body   string
}
