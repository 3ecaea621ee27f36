package translator

func init() {
	for _, c := range []string{"jwt-single-route-single-match", "jwt-optional", "jwt-multi-route-multi-provider",
		"jwt-custom-extractor", "jwt-allow-missing-or-failed"} {
		compatDifferences[c] = map[string]string{}
	}
}

func init() {
	for _, c := range []string{"ext-auth", "ext-auth-body", "ext-auth-recomputation", "ext-auth-path-override"} {
		compatDifferences[c] = map[string]string{}
	}
}
