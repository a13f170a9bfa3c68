package e2e

import "fmt"

// IAMObjects is the IAM directory of the README's worked example, file
// name → YAML: the two issuers, three policies (a kind: List) and three
// roles (multi-document YAML). ciRef is the ref pattern the CI role
// accepts. The test and the demo load it.
func (s *Stack) IAMObjects(ciRef string) map[string]string {
	return map[string]string{
		// The provider's own IdP: its automation and its auditor.
		"issuer-provider.yaml": fmt.Sprintf(`apiVersion: iam.openfaas.com/v1
kind: JwtIssuer
metadata:
  name: provider
  namespace: openfaas
spec:
  iss: %s
  aud: [%s, %s]
  tokenExpiry: 30m
`, s.IdPURL, KeycloakClient, Audience),
		// The customer's CI, as GitHub Actions: the audience is the gateway.
		"issuer-ci.yaml": fmt.Sprintf(`apiVersion: iam.openfaas.com/v1
kind: JwtIssuer
metadata:
  name: ci
  namespace: openfaas
spec:
  iss: %s
  aud: ["%s"]
  tokenExpiry: 30m
`, s.CIIdPURL, s.IAMURL),
		"policies.yaml": `apiVersion: v1
kind: List
items:
- apiVersion: iam.openfaas.com/v1
  kind: Policy
  metadata:
    name: staging-rw
    namespace: openfaas
  spec:
    statement:
    # Namespace:List, as in seed 002 and the docs' CI policy, lets faas-cli
    # namespaces list the namespaces this role may act in.
    - sid: 1-rw-staging
      action: ["Function:*", "Secret:*", "Namespace:List"]
      effect: Allow
      resource: ["staging:*"]
- apiVersion: iam.openfaas.com/v1
  kind: Policy
  metadata:
    name: full-access
    namespace: openfaas
  spec:
    statement:
    - sid: 1-all
      action: ["*"]
      effect: Allow
      resource: ["*"]
- apiVersion: iam.openfaas.com/v1
  kind: Policy
  metadata:
    name: read-only
    namespace: openfaas
  spec:
    statement:
    - sid: 1-read
      action: [Function:List, Function:Get, Namespace:List]
      effect: Allow
      resource: ["*"]
`,
		"roles.yaml": fmt.Sprintf(`apiVersion: iam.openfaas.com/v1
kind: Role
metadata:
  name: ci-deployers
  namespace: openfaas
spec:
  policy:
  - staging-rw
  condition:
    StringEqual:
      jwt:iss: ["%[1]s"]
      jwt:repository: [%[2]s]
    StringLike:
      jwt:ref: ["%[3]s"]
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata:
  name: automation
  namespace: openfaas
spec:
  policy: [full-access]
  principal:
    jwt:sub: [%[4]s]
  condition:
    StringEqual:
      jwt:iss: ["%[5]s"]
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata:
  name: auditors
  namespace: openfaas
spec:
  policy: [read-only]
  principal:
    jwt:sub: ["%[6]s@clients"]
  condition:
    StringEqual:
      jwt:iss: ["%[5]s"]
`, s.CIIdPURL, CIRepository, ciRef, KeycloakClient, s.IdPURL, Auth0Client),
	}
}
