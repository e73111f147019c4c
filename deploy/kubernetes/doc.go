// Package kubernetes holds the manifests for running the seccompstream
// agent on a Kubernetes node (see docs/kubernetes.md): a DaemonSet, a
// Localhost seccomp profile that sends the ready intercepts to the agent,
// a policy, and the Dockerfile of a static image. It has no Go API; its
// tests check the manifests, since no cluster runs in CI.
//
// seccomp-profile.json (the pods' profile), agent-seccomp-profile.json (the
// agent's own) and seccomp-profile-configmap.yaml (both, for the nodes) are
// generated from Docker's default profile (github.com/moby/profiles/seccomp,
// the version go.mod pins) by internal/genprofile.
package kubernetes

//go:generate go run ./internal/genprofile -o seccomp-profile.json -agent agent-seccomp-profile.json -configmap seccomp-profile-configmap.yaml
