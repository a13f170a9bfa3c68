package sysissuer

import (
	"encoding/json"
	"strings"
)

// Paths below the issuer URL that the system issuer serves.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
	TokenPath     = "/oauth/token"
)

// discoveryJSON lists only what is true of the system issuer. It has no
// authorization endpoint, so response_types_supported (which names what
// that endpoint answers) is absent rather than a promise; scopes_supported
// is absent because OIDC Discovery would then require "openid", which the
// token endpoint does not take.
type discoveryJSON struct {
	Issuer             string   `json:"issuer"`
	JWKSURI            string   `json:"jwks_uri"`
	TokenEndpoint      string   `json:"token_endpoint"`
	GrantTypes         []string `json:"grant_types_supported"`
	SubjectTypes       []string `json:"subject_types_supported"`
	IDTokenSigningAlgs []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuth  []string `json:"token_endpoint_auth_methods_supported"`
}

// Discovery is the OIDC discovery document (OpenID Connect Discovery 1.0
// §3, RFC 8414 §2) of the issuer at issuer: jwks_uri and token_endpoint
// below it, the token-exchange grant only, ES256, public subjects ("fed:"
// plus the original sub, the same for every client), and no client
// authentication at the token endpoint (the subject token is the
// credential). A trailing slash of issuer is not doubled in the URLs; the
// "issuer" member is issuer exactly, as tokens' iss must equal it.
func Discovery(issuer string) []byte {
	base := strings.TrimRight(issuer, "/")
	doc, err := json.Marshal(discoveryJSON{
		Issuer:             issuer,
		JWKSURI:            base + JWKSPath,
		TokenEndpoint:      base + TokenPath,
		GrantTypes:         []string{GrantTokenExchange},
		SubjectTypes:       []string{"public"},
		IDTokenSigningAlgs: []string{"ES256"},
		TokenEndpointAuth:  []string{"none"},
	})
	if err != nil {
		panic("sysissuer: discovery document: " + err.Error()) // strings always encode
	}
	return doc
}
