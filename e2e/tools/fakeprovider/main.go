// Command fakeprovider is an in-memory OpenFaaS provider for end-to-end tests.
//
// It implements the faas-provider HTTP API (the same routes that
// faas-provider's bootstrap.Serve registers, using its types and basic-auth
// helper) so that the real OpenFaaS gateway can sit in front of it, plus a
// stub of the Prometheus HTTP query API (/api/v1/query) which the gateway
// queries when listing functions.
//
// bootstrap.Serve itself is not used because it always listens on ":port"
// (every interface); this program binds only the address it is given,
// 127.0.0.1 by default.
//
// Functions, secrets and logs are kept per namespace (-namespaces), which
// each request names the way faas-netes reads it: the body's namespace,
// else the query's, else the first (default) namespace. A query and a body
// that name different namespaces get 400, so a proxy that rewrites one of
// them shows up. /system/logs is faas-provider's own handler over each
// function's log (its deploys, updates and invocations).
//
// Invoking a deployed function returns "hello from <name>: <request body>".
// Every request received is recorded and can be read back as JSON from
// GET /_fakeprovider/requests (DELETE resets the record), so that tests can
// check what the gateway forwarded (path, query, Authorization header).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/mux"
	"github.com/openfaas/faas-provider/auth"
	"github.com/openfaas/faas-provider/logs"
	"github.com/openfaas/faas-provider/types"
)

// nameExpression matches faas-provider's bootstrap.NameExpression.
const nameExpression = "-a-zA-Z_0-9."

const defaultNamespace = "openfaas-fn"

// maxRecorded bounds the request record.
const maxRecorded = 1000

func main() {
	addr := flag.String("addr", envOr("FAKEPROVIDER_ADDR", "127.0.0.1:8081"),
		"listen address of the provider API and of the Prometheus stub (env FAKEPROVIDER_ADDR)")
	promAddr := flag.String("prom-addr", os.Getenv("FAKEPROVIDER_PROM_ADDR"),
		"optional second listen address serving only the Prometheus stub (env FAKEPROVIDER_PROM_ADDR)")
	namespaces := flag.String("namespaces", envOr("FAKEPROVIDER_NAMESPACES", defaultNamespace),
		"comma-separated namespaces; the first is the default (env FAKEPROVIDER_NAMESPACES)")
	basicAuth := flag.Bool("basic-auth", os.Getenv("basic_auth") == "true",
		"require basic auth on /system/* (credentials from -secret-mount-path; env basic_auth=true)")
	secretMountPath := flag.String("secret-mount-path", envOr("secret_mount_path", "/run/secrets/"),
		"directory holding basic-auth-user and basic-auth-password (env secret_mount_path)")
	flag.Parse()

	p := newProvider(splitList(*namespaces))

	var creds *auth.BasicAuthCredentials
	if *basicAuth {
		reader := auth.ReadBasicAuthFromDisk{SecretMountPath: *secretMountPath}
		c, err := reader.Read()
		if err != nil {
			log.Fatalf("fakeprovider: reading basic auth credentials: %v", err)
		}
		creds = c
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("fakeprovider: %v", err)
	}
	servers := []*http.Server{{Handler: p.router(creds), ReadHeaderTimeout: 10 * time.Second}}
	listeners := []net.Listener{ln}

	if *promAddr != "" {
		pl, err := net.Listen("tcp", *promAddr)
		if err != nil {
			log.Fatalf("fakeprovider: %v", err)
		}
		pm := http.NewServeMux()
		pm.HandleFunc("/api/v1/query", promQuery)
		pm.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ready\n") })
		servers = append(servers, &http.Server{Handler: pm, ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, pl)
	}

	errc := make(chan error, len(servers))
	for i := range servers {
		go func(s *http.Server, l net.Listener) { errc <- s.Serve(l) }(servers[i], listeners[i])
	}

	if *promAddr != "" {
		fmt.Printf("fakeprovider ready on http://%s (prometheus stub also on http://%s)\n", ln.Addr(), listeners[1].Addr())
	} else {
		fmt.Printf("fakeprovider ready on http://%s\n", ln.Addr())
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Printf("fakeprovider: %v, shutting down", s)
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("fakeprovider: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(ctx)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = []string{defaultNamespace}
	}
	return out
}

// recordedRequest is what GET /_fakeprovider/requests returns, per request.
type recordedRequest struct {
	Time          time.Time `json:"time"`
	Method        string    `json:"method"`
	Path          string    `json:"path"`
	RawPath       string    `json:"rawPath,omitempty"`
	RawQuery      string    `json:"rawQuery,omitempty"`
	Authorization string    `json:"authorization,omitempty"`
	BasicUser     string    `json:"basicUser,omitempty"`
	Headers       http.Header
}

type function struct {
	status      types.FunctionStatus
	invocations float64
	log         []logs.Message
}

type provider struct {
	mu         sync.Mutex
	namespaces []string
	functions  map[string]map[string]*function    // namespace -> name -> function
	secrets    map[string]map[string]types.Secret // namespace -> name -> secret
	requests   []recordedRequest
}

func newProvider(namespaces []string) *provider {
	p := &provider{
		namespaces: namespaces,
		functions:  map[string]map[string]*function{},
		secrets:    map[string]map[string]types.Secret{},
	}
	for _, ns := range namespaces {
		p.functions[ns] = map[string]*function{}
		p.secrets[ns] = map[string]types.Secret{}
	}
	return p
}

func (p *provider) router(creds *auth.BasicAuthCredentials) http.Handler {
	protect := func(h http.HandlerFunc) http.HandlerFunc {
		if creds == nil {
			return h
		}
		return auth.DecorateWithBasicAuth(h, creds)
	}

	r := mux.NewRouter()
	// System endpoints, as registered by faas-provider's bootstrap.Serve.
	r.HandleFunc("/system/functions", protect(p.list)).Methods(http.MethodGet)
	r.HandleFunc("/system/functions", protect(p.deploy)).Methods(http.MethodPost)
	r.HandleFunc("/system/functions", protect(p.deleteFn)).Methods(http.MethodDelete)
	r.HandleFunc("/system/functions", protect(p.update)).Methods(http.MethodPut)
	r.HandleFunc("/system/function/{name:["+nameExpression+"]+}", protect(p.status)).Methods(http.MethodGet)
	r.HandleFunc("/system/scale-function/{name:["+nameExpression+"]+}", protect(p.scale)).Methods(http.MethodPost)
	r.HandleFunc("/system/info", protect(info)).Methods(http.MethodGet)
	r.HandleFunc("/system/secrets", protect(p.secretsHandler)).
		Methods(http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete)
	r.HandleFunc("/system/logs", protect(logs.NewLogHandlerFunc(p, 30*time.Second))).Methods(http.MethodGet)
	r.HandleFunc("/system/namespaces", protect(p.listNamespaces)).Methods(http.MethodGet)
	r.HandleFunc("/system/namespace/{name:["+nameExpression+"]*}", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "Feature not implemented in this version of OpenFaaS", http.StatusNotImplemented)
	}).Methods(http.MethodGet)

	// Function invocation (open, as in bootstrap.Serve).
	r.HandleFunc("/function/{name:["+nameExpression+"]+}", p.invoke)
	r.HandleFunc("/function/{name:["+nameExpression+"]+}/", p.invoke)
	r.HandleFunc("/function/{name:["+nameExpression+"]+}/{params:.*}", p.invoke)

	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "OK")
	}).Methods(http.MethodGet, http.MethodHead)

	// Prometheus query API stub (point faas_prometheus_host/port here).
	r.HandleFunc("/api/v1/query", promQuery)

	// Test introspection.
	r.HandleFunc("/_fakeprovider/requests", p.recorded).Methods(http.MethodGet, http.MethodDelete)

	return p.record(r)
}

// record keeps a copy of each request's metadata (not of introspection calls).
func (p *provider) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/_fakeprovider/") {
			rec := recordedRequest{
				Time:          time.Now().UTC(),
				Method:        r.Method,
				Path:          r.URL.Path,
				RawPath:       r.URL.RawPath,
				RawQuery:      r.URL.RawQuery,
				Authorization: r.Header.Get("Authorization"),
				Headers:       r.Header.Clone(),
			}
			if u, _, ok := r.BasicAuth(); ok {
				rec.BasicUser = u
			}
			p.mu.Lock()
			p.requests = append(p.requests, rec)
			if len(p.requests) > maxRecorded {
				p.requests = p.requests[len(p.requests)-maxRecorded:]
			}
			p.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (p *provider) recorded(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Method == http.MethodDelete {
		p.requests = nil
		w.WriteHeader(http.StatusNoContent)
		return
	}
	out := p.requests
	if out == nil {
		out = []recordedRequest{}
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// namespace returns the namespace to use (the query's or the default) and
// whether it is known.
func (p *provider) namespace(ns string) (string, bool) {
	if ns == "" {
		return p.namespaces[0], true
	}
	for _, n := range p.namespaces {
		if n == ns {
			return ns, true
		}
	}
	return ns, false
}

// resolveNamespace picks the request's namespace: the one given in its
// body, else the query's, else the default. It answers 400 itself for a
// namespace the provider does not serve, or for a query and a body that
// name different ones.
func (p *provider) resolveNamespace(w http.ResponseWriter, r *http.Request, given string) (string, bool) {
	query := r.URL.Query().Get("namespace")
	if given != "" && query != "" && given != query {
		http.Error(w, fmt.Sprintf("namespace %q in the query and %q in the body disagree", query, given), http.StatusBadRequest)
		return "", false
	}
	if given == "" {
		given = query
	}
	ns, ok := p.namespace(given)
	if !ok {
		http.Error(w, fmt.Sprintf("namespace %q is not allowed", ns), http.StatusBadRequest)
	}
	return ns, ok
}

func (p *provider) list(w http.ResponseWriter, r *http.Request) {
	ns, ok := p.resolveNamespace(w, r, "")
	if !ok {
		return
	}
	p.mu.Lock()
	out := make([]types.FunctionStatus, 0, len(p.functions[ns]))
	for _, f := range p.functions[ns] {
		out = append(out, f.status)
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
}

// readDeployment decodes a deploy or update request and resolves its
// namespace, answering 400 itself when either is bad.
func (p *provider) readDeployment(w http.ResponseWriter, r *http.Request) (*types.FunctionDeployment, string, bool) {
	var req types.FunctionDeployment
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "invalid deployment: "+err.Error(), http.StatusBadRequest)
		return nil, "", false
	}
	if req.Service == "" || req.Image == "" {
		http.Error(w, "service and image are required", http.StatusBadRequest)
		return nil, "", false
	}
	ns, ok := p.resolveNamespace(w, r, req.Namespace)
	return &req, ns, ok
}

func statusFrom(req *types.FunctionDeployment, ns string, created time.Time) types.FunctionStatus {
	return types.FunctionStatus{
		Name:                   req.Service,
		Image:                  req.Image,
		Namespace:              ns,
		EnvProcess:             req.EnvProcess,
		EnvVars:                req.EnvVars,
		Constraints:            req.Constraints,
		Secrets:                req.Secrets,
		Labels:                 req.Labels,
		Annotations:            req.Annotations,
		Limits:                 req.Limits,
		Requests:               req.Requests,
		ReadOnlyRootFilesystem: req.ReadOnlyRootFilesystem,
		Replicas:               1,
		AvailableReplicas:      1,
		CreatedAt:              created,
	}
}

func (p *provider) deploy(w http.ResponseWriter, r *http.Request) {
	req, ns, ok := p.readDeployment(w, r)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, exists := p.functions[ns][req.Service]; exists {
		http.Error(w, fmt.Sprintf("function %s already exists", req.Service), http.StatusConflict)
		return
	}
	f := &function{status: statusFrom(req, ns, time.Now().UTC())}
	f.logf("deployed %s", req.Image)
	p.functions[ns][req.Service] = f
	log.Printf("fakeprovider: deployed %s.%s (%s)", req.Service, ns, req.Image)
	w.WriteHeader(http.StatusAccepted)
}

func (p *provider) update(w http.ResponseWriter, r *http.Request) {
	req, ns, ok := p.readDeployment(w, r)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	f, exists := p.functions[ns][req.Service]
	if !exists {
		http.Error(w, fmt.Sprintf("function %s not found", req.Service), http.StatusNotFound)
		return
	}
	f.status = statusFrom(req, ns, f.status.CreatedAt)
	f.logf("updated to %s", req.Image)
	log.Printf("fakeprovider: updated %s.%s (%s)", req.Service, ns, req.Image)
	w.WriteHeader(http.StatusAccepted)
}

func (p *provider) deleteFn(w http.ResponseWriter, r *http.Request) {
	var req types.DeleteFunctionRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.FunctionName == "" {
		http.Error(w, "functionName is required", http.StatusBadRequest)
		return
	}
	ns, ok := p.resolveNamespace(w, r, req.Namespace)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, exists := p.functions[ns][req.FunctionName]; !exists {
		http.Error(w, fmt.Sprintf("function %s not found", req.FunctionName), http.StatusNotFound)
		return
	}
	delete(p.functions[ns], req.FunctionName)
	log.Printf("fakeprovider: deleted %s.%s", req.FunctionName, ns)
	w.WriteHeader(http.StatusAccepted)
}

func (p *provider) status(w http.ResponseWriter, r *http.Request) {
	ns, ok := p.resolveNamespace(w, r, "")
	if !ok {
		return
	}
	name := mux.Vars(r)["name"]
	p.mu.Lock()
	f, exists := p.functions[ns][name]
	var st types.FunctionStatus
	if exists {
		st = f.status
	}
	p.mu.Unlock()
	if !exists {
		http.Error(w, fmt.Sprintf("function %s not found", name), http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (p *provider) scale(w http.ResponseWriter, r *http.Request) {
	var req types.ScaleServiceRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "invalid scale request", http.StatusBadRequest)
		return
	}
	ns, ok := p.resolveNamespace(w, r, req.Namespace)
	if !ok {
		return
	}
	name := mux.Vars(r)["name"]
	p.mu.Lock()
	defer p.mu.Unlock()
	f, exists := p.functions[ns][name]
	if !exists {
		http.Error(w, fmt.Sprintf("function %s not found", name), http.StatusNotFound)
		return
	}
	f.status.Replicas = req.Replicas
	f.status.AvailableReplicas = req.Replicas
	w.WriteHeader(http.StatusAccepted)
}

func info(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, types.ProviderInfo{
		Name:          "fakeprovider",
		Orchestration: "in-memory",
		Version:       &types.VersionInfo{Release: "0.0.0-e2e", SHA: "e2e"},
	})
}

func (p *provider) secretsHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		ns, ok := p.resolveNamespace(w, r, "")
		if !ok {
			return
		}
		p.mu.Lock()
		out := make([]types.Secret, 0, len(p.secrets[ns]))
		for _, s := range p.secrets[ns] {
			out = append(out, types.Secret{Name: s.Name, Namespace: s.Namespace})
		}
		p.mu.Unlock()
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		writeJSON(w, http.StatusOK, out)
		return
	}

	var s types.Secret
	if err := json.NewDecoder(r.Body).Decode(&s); err != nil || s.Name == "" {
		http.Error(w, "secret name is required", http.StatusBadRequest)
		return
	}
	ns, ok := p.resolveNamespace(w, r, s.Namespace)
	if !ok {
		return
	}
	s.Namespace = ns

	p.mu.Lock()
	defer p.mu.Unlock()
	_, exists := p.secrets[ns][s.Name]
	switch r.Method {
	case http.MethodPost:
		if exists {
			http.Error(w, fmt.Sprintf("secret %s already exists", s.Name), http.StatusConflict)
			return
		}
		p.secrets[ns][s.Name] = s
		w.WriteHeader(http.StatusCreated)
	case http.MethodPut:
		if !exists {
			http.Error(w, fmt.Sprintf("secret %s not found", s.Name), http.StatusNotFound)
			return
		}
		p.secrets[ns][s.Name] = s
		w.WriteHeader(http.StatusAccepted)
	case http.MethodDelete:
		if !exists {
			http.Error(w, fmt.Sprintf("secret %s not found", s.Name), http.StatusNotFound)
			return
		}
		delete(p.secrets[ns], s.Name)
		w.WriteHeader(http.StatusAccepted)
	}
}

func (p *provider) listNamespaces(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.namespaces)
}

// invoke answers /function/<name>[.<namespace>][/...].
func (p *provider) invoke(w http.ResponseWriter, r *http.Request) {
	full := mux.Vars(r)["name"]
	name, ns := full, p.namespaces[0]
	if i := strings.LastIndex(full, "."); i > 0 {
		name, ns = full[:i], full[i+1:]
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}

	p.mu.Lock()
	f, exists := p.functions[ns][name]
	if exists {
		f.invocations++
		f.logf("%s %s: %d bytes", r.Method, r.URL.Path, len(body))
	}
	p.mu.Unlock()
	if !exists {
		http.Error(w, fmt.Sprintf("error finding function %s.%s: not found", name, ns), http.StatusNotFound)
		return
	}

	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Fake-Function", name+"."+ns)
	w.Header().Set("X-Fake-Path", r.URL.Path)
	w.Header().Set("X-Fake-Method", r.Method)
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "hello from %s: %s", name, body)
}

// promQuery answers the Prometheus instant-query API with an empty vector.
func promQuery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "success",
		"data": map[string]any{
			"resultType": "vector",
			"result":     []any{},
		},
	})
}
