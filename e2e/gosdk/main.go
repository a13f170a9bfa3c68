// Command gosdk-e2e drives a gateway with openfaas/go-sdk's own code, as
// a client written for OpenFaaS IAM does: ExchangeIDToken (RFC 8693),
// a Client whose TokenAuth exchanges an IdP token on demand,
// GetNamespaces, GetFunctions, and InvokeFunction, retried with a
// function token when the gateway answers 401 with the realm "IAM
// function invoke", as faas-cli invoke does. The end-to-end test
// (../gosdk_test.go) runs it against our Caddy.
//
//	gosdk-e2e -gateway URL -subject-token-file FILE COMMAND [ARGS]
//
//	exchange              the IdP token for an OpenFaaS access token
//	namespaces            GetNamespaces
//	functions NS          GetFunctions in NS
//	invoke NS NAME        InvokeFunction with the body read from stdin
//
// Each command prints one JSON object; a failure prints {"error": ...}
// (with the OAuth error of a refused exchange) and exits 1. The subject
// token is read from a file so that it is not on the command line.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	sdk "github.com/openfaas/go-sdk"
)

// invokeRealm is the realm of the 401 that asks for a function token.
const invokeRealm = "IAM function invoke"

// result is what a command prints.
type result map[string]any

func main() {
	gateway := flag.String("gateway", "", "the gateway's URL")
	tokenFile := flag.String("subject-token-file", "", "a file holding the IdP token")
	flag.Parse()
	if *gateway == "" || *tokenFile == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	out, err := run(strings.TrimSuffix(*gateway, "/"), fileToken(*tokenFile), flag.Args())
	if err != nil {
		if out == nil {
			out = result{}
		}
		out["error"] = err.Error()
		var oe *sdk.OAuthError
		if errors.As(err, &oe) {
			out["oauth_error"], out["error_description"] = oe.Err, oe.Description
		}
	}
	if encErr := json.NewEncoder(os.Stdout).Encode(out); encErr != nil || err != nil {
		os.Exit(1)
	}
}

// fileToken is a go-sdk TokenSource reading the IdP token from a file.
type fileToken string

func (f fileToken) Token() (string, error) {
	b, err := os.ReadFile(string(f))
	return strings.TrimSpace(string(b)), err
}

func run(gateway string, idToken fileToken, args []string) (result, error) {
	gw, err := url.Parse(gateway)
	if err != nil {
		return nil, err
	}
	tokenURL := gateway + "/oauth/token"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// TokenAuth exchanges the IdP token at the gateway for the API calls
	// and, being a TokenSource too, is the client's function token
	// source: InvokeFunction with auth exchanges its token again, with
	// scope=function and audience=<ns>:<name>.
	client := sdk.NewClientWithOpts(gw, &http.Client{Timeout: 10 * time.Second},
		sdk.WithAuthentication(&sdk.TokenAuth{TokenURL: tokenURL, TokenSource: idToken}))

	switch cmd, rest := args[0], args[1:]; {
	case cmd == "exchange" && len(rest) == 0:
		subject, err := idToken.Token()
		if err != nil {
			return nil, err
		}
		t, err := sdk.ExchangeIDToken(tokenURL, subject)
		if err != nil {
			return nil, err
		}
		return result{"access_token": t.IDToken, "expires_in": int(time.Until(t.Expiry).Round(time.Second).Seconds()), "scope": t.Scope}, nil
	case cmd == "namespaces" && len(rest) == 0:
		ns, err := client.GetNamespaces(ctx)
		return result{"namespaces": ns}, err
	case cmd == "functions" && len(rest) == 1:
		fns, err := client.GetFunctions(ctx, rest[0])
		names := []string{}
		for _, f := range fns {
			names = append(names, f.Name)
		}
		return result{"functions": names}, err
	case cmd == "invoke" && len(rest) == 2:
		body, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, err
		}
		return invoke(client, rest[0], rest[1], body)
	}
	return nil, fmt.Errorf("unknown command or wrong arguments: %q", args)
}

// invoke calls the function without a token first, as faas-cli invoke
// does, and once more with a function token if the gateway asks for one.
func invoke(client *sdk.Client, ns, name string, body []byte) (result, error) {
	call := func(auth bool) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "text/plain")
		return client.InvokeFunction(name, ns, false, auth, req)
	}
	res, err := call(false)
	if err != nil {
		return nil, err
	}
	out := result{"first_status": res.StatusCode}
	_ = res.Body.Close()
	if res.StatusCode == http.StatusUnauthorized {
		out["realm"] = realm(res.Header.Get("WWW-Authenticate"))
		if out["realm"] == invokeRealm {
			if res, err = call(true); err != nil {
				return out, err
			}
		}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	out["status"], out["body"] = res.StatusCode, string(b)
	if err == nil && res.StatusCode/100 != 2 {
		err = fmt.Errorf("the invocation got %d", res.StatusCode)
	}
	return out, err
}

// realm reads the realm parameter of a Bearer challenge, quoted or not
// (of-watchdog sends it unquoted).
func realm(challenge string) string {
	scheme, params, _ := strings.Cut(challenge, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	for _, p := range strings.Split(params, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "realm") {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
