package iam

import (
	"slices"
	"testing"
)

const (
	keycloak = "https://keycloak.example.com/realms/openfaas"
	github   = "https://token.actions.githubusercontent.com"
	gitlab   = "https://gitlab.com"
	kube     = "https://kubernetes.default.svc.cluster.local"
)

// The objects of the docs (testdata/docs: seed 002, the GitHub, GitLab
// and Kubernetes federation examples) and of the worked example
// (scenario.json), loaded as one directory, give the decisions the docs
// describe.
func TestDocsExamples(t *testing.T) {
	s, err := Load("testdata/docs")
	if err != nil {
		t.Fatal(err)
	}
	if w := s.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	type check struct {
		action   Action
		resource Resource
		want     string // the deciding role/policy/sid, or "" for a denial
	}
	for _, tc := range []struct {
		name   string
		claims map[string]any
		roles  []string
		checks []check
		shown  []string // VisibleNamespaces of openfaas-fn, staging, dev, prod
	}{
		{
			name:   "seed 002: the staff member, from Keycloak",
			claims: map[string]any{"iss": keycloak, "sub": "aa544816-e4e9-4ea0-b4cf-dd70db159d2e", "aud": "openfaas"},
			roles:  []string{"staging-staff-deployers"},
			checks: []check{
				{FunctionList, "staging:*", "staging-staff-deployers/staging-rw/1-rw-staging"},
				{FunctionCreate, "staging:figlet", "staging-staff-deployers/staging-rw/1-rw-staging"},
				{FunctionLogs, "staging:figlet", "staging-staff-deployers/staging-rw/1-rw-staging"},
				{NamespaceList, "staging:*", "staging-staff-deployers/staging-rw/1-rw-staging"},
				{FunctionList, "openfaas-fn:*", ""}, // faas-cli list --namespace openfaas-fn: 403
				{FunctionScale, "staging:figlet", ""},
				{SecretList, "staging:*", ""},
				{SystemInfo, ClusterResource, ""},
			},
			shown: []string{"staging"}, // faas-cli namespaces: - staging
		},
		{
			name:   "seed 002: the same subject from another issuer",
			claims: map[string]any{"iss": github, "sub": "aa544816-e4e9-4ea0-b4cf-dd70db159d2e"},
			checks: []check{{FunctionList, "staging:*", ""}},
		},
		{
			name:   "overview: a Keycloak admin, by email and a statement condition",
			claims: map[string]any{"iss": keycloak, "sub": "u2", "email": "alice@example.com", "role": "Admin"},
			roles:  []string{"example-staff"},
			checks: []check{
				{FunctionDelete, "openfaas-fn:figlet", "example-staff/fn-admin/1-fn-admin"},
				{FunctionInvoke, "prod:api", "example-staff/fn-admin/1-fn-admin"},
				{SecretList, "openfaas-fn:*", ""},
			},
			shown: []string{"openfaas-fn", "staging", "dev", "prod"},
		},
		{
			name:   "overview: the role matches, the statement's condition does not",
			claims: map[string]any{"iss": keycloak, "sub": "u3", "email": "bob@example.com", "role": "viewer"},
			roles:  []string{"example-staff"},
			checks: []check{{FunctionList, "staging:*", ""}},
		},
		{
			name:   "overview: an email that only starts like the pattern",
			claims: map[string]any{"iss": keycloak, "sub": "u4", "email": "eve@example.com.evil.org", "role": "admin"},
			checks: []check{{FunctionList, "staging:*", ""}},
		},
		{
			name: "GitHub docs: openfaas's repository, a branch",
			claims: map[string]any{"iss": github, "sub": "repo:openfaas/faas:ref:refs/heads/feature",
				"repository_owner": "openfaas", "repository": "openfaas/faas", "ref": "refs/heads/feature"},
			roles: []string{"dev-actions-rw"},
			checks: []check{
				{FunctionCreate, "dev:fn", "dev-actions-rw/dev-rw/1-rw-dev"},
				{FunctionUpdate, "dev:fn", "dev-actions-rw/dev-rw/1-rw-dev"},
				{FunctionDelete, "dev:fn", ""},
				{FunctionCreate, "staging:fn", ""},
			},
			shown: []string{"dev"},
		},
		{
			name:   "GitHub docs: a tag is not refs/heads/*",
			claims: map[string]any{"iss": github, "repository_owner": "openfaas", "ref": "refs/tags/v1"},
			checks: []check{{FunctionCreate, "dev:fn", ""}},
		},
		{
			name:   "GitHub docs: the same claims from GitLab",
			claims: map[string]any{"iss": gitlab, "repository_owner": "openfaas", "ref": "refs/heads/main"},
			checks: []check{{FunctionCreate, "dev:fn", ""}},
		},
		{
			name: "issue: CI from acme/app on main deploys to staging only",
			claims: map[string]any{"iss": github, "sub": "repo:acme/app:ref:refs/heads/main", "aud": "https://gw.example.com",
				"repository": "acme/app", "repository_owner": "acme", "ref": "refs/heads/main"},
			roles: []string{"acme-app-main"},
			checks: []check{
				{FunctionCreate, "staging:app", "acme-app-main/ci-staging/1-ci-staging"},
				{FunctionUpdate, "staging:app", "acme-app-main/ci-staging/1-ci-staging"},
				{FunctionGet, "staging:app", "acme-app-main/ci-staging/1-ci-staging"}, // describe: Get and List
				{FunctionList, "staging:*", "acme-app-main/ci-staging/1-ci-staging"},
				{FunctionDelete, "staging:app", "acme-app-main/ci-staging/1-ci-staging"},
				{FunctionLogs, "staging:app", "acme-app-main/ci-staging/1-ci-staging"},
				{FunctionCreate, "openfaas-fn:app", ""},
				{FunctionList, "openfaas-fn:*", ""},
				{SecretCreate, "staging:token", ""},
				{FunctionScale, "staging:app", ""},
			},
			shown: []string{"staging"},
		},
		{
			name: "issue: CI from acme/app on another branch may do nothing",
			claims: map[string]any{"iss": github, "sub": "repo:acme/app:ref:refs/heads/dev",
				"repository": "acme/app", "repository_owner": "acme", "ref": "refs/heads/dev"},
			checks: []check{
				{FunctionCreate, "staging:app", ""},
				{FunctionList, "staging:*", ""},
				{FunctionList, "openfaas-fn:*", ""},
			},
		},
		{
			name:   "issue: acme/app's claims in a Keycloak token",
			claims: map[string]any{"iss": keycloak, "sub": "x", "repository": "acme/app", "ref": "refs/heads/main"},
			checks: []check{{FunctionCreate, "staging:app", ""}},
		},
		{
			name:   "issue: the auditor reads everything, and only reads",
			claims: map[string]any{"iss": keycloak, "sub": "auditor-client"},
			roles:  []string{"auditor"},
			checks: []check{
				{FunctionList, "openfaas-fn:*", "auditor/read-only/1-read-functions"},
				{FunctionGet, "prod:api", "auditor/read-only/1-read-functions"},
				{FunctionCreate, "staging:x", ""},
				{SecretList, "staging:*", ""},
				{NamespaceCreate, "new:*", ""},
				{SystemInfo, ClusterResource, ""},
			},
			shown: []string{"openfaas-fn", "staging", "dev", "prod"},
		},
		{
			name:   "GitLab docs: alexellis in consortia",
			claims: map[string]any{"iss": gitlab, "sub": "project_path:consortia/app:ref_type:branch:ref:main", "user_login": "alexellis", "project_path": "consortia/app"},
			roles:  []string{"dev-gitlab-rw"},
			checks: []check{{FunctionCreate, "dev:fn", "dev-gitlab-rw/dev-rw/1-rw-dev"}},
			shown:  []string{"dev"},
		},
		{
			name:   "GitLab docs: a group whose name starts with consortia",
			claims: map[string]any{"iss": gitlab, "user_login": "alexellis", "project_path": "consortia-evil/app"},
			checks: []check{{FunctionCreate, "dev:fn", ""}},
		},
		{
			name:   "GitLab docs: another user",
			claims: map[string]any{"iss": gitlab, "user_login": "alexellis2", "project_path": "consortia/app"},
			checks: []check{{FunctionCreate, "dev:fn", ""}},
		},
		{
			name:   "Kubernetes blog: the connector's service account lists dev",
			claims: map[string]any{"iss": kube, "sub": "system:serviceaccount:openfaas:my-app", "aud": []any{"https://gw.example.com"}},
			roles:  []string{"my-app"},
			checks: []check{
				{FunctionList, "dev:*", "my-app/fn-rw/1-fn-r"},
				{NamespaceList, "dev:*", "my-app/fn-rw/1-fn-r"},
				{FunctionCreate, "dev:fn", ""},
				{FunctionList, "openfaas-fn:*", ""},
			},
			shown: []string{"dev"},
		},
		{
			name:   "Kubernetes blog: another service account",
			claims: map[string]any{"iss": kube, "sub": "system:serviceaccount:openfaas:my-app2"},
			checks: []check{{FunctionList, "dev:*", ""}},
		},
		{
			name:   "Kubernetes blog: the service account's sub from Keycloak",
			claims: map[string]any{"iss": keycloak, "sub": "system:serviceaccount:openfaas:my-app"},
			checks: []check{{FunctionList, "dev:*", ""}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.MatchRoles(tc.claims)
			if got := r.Names(); !slices.Equal(got, tc.roles) {
				t.Errorf("roles %q, want %q", got, tc.roles)
			}
			for _, c := range tc.checks {
				d := r.Decide(c.action, c.resource)
				got := ""
				if d.Allowed() {
					got = d.Role + "/" + d.Policy + "/" + d.Sid
				}
				if got != c.want {
					t.Errorf("%s %s: %s, want %q", c.action, c.resource, d.Reason(), c.want)
				}
				if d != s.Decide(tc.claims, c.action, c.resource) {
					t.Errorf("%s %s: Set.Decide differs", c.action, c.resource)
				}
			}
			if got := r.VisibleNamespaces([]string{"openfaas-fn", "staging", "dev", "prod"}); !slices.Equal(got, tc.shown) {
				t.Errorf("namespaces shown %q, want %q", got, tc.shown)
			}
		})
	}
}
