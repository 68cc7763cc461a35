// Package deploy_test checks the deployment files statically, because Docker
// and Kubernetes cannot run where the tests run: every file parses, every
// command and flag a service or container runs exists in the binary, every
// config file they mount passes `threatwatch config check`, every secret
// and environment variable a config names is provided, and every metric a
// rule, dashboard or autoscaler uses is one the code registers.
package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/threatwatch/threatwatch/config"
)

// stages are the pipeline stages each deployment runs as its own service.
var stages = []string{"scrape", "classify", "aggregate", "notify", "serve"}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds cmd/threatwatch once per test run.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "threatwatch-deploy-test")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "threatwatch")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/threatwatch").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("cannot build the binary: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

var flagLine = regexp.MustCompile(`(?m)^\s+-{1,2}([a-zA-Z0-9][a-zA-Z0-9._-]*)`)

var (
	flagsMu    sync.Mutex
	flagsCache = map[string]map[string]bool{}
)

// flagsOf returns the flags `threatwatch <cmd> --help` lists; it fails the
// test when the binary has no such command.
func flagsOf(t *testing.T, cmd string) map[string]bool {
	t.Helper()
	flagsMu.Lock()
	defer flagsMu.Unlock()
	if f, ok := flagsCache[cmd]; ok {
		return f
	}
	c := exec.Command(binary(t), cmd, "--help")
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	if strings.Contains(out.String(), "unknown command") {
		t.Fatalf("the binary has no command %q", cmd)
	}
	if err != nil {
		t.Fatalf("threatwatch %s --help: %v\n%s", cmd, err, out.String())
	}
	f := map[string]bool{}
	for _, m := range flagLine.FindAllStringSubmatch(out.String(), -1) {
		f[m[1]] = true
	}
	flagsCache[cmd] = f
	return f
}

// checkArgs checks a command line (without the binary name): the command
// exists and every flag it passes is one the command defines. It returns
// the value of --config.
func checkArgs(t *testing.T, where string, args []string) string {
	t.Helper()
	if len(args) == 0 {
		t.Fatalf("%s: no command", where)
	}
	flags := flagsOf(t, args[0])
	cfg := ""
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !flags[name] {
			t.Errorf("%s: threatwatch %s has no flag --%s (it has %v)", where, args[0], name, keys(flags))
			continue
		}
		if !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			val = args[i+1]
		}
		if name == "config" {
			cfg = val
		}
	}
	return cfg
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// configCheck runs `threatwatch config check` on a config text with env set.
// Files the config names under mountRoot (TLS CAs, secrets mounted from
// Kubernetes Secrets) are created empty under a temporary root first, since
// only the deployment has them.
func configCheck(t *testing.T, where, text, mountRoot string, env map[string]string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	if mountRoot != "" {
		mountRoot = strings.TrimSuffix(mountRoot, "/") + "/"
		re := regexp.MustCompile(regexp.QuoteMeta(mountRoot) + `[^\s"',}\]]+`)
		for _, p := range re.FindAllString(text, -1) {
			local := filepath.Join(dir, "root", p)
			if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(local, []byte("placeholder\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		text = strings.ReplaceAll(text, mountRoot, filepath.Join(dir, "root", mountRoot)+"/")
	}
	file := filepath.Join(dir, "threatwatch.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(binary(t), "config", "check", file)
	c.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		c.Env = append(c.Env, k+"="+v)
	}
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s: threatwatch config check rejects the mounted config: %v\n%s", where, err, out)
	}
	// Parse it here too, so tests can compare its values with the manifests.
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return cfg
}

var envRef = regexp.MustCompile(`\{\s*env:\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}|\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// envVarsOf lists the environment variables a config text reads secrets from.
func envVarsOf(text string) []string {
	var out []string
	for _, m := range envRef.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1]+m[2])
	}
	return out
}

func readYAMLDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("%s does not parse: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	return docs
}

// get walks a parsed YAML/JSON tree by keys and list indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = str(x)
	}
	return out
}

func TestCompose(t *testing.T) {
	docs := readYAMLDocs(t, "compose/docker-compose.yml")
	if len(docs) != 1 {
		t.Fatalf("docker-compose.yml: %d documents, want 1", len(docs))
	}
	services, _ := docs[0]["services"].(map[string]any)
	envExample := readDotEnv(t, "compose/.env.example")

	t.Run("Kafka runs in KRaft mode without ZooKeeper", func(t *testing.T) {
		env, _ := get(services, "kafka", "environment").(map[string]any)
		if !strings.Contains(str(env["KAFKA_PROCESS_ROLES"]), "controller") || str(env["KAFKA_CONTROLLER_QUORUM_VOTERS"]) == "" {
			t.Errorf("kafka is not a KRaft controller: %v", env)
		}
		for name, svc := range services {
			if strings.Contains(strings.ToLower(name+str(get(svc, "image"))+str(get(svc, "environment"))), "zookeeper") {
				t.Errorf("service %s uses ZooKeeper", name)
			}
		}
	})
	t.Run("Redis, Prometheus and Alertmanager are services", func(t *testing.T) {
		for _, s := range []string{"kafka", "redis", "prometheus", "alertmanager"} {
			if services[s] == nil {
				t.Errorf("no %s service", s)
			}
		}
	})
	for _, st := range stages {
		t.Run("the "+st+" service runs its stage with a config the binary accepts", func(t *testing.T) {
			svc, _ := services[st].(map[string]any)
			if svc == nil {
				t.Fatalf("no service %q", st)
			}
			args := strs(svc["command"])
			if len(args) == 0 || args[0] != st {
				t.Fatalf("command %v does not run the %s stage", args, st)
			}
			cfgPath := checkArgs(t, "compose "+st, args)
			if cfgPath == "" {
				t.Fatalf("command %v passes no --config", args)
			}
			host := ""
			for _, v := range strs(svc["volumes"]) {
				parts := strings.Split(v, ":")
				if len(parts) >= 2 && parts[1] == cfgPath {
					host = filepath.Join("compose", parts[0])
				}
			}
			if host == "" {
				t.Fatalf("--config %s is not mounted from a file", cfgPath)
			}
			text, err := os.ReadFile(host)
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{}
			for k, v := range get(svc, "environment").(map[string]any) {
				env[k] = str(v)
			}
			for _, name := range envVarsOf(string(text)) {
				if _, ok := env[name]; !ok {
					t.Errorf("the config reads $%s but the service does not set it", name)
				}
			}
			for k, v := range env {
				env[k] = expandCompose(t, v, envExample)
			}
			cfg := configCheck(t, "compose "+st, string(text), "", env)
			if len(cfg.Kafka.Brokers) == 0 || cfg.Redis.URL.Value() == "" {
				t.Error("the compose config would start an embedded broker or store instead of the services")
			}
			if svc["container_name"] != nil {
				t.Error("container_name prevents --scale")
			}
			for _, p := range strs(svc["ports"]) {
				if hostPart := strings.Split(p, ":"); len(hostPart) == 3 && !strings.Contains(hostPart[1], "-") {
					t.Errorf("fixed host port %q prevents --scale", p)
				}
			}
		})
	}
	t.Run("Prometheus scrapes every stage on the port the config listens on", func(t *testing.T) {
		docs := readYAMLDocs(t, "compose/prometheus.yml")
		text, _ := os.ReadFile("compose/threatwatch.yaml")
		var c struct {
			HTTP struct {
				Listen string `yaml:"listen"`
			} `yaml:"http"`
		}
		if err := yaml.Unmarshal(text, &c); err != nil {
			t.Fatal(err)
		}
		port := c.HTTP.Listen[strings.LastIndex(c.HTTP.Listen, ":")+1:]
		found := map[string]bool{}
		for _, sc := range get(docs[0], "scrape_configs").([]any) {
			for _, d := range asList(get(sc, "dns_sd_configs")) {
				if str(get(d, "port")) != port {
					t.Errorf("dns_sd port %v, but the stages listen on %s", get(d, "port"), port)
				}
				for _, n := range strs(get(d, "names")) {
					found[n] = true
				}
			}
		}
		for _, st := range stages {
			if !found[st] {
				t.Errorf("Prometheus does not scrape %s", st)
			}
		}
		if !strings.Contains(str(get(docs[0], "alerting")), "alertmanager:9093") {
			t.Error("Prometheus does not send alerts to the alertmanager service")
		}
	})
	t.Run("every file a service mounts exists", func(t *testing.T) {
		for name, s := range services {
			for _, v := range strs(get(s, "volumes")) {
				src := strings.Split(v, ":")[0]
				if !strings.HasPrefix(src, ".") {
					continue // a named volume
				}
				if _, err := os.Stat(filepath.Join("compose", src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
	})
	t.Run("every required variable has an entry in .env.example", func(t *testing.T) {
		raw, _ := os.ReadFile("compose/docker-compose.yml")
		for _, m := range regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*):\?`).FindAllStringSubmatch(string(raw), -1) {
			if _, ok := envExample[m[1]]; !ok {
				t.Errorf("${%s} is required but .env.example does not set it", m[1])
			}
		}
	})
	t.Run("amtool accepts the Alertmanager config", func(t *testing.T) {
		amtool := lookTool(t, "amtool", "prometheus-alertmanager")
		if out, err := exec.Command(amtool, "check-config", "compose/alertmanager.yml").CombinedOutput(); err != nil {
			t.Fatalf("amtool check-config: %v\n%s", err, out)
		}
	})
}

func asList(v any) []any { l, _ := v.([]any); return l }

// lookTool finds an external checker; missing, it skips (fails under CI=true).
func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI=true requires it; Debian package %s)", name, pkg)
		}
		t.Skipf("%s is not installed (Debian package %s)", name, pkg)
	}
	return p
}

func readDotEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", path, l)
		}
		out[k] = v
	}
	return out
}

// expandCompose resolves ${VAR}, ${VAR:?msg} and ${VAR:-default} the way
// compose does, from vars.
func expandCompose(t *testing.T, s string, vars map[string]string) string {
	re := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[?-]([^}]*))?\}`)
	return re.ReplaceAllStringFunc(s, func(m string) string {
		sm := re.FindStringSubmatch(m)
		if v, ok := vars[sm[1]]; ok {
			return v
		}
		if strings.Contains(m, ":?") {
			t.Errorf("${%s} is required and unset", sm[1])
		}
		return sm[2]
	})
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("compose/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	user := ""
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
			user = ""
		case "USER":
			user = f[1]
		}
	}
	if len(froms) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(froms))
	}
	if u := strings.Split(user, ":")[0]; u == "" || u == "root" || u == "0" {
		t.Errorf("the final image runs as %q, want a non-root user", user)
	}
	if _, err := strconv.Atoi(strings.Split(user, ":")[0]); err != nil {
		t.Errorf("USER %q is not numeric: Kubernetes runAsNonRoot cannot verify a name", user)
	}
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if goVer == nil || !strings.Contains(froms[0], "golang:"+string(goVer[1])) {
		t.Errorf("the build stage %s does not use the Go of go.mod (%s)", froms[0], goVer)
	}
	if !strings.Contains(string(b), "CGO_ENABLED=0") || !strings.Contains(string(b), "./cmd/threatwatch") {
		t.Error("the binary is not built static from ./cmd/threatwatch")
	}
	if !strings.Contains(froms[len(froms)-1], "distroless") && !strings.Contains(froms[len(froms)-1], "scratch") {
		t.Errorf("the final base %s is not a minimal image", froms[len(froms)-1])
	}
}

// k8s holds the parsed manifests.
type k8s struct {
	byKind map[string][]map[string]any
	files  map[string]string
}

func loadK8s(t *testing.T, dir string) *k8s {
	t.Helper()
	k := &k8s{byKind: map[string][]map[string]any{}, files: map[string]string{}}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, p := range paths {
		for _, d := range readYAMLDocs(t, p) {
			kind, name := str(d["kind"]), str(get(d, "metadata", "name"))
			if d["apiVersion"] == nil || kind == "" || (name == "" && kind != "Kustomization") {
				t.Errorf("%s: a document lacks apiVersion, kind or metadata.name", p)
			}
			k.byKind[kind] = append(k.byKind[kind], d)
			k.files[kind+"/"+name] = p
		}
	}
	return k
}

func (k *k8s) find(kind, name string) map[string]any {
	for _, d := range k.byKind[kind] {
		if str(get(d, "metadata", "name")) == name {
			return d
		}
	}
	return nil
}

func TestKubernetes(t *testing.T) {
	k := loadK8s(t, "kubernetes")
	cm := k.find("ConfigMap", "threatwatch-config")
	if cm == nil {
		t.Fatal("no ConfigMap threatwatch-config")
	}
	secretKeys := map[string]map[string]bool{}
	for _, d := range readYAMLDocs(t, "kubernetes/secrets.example.yaml") {
		m := map[string]bool{}
		for key := range get(d, "stringData").(map[string]any) {
			m[key] = true
		}
		secretKeys[str(get(d, "metadata", "name"))] = m
	}
	var cfg *config.Config

	t.Run("the kustomization lists every manifest", func(t *testing.T) {
		kz := k.byKind["Kustomization"]
		if len(kz) != 1 {
			t.Fatalf("%d kustomizations", len(kz))
		}
		listed := map[string]bool{}
		for _, r := range strs(kz[0]["resources"]) {
			listed[r] = true
			if _, err := os.Stat(filepath.Join("kubernetes", r)); err != nil {
				t.Errorf("resource %s: %v", r, err)
			}
		}
		paths, _ := filepath.Glob("kubernetes/*.yaml")
		for _, p := range paths {
			b := filepath.Base(p)
			if b != "kustomization.yaml" && b != "secrets.example.yaml" && !listed[b] {
				t.Errorf("%s is not in kustomization.yaml", b)
			}
		}
	})
	for _, st := range stages {
		t.Run("the "+st+" Deployment runs its stage, probes, requests resources and gets its secrets", func(t *testing.T) {
			d := k.find("Deployment", "threatwatch-"+st)
			if d == nil {
				t.Fatalf("no Deployment threatwatch-%s", st)
			}
			pod := get(d, "spec", "template", "spec")
			podLabels, _ := get(d, "spec", "template", "metadata", "labels").(map[string]any)
			if !reflect.DeepEqual(get(d, "spec", "selector", "matchLabels"), get(d, "spec", "template", "metadata", "labels")) {
				t.Error("the selector does not match the pod labels")
			}
			if get(pod, "securityContext", "runAsNonRoot") != true {
				t.Error("pods may run as root")
			}
			cs := asList(get(pod, "containers"))
			if len(cs) != 1 {
				t.Fatalf("%d containers, want 1", len(cs))
			}
			c := cs[0]
			args := strs(get(c, "args"))
			if len(args) == 0 || args[0] != st {
				t.Fatalf("args %v do not run the %s stage", args, st)
			}
			cfgPath := checkArgs(t, "kubernetes "+st, args)
			// The config file must come from the ConfigMap's volume.
			vols := map[string]any{}
			for _, v := range asList(get(pod, "volumes")) {
				vols[str(get(v, "name"))] = v
			}
			key := ""
			for _, m := range asList(get(c, "volumeMounts")) {
				mp := str(get(m, "mountPath"))
				if strings.HasPrefix(cfgPath, mp+"/") && str(get(vols[str(get(m, "name"))], "configMap", "name")) == "threatwatch-config" {
					key = strings.TrimPrefix(cfgPath, mp+"/")
				}
			}
			text := str(get(cm, "data", key))
			if key == "" || text == "" {
				t.Fatalf("--config %s is not a key of the threatwatch-config ConfigMap mounted in the pod", cfgPath)
			}
			env := map[string]string{}
			for _, e := range asList(get(c, "env")) {
				name := str(get(e, "name"))
				if ref := get(e, "valueFrom", "secretKeyRef"); ref != nil {
					sec, sk := str(get(ref, "name")), str(get(ref, "key"))
					if !secretKeys[sec][sk] {
						t.Errorf("env %s reads %s/%s, which secrets.example.yaml does not define", name, sec, sk)
					}
				}
				switch {
				case get(e, "valueFrom", "resourceFieldRef") != nil:
					env[name] = "536870912" // what the kubelet puts for limits.memory
				case get(e, "valueFrom") != nil:
					env[name] = "test-value-" + strings.ToLower(name)
				default:
					env[name] = str(get(e, "value"))
				}
			}
			for _, name := range envVarsOf(text) {
				if _, ok := env[name]; !ok {
					t.Errorf("the config reads $%s but the container does not set it", name)
				}
			}
			cfg = configCheck(t, "kubernetes "+st, text, "/etc/threatwatch/", env)
			// Files the config names must be mounted.
			for _, f := range []string{cfg.Kafka.TLS.CAFile, cfg.Redis.TLS.CAFile} {
				if f == "" {
					continue
				}
				mounted := false
				for _, m := range asList(get(c, "volumeMounts")) {
					if strings.Contains(f, str(get(m, "mountPath"))+"/") {
						mounted = true
					}
				}
				if !mounted {
					t.Errorf("the config names %s, which no volume mount provides", f)
				}
			}
			port := cfg.HTTP.Listen[strings.LastIndex(cfg.HTTP.Listen, ":")+1:]
			ports := map[string]string{}
			for _, p := range asList(get(c, "ports")) {
				ports[str(get(p, "name"))] = str(get(p, "containerPort"))
			}
			for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
				hg := get(c, probe, "httpGet")
				if str(get(hg, "path")) != path {
					t.Errorf("%s path %v, want %s", probe, get(hg, "path"), path)
				}
				if p := str(get(hg, "port")); p != port && ports[p] != port {
					t.Errorf("%s port %s is not the config's http.listen port %s", probe, p, port)
				}
			}
			for _, r := range []string{"cpu", "memory"} {
				if get(c, "resources", "requests", r) == nil {
					t.Errorf("no %s request", r)
				}
			}
			if get(c, "securityContext", "readOnlyRootFilesystem") != true {
				t.Error("the root filesystem is writable")
			}
			// A PodDisruptionBudget covers the pods.
			covered := false
			for _, p := range k.byKind["PodDisruptionBudget"] {
				if matches(get(p, "spec", "selector", "matchLabels"), podLabels) {
					covered = true
				}
			}
			if !covered {
				t.Error("no PodDisruptionBudget selects the pods")
			}
			if st == "serve" && cfg.Serve.Listen != "" {
				sport := cfg.Serve.Listen[strings.LastIndex(cfg.Serve.Listen, ":")+1:]
				if ports["http"] != sport {
					t.Errorf("container port http %s is not serve.listen's %s", ports["http"], sport)
				}
			}
		})
	}
	t.Run("classify and aggregate autoscale on the consumer lag the runner exports", func(t *testing.T) {
		registered := registeredMetrics(t)
		for _, st := range []string{"classify", "aggregate"} {
			var h map[string]any
			for _, x := range k.byKind["HorizontalPodAutoscaler"] {
				if str(get(x, "spec", "scaleTargetRef", "name")) == "threatwatch-"+st {
					h = x
				}
			}
			if h == nil {
				t.Errorf("no HPA for %s", st)
				continue
			}
			m := get(h, "spec", "metrics", 0, "external", "metric")
			if name := str(get(m, "name")); !registered[name] || name != "threatwatch_stage_consumer_lag_messages" {
				t.Errorf("HPA %s scales on %q, want the registered consumer lag gauge", st, name)
			}
			if s := str(get(m, "selector", "matchLabels", "stage")); s != st {
				t.Errorf("HPA %s selects stage %q", st, s)
			}
			if cfg != nil {
				if mx, _ := get(h, "spec", "maxReplicas").(int); mx > cfg.Kafka.Partitions {
					t.Errorf("HPA %s may scale to %d replicas, more than the %d partitions", st, mx, cfg.Kafka.Partitions)
				}
			}
		}
	})
	t.Run("the topic Job provisions the config's topics, partitions and retention", func(t *testing.T) {
		if cfg == nil {
			t.Skip("the config did not load")
		}
		j := k.find("Job", "threatwatch-topics")
		if j == nil {
			t.Fatal("no Job threatwatch-topics")
		}
		env := map[string]string{}
		for _, e := range asList(get(j, "spec", "template", "spec", "containers", 0, "env")) {
			env[str(get(e, "name"))] = str(get(e, "value"))
		}
		// The aggregate stage adds its repartition topic, <scored>-by-target
		// (cmd/threatwatch/aggregate.go).
		want := append(cfg.Topics.All(), cfg.Topics.Name(cfg.Topics.Scored+"-by-target"))
		if got := strings.Fields(env["TOPICS"]); !reflect.DeepEqual(got, want) {
			t.Errorf("TOPICS %v, config topics %v", got, want)
		}
		if env["PARTITIONS"] != strconv.Itoa(cfg.Kafka.Partitions) {
			t.Errorf("PARTITIONS %s, kafka.partitions %d", env["PARTITIONS"], cfg.Kafka.Partitions)
		}
		if env["REPLICATION_FACTOR"] != strconv.Itoa(cfg.Kafka.ReplicationFactor) {
			t.Errorf("REPLICATION_FACTOR %s, kafka.replication_factor %d", env["REPLICATION_FACTOR"], cfg.Kafka.ReplicationFactor)
		}
		if env["RETENTION_MS"] != strconv.FormatInt(cfg.Kafka.Retention.Milliseconds(), 10) {
			t.Errorf("RETENTION_MS %s, kafka.retention %v", env["RETENTION_MS"], cfg.Kafka.Retention)
		}
		if want := strings.Join(cfg.Kafka.Brokers, ","); env["BOOTSTRAP"] != want {
			t.Errorf("BOOTSTRAP %s, kafka.brokers %s", env["BOOTSTRAP"], want)
		}
	})
	t.Run("a default-deny NetworkPolicy covers the namespace", func(t *testing.T) {
		ok := false
		for _, n := range k.byKind["NetworkPolicy"] {
			sel, _ := get(n, "spec", "podSelector").(map[string]any)
			types := strs(get(n, "spec", "policyTypes"))
			if len(sel) == 0 && len(types) == 2 && get(n, "spec", "ingress") == nil && get(n, "spec", "egress") == nil {
				ok = true
			}
		}
		if !ok {
			t.Error("no default-deny NetworkPolicy")
		}
	})
	t.Run("the PrometheusRule holds exactly the rules of deploy/prometheus", func(t *testing.T) {
		mon := loadK8s(t, "kubernetes/monitoring")
		pr := mon.find("PrometheusRule", "threatwatch-pipeline")
		if pr == nil {
			t.Fatal("no PrometheusRule")
		}
		rules := readYAMLDocs(t, "prometheus/rules.yml")
		if !reflect.DeepEqual(get(pr, "spec", "groups"), rules[0]["groups"]) {
			t.Error("monitoring/prometheus-rules.yaml differs from prometheus/rules.yml")
		}
	})
}

func matches(sel any, labels map[string]any) bool {
	m, _ := sel.(map[string]any)
	if len(m) == 0 {
		return false
	}
	for k, v := range m {
		if labels[k] != v {
			return false
		}
	}
	return true
}

var (
	metricsOnce sync.Once
	metricsSet  map[string]bool
	metricsErr  error
)

// registeredMetrics finds the metric names the code registers: string
// literals "threatwatch_..." and Namespace/Subsystem/Name options, in every
// non-test Go file of the module.
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	metricsOnce.Do(func() {
		metricsSet = map[string]bool{}
		full := regexp.MustCompile(`^threatwatch_[a-z0-9_]+$`)
		fset := token.NewFileSet()
		metricsErr = filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && d.Name() != "..") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, p, nil, 0)
			if err != nil {
				return nil // someone's half-written file; it cannot register anything yet
			}
			// Names built as "threatwatch_<subsystem>_" + name, with the
			// names as string literals in the same file.
			var prefixes, lits []string
			ast.Inspect(f, func(n ast.Node) bool {
				if b, ok := n.(*ast.BinaryExpr); ok && b.Op == token.ADD {
					if l, ok := b.X.(*ast.BasicLit); ok && l.Kind == token.STRING {
						if s, err := strconv.Unquote(l.Value); err == nil && strings.HasPrefix(s, "threatwatch_") && strings.HasSuffix(s, "_") {
							prefixes = append(prefixes, s)
						}
					}
				}
				if l, ok := n.(*ast.BasicLit); ok && l.Kind == token.STRING {
					if s, err := strconv.Unquote(l.Value); err == nil && suffixRE.MatchString(s) {
						lits = append(lits, s)
					}
				}
				return true
			})
			for _, p := range prefixes {
				for _, l := range lits {
					metricsSet[p+l] = true
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.BasicLit:
					if s, err := strconv.Unquote(x.Value); err == nil && full.MatchString(s) {
						metricsSet[s] = true
					}
				case *ast.CompositeLit:
					parts := map[string]string{}
					for _, e := range x.Elts {
						kv, ok := e.(*ast.KeyValueExpr)
						if !ok {
							continue
						}
						id, ok1 := kv.Key.(*ast.Ident)
						lit, ok2 := kv.Value.(*ast.BasicLit)
						if ok1 && ok2 {
							parts[id.Name], _ = strconv.Unquote(lit.Value)
						}
					}
					if parts["Name"] != "" && parts["Namespace"] == "threatwatch" {
						name := parts["Namespace"] + "_"
						if parts["Subsystem"] != "" {
							name += parts["Subsystem"] + "_"
						}
						metricsSet[name+parts["Name"]] = true
					}
				}
				return true
			})
			return nil
		})
	})
	if metricsErr != nil {
		t.Fatal(metricsErr)
	}
	return metricsSet
}

var suffixRE = regexp.MustCompile(`^[a-z][a-z0-9_]*_(total|seconds|bytes|messages|keys|ratio|info|bool|sites|clients)$`)

var metricRef = regexp.MustCompile(`\bthreatwatch_[a-z0-9_]+`)

// checkExpr checks that a PromQL expression only names registered metrics
// (histogram series by their base name) and that its brackets balance.
func checkExpr(t *testing.T, where, expr string, registered map[string]bool) {
	t.Helper()
	n := 0
	for _, m := range metricRef.FindAllString(expr, -1) {
		n++
		base := m
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(m, suf) && registered[strings.TrimSuffix(m, suf)] {
				base = strings.TrimSuffix(m, suf)
			}
		}
		if !registered[base] {
			t.Errorf("%s: metric %s is not registered by any code", where, m)
		}
	}
	if n == 0 && !strings.Contains(expr, "up{") {
		t.Errorf("%s: %q names no ThreatWatch metric", where, expr)
	}
	depth := map[rune]int{}
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inStr := false
	for _, r := range expr {
		switch {
		case r == '"':
			inStr = !inStr
		case inStr:
		case r == '(' || r == '[' || r == '{':
			depth[r]++
		case pairs[r] != 0:
			depth[pairs[r]]--
			if depth[pairs[r]] < 0 {
				t.Errorf("%s: unbalanced %q in %q", where, r, expr)
			}
		}
	}
	for r, d := range depth {
		if d != 0 {
			t.Errorf("%s: unbalanced %q in %q", where, r, expr)
		}
	}
}

func TestPrometheusRules(t *testing.T) {
	registered := registeredMetrics(t)
	if !registered["threatwatch_stage_consumer_lag_messages"] {
		t.Fatalf("the metric scan found no runner metrics: %v", keys(registered))
	}
	docs := readYAMLDocs(t, "prometheus/rules.yml")
	names := map[string]bool{}
	covers := map[string]bool{}
	for _, g := range asList(docs[0]["groups"]) {
		for _, r := range asList(get(g, "rules")) {
			name := str(get(r, "alert"))
			if name == "" || names[name] {
				t.Errorf("rule %q: missing or duplicate alert name", name)
			}
			names[name] = true
			expr := str(get(r, "expr"))
			checkExpr(t, name, expr, registered)
			for _, m := range metricRef.FindAllString(expr, -1) {
				covers[m] = true
			}
			if sev := str(get(r, "labels", "severity")); sev != "warning" && sev != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", name, sev)
			}
			if str(get(r, "labels", "component")) != "threatwatch-pipeline" {
				t.Errorf("%s: no component=threatwatch-pipeline label for routing", name)
			}
			if str(get(r, "annotations", "summary")) == "" {
				t.Errorf("%s: no summary", name)
			}
		}
	}
	// The three failures the issue names must each have a rule.
	for what, metric := range map[string]string{
		"a stalled scraper": "threatwatch_scrape_last_success_timestamp_seconds",
		"growing lag":       "threatwatch_stage_group_lag_messages",
		"dead letters":      "threatwatch_stage_dead_letters_total",
	} {
		if !covers[metric] {
			t.Errorf("no rule watches %s (%s)", what, metric)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	registered := registeredMetrics(t)
	paths, _ := filepath.Glob("grafana/*.json")
	if len(paths) == 0 {
		t.Fatal("no dashboard JSON in grafana/")
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s does not parse: %v", p, err)
		}
		if str(d["uid"]) == "" || str(d["title"]) == "" {
			t.Errorf("%s: no uid or title", p)
		}
		seen := map[string]bool{}
		ids := map[string]bool{}
		for _, pn := range asList(d["panels"]) {
			title := str(get(pn, "title"))
			id := str(get(pn, "id"))
			if ids[id] {
				t.Errorf("%s: duplicate panel id %s", p, id)
			}
			ids[id] = true
			if str(get(pn, "type")) == "row" {
				continue
			}
			targets := asList(get(pn, "targets"))
			if len(targets) == 0 {
				t.Errorf("%s: panel %q has no query", p, title)
			}
			for _, tg := range targets {
				expr := str(get(tg, "expr"))
				checkExpr(t, p+": "+title, expr, registered)
				seen[title] = true
			}
		}
		// What the issue asks the dashboard to show.
		all := string(b)
		for what, metric := range map[string]string{
			"posts per stage": "threatwatch_stage_messages_in_total",
			"lag":             "threatwatch_stage_consumer_lag_messages",
			"dead letters":    "threatwatch_stage_dead_letters_total",
			"scraper health":  "threatwatch_scrape_site_healthy_bool",
			"levels per site": levelMetric,
		} {
			if !strings.Contains(all, metric) {
				t.Errorf("%s: no panel shows %s (%s)", p, what, metric)
			}
		}
	}
}

// levelMetric is the gauge of a site's current threat level.
const levelMetric = "threatwatch_aggregate_site_level"
