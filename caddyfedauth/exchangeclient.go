package caddyfedauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/sysissuer"
)

// exchangeAtGateway exchanges an identity provider's token for an
// OpenFaaS access token at the gateway's token endpoint (RFC 8693), with
// the form go-sdk v0.2.19's ExchangeIDToken posts (and faas-cli with it):
// the grant type, the subject token, and its type, always id_token, also
// for a machine client's access token, as go-sdk labels every token it
// exchanges. No error holds the token.
func exchangeAtGateway(ctx context.Context, client *http.Client, gateway, subjectToken string) (*tokenResponse, error) {
	form := url.Values{
		"grant_type":         {sysissuer.GrantTokenExchange},
		"subject_token_type": {sysissuer.TokenTypeIDToken},
		"subject_token":      {subjectToken},
	}
	return postTokenForm(ctx, client, strings.TrimSuffix(gateway, "/")+sysissuer.TokenPath, form, nil, newSecretRedactor(subjectToken))
}
