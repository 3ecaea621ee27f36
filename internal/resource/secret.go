package resource

import (
	"encoding/base64"
	"sort"
)

// checkSecretData validates Secret.data before the JSON decoder sees it, so a bad value
// is reported at its key (data[tls.crt]) and never quoted: the decoder's own base64
// error names neither the key nor, reliably, hides the bytes.
func checkSecretData(m map[string]any) []fieldProblem {
	data, ok := m["data"].(map[string]any)
	if !ok {
		return nil
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []fieldProblem
	for _, k := range keys {
		s, isStr := data[k].(string)
		if isStr {
			if _, err := base64.StdEncoding.DecodeString(s); err == nil {
				continue
			}
		}
		out = append(out, fieldProblem{
			path: []pathElem{fieldElem("data"), keyElem(k)},
			msg:  "Invalid value: (value omitted): must be a base64-encoded string",
		})
		delete(data, k) // reported; keep the decoder from reporting it again
	}
	return out
}
