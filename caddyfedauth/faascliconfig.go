package caddyfedauth

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// faas-cli's config file, as faas-cli 0.17 (config/config_file.go)
// reads and writes it:
//
//	auths:
//	- gateway: https://gw.example.com
//	  auth: oauth2
//	  token: eyJ...
//
// A gateway's entry is found by its URL as faas-cli spells it
// (faasCLIGatewayURL); with auth oauth2, faas-cli sends the token as a
// bearer token, and --token overrides it.
const (
	faasCLIConfigEnv  = "OPENFAAS_CONFIG" // the config directory
	faasCLIConfigFile = "config.yml"
	faasCLIDefaultDir = ".openfaas" // in $HOME; in the working directory in CI
	faasCLIAuthOAuth2 = "oauth2"
)

// faasCLIConfigDir is the directory faas-cli reads its config from
// (config.ConfigDir): $OPENFAAS_CONFIG; else, when CI is "true" or "1",
// .openfaas in the working directory; else ~/.openfaas. A leading ~ is
// the home directory, as go-homedir expands it for faas-cli.
func faasCLIConfigDir() (string, error) {
	dir := os.Getenv(faasCLIConfigEnv)
	if dir == "" {
		if ci := os.Getenv("CI"); ci == "true" || ci == "1" {
			return faasCLIDefaultDir, nil
		}
		dir = "~/" + faasCLIDefaultDir
	}
	if dir == "~" || strings.HasPrefix(dir, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding faas-cli's config directory: %w", err)
		}
		dir = filepath.Join(home, dir[1:])
	}
	return dir, nil
}

// faasCLIGatewayURL spells a gateway URL as faas-cli does before it looks
// the gateway up in its config (commands/priority.go getGatewayURL):
// lower case, no trailing slash, http:// when no scheme is given.
func faasCLIGatewayURL(gateway string) string {
	g := strings.ToLower(strings.TrimRight(gateway, "/"))
	if !strings.HasPrefix(g, "http") {
		g = "http://" + g
	}
	return g
}

// saveFaaSCLIToken stores token as gateway's oauth2 credential in the
// config file in dir, and returns the file's path. The gateway's entry
// (faas-cli uses the first with that URL) gets auth and token and keeps
// its other fields; every other entry, field and comment stays as it
// was. The file is replaced atomically, so faas-cli never reads half of
// it, with mode 0600: it holds credentials. A new directory gets 0700.
func saveFaaSCLIToken(dir, gateway, token string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating faas-cli's config directory: %w", err)
	}
	path := filepath.Join(dir, faasCLIConfigFile)
	// a linked config file stays linked: its target is replaced
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading faas-cli's config: %w", err)
	}
	updated, err := setFaaSCLIToken(data, gateway, token)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if err := writeFileAtomic(path, updated, 0o600); err != nil {
		return "", fmt.Errorf("writing faas-cli's config: %w", err)
	}
	return path, nil
}

// setFaaSCLIToken returns the config file data with gateway's entry set
// to the oauth2 token, edited as a YAML tree so that nothing else in the
// file changes but its layout (two-space indent, as faas-cli writes).
func setFaaSCLIToken(data []byte, gateway, token string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing: %w", err)
	}
	var buf bytes.Buffer
	if doc.Kind == 0 {
		// an empty file, or one of comments only, which the parser drops
		if c := bytes.TrimSpace(data); len(c) > 0 {
			buf.Write(c)
			buf.WriteByte('\n')
		}
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := doc.Content[0]
	if isYAMLNull(root) {
		*root = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	if root.Kind != yaml.MappingNode {
		return nil, errors.New("not a mapping at the top")
	}
	auths := mappingValue(root, "auths")
	switch {
	case auths == nil:
		auths = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		root.Content = append(root.Content, yamlString("auths"), auths)
	case isYAMLNull(auths):
		*auths = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	case auths.Kind != yaml.SequenceNode:
		return nil, errors.New("auths is not a list")
	}
	var entry *yaml.Node
	for _, e := range auths.Content {
		if e.Kind != yaml.MappingNode {
			continue
		}
		if g := mappingValue(e, "gateway"); g != nil && g.Kind == yaml.ScalarNode && g.Value == gateway {
			entry = e
			break
		}
	}
	if entry == nil {
		entry = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{yamlString("gateway"), yamlString(gateway)}}
		auths.Content = append(auths.Content, entry)
	}
	setMappingValue(entry, "auth", faasCLIAuthOAuth2)
	setMappingValue(entry, "token", token)

	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	return buf.Bytes(), nil
}

// mappingValue is the value of key in the mapping m, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// setMappingValue sets key in the mapping m to the string value, in
// place if the key is there.
func setMappingValue(m *yaml.Node, key, value string) {
	if v := mappingValue(m, key); v != nil {
		*v = *yamlString(value)
		return
	}
	m.Content = append(m.Content, yamlString(key), yamlString(value))
}

func yamlString(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func isYAMLNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// writeFileAtomic replaces path with data: written to a temporary file
// in the same directory, flushed, given perm, then renamed over path. A
// reader sees the old file or the new one, never part of either; a crash
// leaves at worst a stray temporary file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// the rename itself survives a crash once the directory is synced
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
