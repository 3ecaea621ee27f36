package translator

// Envoy Gateway's basic-auth corpus cases (testdata/in and testdata/compat
// copied from ../shared/corpus/xds-translator) must match exactly.
func init() {
	compatDifferences["basic-auth"] = map[string]string{}
	compatDifferences["basic-auth-username-header"] = map[string]string{}
}
