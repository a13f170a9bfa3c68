// Package iamfixture is the IAM set and the deploy the handler benchmarks
// and the load comparison (scripts/loadcompare) measure with, so both
// measure the same thing.
package iamfixture

import (
	"fmt"
	"strings"
)

// Teams is how many team roles and policies Objects holds besides the
// seed's.
const Teams = 100

// Groups is a groups claim that gives a token three of the team roles.
var Groups = []string{"team-7", "team-42", "team-99"}

// Objects is an IAM set of a realistic size, as YAML: the staging-rw
// Policy and staging-staff-deployers Role of seed 002, its principal sub
// and its issuer iss, and Teams roles and policies of other teams, each
// role for one group of a token's groups claim (jwt:groups) and each
// policy over a namespace of its own (team-N), with a Deny of prod-*
// deletes. A token of iss with sub and Groups holds four roles.
func Objects(iss, sub string) []byte {
	var y strings.Builder
	fmt.Fprintf(&y, `apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: staging-rw, namespace: openfaas}
spec:
  statement:
  - sid: 1-rw-staging
    action: [Function:List, Function:Get, Function:Create, Function:Update, Function:Delete, Function:Logs, Namespace:List]
    effect: Allow
    resource: ["staging:*"]
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: staging-staff-deployers, namespace: openfaas}
spec:
  policy: [staging-rw]
  principal:
    jwt:sub: [%q]
  condition:
    StringEqual:
      jwt:iss: [%q]
`, sub, iss)
	for i := range Teams {
		fmt.Fprintf(&y, `---
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: team-%[1]d-rw, namespace: openfaas}
spec:
  statement:
  - sid: deny-prod-deletes
    action: Function:Delete
    effect: Deny
    resource: ["team-%[1]d:prod-*"]
  - sid: rw
    action: [Function:List, Function:Get, Function:Create, Function:Update, Function:Logs]
    effect: Allow
    resource: ["team-%[1]d:*"]
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: team-%[1]d, namespace: openfaas}
spec:
  policy: [team-%[1]d-rw]
  condition:
    StringEqual:
      jwt:iss: [%[2]q]
    ForAnyValue:StringEqual:
      jwt:groups: [team-%[1]d]
`, i, iss)
	}
	return []byte(y.String())
}

// DeployBody is a 4 KiB FunctionDeployment of function fn in namespace
// staging, the size of faas-cli deploy's with a hundred environment
// variables: PUT /system/functions, Function:Update on staging:fn.
func DeployBody() []byte {
	var env strings.Builder
	for i := range 100 {
		fmt.Fprintf(&env, `"KEY_%03d":"v0123456789abcdefghijklmno",`, i)
	}
	return []byte(`{"service":"fn","image":"ghcr.io/openfaas/alpine:latest","namespace":"staging","envVars":{` +
		strings.TrimSuffix(env.String(), ",") + `},"labels":{"com.openfaas.scale.min":"1"},"limits":{"memory":"128Mi"}}`)
}
