package kubernetes_test

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	mobyseccomp "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/filter/oci"
	"github.com/seccompstream/seccompstream/internal/sectest"
	"github.com/seccompstream/seccompstream/policy"
)

// The parts of the Kubernetes objects the checks look at.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		podSpec `yaml:",inline"`
	} `yaml:"spec"`
}

type podSpec struct {
	HostPID         bool `yaml:"hostPID"`
	SecurityContext struct {
		SeccompProfile *seccompProfile `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
	Volumes        []struct {
		Name     string `yaml:"name"`
		HostPath *struct {
			Path string `yaml:"path"`
			Type string `yaml:"type"`
		} `yaml:"hostPath"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
	} `yaml:"volumes"`
}

type seccompProfile struct {
	Type             string `yaml:"type"`
	LocalhostProfile string `yaml:"localhostProfile"`
}

type container struct {
	Name      string   `yaml:"name"`
	Image     string   `yaml:"image"`
	Command   []string `yaml:"command"`
	Args      []string `yaml:"args"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		RunAsUser      *int            `yaml:"runAsUser"`
		SeccompProfile *seccompProfile `yaml:"seccompProfile"`
		Capabilities   struct {
			Drop []string `yaml:"drop"`
			Add  []string `yaml:"add"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

// load parses every YAML document of every manifest, by kind and name.
func load(t *testing.T) map[string]*object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	objs := map[string]*object{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(false)
		for {
			o := new(object)
			if err := dec.Decode(o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: object without apiVersion, kind or metadata.name: %+v", f, o.Metadata)
				continue
			}
			objs[o.Kind+"/"+o.Metadata.Name] = o
		}
	}
	return objs
}

func get(t *testing.T, objs map[string]*object, key string) *object {
	t.Helper()
	o, ok := objs[key]
	if !ok {
		t.Fatalf("no %s in the manifests (have %v)", key, slices.Sorted(mapsKeys(objs)))
	}
	return o
}

func mapsKeys(m map[string]*object) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// flag returns the value after name in args.
func flagValue(args []string, name string) string {
	i := slices.Index(args, name)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

// mountedAt returns the volume mounted at dir in c, or "".
func mountedAt(c container, dir string) string {
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) == path.Clean(dir) {
			return m.Name
		}
	}
	return ""
}

// loadProfile reads seccomp-profile.json the way containerd's CRI plugin
// reads a Localhost profile (JSON into the runtime-spec type).
func loadProfile(t *testing.T) (*specs.LinuxSeccomp, []byte) {
	t.Helper()
	data, err := os.ReadFile("seccomp-profile.json")
	if err != nil {
		t.Fatal(err)
	}
	var p specs.LinuxSeccomp
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("seccomp-profile.json is not an OCI linux.seccomp: %v", err)
	}
	return &p, data
}

// TestDaemonSet checks the DaemonSet's required fields and the choices the
// docs explain: hostPID, the socket directory as a hostPath at the same
// path, the capabilities, resource requests, and the policy it reads.
func TestDaemonSet(t *testing.T) {
	objs := load(t)
	ds := get(t, objs, "DaemonSet/seccompstream-agent")
	if ds.APIVersion != "apps/v1" {
		t.Errorf("DaemonSet apiVersion %q", ds.APIVersion)
	}
	if len(ds.Spec.Selector.MatchLabels) == 0 {
		t.Error("DaemonSet has no selector")
	}
	for k, v := range ds.Spec.Selector.MatchLabels {
		if ds.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the template's labels %v", k, v, ds.Spec.Template.Metadata.Labels)
		}
	}
	pod := ds.Spec.Template.Spec
	if !pod.HostPID {
		t.Error("hostPID is not set: the agent must see the callers' pids")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want the agent alone", len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "agent" {
		t.Errorf("agent container args %q, want the agent subcommand", c.Args)
	}
	socket := flagValue(c.Args, "--socket")
	if !path.IsAbs(socket) {
		t.Fatalf("--socket %q is not an absolute path", socket)
	}
	vol := mountedAt(c, path.Dir(socket))
	found := false
	for _, v := range pod.Volumes {
		if v.Name == vol && v.HostPath != nil {
			found = true
			if v.HostPath.Path != path.Dir(socket) {
				t.Errorf("socket directory %s is the node's %s: runc connects to the node's path, they must agree",
					path.Dir(socket), v.HostPath.Path)
			}
		}
	}
	if !found {
		t.Errorf("the socket directory %s is not a hostPath volume", path.Dir(socket))
	}
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" {
			t.Errorf("no %s request", r)
		}
	}
	if c.Resources.Limits["cpu"] != "" {
		t.Error("a CPU limit throttles every intercepted call")
	}
	if c.SecurityContext.RunAsUser == nil || *c.SecurityContext.RunAsUser != 0 {
		t.Error("the agent must run as root, the uid runc and crun connect with")
	}
	if !slices.Equal(c.SecurityContext.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("capabilities.drop %q, want ALL", c.SecurityContext.Capabilities.Drop)
	}
	// Each capability added is justified in docs/kubernetes.md.
	doc, err := os.ReadFile("../../docs/kubernetes.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, capName := range c.SecurityContext.Capabilities.Add {
		if !bytes.Contains(doc, []byte("`CAP_"+capName+"`")) {
			t.Errorf("capability %s is not explained in docs/kubernetes.md", capName)
		}
	}
	policyFile := flagValue(c.Args, "--policy")
	cmName := ""
	for _, v := range pod.Volumes {
		if v.Name == mountedAt(c, path.Dir(policyFile)) && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	cm := get(t, objs, "ConfigMap/"+cmName)
	data, ok := cm.Data[path.Base(policyFile)]
	if !ok {
		t.Fatalf("ConfigMap %s has no %s", cmName, path.Base(policyFile))
	}
	if _, err := policy.Parse([]byte(data)); err != nil {
		t.Errorf("the policy in ConfigMap %s: %v", cmName, err)
	}
	if flagValue(c.Args, "--metrics-addr") == "" {
		t.Error("no --metrics-addr: the probes use /healthz")
	}
}

// TestProfile: the Localhost profile loads with the project's own OCI
// import and with the Docker-format loader (which CRI-O's resembles),
// names the DaemonSet's socket, carries the intercepts' rules with their
// register prefilter, and is what the ConfigMap installs on the nodes.
func TestProfile(t *testing.T) {
	objs := load(t)
	p, data := loadProfile(t)
	if _, err := oci.FromSpec(p); err != nil {
		t.Errorf("oci.FromSpec: %v", err)
	}
	if _, err := oci.InstallOptions(p); err != nil {
		t.Errorf("oci.InstallOptions: %v", err)
	}
	docker, err := mobyseccomp.LoadProfile(string(data), &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}})
	if err != nil {
		t.Errorf("Docker-format loader: %v", err)
	} else if docker.ListenerPath != p.ListenerPath || len(docker.Syscalls) != len(p.Syscalls) {
		t.Errorf("Docker-format loader read listenerPath %q and %d rules, want %q and %d",
			docker.ListenerPath, len(docker.Syscalls), p.ListenerPath, len(p.Syscalls))
	}

	ds := get(t, objs, "DaemonSet/seccompstream-agent")
	if socket := flagValue(ds.Spec.Template.Spec.Containers[0].Args, "--socket"); p.ListenerPath != socket {
		t.Errorf("profile listenerPath %q, DaemonSet --socket %q: they must agree", p.ListenerPath, socket)
	}
	if md := agent.ParseMetadata(p.ListenerMetadata); len(md) == 0 {
		t.Errorf("listenerMetadata %q has no KEY=VALUE line", p.ListenerMetadata)
	}

	// The intercepts' rules, prefilter included, and no rule that would
	// shadow them.
	want, err := agent.InterceptRules(agent.InterceptMknod, agent.InterceptSysinfo)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !slices.ContainsFunc(p.Syscalls, func(r specs.LinuxSyscall) bool { return reflect.DeepEqual(r, w) }) {
			t.Errorf("the profile lacks the rule %+v", w)
		}
	}
	for i, r := range p.Syscalls {
		for _, n := range r.Names {
			if (n == "mknod" || n == "mknodat" || n == "sysinfo") && len(r.Args) == 0 && r.Action != specs.ActNotify {
				t.Errorf("syscalls[%d] %s %s without arguments shadows the intercept", i, r.Action, n)
			}
		}
	}

	// The ConfigMap installs this very file, under the name pods use.
	cm := get(t, objs, "ConfigMap/seccompstream-profile")
	pod := get(t, objs, "Pod/seccompstream-example")
	name := pod.Spec.SecurityContext.SeccompProfile.LocalhostProfile
	if pod.Spec.SecurityContext.SeccompProfile.Type != "Localhost" || cm.Data[name] != string(data) {
		t.Errorf("the example pod's Localhost profile %q is not the ConfigMap's copy of seccomp-profile.json (keys %v)",
			name, slices.Sorted(func(yield func(string) bool) {
				for k := range cm.Data {
					if !yield(k) {
						return
					}
				}
			}))
	}
	init := ds.Spec.Template.Spec.InitContainers
	if len(init) != 1 || !strings.Contains(strings.Join(init[0].Command, " "), "/host/seccomp/"+name) {
		t.Errorf("the init container does not install %s: %+v", name, init)
	}

	// The agent's own profile: installed the same way, this very file,
	// naming no listener, allowing unshare(CLONE_FS) (see genprofile).
	sp := ds.Spec.Template.Spec.Containers[0].SecurityContext.SeccompProfile
	if sp == nil || sp.Type != "Localhost" {
		t.Fatalf("the agent's seccompProfile %+v, want its Localhost profile", sp)
	}
	agentData, err := os.ReadFile("agent-seccomp-profile.json")
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data[sp.LocalhostProfile] != string(agentData) {
		t.Errorf("the agent's Localhost profile %q is not the ConfigMap's copy of agent-seccomp-profile.json", sp.LocalhostProfile)
	}
	if len(init) != 1 || !strings.Contains(strings.Join(init[0].Command, " "), "/host/seccomp/"+sp.LocalhostProfile) {
		t.Errorf("the init container does not install %s", sp.LocalhostProfile)
	}
	var ap specs.LinuxSeccomp
	if err := json.Unmarshal(agentData, &ap); err != nil {
		t.Fatal(err)
	}
	if _, err := oci.FromSpec(&ap); err != nil {
		t.Errorf("agent profile: oci.FromSpec: %v", err)
	}
	if ap.ListenerPath != "" {
		t.Errorf("the agent's own profile names listener %q", ap.ListenerPath)
	}
	if !slices.ContainsFunc(ap.Syscalls, func(r specs.LinuxSyscall) bool {
		return slices.Contains(r.Names, "unshare") && r.Action == specs.ActAllow &&
			len(r.Args) == 1 && r.Args[0].Value == unix.CLONE_FS && r.Args[0].Op == specs.OpEqualTo
	}) {
		t.Error("the agent's profile does not allow unshare(CLONE_FS)")
	}
}

// TestDockerfile builds the command as the Dockerfile does and checks that
// the result is static.
func TestDockerfile(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0 go build", "./cmd/seccomp-stream", "FROM scratch"} {
		if !bytes.Contains(df, []byte(want)) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if testing.Short() {
		t.Skip("builds the command")
	}
	gobin := sectest.RequireTool(t, "go")
	bin := filepath.Join(t.TempDir(), "seccomp-stream")
	cmd := exec.Command(gobin, "build", "-trimpath", "-o", bin, "../../cmd/seccomp-stream")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v: %s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a dynamic loader: not static")
		}
	}
}
