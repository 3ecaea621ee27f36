package gatewayapi

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
	"github.com/portico-gw/portico/internal/luavalidate"
)

// LuaValidator checks one script under a validation mode; filterContext is
// what the script's filterContext() returns. luavalidate.Validate is the
// default; tests may pass their own.
type LuaValidator func(code string, mode egv1a1.LuaValidation, filterContext map[string]any) error

// luaConfigMapKey is where a ConfigMap holds a script.
const luaConfigMapKey = "lua"

// luaPolicy is the Lua part of one policy: scripts resolved once, validated
// once per validation mode (each Gateway's EnvoyProxy picks one).
type luaPolicy struct {
	name  string // envoyextensionpolicy/<ns>/<name>
	luas  []ir.Lua
	build []string // errors independent of the mode (missing ConfigMap, ...)
	modes map[egv1a1.LuaValidation][]string
}

// buildLuaPolicy resolves the scripts of a policy (inline or ConfigMap) and
// their filter contexts.
func (t *translation) buildLuaPolicy(p *egv1a1.EnvoyExtensionPolicy) *luaPolicy {
	lp := &luaPolicy{
		name:  fmt.Sprintf("%s/%s/%s", extensionPolicyIR, p.Namespace, p.Name),
		modes: map[egv1a1.LuaValidation][]string{},
	}
	for i, l := range p.Spec.Lua {
		name := fmt.Sprintf("%s/lua/%d", lp.name, i)
		code, err := t.luaCode(p.Namespace, l)
		if err != nil {
			lp.build = append(lp.build, "Lua: "+err.Error())
			continue
		}
		entry := ir.Lua{Name: name, Code: &code}
		if l.FilterContext != nil && len(l.FilterContext.Raw) > 0 {
			var fc map[string]any
			if err := json.Unmarshal(l.FilterContext.Raw, &fc); err != nil || fc == nil {
				lp.build = append(lp.build, fmt.Sprintf("Lua: filterContext of %s must be a JSON object", name))
				continue
			}
			if len(fc) > 0 {
				entry.FilterContext = fc
			}
		}
		lp.luas = append(lp.luas, entry)
	}
	return lp
}

// luaCode returns the script of one lua entry. A ConfigMap holds it under
// key "lua"; a ConfigMap with exactly one key is read from that key (Envoy
// Gateway's fallback, which its own e2e manifests rely on); several keys
// and none named "lua" is an error rather than a pick among them, which in
// Envoy Gateway depends on map iteration order.
func (t *translation) luaCode(ns string, l egv1a1.Lua) (string, error) {
	switch l.Type {
	case egv1a1.LuaValueTypeInline, "":
		if l.Inline == nil {
			return "", fmt.Errorf("type Inline needs inline")
		}
		return *l.Inline, nil
	case egv1a1.LuaValueTypeValueRef:
	default:
		return "", fmt.Errorf("unsupported type %q", l.Type)
	}
	ref := l.ValueRef
	if ref == nil {
		return "", fmt.Errorf("type ValueRef needs valueRef")
	}
	if ref.Kind != "ConfigMap" || (ref.Group != "" && ref.Group != "v1" && ref.Group != "core") {
		return "", fmt.Errorf("valueRef %s/%s %s: only ConfigMap is supported", ref.Group, ref.Kind, ref.Name)
	}
	for _, cm := range t.in.ConfigMaps {
		if cm.Namespace != ns || cm.Name != string(ref.Name) {
			continue
		}
		if code, ok := cm.Data[luaConfigMapKey]; ok {
			return code, nil
		}
		keys := make([]string, 0, len(cm.Data))
		for k := range cm.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		switch len(keys) {
		case 0:
			return "", fmt.Errorf("ConfigMap %s/%s has no data: put the script under key %q", ns, ref.Name, luaConfigMapKey)
		case 1:
			return cm.Data[keys[0]], nil
		}
		return "", fmt.Errorf("ConfigMap %s/%s has no key %q and several other keys (%s): put the script under key %q",
			ns, ref.Name, luaConfigMapKey, strings.Join(keys, ", "), luaConfigMapKey)
	}
	return "", fmt.Errorf("ConfigMap %s/%s not found", ns, ref.Name)
}

// luaMode is the validation mode of a Gateway's proxies.
func luaMode(gc *gatewayContext) egv1a1.LuaValidation {
	if gc == nil || gc.proxy == nil {
		return egv1a1.LuaValidationStrict
	}
	return gc.proxy.Spec.EffectiveLuaValidation()
}

// errs are the policy's Lua errors for the proxies of gc.
func (lp *luaPolicy) errs(t *translation, gc *gatewayContext) []string {
	if lp == nil {
		return nil
	}
	mode := luaMode(gc)
	v, ok := lp.modes[mode]
	if !ok {
		validate := t.opts.LuaValidator
		if validate == nil {
			validate = luavalidate.Validate
		}
		for _, l := range lp.luas {
			if err := validate(*l.Code, mode, l.FilterContext); err != nil {
				v = append(v, fmt.Sprintf("Lua: validation failed for lua body in policy with name %s: %v", l.Name, err))
			}
		}
		lp.modes[mode] = v
	}
	return append(append([]string(nil), lp.build...), v...)
}

// applyLua puts the policy's scripts on the route, or returns why it
// cannot.
func (t *translation) applyLua(st *eepState, gc *gatewayContext, r *ir.HTTPRoute) []string {
	lp := st.lua
	if lp == nil || (len(lp.luas) == 0 && len(lp.build) == 0) {
		return nil
	}
	if errs := lp.errs(t, gc); len(errs) > 0 {
		return errs
	}
	if r.EnvoyExtensions == nil {
		r.EnvoyExtensions = &ir.EnvoyExtensionFeatures{}
	}
	r.EnvoyExtensions.Luas = append([]ir.Lua(nil), lp.luas...)
	return nil
}
