package k8s

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

const (
	defaultImage   = "ghcr.io/caddy-fedauth/caddy-fedauth:0.1.0"
	placeholders   = "manifests/values.yaml"
	basicAuthMount = "/var/secrets/gateway"
	caBundleMount  = "/var/secrets/ca-bundle"
	iamMount       = "/etc/fed-oidc/iam"
	auditMount     = "/var/secrets/audit-webhook"
	issuerMount    = "/var/secrets/issuer"
	healthPort     = 8081
)

// want is what one rendering must produce.
type want struct {
	replicas    int32
	tls         bool
	rwx         bool   // the /data claim is ReadWriteMany
	persistence bool   // /data is a PersistentVolumeClaim (TLS only)
	claim       string // its name; the chart creates it unless existing
	existing    bool
	issuer      string
	audiences   []string
	allowInvoke bool
	acceptAZP   bool
	caBundle    string // Secret name, "" for none
	basicAuth   string // Secret name
	metrics     bool
	netpol      bool
	debug       bool
	format      string
	image       string
	fullname    string
	gatewayDial string
	acmeEmail   string
	acmeCA      string

	iamConfigMap string // "" when iam is off
	iamMode      string
	defaultNS    string
	maxBodySize  float64 // as caddy adapt writes it
	audit        string  // auditWebhook.url, "" for none
	auditSecret  string
	auditKey     string
	auditMethods []string
	sysIssuer    string // systemIssuer.url, "" for none
	issuerSecret string
	previousKey  bool
}

func base() want {
	return want{
		replicas:    2,
		issuer:      "https://keycloak.example.com/realms/openfaas",
		audiences:   []string{"fed-gw.tenant1.example.com"},
		basicAuth:   "basic-auth",
		format:      "console",
		image:       defaultImage,
		fullname:    "caddy-fedauth",
		gatewayDial: "gateway.openfaas:8080",
	}
}

type chartCase struct {
	name   string
	files  []string // values files, after manifests/values.yaml unless noBase
	values string   // and then these values
	noBase bool
	want   func(*want)
}

var cases = []chartCase{
	{name: "defaults", want: func(*want) {}},
	{
		name:   "allow-invoke-one-replica",
		values: "allowInvoke: true\nreplicas: 1\n",
		want:   func(w *want) { w.allowInvoke, w.replicas = true, 1 },
	},
	{
		name:   "several-audiences",
		values: "audience: [fed-gw.tenant1, \"https://fed-gw.tenant1.example.com/\", \"api://0b5c-tenant1\"]\n",
		want: func(w *want) {
			w.audiences = []string{"fed-gw.tenant1", "https://fed-gw.tenant1.example.com/", "api://0b5c-tenant1"}
		},
	},
	{
		name:   "one-audience-as-list",
		values: "audience: [fed-gw.tenant1]\n",
		want:   func(w *want) { w.audiences = []string{"fed-gw.tenant1"} },
	},
	{
		name: "ca-bundle-accept-azp-own-secret",
		values: `caBundleSecretName: ca-bundle
acceptAzp: true
basicAuthSecretName: gateway-admin
gatewayURL: http://gateway.openfaas.svc.cluster.local:8080/
logs: {debug: true, format: json}
`,
		want: func(w *want) {
			w.caBundle, w.acceptAZP, w.basicAuth = "ca-bundle", true, "gateway-admin"
			w.gatewayDial = "gateway.openfaas.svc.cluster.local:8080"
			w.debug, w.format = true, "json"
		},
	},
	{
		name:   "http-metrics-networkpolicy",
		values: "metrics: {enabled: true}\nnetworkPolicy: {enabled: true}\n",
		want:   func(w *want) { w.metrics, w.netpol = true, true },
	},
	{
		name: "tls-one-replica-rwo",
		values: `replicas: 1
publicEndpoint: {domain: fed-gw.tenant1.example.com, acmeEmail: ops@example.com}
`,
		want: func(w *want) {
			w.replicas, w.tls, w.persistence, w.claim = 1, true, true, "caddy-fedauth-data"
			w.acmeEmail = "ops@example.com"
		},
	},
	{
		name:  "tls-rwx-ci-values",
		files: []string{"chart/caddy-fedauth/ci/tls-values.yaml"},
		want: func(w *want) {
			w.tls, w.persistence, w.rwx, w.claim = true, true, true, "caddy-fedauth-data"
			w.issuer = "https://keycloak.internal.example.com/realms/openfaas"
			w.audiences = []string{"fed-gw.tenant1", "https://fed-gw.tenant1.example.com"}
			w.acceptAZP, w.caBundle, w.metrics, w.netpol = true, "ca-bundle", true, true
			w.acmeEmail = "ops@example.com"
			w.acmeCA = "https://acme-staging-v02.api.letsencrypt.org/directory"
		},
	},
	{
		name: "tls-existing-claim-three-replicas",
		values: `replicas: 3
publicEndpoint: {domain: fed-gw.tenant1.example.com}
persistence: {existingClaim: certs, accessModes: [ReadWriteMany]}
`,
		want: func(w *want) {
			w.replicas, w.tls, w.persistence, w.rwx, w.claim, w.existing = 3, true, true, true, "certs", true
		},
	},
	{
		name: "tls-without-persistence",
		values: `replicas: 1
publicEndpoint: {domain: fed-gw.tenant1.example.com}
persistence: {enabled: false}
`,
		want: func(w *want) { w.replicas, w.tls = 1, true },
	},
	{
		name:   "commercial-values-unchanged",
		files:  []string{"chart/caddy-fedauth/ci/commercial-values.yaml"},
		noBase: true,
		want: func(w *want) {
			w.replicas, w.allowInvoke, w.debug, w.format = 1, true, true, "json"
			w.fullname = "federated-gateway"
		},
	},
	{
		name:   "iam-ci-values",
		files:  []string{"chart/caddy-fedauth/ci/iam-values.yaml"},
		noBase: true,
		want: func(w *want) {
			w.audiences = []string{"fed-gw.tenant1"}
			w.iamConfigMap, w.iamMode, w.defaultNS, w.maxBodySize = "fed-oidc-iam", "dry_run", "staging", 512<<10
			w.audit, w.auditSecret, w.auditKey = "https://audit.example.com/openfaas", "audit-webhook", "hmac"
			w.auditMethods = []string{"GET", "PUT", "POST", "DELETE"}
			w.sysIssuer, w.issuerSecret, w.previousKey = "https://fed-gw.tenant1.example.com", "fed-gw-issuer", true
		},
	},
	{
		name: "iam-defaults-numeric-body-size",
		values: `iam: {enabled: true, configMapName: iam-objects, maxBodySize: 2097152}
auditWebhook: {url: "https://audit.example.com/", secretName: audit}
systemIssuer: {url: "https://fed-gw.tenant1.example.com:8443/", keySecretName: issuer-key}
`,
		want: func(w *want) {
			w.iamConfigMap, w.iamMode, w.defaultNS, w.maxBodySize = "iam-objects", "enforce", "openfaas-fn", 2<<20
			w.audit, w.auditSecret, w.auditKey = "https://audit.example.com/", "audit", "secret"
			w.sysIssuer, w.issuerSecret = "https://fed-gw.tenant1.example.com:8443", "issuer-key"
		},
	},
	{
		name:   "auth0-ci-values",
		files:  []string{"chart/caddy-fedauth/ci/http-values.yaml"},
		noBase: true,
		want: func(w *want) {
			w.issuer, w.audiences = "https://example.auth0.com/", []string{"fed-gw.tenant1"}
		},
	},
}

func (c chartCase) render(t *testing.T, extra ...string) (string, error) {
	t.Helper()
	files := c.files
	if !c.noBase {
		files = append([]string{placeholders}, files...)
	}
	var values []string
	if c.values != "" {
		values = append(values, c.values)
	}
	return helmTemplate(t, files, append(values, extra...)...)
}

func TestChart(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := base()
			c.want(&w)
			out, err := c.render(t)
			if err != nil {
				t.Fatal(err)
			}
			r := decode(t, out)
			checkObjects(t, r, w)
			checkDeployment(t, r, w)
			checkService(t, r, w)
			checkStorage(t, r, w)
			checkNetworkPolicy(t, r, w)
			checkCaddyfile(t, r, w)
		})
	}
}

func checkObjects(t *testing.T, r *rendered, w want) {
	for _, o := range r.Objects {
		if o.GetNamespace() != namespace {
			t.Errorf("%s: namespace %q, want %q", o.GetName(), o.GetNamespace(), namespace)
		}
		for _, msg := range validation.IsDNS1123Subdomain(o.GetName()) {
			t.Errorf("name %q: %s", o.GetName(), msg)
		}
		for k, v := range o.GetLabels() {
			for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
				t.Errorf("%s: label %s=%s: %s", o.GetName(), k, v, msg)
			}
		}
	}
	if r.Deployment == nil || r.Service == nil || r.ConfigMap == nil || r.ServiceAccount == nil {
		t.Fatal("the chart must render a Deployment, Service, ConfigMap and ServiceAccount")
	}
	if r.Deployment.Name != w.fullname || r.Service.Name != w.fullname {
		t.Errorf("names %q, %q; want %q", r.Deployment.Name, r.Service.Name, w.fullname)
	}
	if sa := r.ServiceAccount; sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("ServiceAccount: automountServiceAccountToken must be false")
	}
}

func checkDeployment(t *testing.T, r *rendered, w want) {
	d := r.Deployment
	pod := d.Spec.Template
	spec := pod.Spec
	if d.Spec.Replicas == nil || *d.Spec.Replicas != w.replicas {
		t.Errorf("replicas %v, want %d", d.Spec.Replicas, w.replicas)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("selector %v does not match the pod labels %v (%v)", d.Spec.Selector, pod.Labels, err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(pod.Annotations["checksum/config"]) {
		t.Errorf("checksum/config annotation %q", pod.Annotations["checksum/config"])
	}

	// The restricted Pod Security Standard, as the API server's admission
	// would evaluate it at the latest version.
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res := policy.AggregateCheckResults(eval.EvaluatePod(
		psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}, &pod.ObjectMeta, &spec))
	if !res.Allowed {
		t.Errorf("pod violates the restricted Pod Security Standard: %s: %s", res.ForbiddenReason(), res.ForbiddenDetail())
	}

	// And the settings we promise, one by one, for readable failures.
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("pod: automountServiceAccountToken must be false")
	}
	if spec.ServiceAccountName != r.ServiceAccount.Name {
		t.Errorf("serviceAccountName %q, want the chart's %q", spec.ServiceAccountName, r.ServiceAccount.Name)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Error("host namespaces must not be used")
	}
	psc := spec.SecurityContext
	if psc == nil {
		t.Fatal("no pod securityContext")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod: runAsNonRoot must be true")
	}
	if psc.RunAsUser == nil || *psc.RunAsUser != 65532 || psc.RunAsGroup == nil || *psc.RunAsGroup != 65532 {
		t.Error("pod: runAsUser and runAsGroup must be 65532 (distroless nonroot)")
	}
	if psc.FSGroup == nil || *psc.FSGroup != 65532 {
		t.Error("pod: fsGroup must be 65532, so the secret files (0440) and /data are accessible")
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod: seccompProfile must be RuntimeDefault")
	}
	wantSysctls := []corev1.Sysctl(nil)
	if w.tls {
		wantSysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}
	}
	if !slices.Equal(psc.Sysctls, wantSysctls) {
		t.Errorf("sysctls %v, want %v", psc.Sysctls, wantSysctls)
	}
	if len(spec.InitContainers) != 0 || len(spec.Containers) != 1 {
		t.Fatalf("want exactly one container, have %d (+%d init)", len(spec.Containers), len(spec.InitContainers))
	}
	c := spec.Containers[0]
	if c.Image != w.image {
		t.Errorf("image %q, want %q", c.Image, w.image)
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("no container securityContext")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem must be true")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities %+v, want drop [ALL] and nothing added", sc.Capabilities)
	}
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Error("container: runAsNonRoot and a non-zero runAsUser")
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("container: seccompProfile must be RuntimeDefault")
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[res]; !ok || q.IsZero() {
			t.Errorf("no %s request", res)
		}
		if q, ok := c.Resources.Limits[res]; !ok || q.IsZero() {
			t.Errorf("no %s limit", res)
		}
	}

	// Ports and probes.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	wantPorts := map[string]int32{"http": 8080, "health": healthPort}
	if w.tls {
		wantPorts = map[string]int32{"http": 80, "https": 443, "health": healthPort}
	}
	if fmt.Sprint(ports) != fmt.Sprint(wantPorts) {
		t.Errorf("container ports %v, want %v", ports, wantPorts)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "health" {
			t.Errorf("%s probe must be GET /healthz on the health port: %+v", name, p)
		}
	}

	// Volumes: the basic-auth secret is a read-only directory mount, never
	// subPath (a subPath mount is not updated when the secret rotates).
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
		if v.HostPath != nil {
			t.Errorf("hostPath volume %s", v.Name)
		}
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
		v, ok := volumes[m.Name]
		if !ok {
			t.Errorf("mount %s: no volume %s", m.MountPath, m.Name)
		}
		if m.SubPath != "" || m.SubPathExpr != "" {
			t.Errorf("mount %s uses subPath: updates of %s would not be seen", m.MountPath, m.Name)
		}
		if (v.Secret != nil || v.ConfigMap != nil) && !m.ReadOnly {
			t.Errorf("mount %s of %s must be read-only", m.MountPath, m.Name)
		}
	}
	ba, ok := mounts[basicAuthMount]
	if !ok {
		t.Fatalf("the basic-auth secret is not mounted at %s", basicAuthMount)
	}
	bav := volumes[ba.Name]
	if bav.Secret == nil || bav.Secret.SecretName != w.basicAuth || !ba.ReadOnly {
		t.Errorf("%s: want Secret %q read-only, have Secret %v read-only %v", basicAuthMount, w.basicAuth, bav.Secret, ba.ReadOnly)
	} else if keys := secretKeys(bav); !slices.Equal(keys, []string{"basic-auth-password", "basic-auth-user"}) {
		t.Errorf("basic-auth items %v", keys)
	}
	if ca, ok := mounts[caBundleMount]; ok != (w.caBundle != "") {
		t.Errorf("CA bundle mounted: %v, want %v", ok, w.caBundle != "")
	} else if ok {
		v := volumes[ca.Name]
		if v.Secret == nil || v.Secret.SecretName != w.caBundle || !slices.Equal(secretKeys(v), []string{"ca.crt"}) {
			t.Errorf("CA bundle volume %+v", v)
		}
	}
	checkIAMVolumes(t, mounts, volumes, w)
	for _, dir := range []string{"/data", "/config", "/tmp"} {
		m, ok := mounts[dir]
		if !ok || m.ReadOnly {
			t.Errorf("%s must be a writable volume (the root filesystem is read-only)", dir)
			continue
		}
		v := volumes[m.Name]
		if v.EmptyDir == nil && v.PersistentVolumeClaim == nil {
			t.Errorf("%s: volume %s is neither emptyDir nor a claim", dir, m.Name)
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["XDG_DATA_HOME"] != "/data" || env["XDG_CONFIG_HOME"] != "/config" {
		t.Errorf("XDG_DATA_HOME/XDG_CONFIG_HOME %v", env)
	}

	// Availability.
	if (r.PDB != nil) != (w.replicas > 1) {
		t.Errorf("PodDisruptionBudget rendered: %v, want it iff replicas > 1 (%d)", r.PDB != nil, w.replicas)
	}
	if r.PDB != nil {
		sel, err := metav1.LabelSelectorAsSelector(r.PDB.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			t.Errorf("PDB selector does not match the pods")
		}
	}
	if w.replicas > 1 {
		if len(spec.TopologySpreadConstraints) == 0 {
			t.Error("no topology spread with replicas > 1")
		}
		for _, tsc := range spec.TopologySpreadConstraints {
			sel, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector)
			if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
				t.Errorf("topology spread selector does not match the pods")
			}
		}
	}
	wantStrategy := appsv1.RollingUpdateDeploymentStrategyType
	if w.tls && w.persistence && !w.rwx {
		wantStrategy = appsv1.RecreateDeploymentStrategyType
	}
	if d.Spec.Strategy.Type != wantStrategy {
		t.Errorf("strategy %s, want %s", d.Spec.Strategy.Type, wantStrategy)
	}
	if got := pod.Annotations["prometheus.io/scrape"]; got != strconv.FormatBool(w.metrics) {
		t.Errorf("prometheus.io/scrape %q, want %v", got, w.metrics)
	}
}

// checkIAMVolumes: the IAM ConfigMap, the audit webhook's key and the
// system issuer's keys are read-only directory mounts exactly when their
// values are set (subPath and read-only are checked for all mounts).
func checkIAMVolumes(t *testing.T, mounts map[string]corev1.VolumeMount, volumes map[string]corev1.Volume, w want) {
	m, ok := mounts[iamMount]
	if ok != (w.iamConfigMap != "") {
		t.Errorf("IAM ConfigMap mounted: %v, want %v", ok, w.iamConfigMap != "")
	} else if v := volumes[m.Name]; ok && (v.ConfigMap == nil || v.ConfigMap.Name != w.iamConfigMap || len(v.ConfigMap.Items) != 0) {
		t.Errorf("IAM volume %+v, want all keys of ConfigMap %q", v, w.iamConfigMap)
	}
	m, ok = mounts[auditMount]
	if ok != (w.audit != "") {
		t.Errorf("audit webhook secret mounted: %v, want %v", ok, w.audit != "")
	} else if v := volumes[m.Name]; ok && (v.Secret == nil || v.Secret.SecretName != w.auditSecret ||
		len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != w.auditKey || v.Secret.Items[0].Path != "secret") {
		t.Errorf("audit webhook volume %+v, want key %q of Secret %q as file secret", v, w.auditKey, w.auditSecret)
	}
	m, ok = mounts[issuerMount]
	if ok != (w.sysIssuer != "") {
		t.Errorf("system issuer keys mounted: %v, want %v", ok, w.sysIssuer != "")
	} else if ok {
		keys := []string{"issuer.key"}
		if w.previousKey {
			keys = append(keys, "previous.key")
		}
		if v := volumes[m.Name]; v.Secret == nil || v.Secret.SecretName != w.issuerSecret || !slices.Equal(secretKeys(v), keys) {
			t.Errorf("system issuer volume %+v, want keys %v of Secret %q", v, keys, w.issuerSecret)
		}
	}
}

func secretKeys(v corev1.Volume) []string {
	var keys []string
	for _, it := range v.Secret.Items {
		if it.Key != it.Path {
			return nil
		}
		keys = append(keys, it.Key)
	}
	slices.Sort(keys)
	return keys
}

func checkService(t *testing.T, r *rendered, w want) {
	s := r.Service
	pod := r.Deployment.Spec.Template
	if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Errorf("Service selector %v does not match the pods", s.Spec.Selector)
	}
	containerPorts := map[string]bool{}
	for _, p := range pod.Spec.Containers[0].Ports {
		containerPorts[p.Name] = true
	}
	ports := map[int32]string{}
	for _, p := range s.Spec.Ports {
		ports[p.Port] = p.TargetPort.String()
		if !containerPorts[p.TargetPort.String()] {
			t.Errorf("Service port %d targets %q, not a container port", p.Port, p.TargetPort.String())
		}
		if p.TargetPort.String() == "health" {
			t.Error("the health port must not be in the Service")
		}
	}
	wantType, wantPorts := corev1.ServiceTypeClusterIP, map[int32]string{8080: "http"}
	if w.tls {
		wantType, wantPorts = corev1.ServiceTypeLoadBalancer, map[int32]string{80: "http", 443: "https"}
	}
	if s.Spec.Type != wantType || fmt.Sprint(ports) != fmt.Sprint(wantPorts) {
		t.Errorf("Service %s %v, want %s %v", s.Spec.Type, ports, wantType, wantPorts)
	}
}

func checkStorage(t *testing.T, r *rendered, w want) {
	spec := r.Deployment.Spec.Template.Spec
	var data corev1.Volume
	for _, m := range spec.Containers[0].VolumeMounts {
		if m.MountPath == "/data" {
			for _, v := range spec.Volumes {
				if v.Name == m.Name {
					data = v
				}
			}
		}
	}
	if !w.persistence {
		if data.EmptyDir == nil || r.PVC != nil {
			t.Errorf("/data must be an emptyDir and no claim rendered: %+v, %v", data, r.PVC != nil)
		}
		return
	}
	if data.PersistentVolumeClaim == nil || data.PersistentVolumeClaim.ClaimName != w.claim {
		t.Fatalf("/data must be claim %q: %+v", w.claim, data)
	}
	if w.existing {
		if r.PVC != nil {
			t.Error("a claim was rendered although existingClaim is set")
		}
		return
	}
	if r.PVC == nil || r.PVC.Name != w.claim {
		t.Fatalf("no PersistentVolumeClaim %q rendered", w.claim)
	}
	wantModes := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	if w.rwx {
		wantModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	}
	if !slices.Equal(r.PVC.Spec.AccessModes, wantModes) {
		t.Errorf("access modes %v, want %v", r.PVC.Spec.AccessModes, wantModes)
	}
	if q := r.PVC.Spec.Resources.Requests[corev1.ResourceStorage]; q.IsZero() {
		t.Error("the claim requests no storage")
	}
	if r.PVC.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Error("the claim is not kept on uninstall")
	}
}

func checkNetworkPolicy(t *testing.T, r *rendered, w want) {
	np := r.NetworkPolicy
	if (np != nil) != w.netpol {
		t.Fatalf("NetworkPolicy rendered: %v, want %v", np != nil, w.netpol)
	}
	if np == nil {
		return
	}
	pods := labels.Set(r.Deployment.Spec.Template.Labels)
	gw, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || !gw.Matches(labels.Set{"app": "gateway"}) || gw.Matches(pods) || gw.Empty() {
		t.Errorf("the policy must select the gateway pods (app: gateway) and not ours: %v", np.Spec.PodSelector)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("policy types %v", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) == 0 || len(np.Spec.Ingress[0].From) != 1 || np.Spec.Ingress[0].From[0].PodSelector == nil {
		t.Fatalf("the first rule must admit our pods: %+v", np.Spec.Ingress)
	}
	from, err := metav1.LabelSelectorAsSelector(np.Spec.Ingress[0].From[0].PodSelector)
	if err != nil || !from.Matches(pods) || np.Spec.Ingress[0].From[0].NamespaceSelector != nil {
		t.Errorf("the first rule does not admit exactly our pods: %+v", np.Spec.Ingress[0].From[0])
	}
}

// checkCaddyfile adapts the rendered Caddyfile with our Caddy, checks that
// the JSON says what the values say, and validates it (which provisions
// fed_oidc, reading the credential and CA files) with the secrets laid out
// as the pod would see them.
func checkCaddyfile(t *testing.T, r *rendered, w want) {
	caddyfile, ok := r.ConfigMap.Data["Caddyfile"]
	if !ok {
		t.Fatal("the ConfigMap has no Caddyfile")
	}
	var cm corev1.Volume
	for _, v := range r.Deployment.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == r.ConfigMap.Name {
			cm = v
		}
	}
	if cm.Name != "caddyfile" {
		t.Errorf("the pod does not mount ConfigMap %s as volume caddyfile", r.ConfigMap.Name)
	}
	cfg := adapt(t, caddyfile)

	if got := path(cfg, "admin", "listen"); got != "localhost:2019" {
		t.Errorf("admin listens on %v, want localhost:2019 only", got)
	}
	level := "INFO"
	if w.debug {
		level = "DEBUG"
	}
	if got := path(cfg, "logging", "logs", "default", "level"); got != level {
		t.Errorf("log level %v, want %s", got, level)
	}
	if got := path(cfg, "logging", "logs", "default", "encoder", "format"); got != w.format {
		t.Errorf("log format %v, want %s", got, w.format)
	}

	fed := findHandlers(cfg, "fed_oidc")
	if len(fed) != 1 {
		t.Fatalf("want one fed_oidc handler, have %d", len(fed))
	}
	f := fed[0]
	if f["issuer"] != w.issuer {
		t.Errorf("issuer %v, want %s", f["issuer"], w.issuer)
	}
	if got := fmt.Sprint(f["audience"]); got != fmt.Sprint(w.audiences) {
		t.Errorf("audience %s, want %v", got, w.audiences)
	}
	if got := f["allow_invoke"] == true; got != w.allowInvoke {
		t.Errorf("allow_invoke %v, want %v", got, w.allowInvoke)
	}
	if got := f["accept_azp"] == true; got != w.acceptAZP {
		t.Errorf("accept_azp %v, want %v", got, w.acceptAZP)
	}
	wantCA := ""
	if w.caBundle != "" {
		wantCA = caBundleMount + "/ca.crt"
	}
	if got, _ := f["ca_bundle"].(string); got != wantCA {
		t.Errorf("ca_bundle %q, want %q", got, wantCA)
	}
	if got := fmt.Sprint(f["gateway_basic_auth"]); got != fmt.Sprintf("map[password_file:%s/basic-auth-password user_file:%s/basic-auth-user]", basicAuthMount, basicAuthMount) {
		t.Errorf("gateway_basic_auth %s", got)
	}
	checkIAMOptions(t, f, w)
	rp := findHandlers(cfg, "reverse_proxy")
	if len(rp) != 1 || fmt.Sprint(rp[0]["upstreams"]) != fmt.Sprintf("[map[dial:%s]]", w.gatewayDial) {
		t.Errorf("reverse_proxy %v, want one to %s", rp, w.gatewayDial)
	}
	// Only this transport sends the gateway credential.
	if len(rp) == 1 && path(rp[0], "transport", "protocol") != "fed_oidc" {
		t.Errorf("reverse_proxy transport %v, want fed_oidc", rp[0]["transport"])
	}

	// Servers: the public one, and the health one without fed_oidc.
	servers, _ := path(cfg, "apps", "http", "servers").(map[string]any)
	if len(servers) != 2 {
		t.Fatalf("want 2 servers (public, health), have %d", len(servers))
	}
	publicListen := ":8080"
	if w.tls {
		publicListen = ":443"
	}
	var public, health map[string]any
	for _, s := range servers {
		s := s.(map[string]any)
		switch fmt.Sprint(s["listen"]) {
		case "[" + publicListen + "]":
			public = s
		case fmt.Sprintf("[:%d]", healthPort):
			health = s
		default:
			t.Errorf("unexpected server listening on %v", s["listen"])
		}
	}
	if public == nil || health == nil {
		t.Fatalf("want servers on %s and :%d", publicListen, healthPort)
	}
	if len(findHandlers(public, "fed_oidc")) != 1 || len(findHandlers(health, "fed_oidc")) != 0 || len(findHandlers(health, "reverse_proxy")) != 0 {
		t.Error("fed_oidc and reverse_proxy belong to the public server only")
	}
	if got := path(public, "automatic_https", "disable") == true; got == w.tls {
		t.Errorf("automatic_https disabled: %v with TLS %v", got, w.tls)
	}
	wantProtocols := "[h1]"
	if w.tls {
		wantProtocols = "[h1 h2]"
	}
	if got := fmt.Sprint(public["protocols"]); got != wantProtocols {
		t.Errorf("public server protocols %s, want %s", got, wantProtocols)
	}
	if got := fmt.Sprint(health["protocols"]); got != "[h1]" {
		t.Errorf("health server protocols %s, want [h1]", got)
	}
	if got := len(findHandlers(health, "metrics")) == 1; got != w.metrics {
		t.Errorf("metrics handler on the health port: %v, want %v", got, w.metrics)
	}
	if got := path(cfg, "apps", "http", "metrics") != nil; got != w.metrics {
		t.Errorf("metrics global option: %v, want %v", got, w.metrics)
	}
	if w.tls {
		issuer := path(cfg, "apps", "tls", "automation", "policies")
		if s := fmt.Sprint(issuer); (w.acmeEmail != "") != strings.Contains(s, "email:"+w.acmeEmail+" ") ||
			(w.acmeCA != "") != strings.Contains(s, "ca:"+w.acmeCA+" ") {
			t.Errorf("ACME issuer %s, want email %q and CA %q", s, w.acmeEmail, w.acmeCA)
		}
	}

	validate(t, mountSecrets(t, r.Deployment, caddyfile))
}

// checkIAMOptions: the adapted fed_oidc handler has the IAM options of the
// values, at the mount paths, and none of them when iam is off.
func checkIAMOptions(t *testing.T, f map[string]any, w want) {
	wantIAM := map[string]any{}
	if w.iamConfigMap != "" {
		wantIAM = map[string]any{"iam": iamMount, "iam_mode": w.iamMode, "default_namespace": w.defaultNS, "max_body_size": w.maxBodySize}
	}
	if w.audit != "" {
		hook := map[string]any{"url": w.audit, "secret_file": auditMount + "/secret"}
		if w.auditMethods != nil {
			var methods []any
			for _, m := range w.auditMethods {
				methods = append(methods, m)
			}
			hook["methods"] = methods
		}
		wantIAM["audit_webhook"] = hook
	}
	if w.sysIssuer != "" {
		si := map[string]any{"url": w.sysIssuer, "signing_key_file": issuerMount + "/issuer.key"}
		if w.previousKey {
			si["previous_key_file"] = issuerMount + "/previous.key"
		}
		wantIAM["system_issuer"] = si
	}
	for _, k := range []string{"iam", "iam_mode", "default_namespace", "max_body_size", "audit_webhook", "system_issuer"} {
		if got, want := f[k], wantIAM[k]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("fed_oidc %s: %v, want %v", k, got, want)
		}
	}
}

// TestChartRefusesBadValues: values that would make a broken or unsafe
// gateway fail at `helm template`/`install` with a message that says why.
func TestChartRefusesBadValues(t *testing.T) {
	for _, c := range []struct {
		name, values, msg string
	}{
		{"no issuer", "issuer: \"\"\n", "set issuer"},
		{"no audience", "audience: \"\"\n", "set audience"},
		{"empty audience list", "audience: []\n", "set audience"},
		{"plain http issuer", "issuer: http://keycloak.example.com/realms/x\n", "must be an https URL"},
		{"issuer with placeholder", "issuer: \"https://{$HOST}/realms/x\"\n", "must be an https URL"},
		{"audience with space", "audience: \"a b\"\n", "URL-safe characters"},
		{"audience breaking out of the block", "audience: \"a}\"\n", "URL-safe characters"},
		{"audience starting a comment", "audience: [\"#x\"]\n", "URL-safe characters"},
		{"audience not a string", "audience: [5]\n", "audience"},
		{"gateway URL with a path", "gatewayURL: http://gateway.openfaas:8080/ui\n", "gatewayURL"},
		{"bad log format", "logs: {format: text}\n", "format"},
		{"misspelt key", "allowinvoke: true\n", "allowinvoke"},
		{"bad domain", "publicEndpoint: {domain: \"Fed GW\"}\n", "publicEndpoint.domain"},
		{"bad email", "publicEndpoint: {domain: a.example.com, acmeEmail: \"x y\"}\nreplicas: 1\n", "acmeEmail"},
		{"tls, 2 replicas, ReadWriteOnce", "publicEndpoint: {domain: fed-gw.example.com}\n", "ReadWriteMany"},
		{"tls, 2 replicas, no persistence", "publicEndpoint: {domain: fed-gw.example.com}\npersistence: {enabled: false, accessModes: [ReadWriteMany]}\n", "ReadWriteMany"},
		{"zero replicas", "replicas: 0\n", "replicas"},
		{"iam with allowInvoke", "allowInvoke: true\niam: {enabled: true, configMapName: iam}\n", "allowInvoke=true and iam.enabled=true contradict"},
		{"iam without ConfigMap", "iam: {enabled: true}\n", "needs iam.configMapName"},
		{"bad iam mode", "iam: {enabled: true, configMapName: iam, mode: audit}\n", "mode"},
		{"bad default namespace", "iam: {enabled: true, configMapName: iam, defaultNamespace: \"a b\"}\n", "defaultNamespace"},
		{"body size of two tokens", "iam: {enabled: true, configMapName: iam, maxBodySize: \"1 MiB\"}\n", "maxBodySize"},
		{"audit webhook without iam", "auditWebhook: {url: \"https://audit.example.com/\", secretName: a}\n", "set iam.enabled=true"},
		{"audit webhook without secret", "iam: {enabled: true, configMapName: iam}\nauditWebhook: {url: \"https://audit.example.com/\"}\n", "needs auditWebhook.secretName"},
		{"plain http audit webhook", "iam: {enabled: true, configMapName: iam}\nauditWebhook: {url: \"http://audit.example.com/\", secretName: a}\n", "must be an https URL"},
		{"bad audit method", "iam: {enabled: true, configMapName: iam}\nauditWebhook: {url: \"https://audit.example.com/\", secretName: a, methods: [get]}\n", "methods"},
		{"system issuer without iam", "systemIssuer: {url: \"https://gw.example.com\", keySecretName: k}\n", "set iam.enabled=true"},
		{"system issuer without key", "iam: {enabled: true, configMapName: iam}\nsystemIssuer: {url: \"https://gw.example.com\"}\n", "needs systemIssuer.keySecretName"},
		{"system issuer with a path", "iam: {enabled: true, configMapName: iam}\nsystemIssuer: {url: \"https://gw.example.com/gw\", keySecretName: k}\n", "without a path"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := helmTemplate(t, []string{placeholders}, c.values)
			if err == nil {
				t.Fatalf("rendered; want an error mentioning %q", c.msg)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error does not mention %q:\n%v", c.msg, err)
			}
		})
	}
}

// TestChecksumRollsPods: a change of the Caddyfile changes the pod
// template, so `helm upgrade` rolls the pods; the same values do not.
func TestChecksumRollsPods(t *testing.T) {
	sum := func(values string) string {
		out, err := helmTemplate(t, []string{placeholders}, values)
		if err != nil {
			t.Fatal(err)
		}
		return decode(t, out).Deployment.Spec.Template.Annotations["checksum/config"]
	}
	a, b, c := sum("allowInvoke: false\n"), sum("allowInvoke: false\n"), sum("allowInvoke: true\n")
	if a != b || a == c {
		t.Errorf("checksums %s %s %s: want equal for equal values, different otherwise", a, b, c)
	}
}

// TestHelmLint lints the chart with every CI values file and the
// placeholder values, treating warnings as errors.
func TestHelmLint(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no ci values files: %v", err)
	}
	for _, f := range append(files, placeholders) {
		out, err := exec.Command(helm(t), "lint", "--strict", chartDir, "--namespace", namespace, "--values", f).CombinedOutput()
		if err != nil {
			t.Errorf("helm lint --values %s: %v\n%s", f, err, out)
		}
	}
}

// TestManifestsUpToDate: manifests/caddy-fedauth.yaml is exactly what
// render.sh produces now.
func TestManifestsUpToDate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "caddy-fedauth.yaml")
	cmd := exec.Command("bash", "render.sh", out)
	cmd.Env = append(os.Environ(), "HELM="+helm(t))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("render.sh: %v\n%s", err, b)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("manifests/caddy-fedauth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Fatal("manifests/caddy-fedauth.yaml is out of date: run k8s/render.sh")
	}
	// And it is the defaults plus the placeholders, decoded strictly.
	r := decode(t, string(committed))
	w := base()
	checkObjects(t, r, w)
	checkDeployment(t, r, w)
	checkCaddyfile(t, r, w)
}

// TestCaddyfileServes runs the rendered HTTP-mode Caddyfile (metrics on)
// with our Caddy, moved to free loopback ports: the health site answers
// /healthz with an empty 200 and everything else with 404, /metrics has
// fed_oidc's metrics, and the public site wants a token.
func TestCaddyfileServes(t *testing.T) {
	out, err := helmTemplate(t, []string{placeholders}, "metrics: {enabled: true}\n")
	if err != nil {
		t.Fatal(err)
	}
	r := decode(t, out)
	caddyfile := mountSecrets(t, r.Deployment, r.ConfigMap.Data["Caddyfile"])
	public, health := freePort(t), freePort(t)
	for old, repl := range map[string]string{
		"\tadmin localhost:2019\n": "\tadmin off\n\tdefault_bind 127.0.0.1\n",
		"http://:8080 {":           fmt.Sprintf("http://:%d {", public),
		"http://:8081 {":           fmt.Sprintf("http://:%d {", health),
	} {
		if strings.Count(caddyfile, old) != 1 {
			t.Fatalf("the rendered Caddyfile does not contain %q once:\n%s", old, numbered(caddyfile))
		}
		caddyfile = strings.Replace(caddyfile, old, repl, 1)
	}
	f := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(f, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(caddy(t), "run", "--config", f, "--adapter", "caddyfile")
	cmd.Env = caddyEnv(t)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("caddy output:\n%s", logs.String())
		}
	})

	healthURL := fmt.Sprintf("http://127.0.0.1:%d", health)
	publicURL := fmt.Sprintf("http://127.0.0.1:%d", public)
	waitFor(t, healthURL+"/healthz")

	if body := expect(t, "GET", healthURL+"/healthz", nil, 200, ""); body != "" {
		t.Errorf("/healthz body %q, want none", body)
	}
	expect(t, "GET", healthURL+"/", nil, 404, "")
	expect(t, "GET", healthURL+"/system/functions", nil, 404, "")
	expect(t, "GET", publicURL+"/system/functions", nil, 401, "")
	expect(t, "GET", publicURL+"/system/functions", map[string]string{"Authorization": "Basic YWRtaW46c2VjcmV0"}, 401, "")
	expect(t, "GET", publicURL+"/healthz", nil, 401, "")
	metrics := expect(t, "GET", healthURL+"/metrics", nil, 200, "caddy_fed_oidc_decisions_total")
	if !strings.Contains(metrics, `outcome="missing_token"`) {
		t.Errorf("/metrics does not count the refused requests:\n%s", metrics)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
