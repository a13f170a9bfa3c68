package iam

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Set is a validated, compiled set of IAM objects: the snapshot every
// decision reads. It is immutable and safe for concurrent use; a reload
// compiles a new Set and swaps the pointer.
type Set struct {
	objects  []Object // copies, by kind, then name
	issuers  []*JwtIssuer
	policies map[string]*compiledPolicy
	roles    []*compiledRole // by name
	stmts    []*compiledStmt // every statement, by policy name, then position; id is the index
	idx      stmtIndex
	warnings []string
}

type compiledPolicy struct {
	name  string
	stmts []*compiledStmt
	roles []*compiledRole // the roles that name it, by name
}

type compiledStmt struct {
	id          int32 // index in Set.stmts
	pol         *compiledPolicy
	policy      string
	sid         string
	deny        bool
	actions     actionSet
	actionTexts []string // as written
	resources   []resourcePattern
	cond        condition // nil: always applies
}

type compiledRole struct {
	id       int32 // index in Set.roles
	name     string
	subjects []string // jwt:sub values; nil without a principal
	cond     condition
	policies []*compiledPolicy
}

// Compile validates objects and compiles them into a Set. It copies them,
// so later changes to objs do not change the Set. Objects built in Go may
// leave apiVersion and kind empty. Include every trusted issuer (the flat
// fed_oidc issuer too, as a JwtIssuer), so that the warnings about
// several issuers are right.
//
// Errors (all are reported, joined, each an *Error): an invalid or
// duplicate name, a JwtIssuer without iss or aud or with a duplicate iss,
// a statement with an unknown action, operator or effect, a malformed
// resource, a duplicate sid, a Role naming a missing Policy, a principal
// key other than jwt:sub, and a Role with neither principal nor
// condition, which would match every token of every issuer.
func Compile(objs []Object) (*Set, error) {
	c := &compiler{s: &Set{policies: map[string]*compiledPolicy{}}, seen: map[string]Object{}}
	var (
		issuers  []*JwtIssuer
		policies []*Policy
		roles    []*Role
	)
	for i, o := range objs {
		o = c.admit(i, o)
		switch o := o.(type) {
		case *JwtIssuer:
			issuers = append(issuers, o)
		case *Policy:
			policies = append(policies, o)
		case *Role:
			roles = append(roles, o)
		}
	}
	byName := func(a, b Object) int { return strings.Compare(a.GetName(), b.GetName()) }
	slices.SortFunc(issuers, func(a, b *JwtIssuer) int { return byName(a, b) })
	slices.SortFunc(policies, func(a, b *Policy) int { return byName(a, b) })
	slices.SortFunc(roles, func(a, b *Role) int { return byName(a, b) })

	c.issuers(issuers)
	for _, p := range policies {
		c.policy(p)
	}
	for _, r := range roles {
		c.role(r)
	}
	if len(roles) == 0 {
		c.s.warnings = append(c.s.warnings, "no Role: every request is denied")
	}
	c.s.index()
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return c.s, nil
}

type compiler struct {
	s    *Set
	seen map[string]Object // kind/name
	errs []error
}

func (c *compiler) fail(err error) { c.errs = append(c.errs, err) }

func (c *compiler) warn(o Object, field, format string, args ...any) {
	c.s.warnings = append(c.s.warnings, errorf(o, field, format, args...).Error())
}

// admit copies o, fills in its type and checks its name; it returns nil
// for an object that cannot be compiled at all.
func (c *compiler) admit(i int, o Object) Object {
	o = cloneObject(o)
	if o == nil {
		c.fail(&Error{Err: fmt.Errorf("object %d: nil", i)})
		return nil
	}
	tm, meta, src := o.header()
	if tm.APIVersion == "" && tm.Kind == "" && src == nil {
		tm.APIVersion, tm.Kind = APIVersion, o.GetKind()
	}
	switch {
	case tm.APIVersion != APIVersion:
		c.fail(errorf(o, "apiVersion", "want %s, got %q", APIVersion, tm.APIVersion))
	case tm.Kind != o.GetKind():
		c.fail(errorf(o, "kind", "want %s, got %q", o.GetKind(), tm.Kind))
	case !isDNSSubdomain(meta.Name):
		c.fail(errorf(o, "metadata.name", "%q is not a DNS subdomain name (lowercase letters, digits, '-' and '.', at most 253)", meta.Name))
	default:
		key := o.GetKind() + "/" + meta.Name
		if first, dup := c.seen[key]; dup {
			c.fail(errorf(o, "metadata.name", "duplicate %s name, first defined %s", o.GetKind(), where(first)))
			return nil
		}
		c.seen[key] = o
		c.s.objects = append(c.s.objects, o)
		return o
	}
	return nil
}

func (c *compiler) issuers(issuers []*JwtIssuer) {
	byIss := map[string]*JwtIssuer{}
	for _, o := range issuers {
		s := &o.Spec
		errs := len(c.errs)
		if s.Iss == "" {
			c.fail(errorf(o, "spec.iss", "required"))
		} else if err := checkURL(s.Iss, true); err != nil {
			c.fail(errorf(o, "spec.iss", "%v", err))
		} else if first, dup := byIss[s.Iss]; dup {
			c.fail(errorf(o, "spec.iss", "JwtIssuer %q has the same iss", first.Metadata.Name))
		} else {
			byIss[s.Iss] = o
		}
		if len(s.Aud) == 0 {
			c.fail(errorf(o, "spec.aud", "required: at least one audience"))
		}
		c.nonEmpty(o, "spec.aud", s.Aud)
		c.nonEmpty(o, "spec.algorithms", s.Algorithms)
		c.nonEmpty(o, "spec.requireTyp", s.RequireTyp)
		for _, f := range [...]struct{ field, url string }{{"spec.issInternal", s.IssInternal}, {"spec.jwksUrl", s.JWKSURL}} {
			if err := checkURL(f.url, false); f.url != "" && err != nil {
				c.fail(errorf(o, f.field, "%v", err))
			}
		}
		if s.TokenExpiry != "" {
			if d, err := time.ParseDuration(s.TokenExpiry); err != nil || d <= 0 {
				c.fail(errorf(o, "spec.tokenExpiry", "want a positive duration such as 30m or 12h, got %q", s.TokenExpiry))
			}
		}
		if len(c.errs) == errs {
			c.s.issuers = append(c.s.issuers, o)
		}
	}
}

func (c *compiler) nonEmpty(o Object, field string, l StringList) {
	for i, v := range l {
		if strings.TrimSpace(v) == "" {
			c.fail(errorf(o, indexPath(field, i), "empty"))
		}
	}
}

func (c *compiler) policy(o *Policy) {
	p := &compiledPolicy{name: o.Metadata.Name}
	if len(o.Spec.Statement) == 0 {
		c.warn(o, "spec.statement", "no statements: the policy grants nothing")
	}
	sids := map[string]int{}
	errs := len(c.errs)
	for i, st := range o.Spec.Statement {
		path := indexPath("spec.statement", i)
		cs := &compiledStmt{pol: p, policy: p.name, sid: st.Sid, actionTexts: slices.Clone(st.Action)}
		if st.Sid == "" {
			c.fail(errorf(o, path+".sid", "required"))
		} else if first, dup := sids[st.Sid]; dup {
			c.fail(errorf(o, path+".sid", "duplicate sid %q, also in statement %d", st.Sid, first))
		}
		sids[st.Sid] = i
		switch st.Effect {
		case EffectAllow:
		case EffectDeny:
			cs.deny = true
		default:
			c.fail(errorf(o, path+".effect", "want Allow or Deny, got %q%s", st.Effect, hint(st.Effect, []string{EffectAllow, EffectDeny})))
		}
		for _, set := range compileEach(c, o, path+".action", "action", st.Action, parseActionPattern) {
			cs.actions |= set
		}
		cs.resources = compileEach(c, o, path+".resource", "resource", st.Resource, parseResourcePattern)
		cond, cerrs := compileCondition(o, path+".condition", st.Condition)
		c.errs = append(c.errs, cerrs...)
		cs.cond = cond
		p.stmts = append(p.stmts, cs)
	}
	if len(c.errs) == errs {
		c.s.policies[p.name] = p
		for _, st := range p.stmts {
			st.id = int32(len(c.s.stmts))
			c.s.stmts = append(c.s.stmts, st)
		}
	}
}

// compileEach compiles each entry of a statement's list field, which
// needs at least one.
func compileEach[T any](c *compiler, o Object, field, what string, l StringList, compile func(string) (T, error)) []T {
	if len(l) == 0 {
		c.fail(errorf(o, field, "required: at least one %s", what))
	}
	out := make([]T, 0, len(l))
	for i, s := range l {
		v, err := compile(s)
		if err != nil {
			c.fail(errorf(o, indexPath(field, i), "%v", err))
		}
		out = append(out, v)
	}
	return out
}

func (c *compiler) role(o *Role) {
	r := &compiledRole{name: o.Metadata.Name}
	s := &o.Spec
	errs := len(c.errs)
	if len(s.Policy) == 0 {
		c.warn(o, "spec.policy", "no policies: the role grants nothing")
	}
	for i, name := range s.Policy {
		p, ok := c.s.policies[name]
		if !ok {
			if _, exists := c.seen[KindPolicy+"/"+name]; !exists {
				c.fail(errorf(o, indexPath("spec.policy", i), "no Policy %q", name))
			}
			continue // an invalid policy has its own error
		}
		if !slices.Contains(r.policies, p) {
			r.policies = append(r.policies, p)
		}
	}
	if s.Principal != nil {
		if len(s.Principal) == 0 {
			c.fail(errorf(o, "spec.principal", "empty: list subjects under jwt:sub, or remove it"))
		}
		for _, key := range sortedKeys(s.Principal) {
			if key != claimPrefix+"sub" {
				c.fail(errorf(o, keyPath("spec.principal", key), "unknown principal key: only jwt:sub is supported (use a condition for other claims)"))
				continue
			}
			if len(s.Principal[key]) == 0 {
				c.fail(errorf(o, keyPath("spec.principal", key), "no values: want at least one subject"))
			}
			for i, sub := range s.Principal[key] {
				if sub == "" {
					c.fail(errorf(o, indexPath(keyPath("spec.principal", key), i), "empty"))
				}
			}
			r.subjects = slices.Clone(s.Principal[key])
		}
	}
	cond, cerrs := compileCondition(o, "spec.condition", s.Condition)
	c.errs = append(c.errs, cerrs...)
	r.cond = cond
	if s.Principal == nil && len(s.Condition) == 0 {
		c.fail(errorf(o, "spec", "neither principal nor condition: the role would match every token of every trusted issuer; add a condition on jwt:iss at least"))
	}
	if len(c.errs) > errs {
		return
	}
	c.issuerWarnings(o, r)
	r.id = int32(len(c.s.roles))
	c.s.roles = append(c.s.roles, r)
	for _, p := range r.policies {
		p.roles = append(p.roles, r)
	}
}

// issuerWarnings warns about a role that another issuer's tokens could
// match, and about a jwt:iss condition that no trusted issuer meets.
func (c *compiler) issuerWarnings(o *Role, r *compiledRole) {
	pinned := false
	for _, cl := range r.cond {
		if cl.claim != "iss" || cl.op.negated {
			continue
		}
		pinned = true
		if len(c.s.issuers) == 0 {
			continue
		}
		if !slices.ContainsFunc(c.s.issuers, func(iss *JwtIssuer) bool { return cl.matchOne(iss.Spec.Iss) }) {
			c.warn(o, keyPath(keyPath("spec.condition", cl.operator), cl.key), "no trusted JwtIssuer has an iss that matches: the role never matches")
		}
	}
	if !pinned && len(c.s.issuers) > 1 {
		same := "claims"
		if r.subjects != nil {
			same = "sub"
		}
		c.warn(o, "spec.condition", "no jwt:iss condition while %d issuers are trusted: a token of another issuer with the same %s matches the role", len(c.s.issuers), same)
	}
}

// checkURL checks an issuer or endpoint URL: absolute, http or https,
// with a host and no user info or fragment; an issuer also no query.
func checkURL(s string, issuer bool) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("malformed URL: %w", err)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("want an https URL, got %q", s)
	case u.Host == "":
		return fmt.Errorf("URL %q has no host", s)
	case u.User != nil:
		return fmt.Errorf("URL %q has user info", s)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("URL %q has a fragment", s)
	case issuer && (u.RawQuery != "" || strings.Contains(s, "?")):
		return fmt.Errorf("issuer URL %q has a query", s)
	}
	return nil
}

// isDNSSubdomain says whether s is a Kubernetes object name (RFC 1123
// subdomain).
func isDNSSubdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if r != '-' && (r < '0' || r > '9') && (r < 'a' || r > 'z') {
				return false
			}
		}
	}
	return true
}

func where(o Object) string {
	_, _, src := o.header()
	switch {
	case src == nil:
		return "inline"
	case src.file != "":
		return fmt.Sprintf("at %s:%d", src.file, src.line)
	}
	return fmt.Sprintf("at line %d", src.line)
}

// Warnings are the problems that do not stop the set from loading, in the
// format of errors. The handler logs them at load and `caddy validate`.
func (s *Set) Warnings() []string { return slices.Clone(s.warnings) }

// Objects returns copies of the set's objects, by kind, then name.
func (s *Set) Objects() []Object {
	out := make([]Object, len(s.objects))
	for i, o := range s.objects {
		out[i] = cloneObject(o)
	}
	slices.SortFunc(out, func(a, b Object) int {
		if k := kindOrder(a) - kindOrder(b); k != 0 {
			return k
		}
		return strings.Compare(a.GetName(), b.GetName())
	})
	return out
}

func kindOrder(o Object) int {
	return slices.Index([]string{KindJwtIssuer, KindPolicy, KindRole}, o.GetKind())
}

// Issuers returns copies of the trusted issuers, by name.
func (s *Set) Issuers() []*JwtIssuer {
	out := make([]*JwtIssuer, len(s.issuers))
	for i, o := range s.issuers {
		out[i] = cloneObject(o).(*JwtIssuer)
	}
	return out
}

// cloneObject deep-copies o; it returns nil for a nil object.
func cloneObject(o Object) Object {
	switch o := o.(type) {
	case *JwtIssuer:
		if o == nil {
			return nil
		}
		c := *o
		c.Spec.Aud = slices.Clone(o.Spec.Aud)
		c.Spec.Algorithms = slices.Clone(o.Spec.Algorithms)
		c.Spec.RequireTyp = slices.Clone(o.Spec.RequireTyp)
		return &c
	case *Policy:
		if o == nil {
			return nil
		}
		c := *o
		c.Spec.Statement = slices.Clone(o.Spec.Statement)
		for i := range c.Spec.Statement {
			st := &c.Spec.Statement[i]
			st.Action, st.Resource = slices.Clone(st.Action), slices.Clone(st.Resource)
			st.Condition = cloneCondition(st.Condition)
		}
		return &c
	case *Role:
		if o == nil {
			return nil
		}
		c := *o
		c.Spec.Policy = slices.Clone(o.Spec.Policy)
		c.Spec.Principal = cloneLists(o.Spec.Principal)
		c.Spec.Condition = cloneCondition(o.Spec.Condition)
		return &c
	}
	return nil
}

func cloneCondition(c Condition) Condition {
	if c == nil {
		return nil
	}
	out := make(Condition, len(c))
	for op, m := range c {
		out[op] = cloneLists(m)
	}
	return out
}

func cloneLists(m map[string]StringList) map[string]StringList {
	if m == nil {
		return nil
	}
	out := maps.Clone(m)
	for k, v := range out {
		out[k] = slices.Clone(v)
	}
	return out
}
