package iam

import "encoding/json"

// APIVersion is the apiVersion of every IAM object.
const APIVersion = "iam.openfaas.com/v1"

// The kinds of IAM object.
const (
	KindJwtIssuer = "JwtIssuer"
	KindPolicy    = "Policy"
	KindRole      = "Role"
)

// TypeMeta is an object's apiVersion and kind.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// ObjectMeta is the part of Kubernetes' metadata that IAM reads. The
// loader also accepts, and ignores, the fields the API server adds
// (labels, annotations, uid, resourceVersion, ...), so `kubectl get -o
// yaml` output loads as it is.
type ObjectMeta struct {
	// The object's name, a DNS subdomain (lowercase letters, digits, '-'
	// and '.'). Unique per kind across the whole set. Required.
	Name string `json:"name"`

	// The Kubernetes namespace; OpenFaaS keeps IAM objects in
	// `openfaas`. Kept, but not used in any decision.
	Namespace string `json:"namespace,omitempty"`
}

// StringList is a list of strings. The loader also reads a scalar as a
// list of one, because the docs' examples often write one where the CRD
// schema wants a list.
type StringList []string

// Condition maps an operator (StringEqual, StringLike, ...) to claim keys
// (`jwt:<claim>`) and each key to the values, one of which must match.
// Operators and keys are ANDed, a key's values ORed.
type Condition map[string]map[string]StringList

// JwtIssuer is a trusted token issuer.
type JwtIssuer struct {
	TypeMeta
	Metadata ObjectMeta    `json:"metadata"`
	Spec     JwtIssuerSpec `json:"spec"`

	src *source
}

// JwtIssuerSpec is the JwtIssuer CRD's spec (iss, aud, issInternal,
// tokenExpiry) and our own per-issuer options, which mirror the flat
// fed_oidc options of the same name.
type JwtIssuerSpec struct {
	// The issuer URL, exactly as in the tokens' `iss` claim. Unique in the
	// set. Required.
	Iss string `json:"iss"`

	// Accepted audiences: a token's `aud` must contain one of them.
	// Required.
	Aud StringList `json:"aud"`

	// Another URL of the same issuer to fetch its discovery document and
	// keys from, e.g. an in-cluster address. Default: iss.
	IssInternal string `json:"issInternal,omitempty"`

	// How long an OpenFaaS access token issued in a token exchange is
	// valid, e.g. 30m. Kept for the token exchange; not used in
	// decisions. Default: none.
	TokenExpiry string `json:"tokenExpiry,omitempty"`

	// Ours: the issuer's JWKS URL. Default: the discovery document's
	// jwks_uri. As fed_oidc's jwks_url.
	JWKSURL string `json:"jwksUrl,omitempty"`

	// Ours: a PEM file of CA certificates trusted, in addition to the
	// system roots, for the issuer's discovery and JWKS endpoints, e.g.
	// /var/run/secrets/kubernetes.io/serviceaccount/ca.crt. As
	// fed_oidc's ca_bundle.
	CABundle string `json:"caBundle,omitempty"`

	// Ours: the signature algorithms accepted. Default: fed_oidc's
	// default list. As fed_oidc's algorithms.
	Algorithms StringList `json:"algorithms,omitempty"`

	// Ours: also accept a token whose `azp` is one of the audiences.
	// Default: false. As fed_oidc's accept_azp.
	AcceptAzp bool `json:"acceptAzp,omitempty"`

	// Ours: the accepted JOSE `typ` values. Default: not checked. As
	// fed_oidc's require_typ.
	RequireTyp StringList `json:"requireTyp,omitempty"`
}

// Policy is a named set of statements.
type Policy struct {
	TypeMeta
	Metadata ObjectMeta `json:"metadata"`
	Spec     PolicySpec `json:"spec"`

	src *source
}

// PolicySpec is the Policy CRD's spec.
type PolicySpec struct {
	// The statements, ORed. Required.
	Statement []Statement `json:"statement"`
}

// Statement allows or denies actions on resources, optionally only for
// tokens that meet its condition.
type Statement struct {
	// The statement's id, unique in its policy; decisions name it.
	// Required.
	Sid string `json:"sid"`

	// Actions, e.g. Function:List, a service wildcard (Function:*,
	// Secret:*, Namespace:*, System:*) or *. Required.
	Action StringList `json:"action"`

	// Allow or Deny. A Deny wins over any Allow. Required.
	Effect string `json:"effect"`

	// Resource patterns: *, ns:*, ns:name, or globs such as ns:fn-* and
	// team-*:*. Required.
	Resource StringList `json:"resource"`

	// Claims the token must meet for the statement to apply. Default:
	// none, it always applies.
	Condition Condition `json:"condition,omitempty"`
}

// The statement effects.
const (
	EffectAllow = "Allow"
	EffectDeny  = "Deny"
)

// Role gives the tokens it matches the statements of its policies.
type Role struct {
	TypeMeta
	Metadata ObjectMeta `json:"metadata"`
	Spec     RoleSpec   `json:"spec"`

	src *source
}

// RoleSpec is the Role CRD's spec. A Role needs a principal or a
// condition, and when it has both, both must match.
type RoleSpec struct {
	// Names of the policies that apply to the role. Each must exist.
	Policy StringList `json:"policy"`

	// Subjects, exactly: `jwt:sub` is the only key, and a token matches
	// when its sub is any one of the values.
	Principal map[string]StringList `json:"principal,omitempty"`

	// Claims the token must meet.
	Condition Condition `json:"condition,omitempty"`
}

// Object is a JwtIssuer, Policy or Role.
type Object interface {
	// GetKind is the object's kind: JwtIssuer, Policy or Role.
	GetKind() string
	// GetName is metadata.name.
	GetName() string

	header() (*TypeMeta, *ObjectMeta, *source)
}

// GetKind returns JwtIssuer.
func (*JwtIssuer) GetKind() string { return KindJwtIssuer }

// GetKind returns Policy.
func (*Policy) GetKind() string { return KindPolicy }

// GetKind returns Role.
func (*Role) GetKind() string { return KindRole }

// GetName returns metadata.name.
func (o *JwtIssuer) GetName() string { return o.Metadata.Name }

// GetName returns metadata.name.
func (o *Policy) GetName() string { return o.Metadata.Name }

// GetName returns metadata.name.
func (o *Role) GetName() string { return o.Metadata.Name }

func (o *JwtIssuer) header() (*TypeMeta, *ObjectMeta, *source) {
	return &o.TypeMeta, &o.Metadata, o.src
}
func (o *Policy) header() (*TypeMeta, *ObjectMeta, *source) { return &o.TypeMeta, &o.Metadata, o.src }
func (o *Role) header() (*TypeMeta, *ObjectMeta, *source)   { return &o.TypeMeta, &o.Metadata, o.src }

// Objects is a list of IAM objects, as the handler's JSON config embeds
// them. It decodes strictly, with the same rules as files.
type Objects []Object

// UnmarshalJSON reads a JSON array of objects (a List object or a
// single object also do).
func (l *Objects) UnmarshalJSON(b []byte) error {
	objs, err := Parse("", b)
	if err != nil {
		return err
	}
	*l = objs
	return nil
}

// MarshalJSON writes the objects as a JSON array.
func (l Objects) MarshalJSON() ([]byte, error) {
	if l == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]Object(l))
}

var (
	_ Object = (*JwtIssuer)(nil)
	_ Object = (*Policy)(nil)
	_ Object = (*Role)(nil)

	_ json.Unmarshaler = (*Objects)(nil)
	_ json.Marshaler   = Objects(nil)
)
