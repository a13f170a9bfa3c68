package audit

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestValidateURL(t *testing.T) {
	for _, tc := range []struct {
		url, err string // err: a substring of the error, "" for none
	}{
		{"https://audit.example.com/openfaas", ""},
		{"https://audit.example.com:8443/x?tenant=1", ""},
		{"http://127.0.0.1:8080/audit", ""},
		{"http://127.9.9.9/audit", ""},
		{"http://[::1]:9000/", ""},
		{"http://localhost:9000/", ""},
		// Events name who did what: no cleartext across a network.
		{"http://audit.example.com/", "http is allowed only to a loopback"},
		{"http://10.0.0.1/", "http is allowed only to a loopback"},
		{"http://localhost.example.com/", "http is allowed only to a loopback"},
		{"http://[::ffff:10.0.0.1]/", "http is allowed only to a loopback"},
		{"ftp://audit.example.com/", "scheme must be https"},
		{"HTTPS://audit.example.com/", ""},
		{"//audit.example.com/", "scheme must be https"},
		{"https:///path", "not an absolute URL"},
		{"https:audit.example.com", "not an absolute URL"},
		{"/relative", "not an absolute URL"},
		{"", "not an absolute URL"},
		{"https://a b/", "invalid character"},
		// The password does not reach the error text.
		{"http://user:hunter2@audit.example.com/", "user:xxxxx@"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			err := ValidateURL(tc.url)
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("ValidateURL(%q) = %v, want nil", tc.url, err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("ValidateURL(%q) = %v, want an error with %q", tc.url, err, tc.err)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	user := &http.Client{Timeout: time.Minute}
	s, err := New(Config{URL: "https://audit.example.com/", Secret: func() []byte { return testSecret }, Client: user})
	if err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, s)
	c := s.cfg
	if c.QueueSize != 10000 || c.BatchSize != 100 || c.FlushInterval != time.Second || c.Timeout != 5*time.Second ||
		c.MaxRetries != 5 || c.MinBackoff != 100*time.Millisecond || c.MaxBackoff != 30*time.Second ||
		c.LogInterval != 10*time.Second || c.Logger == nil || c.OnResult == nil {
		t.Errorf("defaults not applied: %+v", c)
	}
	if cap(s.queue) != 10000 {
		t.Errorf("queue capacity %d, want 10000", cap(s.queue))
	}
	// The caller's client is copied, not changed: it may be shared.
	if user.CheckRedirect != nil || c.Client == user || c.Client.Timeout != time.Minute || c.Client.CheckRedirect == nil {
		t.Errorf("client: caller's changed or not copied with redirects off")
	}
	if s2, err := New(Config{URL: "https://a.example/", Secret: func() []byte { return nil }, MaxRetries: -1}); err != nil {
		t.Error(err)
	} else {
		if s2.cfg.MaxRetries != 0 {
			t.Errorf("MaxRetries -1 gives %d retries, want 0", s2.cfg.MaxRetries)
		}
		if s2.cfg.Client.Timeout != 5*time.Second {
			t.Errorf("default client timeout %v, want 5s", s2.cfg.Client.Timeout)
		}
		mustClose(t, s2)
	}
}

func TestNewRefuses(t *testing.T) {
	secret := func() []byte { return testSecret }
	for _, tc := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"no secret", Config{URL: "https://a.example/"}, "a secret is required"},
		{"bad URL", Config{URL: "http://a.example/", Secret: secret}, "loopback"},
		{"negative queue", Config{URL: "https://a.example/", Secret: secret, QueueSize: -1}, "negative queue size"},
		{"negative timeout", Config{URL: "https://a.example/", Secret: secret, Timeout: -time.Second}, "negative timeout"},
		{"min above max", Config{URL: "https://a.example/", Secret: secret, MinBackoff: time.Minute, MaxBackoff: time.Second}, "min backoff 1m0s above max backoff 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("New = %v, want an error with %q", err, tc.err)
			}
			if s != nil {
				t.Errorf("New returned a Sender with an error")
			}
		})
	}
}
