package kubetest

import "testing"

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		stat, comm string
		ppid       int
		ok         bool
	}{
		{"4242 (etcd) S 17 4242 17 0 -1", "etcd", 17, true},
		{"9 (kube-apiserver) R 1 9 9 0", "kube-apiserver", 1, true},
		{"5 (a (b) c) S 3 5", "a (b) c", 3, true},
		{"5 (etcd S 3", "", 0, false},
		{"5 (etcd)", "", 0, false},
	} {
		comm, ppid, ok := parseStat([]byte(c.stat))
		if comm != c.comm || ppid != c.ppid || ok != c.ok {
			t.Errorf("%q: %q %d %v", c.stat, comm, ppid, ok)
		}
	}
}
