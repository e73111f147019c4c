package ocitest_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seccompstream/seccompstream/internal/ocitest"
)

// Bundle writes its seccomp section exactly as given (fields runtime-spec
// does not know included) beside Spec's settings and a tmpfs /tmp.
func TestBundle(t *testing.T) {
	dir := ocitest.Bundle(t, "/some/rootfs", []byte(`{"defaultAction":"SCMP_ACT_ALLOW","seccompstream":{"x":1}}`), "/bin/sh", "-c", "true")
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Root    struct{ Path string }
		Process struct {
			Args            []string
			NoNewPrivileges bool
		}
		Mounts []struct{ Destination string }
		Linux  struct {
			Namespaces []struct{ Type string }
			Seccomp    map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("config.json: %v\n%s", err, b)
	}
	if cfg.Root.Path != "/some/rootfs" || strings.Join(cfg.Process.Args, " ") != "/bin/sh -c true" || !cfg.Process.NoNewPrivileges {
		t.Errorf("config.json: %s", b)
	}
	if len(cfg.Mounts) != 2 || cfg.Mounts[1].Destination != "/tmp" || len(cfg.Linux.Namespaces) != 4 {
		t.Errorf("mounts or namespaces: %s", b)
	}
	var side struct{ X int }
	if err := json.Unmarshal(cfg.Linux.Seccomp["seccompstream"], &side); err != nil || side.X != 1 ||
		string(cfg.Linux.Seccomp["defaultAction"]) != `"SCMP_ACT_ALLOW"` {
		t.Errorf("seccomp section not as given: %s", b)
	}
	dir = ocitest.Bundle(t, "/some/rootfs", nil, "/bin/true")
	if b, _ := os.ReadFile(filepath.Join(dir, "config.json")); strings.Contains(string(b), "seccomp") {
		t.Errorf("a seccomp section without one given: %s", b)
	}
}

// A container started in the foreground: its lines one after the other,
// its input, its output once it ended.
func TestStart(t *testing.T) {
	ocitest.ForEachRuntime(t, func(t *testing.T, rt *ocitest.Runtime) {
		rootfs := ocitest.BusyboxRootfs(t, "sh", "echo", "cat")
		bundle := ocitest.WriteBundle(t, ocitest.Spec(rootfs, "/bin/sh", "-c", `echo one; echo two; read x; echo "got $x"; exit 3`))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c := rt.Start(t, ctx, bundle, rt.ID("ocitest-start"))
		if got := c.WaitLine(t, "o"); got != "one" {
			t.Errorf("first line with an o: %q", got)
		}
		if got := c.WaitLine(t, "o"); got != "two" {
			t.Errorf("second line with an o: %q", got)
		}
		if _, err := c.Stdin.Write([]byte("input\n")); err != nil {
			t.Fatal(err)
		}
		c.WaitOutput(t, "got input\n")
		if out := c.Wait(t); out != "one\ntwo\ngot input\n" {
			t.Errorf("output %q", out)
		}
		if c.Err() == nil || !strings.Contains(c.Err().Error(), "exit status 3") {
			t.Errorf("Err() = %v, want exit status 3", c.Err())
		}
		code, out := rt.Run(t, bundle, rt.ID("ocitest-run"))
		if code != 3 || !strings.HasPrefix(out, "one\ntwo\n") {
			t.Errorf("Run: %d, %q", code, out)
		}
	})
}
