package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/portico-gw/portico/internal/runner"
)

// A script that serves normally unless asked to attack: the validator's
// mock request never takes those branches, so the policy is Accepted.
const attackScript = `function envoy_on_request(h)
  local a = h:headers():get("x-attack")
  if a == "loop" then
    while true do end
  elseif a == "double" then
    local s = "x"
    while true do s = s .. s end
  end
  h:headers():add("x-lua-seen", "yes")
end
`

// TestLuaRunawayScriptsGet500 is issue 12 item 5 end to end, through the
// proxy child process: an infinite loop and string doubling in a branch
// the validator cannot see each end with a 500 for their own request
// (today's code never answers them: the client times out), while plain
// requests keep being served, and the proxy process is never restarted.
func TestLuaRunawayScriptsGet500(t *testing.T) {
	bp := backend(t, "one")
	gw := freePort(t)
	e := startWith(t, luaConfig(), map[string]string{
		"gateway.yaml": gatewayYAML(gw, 0, map[string]int{"backend": bp}),
		"route.yaml":   routeYAML("backend", bp),
		"policy.yaml":  luaPolicy("attack", "HTTPRoute", "backend", attackScript),
	}, gw)
	e.eventually("the Lua policy", func() bool {
		code, v := e.header("www.example.com", "/", "x-lua-seen")
		return code == http.StatusOK && v == "" // the header goes upstream, not back
	})
	attack := func(kind string) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", e.gwPort), nil)
		req.Host = "www.example.com"
		req.Header.Set("x-attack", kind)
		resp, err := e.client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var wg sync.WaitGroup
	for _, kind := range []string{"loop", "double", "loop", "double"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, err := attack(kind); err != nil || code != http.StatusInternalServerError {
				t.Errorf("x-attack: %s = %d, %v; want 500", kind, code, err)
			}
		}()
	}
	for i := 0; i < 20; i++ {
		if code, name, err := e.get("/plain"); err != nil || code != http.StatusOK || name != "one" {
			t.Errorf("a plain request during the attacks = %d %q %v", code, name, err)
		}
	}
	wg.Wait()
	_, st := e.admin("/status")
	var l runner.StatusList
	if err := json.Unmarshal(st, &l); err != nil {
		t.Fatal(err)
	}
	if ps := l.Portico.Processes; len(ps) != 1 || ps[0].Exits != 0 {
		t.Fatalf("the proxy process should have survived: %+v", ps)
	}
}
