package caddyfedauth

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStrictTokensInCaddy sends the strict-decoding attack tokens, and
// tokens of the wrong type or lifetime, through fed_oidc in a running
// Caddy: each is refused with 401 invalid_token (400 where the bearer
// syntax already refuses it) and nothing reaches the gateway.
func TestStrictTokensInCaddy(t *testing.T) {
	ti := newTestIssuer(t)
	key := ti.addKey(t, "k1", "RS256", "rsa2048")
	gw := newGatewayStandIn(t)
	tester := newInProcessCaddy(t, fmt.Sprintf(`
	http://localhost:{http} {
		fed_oidc {
			issuer %[1]s
			audience fed-gw.tenant1
		}
		reverse_proxy %[2]s {
			header_up X-Fed-Sub {http.auth.user.id}
		}
	}
	http://strict.localhost:{http} {
		fed_oidc {
			issuer %[1]s
			audience fed-gw.tenant1
			require_typ at+jwt
			max_token_lifetime 10m
		}
		reverse_proxy %[2]s
	}
	`, ti.URL(), gw.srv.URL))
	waitFor(t, "keys in the running config", func() bool {
		resp := do(t, tester, "GET", "localhost", "/system/info", "Bearer "+ti.token(t, key, ti.claims("fed-gw.tenant1")))
		return resp.StatusCode == http.StatusOK
	})
	gw.take()

	type httpCase struct {
		tokenCase
		host string
	}
	var cases []httpCase
	for _, tc := range strictDecodingAttacks(t, ti, key) {
		if strings.ContainsAny(tc.token, "\r\n") {
			continue // no client can send it in a header
		}
		cases = append(cases, httpCase{tokenCase: tc})
	}
	withTyp := func(hdr string) string {
		return signToken(t, `{"alg":"RS256","kid":"k1"`+hdr+`}`, ti.claims("fed-gw.tenant1"), "RS256", key.priv)
	}
	long := ti.claims("fed-gw.tenant1")
	long["exp"] = time.Now().Add(100 * 365 * 24 * time.Hour).Unix()
	noIat := ti.claims("fed-gw.tenant1")
	delete(noIat, "iat")
	noIat["exp"] = time.Now().Add(time.Hour).Unix()
	for _, tc := range []tokenCase{
		{name: "typ at+jwt", token: withTyp(`,"typ":"at+jwt"`), want: "ok"},
		{name: "typ application/AT+JWT", token: withTyp(`,"typ":"application/AT+JWT"`), want: "ok"},
		{name: "typ JWT (an ID token's type)", token: withTyp(`,"typ":"JWT"`), want: reasonWrongType},
		{name: "no typ", token: withTyp(``), want: reasonWrongType},
		{name: "valid for 100 years", token: ti.token(t, key, long), want: reasonLifetimeTooLong},
		{name: "no iat, an hour left", token: ti.token(t, key, noIat), want: reasonLifetimeTooLong},
	} {
		cases = append(cases, httpCase{tokenCase: tc, host: "strict.localhost"})
	}

	for _, tc := range cases {
		host := tc.host
		if host == "" {
			host = "localhost"
		}
		t.Run(host+"/"+tc.name, func(t *testing.T) {
			resp, err := tester.Client.Do(newReq(t, "GET", host, "/system/functions", "Bearer "+tc.token))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			hits := gw.take()
			want := http.StatusUnauthorized
			switch {
			case tc.want == "ok":
				want = http.StatusOK
			case tc.status != 0:
				want = tc.status
			}
			if resp.StatusCode != want {
				t.Fatalf("status %d, want %d", resp.StatusCode, want)
			}
			if want == http.StatusOK {
				if len(hits) != 1 {
					t.Fatalf("gateway got %d requests, want 1", len(hits))
				}
				if tc.name == "control: valid" && hits[0].Header.Get("X-Fed-Sub") != "client-123" {
					t.Errorf("X-Fed-Sub = %q", hits[0].Header.Get("X-Fed-Sub"))
				}
				return
			}
			if len(hits) != 0 {
				t.Errorf("refused request reached the gateway")
			}
			if want == http.StatusUnauthorized && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("refusals are counted by reason", func(t *testing.T) {
		b := scrapeMetrics(t)
		for _, reason := range []string{reasonMalformed, reasonWrongType, reasonLifetimeTooLong} {
			if want := fmt.Sprintf(`caddy_fed_oidc_decisions_total{issuer=%q,outcome=%q}`, ti.URL(), reason); !strings.Contains(b, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}
