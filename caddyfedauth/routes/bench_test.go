package routes

import (
	"testing"

	"github.com/caddy-fedauth/caddy-fedauth/internal/iamfixture"
)

// BenchmarkMap: the GETs and invocations are on the path of every cached
// token's request and must stay allocation-light; the one allocation is
// the resource string. The deploy reads a 4 KiB FunctionDeployment.
func BenchmarkMap(b *testing.B) {
	deploy := iamfixture.DeployBody()
	for _, bc := range []struct {
		name, method, path, query string
		body                      []byte
	}{
		{"GET list", "GET", "/system/functions", "namespace=staging", nil},
		{"GET function", "GET", "/system/function/fn", "namespace=staging&usage=1", nil},
		{"GET logs", "GET", "/system/logs", "follow=false&name=fn&namespace=staging&tail=20", nil},
		{"invoke", "POST", "/function/fn.staging/sub/path", "", nil},
		{"DELETE", "DELETE", "/system/functions", "", []byte(`{"functionName":"fn","namespace":"staging"}`)},
		{"PUT 4KiB deploy", "PUT", "/system/functions", "", deploy},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := Map(bc.method, bc.path, bc.query, bc.body, defNS); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Map(bc.method, bc.path, bc.query, bc.body, defNS); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMapGETAllocations pins the allocation-light claim: a GET list or an
// invocation costs the resource string only.
func TestMapGETAllocations(t *testing.T) {
	for _, r := range [][3]string{
		{"GET", "/system/functions", "namespace=staging"},
		{"GET", "/system/function/fn", "namespace=staging&usage=1"},
		{"POST", "/function/fn.staging/x", ""},
		{"GET", "/system/info", ""},
	} {
		n := testing.AllocsPerRun(100, func() { _, _ = Map(r[0], r[1], r[2], nil, defNS) })
		if n > 1 {
			t.Errorf("%s %s?%s: %.0f allocations; want at most 1", r[0], r[1], r[2], n)
		}
	}
}
