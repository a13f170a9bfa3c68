package caddyfedauth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/iam"
)

// snapshot is what a request reads, with one atomic load: the trusted
// issuers and the IAM set, built and checked together. A reload builds a
// whole new one and swaps the pointer, so no request sees half a set.
type snapshot struct {
	issuers   *trustedIssuers
	set       *iam.Set // nil without IAM
	issuerKey string   // the issuer configs, to tell whether a reload changes them
	digest    [sha256.Size]byte
}

// heldRoles is what a token holds in one IAM set, kept with the cached
// token so a reused token is matched once per set.
type heldRoles struct {
	set   *iam.Set
	roles *iam.Roles
}

// rolesIn returns the roles the token holds in set, matching them the
// first time it is seen with this set. A token of the system issuer holds
// the policies its policy claim names, as they are in set: role changes
// apply at the next exchange, policy edits at once.
func (id *identity) rolesIn(set *iam.Set) *iam.Roles {
	if h := id.roles.Load(); h != nil && h.set == set {
		return h.roles
	}
	var roles *iam.Roles
	if id.verifier.system {
		roles = set.MatchPolicies(id.claims)
	} else {
		roles = set.MatchRoles(id.claims)
	}
	id.roles.Store(&heldRoles{set: set, roles: roles})
	return roles
}

// flatIssuerName names the flat issuer options as a JwtIssuer in the IAM
// set, so the set knows every trusted issuer (a Role with a principal
// and no jwt:iss condition is warned about when there are several).
const flatIssuerName = "fed-oidc-issuer"

// The IAM modes.
const (
	iamEnforce = "enforce"
	iamDryRun  = "dry_run"
)

func (f *FedOIDC) iamEnabled() bool { return f.IAM != "" || len(f.IAMObjects) > 0 }

// readIAM reads the IAM files (none without iam) and hashes them with the
// inline objects, so a watcher can tell a change without parsing.
func (f *FedOIDC) readIAM() ([]iam.File, [sha256.Size]byte, error) {
	var files []iam.File
	if f.IAM != "" {
		var err error
		if files, err = iam.ReadFiles(f.IAM); err != nil {
			return nil, [sha256.Size]byte{}, err
		}
	}
	h := sha256.New()
	for _, file := range files {
		fmt.Fprintf(h, "%d:%s%d:", len(file.Name), file.Name, len(file.Data))
		h.Write(file.Data)
	}
	return files, [sha256.Size]byte(h.Sum(nil)), nil
}

// buildSnapshot compiles the IAM objects of files and iam_objects, with
// the flat issuer as one more JwtIssuer, and the trusted issuers they
// name. When prev trusts the very same issuers, their key sources and
// token cache are kept, so a policy edit re-verifies no token.
func (f *FedOIDC) buildSnapshot(files []iam.File, digest [sha256.Size]byte, prev *snapshot) (*snapshot, error) {
	configs, set, err := f.compileIAM(files)
	if err != nil {
		return nil, err
	}
	key, err := json.Marshal(configs)
	if err != nil {
		return nil, err
	}
	s := &snapshot{set: set, issuerKey: string(key), digest: digest}
	if prev != nil && prev.issuerKey == s.issuerKey {
		s.issuers = prev.issuers
		return s, nil
	}
	s.issuers, err = newTrustedIssuers(configs, f.MaxTokenSize, f.TokenCacheSize, set != nil, f.startKeys, f.logger)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// compileIAM returns the trusted issuers' configs and the compiled IAM
// set (nil without IAM).
func (f *FedOIDC) compileIAM(files []iam.File) ([]issuerConfig, *iam.Set, error) {
	var configs []issuerConfig
	if f.Issuer != "" {
		c, err := f.flatIssuerConfig()
		if err != nil {
			return nil, nil, err
		}
		configs = append(configs, c)
	}
	if f.system != nil {
		configs = append(configs, f.system.config)
	}
	if !f.iamEnabled() {
		return configs, nil, nil
	}
	objs, err := iam.ParseFiles(files)
	if err != nil {
		return nil, nil, err
	}
	objs = append(objs, f.IAMObjects...)
	if f.Issuer != "" {
		objs = append(objs, &iam.JwtIssuer{
			Metadata: iam.ObjectMeta{Name: flatIssuerName},
			Spec:     iam.JwtIssuerSpec{Iss: f.Issuer, Aud: iam.StringList(f.Audiences)},
		})
	}
	set, err := iam.Compile(objs)
	if err != nil {
		return nil, nil, err
	}
	for _, o := range set.Issuers() {
		if o.Metadata.Name == flatIssuerName && o.Spec.Iss == f.Issuer {
			continue
		}
		c, err := f.jwtIssuerConfig(o)
		if err != nil {
			return nil, nil, err
		}
		configs = append(configs, c)
	}
	if len(configs) == 0 {
		return nil, nil, errors.New("no trusted issuer: set issuer, or add a JwtIssuer to the IAM objects")
	}
	return configs, set, nil
}

// jwtIssuerFields name the JwtIssuer fields of the flat option names
// issuerConfig.check reports.
var jwtIssuerFields = map[string]string{
	"issuer": "spec.iss", "jwks_url": "spec.jwksUrl", "audience": "spec.aud",
	"algorithms": "spec.algorithms", "require_typ": "spec.requireTyp", "ca_bundle": "spec.caBundle",
}

// jwtIssuerConfig is a JwtIssuer's verifier config: its own settings, and
// the handler's for the rest (clock skew, lifetime, key refresh).
func (f *FedOIDC) jwtIssuerConfig(o *iam.JwtIssuer) (issuerConfig, error) {
	s := o.Spec
	c := issuerConfig{
		Issuer:           s.Iss,
		Audiences:        s.Aud,
		AcceptAZP:        s.AcceptAzp,
		Algorithms:       s.Algorithms,
		RequireTyp:       s.RequireTyp,
		ClockSkew:        f.ClockSkew,
		MaxTokenLifetime: f.MaxTokenLifetime,
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = defaultAlgorithms
	}
	var err error
	c.Source, err = f.sourceSettings(s.Iss, s.IssInternal, s.JWKSURL, s.CABundle)
	if err != nil {
		return c, iam.FieldError(o, "spec.caBundle", err)
	}
	if field, err := c.check(); err != nil {
		return c, iam.FieldError(o, jwtIssuerFields[field], err)
	}
	return c, nil
}

// startKeys has a key source fetch once the config runs: at once for a
// source an IAM reload adds.
func (f *FedOIDC) startKeys(k *keySource) error { return startWithConfig(f.ctx, k.start) }

// watchIAM reloads the IAM objects when their files change: it reads
// them every interval, and builds and swaps in a new snapshot when what
// it read differs. A set that fails keeps the last good one serving, and
// is logged once, naming the file, object and field.
func (f *FedOIDC) watchIAM(ctx context.Context, interval time.Duration, done *sync.WaitGroup) {
	defer done.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var failed [sha256.Size]byte // the last files that did not compile
	var readErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		files, digest, err := f.readIAM()
		if err != nil {
			// A file may be mid-write; say so once, not every tick.
			if err.Error() != readErr {
				readErr = err.Error()
				f.logger.Error("reading the IAM objects failed; the last good set stays in use", zap.Error(err))
				fedMetrics.iamReloads.WithLabelValues("error").Inc()
			}
			continue
		}
		readErr = ""
		cur := f.snap.Load()
		if digest == cur.digest || digest == failed {
			continue
		}
		next, err := f.buildSnapshot(files, digest, cur)
		if err != nil {
			failed = digest
			f.logger.Error("the changed IAM objects are invalid; the last good set stays in use", zap.Error(err))
			fedMetrics.iamReloads.WithLabelValues("error").Inc()
			continue
		}
		failed = [sha256.Size]byte{}
		f.snap.Store(next)
		if next.issuers != cur.issuers {
			// Requests still holding cur keep working: a released key
			// source keeps its last keys.
			cur.issuers.release()
		}
		fedMetrics.iamReloads.WithLabelValues("ok").Inc()
		f.logIAMLoaded("IAM objects reloaded", next.set)
	}
}

// logIAMLoaded logs what a set holds, and its warnings.
func (f *FedOIDC) logIAMLoaded(msg string, set *iam.Set) {
	var counts [3]int
	for _, o := range set.Objects() {
		counts[slices.Index([]string{iam.KindJwtIssuer, iam.KindPolicy, iam.KindRole}, o.GetKind())]++
	}
	f.logger.Info(msg, zap.Int("issuers", counts[0]), zap.Int("policies", counts[1]), zap.Int("roles", counts[2]))
	for _, w := range set.Warnings() {
		f.logger.Warn("IAM: " + w)
	}
}
