// Package server is the example extension server of the Extension Server
// guide: every HTTP listener gets Envoy's basic_auth HTTP filter, with the
// users of the ListenerContextExample policies attached to its Gateway.
//
// It is written against the plain envoygateway.extension API (plus the SDK
// in pkg/extension for decoding and HCM editing); the same server works
// with Envoy Gateway.
package server

import (
	"context"
	"crypto/sha1" //nolint:gosec // htpasswd {SHA} is what Envoy's basic_auth reads
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	basicauthv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/basic_auth/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	sdk "github.com/portico-gw/portico/pkg/extension"
	pb "github.com/portico-gw/portico/proto/extension"
)

// APIVersion and Kind of the example policy.
const (
	APIVersion = "example.extensions.io/v1alpha1"
	Kind       = "ListenerContextExample"
	// FilterName is the HTTP filter the server adds.
	FilterName = "envoy.filters.http.basic_auth"
	// UsernameHeader carries the authenticated user to the backend.
	UsernameHeader = "X-Example-Ext"
)

// ListenerContextExample is the example policy: a Gateway (targetRefs)
// accepts username/password.
type ListenerContextExample struct {
	sdk.Object
	Spec struct {
		TargetRefs []struct {
			Group       string `json:"group"`
			Kind        string `json:"kind"`
			Name        string `json:"name"`
			SectionName string `json:"sectionName,omitempty"`
		} `json:"targetRefs"`
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"spec"`
}

// Server implements the HTTPListener hook; every other hook answers "no
// change" through sdk.Base.
type Server struct {
	sdk.Base
	Log *slog.Logger
}

// PostHTTPListenerModify adds basic_auth to every HTTP connection manager
// of the listener. With no policy attached the filter has no users, so
// every request gets a 401, as the guide describes.
func (s *Server) PostHTTPListenerModify(_ context.Context, req *pb.PostHTTPListenerModifyRequest) (*pb.PostHTTPListenerModifyResponse, error) {
	pols, err := sdk.DecodeKind[ListenerContextExample](req.GetPostListenerContext().GetExtensionResources(), APIVersion, Kind)
	if err != nil {
		return nil, err
	}
	var users strings.Builder
	for _, p := range pols {
		if p.Spec.Username == "" || strings.ContainsAny(p.Spec.Username, ":\n") {
			continue
		}
		sum := sha1.Sum([]byte(p.Spec.Password)) //nolint:gosec // see import
		fmt.Fprintf(&users, "%s:{SHA}%s\n", p.Spec.Username, base64.StdEncoding.EncodeToString(sum[:]))
	}
	l := req.GetListener()
	if l == nil {
		return &pb.PostHTTPListenerModifyResponse{}, nil
	}
	cfg := &basicauthv3.BasicAuth{
		Users:                 &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: users.String()}},
		ForwardUsernameHeader: UsernameHeader,
	}
	n, err := sdk.EditHCM(l, func(h *hcmv3.HttpConnectionManager) error { return sdk.AddHTTPFilter(h, FilterName, cfg) })
	if err != nil {
		return nil, err
	}
	if s.Log != nil {
		s.Log.Info("basic_auth added", "listener", l.GetName(), "connection managers", n, "users", len(pols))
	}
	return &pb.PostHTTPListenerModifyResponse{Listener: l}, nil
}
