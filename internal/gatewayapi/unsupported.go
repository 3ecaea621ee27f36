package gatewayapi

import (
	"fmt"
	"strings"

	"github.com/portico-gw/portico/internal/support"
)

// Reasons of the conditions that name what Portico does not do yet. The
// ledger (internal/support) decides which fields these are.
const (
	// ReasonUnsupportedKind: a kind Portico does not translate yet.
	ReasonUnsupportedKind = "UnsupportedKind"
	// ReasonUnsupportedField: a field Portico does not implement yet.
	ReasonUnsupportedField = "UnsupportedField"
)

// unsupportedMessage says which fields of a policy Portico does not run yet
// and what that does to its routes; errs are its other problems.
func unsupportedMessage(kind string, fields []string, failClosed bool, errs []string) string {
	msg := fmt.Sprintf("%s %s not supported by Portico yet", strings.Join(fields, ", "), isAre(len(fields)))
	if failClosed {
		msg += "; the routes this " + kind + " applies to answer 500 rather than serve without it"
	} else {
		// failOpen is set, or the field only tunes what otherwise applies.
		msg += "; the routes this " + kind + " applies to serve without it"
	}
	msg += "."
	if len(errs) > 0 {
		msg += " Also: " + strings.Join(dedupe(errs), "; ")
	}
	return msg
}

// noEffectMessage names the fields that mean nothing in standalone mode.
func noEffectMessage(fs []support.Finding) string { return noEffectMessageIn("standalone mode", fs) }

// noEffectMessageIn names the fields that mean nothing in a mode.
func noEffectMessageIn(mode string, fs []support.Finding) string {
	if len(fs) == 0 {
		return ""
	}
	return fmt.Sprintf("In %s these fields have no effect: %s.", mode, support.Paths(fs))
}

// kindMessage is the message of a kind Portico does not translate.
func kindMessage(kind, consequence string) string {
	return fmt.Sprintf("%s is not supported by Portico yet: %s.", kind, consequence)
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
