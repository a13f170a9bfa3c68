package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// token is an access token as a client sees it: the header value to send,
// and the kid and lifetime read from it (unverified: a client only needs
// to know when to get the next one).
type token struct {
	authz    string
	kid      string
	iat, exp time.Time
}

func parseToken(raw string) (token, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return token{}, errors.New("not a compact JWS")
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	var claims struct {
		Iat int64 `json:"iat"`
		Exp int64 `json:"exp"`
	}
	for i, v := range []any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return token{}, fmt.Errorf("segment %d: %w", i, err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			return token{}, fmt.Errorf("segment %d: %w", i, err)
		}
	}
	if claims.Exp <= claims.Iat {
		return token{}, errors.New("exp not after iat")
	}
	return token{authz: "Bearer " + raw, kid: hdr.Kid, iat: time.Unix(claims.Iat, 0), exp: time.Unix(claims.Exp, 0)}, nil
}

// renewDue: a client renews once half the token's life is gone, so an
// issuer outage shorter than that never leaves it without a valid token.
func (t token) renewDue(now time.Time) bool {
	return t.authz == "" || now.After(t.iat.Add(t.exp.Sub(t.iat)/2))
}

// usable: still valid, with a margin, when it reaches Caddy.
func (t token) usable(now time.Time) bool {
	return t.authz != "" && t.exp.Sub(now) > sendMargin
}

// cliToken gets a token the way the README tells clients to, with
// `caddy fed-oidc token`.
func (s *soak) cliToken(client string) (token, error) {
	raw, err := s.stack.Token(client)
	if err != nil {
		return token{}, fmt.Errorf("caddy fed-oidc token: %v: %s", err, raw)
	}
	return parseToken(raw)
}
