package agent_test

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seccompstream/seccompstream"
	"github.com/seccompstream/seccompstream/agent"
	"github.com/seccompstream/seccompstream/internal/ocitest"
	"github.com/seccompstream/seccompstream/policy"
)

// Annotations as the runtimes write them (key names checked against
// containerd's internal/cri/annotations/annotations.go and CRI-O's
// internal/factory/container/container.go with the kubelet's labels).
var (
	containerdAnnotations = map[string]string{
		"io.kubernetes.cri.container-type":        "container",
		"io.kubernetes.cri.sandbox-id":            "5d2e0c0c4c2f",
		"io.kubernetes.cri.sandbox-name":          "web-7d4b9",
		"io.kubernetes.cri.sandbox-namespace":     "shop",
		"io.kubernetes.cri.sandbox-uid":           "0f3e6a52-8d8c-4c55-9b3e-5b1f4f7c2a10",
		"io.kubernetes.cri.container-name":        "nginx",
		"io.kubernetes.cri.image-name":            "docker.io/library/nginx:1.27",
		"org.example/team":                        "checkout",
		"io.kubernetes.cri.sandbox-log-directory": "/var/log/pods/x",
	}
	crioAnnotations = map[string]string{
		"io.kubernetes.cri-o.ContainerType": "container",
		"io.kubernetes.cri-o.ContainerName": "k8s_nginx_web-7d4b9_shop_0f3e6a52_0",
		"io.kubernetes.pod.name":            "api-5f6c",
		"io.kubernetes.pod.namespace":       "billing",
		"io.kubernetes.pod.uid":             "9a1b2c3d-0000-4000-8000-000000000001",
		"io.kubernetes.container.name":      "server",
		"io.container.manager":              "cri-o",
	}
)

func TestIdentityOf(t *testing.T) {
	both := map[string]string{}
	for k, v := range containerdAnnotations {
		both[k] = v
	}
	for k, v := range crioAnnotations {
		both[k] = v
	}
	for _, tc := range []struct {
		name     string
		ann      map[string]string
		metadata string
		want     agent.Identity
		err      error
	}{
		{"containerd", containerdAnnotations, "", agent.Identity{Pod: "web-7d4b9", Namespace: "shop",
			PodUID: "0f3e6a52-8d8c-4c55-9b3e-5b1f4f7c2a10", Container: "nginx", Runtime: "containerd"}, nil},
		{"cri-o", crioAnnotations, "", agent.Identity{Pod: "api-5f6c", Namespace: "billing",
			PodUID: "9a1b2c3d-0000-4000-8000-000000000001", Container: "server", Runtime: "cri-o"}, nil},
		{"containerd sandbox", map[string]string{"io.kubernetes.cri.container-type": "sandbox",
			"io.kubernetes.cri.sandbox-name": "web", "io.kubernetes.cri.sandbox-namespace": "shop"}, "",
			agent.Identity{Pod: "web", Namespace: "shop", Sandbox: true, Runtime: "containerd"}, nil},
		{"cri-o infra", map[string]string{"io.kubernetes.cri-o.ContainerType": "sandbox",
			"io.kubernetes.pod.name": "web", "io.kubernetes.container.name": "POD"}, "",
			agent.Identity{Pod: "web", Sandbox: true, Runtime: "cri-o"}, nil},
		{"none", nil, "", agent.Identity{}, nil},
		{"metadata only", map[string]string{"org.example/x": "y"}, "profile=strict\n# comment\nopaque\n team = web \n=x\n",
			agent.Identity{Metadata: map[string]string{"profile": "strict", "team": "web"}}, nil},
		{"both", both, "", agent.Identity{}, agent.ErrAmbiguousIdentity},
		{"both pinned containerd", both, "runtime=containerd", agent.Identity{Pod: "web-7d4b9", Namespace: "shop",
			PodUID: "0f3e6a52-8d8c-4c55-9b3e-5b1f4f7c2a10", Container: "nginx", Runtime: "containerd",
			Metadata: map[string]string{"runtime": "containerd"}}, nil},
		{"both pinned cri-o", both, "runtime=cri-o", agent.Identity{Pod: "api-5f6c", Namespace: "billing",
			PodUID: "9a1b2c3d-0000-4000-8000-000000000001", Container: "server", Runtime: "cri-o",
			Metadata: map[string]string{"runtime": "cri-o"}}, nil},
		{"pinned, keys absent", crioAnnotations, "runtime=containerd", agent.Identity{Runtime: "containerd",
			Metadata: map[string]string{"runtime": "containerd"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := agent.IdentityOf(tc.ann, tc.metadata)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if _, err := agent.IdentityOf(nil, "runtime=docker"); err == nil {
		t.Error("runtime=docker accepted")
	}
	if got := (agent.Identity{Pod: "p", Namespace: "n"}).PodName(); got != "n/p" {
		t.Errorf("PodName %q", got)
	}
}

func FuzzIdentityOf(f *testing.F) {
	f.Add("io.kubernetes.cri.sandbox-name", "web", "runtime=containerd\nx=y")
	f.Add("io.kubernetes.pod.name", "web", "")
	f.Add("", "", "=\n#\n\n a = b ")
	f.Fuzz(func(t *testing.T, key, value, metadata string) {
		id, err := agent.IdentityOf(map[string]string{key: value}, metadata)
		if err != nil {
			return
		}
		for k := range id.Metadata {
			if k == "" {
				t.Errorf("empty metadata key from %q", metadata)
			}
		}
		if id.Runtime == "" && (id.Pod != "" || id.Container != "") {
			t.Errorf("identity %+v without a runtime", id)
		}
	})
}

// TestPodIdentity runs bundles carrying containerd-style and CRI-O-style
// annotations and one with none: each container's Identity is its pod's,
// and the agent's log records about it carry the identity.
func TestPodIdentity(t *testing.T) {
	ocitest.ForEachRuntime(t, testPodIdentity)
}

func testPodIdentity(t *testing.T, rt *ocitest.Runtime) {
	ctx := testCtx(t)
	log := newLogRecorder()
	calls := make(chan call, 10)
	idents := make(chan agent.Identity, 10)
	deny := denyMkdir(unix.EDQUOT, calls)
	sock := startServer(t, &agent.Server{Logger: slog.New(log), NewHandler: func(c *agent.Container) seccompstream.Handler {
		idents <- c.Identity()
		return deny(c)
	}})
	rootfs := newRootfs(t)
	for _, tc := range []struct {
		name string
		ann  map[string]string
		want agent.Identity
	}{
		{"containerd", containerdAnnotations, agent.Identity{Pod: "web-7d4b9", Namespace: "shop",
			PodUID: "0f3e6a52-8d8c-4c55-9b3e-5b1f4f7c2a10", Container: "nginx", Runtime: "containerd"}},
		{"cri-o", crioAnnotations, agent.Identity{Pod: "api-5f6c", Namespace: "billing",
			PodUID: "9a1b2c3d-0000-4000-8000-000000000001", Container: "server", Runtime: "cri-o"}},
		{"plain", nil, agent.Identity{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := newBundle(t, bundleOpts{rootfs: rootfs, listener: sock, annotations: tc.ann, script: `mkdir /tmp/x`})
			c := rt.Start(t, ctx, bundle, "ident-"+tc.name+"-"+rt.Name)
			c.Wait(t)
			if got := <-idents; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Identity %+v, want %+v", got, tc.want)
			}
			<-calls
			rec := log.wait(t, "agent: container connected")
			for key, want := range map[string]string{"namespace": tc.want.Namespace, "pod": tc.want.Pod,
				"pod_uid": tc.want.PodUID, "k8s_container": tc.want.Container} {
				got := attr(rec, key)
				if want == "" && got != nil || want != "" && fmt.Sprint(got) != want {
					t.Errorf("log record %q: %s=%v, want %q", rec.Message, key, got, want)
				}
			}
			if rec := log.wait(t, "agent: container stream ended"); fmt.Sprint(attr(rec, "pod")) != fmt.Sprint(attrOr(tc.want.Pod)) {
				t.Errorf("stream-ended record has pod=%v, want %q", attr(rec, "pod"), tc.want.Pod)
			}
		})
	}
}

// attrOr is what attr returns for an attribute with value s: nil when the
// Server leaves it out (empty).
func attrOr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TestPodPolicy: runc bundles carrying containerd-style and CRI-O-style
// annotations get the policy of their pod, a bundle without annotations
// the policy's default.
func TestPodPolicy(t *testing.T) {
	p, err := policy.Parse([]byte(`{
	  "default": "deny:EDQUOT",
	  "containers": [
	    {"match": {"namespace": "shop", "pod": "web-*", "container": "nginx"}, "default": "deny:EACCES"},
	    {"match": {"namespace": "billing"}, "default": "deny:EROFS"}
	  ]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	newHandler, err := agent.PolicyHandler(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := ocitest.NewRuntime(t, "runc")
	ctx := testCtx(t)
	sock := startServer(t, &agent.Server{Logger: slog.New(newLogRecorder()), NewHandler: newHandler})
	rootfs := newRootfs(t)
	for _, tc := range []struct {
		name string
		ann  map[string]string
		want string
	}{
		{"containerd", containerdAnnotations, "permission denied"},
		{"cri-o", crioAnnotations, "read-only file system"},
		{"plain", nil, "disk quota exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := newBundle(t, bundleOpts{rootfs: rootfs, listener: sock, annotations: tc.ann, script: `mkdir /tmp/x`})
			out := strings.ToLower(rt.Start(t, ctx, bundle, "podpolicy-"+tc.name).Wait(t))
			if !strings.Contains(out, "/tmp/x': "+tc.want) {
				t.Errorf("mkdir in the %s container: %q, want %q", tc.name, out, tc.want)
			}
		})
	}
}
