package pipeline

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/status/conditions"
	"github.com/portico-gw/portico/internal/xds/translator"
	"github.com/portico-gw/portico/internal/xds/xdstypes"
)

// ReasonExtensionError is the Programmed=False reason of a Gateway whose
// fleet an extension hook failed for (without failOpen).
const ReasonExtensionError = "ExtensionServerError"

// runExtensionHooks runs the per-resource hooks (Route, Cluster,
// VirtualHost, HTTPListener, Endpoints) on the translated xDS. It reports
// false when a hook failed: the fleet then has no resources to serve, so
// the server keeps its last good snapshot.
func runExtensionHooks(ctx context.Context, f *Fleet, x *ir.Xds, h xdstypes.Hooks) bool {
	if h == nil || f.Resources == nil {
		return true
	}
	// The hooks' implementation bounds every call with its own deadline;
	// ctx ends them all when the caller stops.
	if err := translator.ApplyHooks(ctx, x, f.Resources, h); err != nil {
		f.fail(err)
		return false
	}
	return true
}

// runTranslationHook runs the Translation hook last, after the
// EnvoyPatchPolicies, as Envoy Gateway does.
func runTranslationHook(ctx context.Context, f *Fleet, x *ir.Xds, h xdstypes.Hooks) {
	if h == nil || f.Resources == nil {
		return
	}
	if err := translator.ApplyTranslateHook(ctx, x, f.Resources, h); err != nil {
		f.fail(err)
	}
}

func (f *Fleet) fail(err error) {
	f.ExtensionError = err.Error()
	f.Errors = append(f.Errors, err.Error())
	f.Resources = nil
}

// markExtensionFailures sets Programmed=False on the Gateways of fleets an
// extension hook failed for: they keep serving the last good configuration,
// which no longer matches their spec.
func markExtensionFailures(out *Result) {
	for _, f := range out.Fleets {
		if f.ExtensionError == "" {
			continue
		}
		for _, gw := range out.Gateway.Gateways {
			if gw.Namespace+"/"+gw.Name != f.Key && string(gw.Spec.GatewayClassName) != f.Key {
				continue
			}
			gw.Status.Conditions = conditions.Set(gw.Status.Conditions, metav1.Condition{
				Type:               string(gwapiv1.GatewayConditionProgrammed),
				Status:             metav1.ConditionFalse,
				Reason:             ReasonExtensionError,
				Message:            "Extension server failed; the last good configuration keeps serving: " + f.ExtensionError,
				ObservedGeneration: gw.Generation,
			})
		}
	}
}
