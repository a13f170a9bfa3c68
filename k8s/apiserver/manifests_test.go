package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	sigsyaml "sigs.k8s.io/yaml"
)

// The cluster has no kubelet and no controller-manager: Deployments never
// get ReplicaSets and Pods are never scheduled or run. What is tested is
// what the apiserver decides on create: schema (strict), defaulting and
// admission, including Pod Security.

const (
	defaultManifests = "../manifests/caddy-fedauth.yaml"
	namespace        = "openfaas"
	strict           = metav1.FieldValidationStrict
)

var restricted = map[string]string{
	"pod-security.kubernetes.io/enforce": "restricted",
	"pod-security.kubernetes.io/warn":    "restricted",
	"pod-security.kubernetes.io/audit":   "restricted",
}

func TestManifestsAdmitted(t *testing.T) {
	if os.Getenv("KUBE_APISERVER") == "" {
		t.Skip("KUBE_APISERVER is unset: run k8s/apiserver/run.sh, or set it to a kube-apiserver binary")
	}
	path := os.Getenv("MANIFESTS")
	if path == "" {
		path = defaultManifests
	}
	// A missing file fails: a chart that stopped rendering must not pass.
	objs, err := readManifests(path)
	if err != nil {
		t.Fatalf("MANIFESTS: %v", err)
	}
	if len(objs) == 0 {
		t.Fatalf("%s holds no objects", path)
	}
	ctx := t.Context()
	h := newHarness(t)

	// Namespaces first: everything else lands in one. Each namespace used
	// gets the restricted labels, whatever the manifests say, because that
	// is the level the pods must meet.
	for _, o := range objs {
		if o.GroupVersionKind().GroupKind() == (schema.GroupKind{Kind: "Namespace"}) {
			if !h.mustCreate(ctx, t, o) {
				t.FailNow()
			}
		}
	}
	namespaces := map[string]bool{namespace: true}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" {
			namespaces[ns] = true
		}
	}
	for ns := range namespaces {
		h.ensureNamespace(ctx, t, ns, restricted)
	}

	secrets := map[string]bool{}         // namespace/name defined by the manifests
	serviceAccounts := map[string]bool{} // same, for ServiceAccounts
	var workloads []*unstructured.Unstructured
	applied := true
	for _, o := range objs {
		gk := o.GroupVersionKind().GroupKind()
		if gk.Kind == "Namespace" && gk.Group == "" {
			continue
		}
		// mustCreate sets the namespace when the manifest has none.
		applied = h.mustCreate(ctx, t, o) && applied
		key := o.GetNamespace() + "/" + o.GetName()
		switch {
		case gk == schema.GroupKind{Kind: "Secret"}:
			secrets[key] = true
		case gk == schema.GroupKind{Kind: "ServiceAccount"}:
			serviceAccounts[key] = true
		}
		if _, ok := podTemplatePath(gk); ok {
			workloads = append(workloads, o)
		}
	}
	// Warnings alone do not stop here: the pod checks below say which
	// container breaks which rule.
	if !applied {
		t.FailNow()
	}
	if len(workloads) == 0 {
		t.Fatalf("%s has no Deployment (or other workload with a pod template): nothing to check", path)
	}

	// The service-account controller would create "default" in every
	// namespace; without it, admission rejects any pod that names no SA.
	for ns := range namespaces {
		h.ensureServiceAccount(ctx, t, ns, "default")
	}

	for _, w := range workloads {
		name := w.GetKind() + "/" + w.GetName()
		t.Run(name, func(t *testing.T) {
			tmpl, err := podTemplate(w)
			if err != nil {
				t.Fatal(err)
			}
			ns := w.GetNamespace()
			spec, _ := tmpl["spec"].(map[string]any)
			if sa, _ := spec["serviceAccountName"].(string); sa != "" && !serviceAccounts[ns+"/"+sa] {
				t.Errorf("serviceAccountName %q is not a ServiceAccount in the manifests", sa)
			}
			// External Secrets (OpenFaaS's basic-auth) get a stand-in with
			// the keys the pod reads, so every reference resolves.
			for _, ref := range secretRefs(t, tmpl) {
				if !secrets[ns+"/"+ref.name] {
					h.ensureSecret(ctx, t, ns, ref.name, ref.keys)
					secrets[ns+"/"+ref.name] = true
				}
			}

			pod := podFromTemplate(w, tmpl)
			warnings, err := h.createWithWarnings(ctx, pod)
			if err != nil {
				t.Fatalf("pod from %s not admitted in %q (restricted): %v", name, ns, err)
			}
			if len(warnings) > 0 {
				t.Errorf("pod from %s admitted with %d warning(s):\n  %s", name, len(warnings), strings.Join(warnings, "\n  "))
			}
		})
	}

	// Controls: each check above must be able to fail here, or passing it
	// proves nothing.
	t.Run("control/strict-field-validation-rejects-unknown-field", func(t *testing.T) {
		cm := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "control-unknown-field", "namespace": namespace},
			"data":     map[string]any{"k": "v"},
			"bogus":    "field",
		}}
		_, err := h.createWithWarnings(ctx, cm)
		if err == nil || !strings.Contains(err.Error(), `unknown field "bogus"`) {
			t.Fatalf("want a strict-validation error for an unknown field, got %v", err)
		}
	})
	t.Run("control/restricted-enforce-rejects-noncompliant-pod", func(t *testing.T) {
		_, err := h.createWithWarnings(ctx, nonCompliantPod(namespace))
		if err == nil {
			t.Fatal("a pod with no securityContext was admitted under enforce=restricted")
		}
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "violates PodSecurity") {
			t.Fatalf("want a PodSecurity rejection, got %v", err)
		}
		t.Logf("rejected as expected: %v", err)
	})
	t.Run("control/warnings-are-recorded", func(t *testing.T) {
		// enforce=privileged admits the pod; warn=restricted must then
		// produce the warnings the checks above require to be absent.
		const ns = "psa-warn-control"
		h.ensureNamespace(ctx, t, ns, map[string]string{
			"pod-security.kubernetes.io/enforce": "privileged",
			"pod-security.kubernetes.io/warn":    "restricted",
		})
		h.ensureServiceAccount(ctx, t, ns, "default")
		warnings, err := h.createWithWarnings(ctx, nonCompliantPod(ns))
		if err != nil {
			t.Fatalf("pod not admitted under enforce=privileged: %v", err)
		}
		if len(warnings) == 0 || !strings.Contains(strings.Join(warnings, "\n"), "would violate PodSecurity") {
			t.Fatalf("want PodSecurity warnings, got %q", warnings)
		}
	})
}

// harness holds the clients for one test.
type harness struct {
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newHarness(t *testing.T) *harness {
	dc, err := discovery.NewDiscoveryClientForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

// warningRecorder keeps every warning the server sends (HTTP Warning
// headers with code 299: PodSecurity's warn mode, deprecations, ...).
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeader(code int, _ string, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

// createWithWarnings creates obj with strict field validation through a
// client of its own, so the warnings returned are this request's only.
func (h *harness) createWithWarnings(ctx context.Context, obj *unstructured.Unstructured) ([]string, error) {
	rec := &warningRecorder{}
	cfg := rest.CopyConfig(restConfig)
	cfg.WarningHandler = rec
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ri, err := h.resourceFor(dc, obj)
	if err != nil {
		return nil, err
	}
	_, err = ri.Create(ctx, obj, metav1.CreateOptions{FieldValidation: strict})
	return rec.msgs, err
}

// resourceFor maps obj's kind to its resource, and gives a namespaced
// object without a namespace the one the chart is installed into, as
// `helm install -n openfaas` would.
func (h *harness) resourceFor(dc dynamic.Interface, obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := h.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// A kind a CRD earlier in the file has just added.
		h.mapper.Reset()
		mapping, err = h.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, err
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		return dc.Resource(mapping.Resource), nil
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(namespace)
	}
	return dc.Resource(mapping.Resource).Namespace(obj.GetNamespace()), nil
}

// mustCreate applies one manifest object; any error or warning fails the
// test (a warning here is a deprecated API, or PodSecurity's verdict on a
// workload's template). It reports whether the object was created.
func (h *harness) mustCreate(ctx context.Context, t *testing.T, obj *unstructured.Unstructured) bool {
	t.Helper()
	warnings, err := h.createWithWarnings(ctx, obj)
	id := fmt.Sprintf("%s %s/%s", obj.GroupVersionKind(), obj.GetNamespace(), obj.GetName())
	if err != nil {
		t.Errorf("create %s: %v", id, err)
	}
	for _, w := range warnings {
		t.Errorf("create %s: warning: %s", id, w)
	}
	return err == nil
}

func (h *harness) dynamicClient(t *testing.T) dynamic.Interface {
	dc, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

var (
	nsGVR     = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	saGVR     = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	secretGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

// ensureNamespace creates ns, or sets labels on the one the manifests
// created.
func (h *harness) ensureNamespace(ctx context.Context, t *testing.T, ns string, labels map[string]string) {
	t.Helper()
	ri := h.dynamicClient(t).Resource(nsGVR)
	cur, err := ri.Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace"}}
		obj.SetName(ns)
		obj.SetLabels(labels)
		if _, err := ri.Create(ctx, obj, metav1.CreateOptions{FieldValidation: strict}); err != nil {
			t.Fatalf("create namespace %s: %v", ns, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("get namespace %s: %v", ns, err)
	}
	l := cur.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	for k, v := range labels {
		if l[k] != v {
			t.Logf("namespace %s: setting %s=%s (manifests had %q)", ns, k, v, l[k])
		}
		l[k] = v
	}
	cur.SetLabels(l)
	if _, err := ri.Update(ctx, cur, metav1.UpdateOptions{FieldValidation: strict}); err != nil {
		t.Fatalf("label namespace %s: %v", ns, err)
	}
}

func (h *harness) ensureServiceAccount(ctx context.Context, t *testing.T, ns, name string) {
	t.Helper()
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ServiceAccount"}}
	obj.SetNamespace(ns)
	obj.SetName(name)
	_, err := h.dynamicClient(t).Resource(saGVR).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{FieldValidation: strict})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create serviceaccount %s/%s: %v", ns, name, err)
	}
}

// ensureSecret creates an Opaque Secret with placeholder values for keys.
func (h *harness) ensureSecret(ctx context.Context, t *testing.T, ns, name string, keys []string) {
	t.Helper()
	data := map[string]any{}
	for _, k := range keys {
		data[k] = "placeholder-" + k
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "stringData": data,
	}}
	obj.SetNamespace(ns)
	obj.SetName(name)
	_, err := h.dynamicClient(t).Resource(secretGVR).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{FieldValidation: strict})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create secret %s/%s: %v", ns, name, err)
	}
	t.Logf("created stand-in Secret %s/%s (keys %v): the manifests reference it but do not define it", ns, name, keys)
}

// readManifests splits a multi-document YAML file into objects. Duplicate
// keys are an error here, since they are lost before the server sees them.
func readManifests(path string) ([]*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var objs []*unstructured.Unstructured
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		js, err := sigsyaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		if s := strings.TrimSpace(string(js)); s == "null" || s == "{}" {
			continue // only comments, as Helm leaves for empty templates
		}
		o, err := runtime.Decode(unstructured.UnstructuredJSONScheme, js)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		switch o := o.(type) {
		case *unstructured.Unstructured:
			objs = append(objs, o)
		case *unstructured.UnstructuredList:
			for j := range o.Items {
				objs = append(objs, &o.Items[j])
			}
		}
	}
}

// podTemplatePath is where a workload kind keeps its pod template.
func podTemplatePath(gk schema.GroupKind) ([]string, bool) {
	switch gk {
	case schema.GroupKind{Group: "apps", Kind: "Deployment"},
		schema.GroupKind{Group: "apps", Kind: "StatefulSet"},
		schema.GroupKind{Group: "apps", Kind: "DaemonSet"},
		schema.GroupKind{Group: "apps", Kind: "ReplicaSet"},
		schema.GroupKind{Group: "batch", Kind: "Job"}:
		return []string{"spec", "template"}, true
	case schema.GroupKind{Group: "batch", Kind: "CronJob"}:
		return []string{"spec", "jobTemplate", "spec", "template"}, true
	}
	return nil, false
}

func podTemplate(w *unstructured.Unstructured) (map[string]any, error) {
	path, _ := podTemplatePath(w.GroupVersionKind().GroupKind())
	tmpl, found, err := unstructured.NestedMap(w.Object, path...)
	if err != nil || !found {
		return nil, fmt.Errorf("%s/%s: no %s: %v", w.GetKind(), w.GetName(), strings.Join(path, "."), err)
	}
	return tmpl, nil
}

// podFromTemplate is the Pod the workload's controller would create: the
// template's labels, annotations and spec (serviceAccountName included).
func podFromTemplate(w *unstructured.Unstructured, tmpl map[string]any) *unstructured.Unstructured {
	pod := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod", "spec": tmpl["spec"],
	}}
	pod.SetNamespace(w.GetNamespace())
	pod.SetGenerateName(w.GetName() + "-")
	if md, ok := tmpl["metadata"].(map[string]any); ok {
		u := &unstructured.Unstructured{Object: map[string]any{"metadata": md}}
		pod.SetLabels(u.GetLabels())
		pod.SetAnnotations(u.GetAnnotations())
	}
	return pod
}

type secretRef struct {
	name string
	keys []string
}

// secretRefs lists the Secrets a pod template reads and the keys it names.
func secretRefs(t *testing.T, tmpl map[string]any) []secretRef {
	var pt corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, &pt); err != nil {
		t.Fatalf("pod template: %v", err)
	}
	keys := map[string]map[string]bool{}
	add := func(name string, ks ...string) {
		if name == "" {
			return
		}
		if keys[name] == nil {
			keys[name] = map[string]bool{}
		}
		for _, k := range ks {
			keys[name][k] = true
		}
	}
	items := func(its []corev1.KeyToPath) []string {
		var ks []string
		for _, it := range its {
			ks = append(ks, it.Key)
		}
		return ks
	}
	spec := pt.Spec
	for _, s := range spec.ImagePullSecrets {
		add(s.Name)
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			add(v.Secret.SecretName, items(v.Secret.Items)...)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					add(src.Secret.Name, items(src.Secret.Items)...)
				}
			}
		}
	}
	var containers []corev1.Container
	containers = append(containers, spec.InitContainers...)
	containers = append(containers, spec.Containers...)
	for _, c := range containers {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				add(e.SecretRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				add(e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
			}
		}
	}
	var refs []secretRef
	for name, ks := range keys {
		r := secretRef{name: name}
		for k := range ks {
			r.keys = append(r.keys, k)
		}
		sort.Strings(r.keys)
		refs = append(refs, r)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].name < refs[j].name })
	return refs
}

// nonCompliantPod runs as whatever user the image says, with no seccomp
// profile and privilege escalation allowed: "baseline" but not
// "restricted".
func nonCompliantPod(ns string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"generateName": "control-", "namespace": ns},
		"spec": map[string]any{
			"containers": []any{map[string]any{"name": "c", "image": "registry.invalid/control:1"}},
		},
	}}
}
