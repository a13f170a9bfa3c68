package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// LoginClient is the IdP's public client for people (the user shape of
// idp/server.mjs): authorization code with PKCE, loopback redirect.
const LoginClient = "faas-cli"

// LoginResult is what one `caddy fed-oidc login` did.
type LoginResult struct {
	Stdout, Stderr string
	AuthURL        string // the login URL it printed
	CallbackStatus int    // the status its loopback callback answered the browser
	CallbackPage   string
}

// Login runs `caddy fed-oidc login` (args after "login", with
// --no-browser) in faas-cli's environment of this run (see Run), and,
// once it prints the login URL, logs in at the IdP as user through
// oidc-provider's login and consent pages with a real HTTP client, as a
// browser would (BrowserLogin). With --client-secret-file in args there
// is no browser step. It returns when the command has exited.
func (s *Stack) Login(user string, args ...string) (LoginResult, error) {
	var r LoginResult
	cmd := exec.Command(filepath.Join(s.Bin, "caddy"), append([]string{"fed-oidc", "login", "--no-browser"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+filepath.Join(s.Dir, "home"), "OPENFAAS_CONFIG="+s.FaaSCLIConfig())
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return r, err
	}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	browser := make(chan error, 1)
	machine := strings.Contains(strings.Join(args, " "), "--client-secret-file")
	if machine {
		browser <- nil
	}
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		line := sc.Text()
		stderr.WriteString(line + "\n")
		if u := strings.TrimSpace(line); r.AuthURL == "" && !machine && strings.HasPrefix(u, "http") {
			r.AuthURL = u
			go func() {
				var err error
				r.CallbackStatus, r.CallbackPage, err = BrowserLogin(u, user)
				browser <- err
			}()
		}
	}
	werr := cmd.Wait()
	r.Stdout, r.Stderr = stdout.String(), stderr.String()
	if r.AuthURL == "" && !machine {
		return r, fmt.Errorf("login printed no URL (%v): %s", werr, r.Stderr)
	}
	select {
	case berr := <-browser:
		if berr != nil {
			return r, fmt.Errorf("browser: %w (command: %v: %s)", berr, werr, r.Stderr)
		}
	case <-time.After(15 * time.Second):
		return r, errors.New("the browser did not finish")
	}
	if werr != nil {
		return r, fmt.Errorf("%w: %s", werr, r.Stderr)
	}
	return r, nil
}

var (
	formAction  = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	formPrompt  = regexp.MustCompile(`name="prompt" value="([^"]+)"`)
	maxLoginHop = 4 // login, consent, and a spare
)

// BrowserLogin does what a person does in the browser with the login URL
// of oidc-provider's dev interactions: opens it (following redirects, with
// cookies, to the login page), submits the login form (any password),
// submits the consent form, and follows the redirect to the loopback
// callback. It returns the callback's status and page.
func BrowserLogin(authURL, user string) (int, string, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return 0, "", err
	}
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(authURL)
	for hop := 0; ; hop++ {
		if err != nil {
			return 0, "", err
		}
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr != nil {
			return 0, "", rerr
		}
		at := resp.Request.URL
		if strings.HasSuffix(at.Path, "/oauth/callback") {
			return resp.StatusCode, string(body), nil
		}
		action, prompt := formAction.FindSubmatch(body), formPrompt.FindSubmatch(body)
		if resp.StatusCode != http.StatusOK || action == nil || prompt == nil || hop == maxLoginHop {
			return 0, "", fmt.Errorf("at %s: %d, no login or consent form: %.300s", at, resp.StatusCode, body)
		}
		next, perr := at.Parse(html.UnescapeString(string(action[1])))
		if perr != nil {
			return 0, "", perr
		}
		form := url.Values{"prompt": {string(prompt[1])}}
		if string(prompt[1]) == "login" {
			form.Set("login", user)
			form.Set("password", "any password")
		}
		resp, err = c.PostForm(next.String(), form)
	}
}
