package caddyfedauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
)

// GatewayBasicAuth names the files that hold the OpenFaaS gateway's own
// basic-auth credential, as mounted from its Kubernetes secret.
type GatewayBasicAuth struct {
	// File holding the gateway's user name (basic-auth-user). Required.
	UserFile string `json:"user_file,omitempty"`

	// File holding the gateway's password (basic-auth-password). Required.
	PasswordFile string `json:"password_file,omitempty"`

	// How often the files are read again, so a rotated secret (including
	// Kubernetes' symlink swap of a mounted secret) is used without a
	// restart. Default: 10s.
	ReloadInterval caddy.Duration `json:"reload_interval,omitempty"`
}

// upstreamCredential holds the Authorization value sent to the gateway.
// Requests read it from memory; only the reload loop touches the files.
type upstreamCredential struct {
	userFile, passwordFile string
	logger                 *zap.Logger
	header                 atomic.Pointer[string]
}

// load reads both files and swaps in the new header value.
func (c *upstreamCredential) load() error {
	user, err := readSecretFile(c.userFile)
	if err != nil {
		return fmt.Errorf("gateway_basic_auth user_file: %w", err)
	}
	if bytes.IndexByte(user, ':') >= 0 {
		return fmt.Errorf("gateway_basic_auth user_file %s: user name contains ':'", c.userFile)
	}
	pass, err := readSecretFile(c.passwordFile)
	if err != nil {
		return fmt.Errorf("gateway_basic_auth password_file: %w", err)
	}
	cred := append(append(user, ':'), pass...)
	h := "Basic " + base64.StdEncoding.EncodeToString(cred)
	clear(cred)
	if old := c.header.Swap(&h); old != nil && *old != h {
		if ce := c.logger.Check(zapcore.InfoLevel, "gateway credential reloaded"); ce != nil {
			ce.Write(zap.String("user_file", c.userFile), zap.String("password_file", c.passwordFile))
		}
	}
	return nil
}

// watch reloads the files every interval until ctx is done. A failed
// reload keeps the credential in use: a secret being swapped may be
// briefly unreadable.
func (c *upstreamCredential) watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.load(); err != nil {
				if ce := c.logger.Check(zapcore.WarnLevel, "reloading gateway credential; keeping the previous one"); ce != nil {
					ce.Write(zap.Error(err))
				}
			}
		}
	}
}

func (c *upstreamCredential) value() string { return *c.header.Load() }

const maxSecretFileSize = 4096

// readSecretFile reads a small secret file, dropping one trailing newline
// (kubectl create secret --from-file keeps the editor's newline).
func readSecretFile(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecretFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxSecretFileSize)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, fmt.Errorf("%s: empty", name)
	}
	if bytes.ContainsAny(b, "\r\n\x00") {
		return nil, errors.New(name + ": contains a line break or NUL")
	}
	return b, nil
}
