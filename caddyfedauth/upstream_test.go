package caddyfedauth

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-fedauth/caddy-fedauth/internal/kubesecret"
)

// writeK8sSecret lays out files the way the kubelet mounts a secret, and
// swaps them atomically when called again (kubesecret.Write).
func writeK8sSecret(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := kubesecret.Write(dir, files); err != nil {
		t.Fatal(err)
	}
}

// writeGatewaySecret writes the files of a gateway basic-auth secret, as
// kubectl mounts them (with a trailing newline), in a temporary directory.
func writeGatewaySecret(t testing.TB, user, pass string) (userFile, passFile string) {
	t.Helper()
	dir := t.TempDir()
	userFile, passFile = filepath.Join(dir, "basic-auth-user"), filepath.Join(dir, "basic-auth-password")
	for file, v := range map[string]string{userFile: user, passFile: pass} {
		if err := os.WriteFile(file, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return userFile, passFile
}

func basicValue(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestCredentialRotation(t *testing.T) {
	dir := t.TempDir()
	writeK8sSecret(t, dir, map[string]string{"basic-auth-user": "admin\n", "basic-auth-password": "first\n"})
	c := &upstreamCredential{
		userFile:     filepath.Join(dir, "basic-auth-user"),
		passwordFile: filepath.Join(dir, "basic-auth-password"),
		logger:       zap.NewNop(),
	}
	if err := c.load(); err != nil {
		t.Fatal(err)
	}
	// The trailing newline of a kubectl-created secret is not part of it.
	if got, want := c.value(), basicValue("admin", "first"); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.watch(ctx, 20*time.Millisecond)

	writeK8sSecret(t, dir, map[string]string{"basic-auth-user": "admin", "basic-auth-password": "second"})
	waitFor(t, "the rotated credential", func() bool { return c.value() == basicValue("admin", "second") })

	// A secret that turns unreadable keeps the last good credential.
	if err := os.Remove(filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := c.value(); got != basicValue("admin", "second") {
		t.Errorf("credential changed to %q after the files vanished", got)
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want, errHas string
	}{
		{"plain", "s3cret", "s3cret", ""},
		{"trailing LF", "s3cret\n", "s3cret", ""},
		{"trailing CRLF", "s3cret\r\n", "s3cret", ""},
		{"only one newline trimmed", "s3cret\n\n", "", "line break"},
		{"empty", "", "", "empty"},
		{"newline only", "\n", "", "empty"},
		{"embedded NUL", "a\x00b", "", "NUL"},
		{"too large", strings.Repeat("x", maxSecretFileSize+1), "", "larger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readSecretFile(p)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %v, want one containing %q", err, tc.errHas)
				}
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := readSecretFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file read without error")
	}
}
