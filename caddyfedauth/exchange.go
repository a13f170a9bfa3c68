package caddyfedauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// Token exchange (RFC 8693), as go-sdk's ExchangeIDToken sends it.
const (
	tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"
	idTokenType        = "urn:ietf:params:oauth:token-type:id_token"

	// gatewayTokenPath is the gateway's token endpoint, below its URL.
	gatewayTokenPath = "/oauth/token"
)

// exchangeAtGateway exchanges an identity provider's token for an
// OpenFaaS access token at the gateway, with the form go-sdk v0.2.19's
// ExchangeIDToken posts (and faas-cli with it): the grant type, the
// subject token, and its type, always id_token, also for a machine
// client's access token, as go-sdk labels every token it exchanges. No
// error holds the token.
func exchangeAtGateway(ctx context.Context, client *http.Client, gateway, subjectToken string) (*tokenResponse, error) {
	form := url.Values{
		"grant_type":         {tokenExchangeGrant},
		"subject_token_type": {idTokenType},
		"subject_token":      {subjectToken},
	}
	return postTokenForm(ctx, client, strings.TrimSuffix(gateway, "/")+gatewayTokenPath, form, nil, newSecretRedactor(subjectToken))
}
