package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Annotation keys that Kubernetes container runtimes write into a
// container's config.json, from which Identity is resolved.
//
// containerd's CRI plugin: internal/cri/annotations/annotations.go
// (DefaultCRIAnnotations sets them on every pod container and sandbox).
// CRI-O: the kubelet's container labels (k8s.io/kubelet/pkg/types/labels.go),
// which CRI-O copies into the annotations
// (internal/factory/container/container.go, SpecAddAnnotations), and its
// own internal/annotations/annotations.go.
const (
	AnnotationCRISandboxName      = "io.kubernetes.cri.sandbox-name"
	AnnotationCRISandboxNamespace = "io.kubernetes.cri.sandbox-namespace"
	AnnotationCRISandboxUID       = "io.kubernetes.cri.sandbox-uid"
	AnnotationCRIContainerName    = "io.kubernetes.cri.container-name"
	AnnotationCRIContainerType    = "io.kubernetes.cri.container-type" // "sandbox" or "container"

	AnnotationPodName       = "io.kubernetes.pod.name"
	AnnotationPodNamespace  = "io.kubernetes.pod.namespace"
	AnnotationPodUID        = "io.kubernetes.pod.uid"
	AnnotationContainerName = "io.kubernetes.container.name"
	AnnotationCRIOType      = "io.kubernetes.cri-o.ContainerType" // "sandbox" or "container"
)

// Runtimes an Identity can come from (Identity.Runtime), and the values of
// the listenerMetadata key "runtime" that pins one.
const (
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
)

// ErrAmbiguousIdentity: a container's annotations carry the identity keys
// of both containerd and CRI-O and listenerMetadata has no "runtime" line
// to say which runtime wrote them. One set was written by whoever wrote
// the pod (a runtime copies pod annotations into the container's), so
// neither can be trusted; the Server refuses such a container.
var ErrAmbiguousIdentity = errors.New("agent: annotations carry both containerd's and CRI-O's pod identity")

// Identity is who a container is on a Kubernetes node: its pod and its
// name in the pod, as the container runtime recorded them in the
// container's annotations, and the KEY=VALUE lines of the seccomp
// profile's listenerMetadata.
//
// The runtime that wrote the annotations is decided first:
//
//  1. a "runtime=containerd" or "runtime=cri-o" line in listenerMetadata
//     (the node's seccomp profile, which the cluster's administrator
//     writes; which installed profile a pod uses is the pod's choice, so
//     put the line in every profile that names the agent) names it, and
//     only its keys are read;
//  2. otherwise the keys present decide: containerd's CRI plugin writes
//     io.kubernetes.cri.sandbox-name and its siblings, CRI-O writes the
//     kubelet's io.kubernetes.pod.name, io.kubernetes.pod.namespace,
//     io.kubernetes.pod.uid and io.kubernetes.container.name labels;
//  3. both sets present is ErrAmbiguousIdentity.
//
// Each runtime writes its own keys after it copied the pod's
// annotations, so a pod cannot replace them; it could add the other
// runtime's keys, which is why step 3 refuses rather than guesses. Pod
// annotations other than these keys are whatever the pod's author wrote:
// policies that select by them let the author choose.
//
// A container started without Kubernetes has an Identity with nothing but
// Metadata.
type Identity struct {
	Pod       string // the pod's name
	Namespace string // the pod's namespace
	PodUID    string // the pod's uid
	Container string // the container's name in the pod
	// Sandbox is true for the pod's sandbox ("pause", "infra") container.
	Sandbox bool
	// Runtime is the runtime whose keys gave the fields above:
	// RuntimeContainerd, RuntimeCRIO, or "" when there were none.
	Runtime string
	// Metadata holds the KEY=VALUE lines of listenerMetadata (see
	// ParseMetadata); nil when there are none.
	Metadata map[string]string
}

var (
	containerdKeys = []string{AnnotationCRISandboxName, AnnotationCRISandboxNamespace, AnnotationCRISandboxUID, AnnotationCRIContainerName, AnnotationCRIContainerType}
	crioKeys       = []string{AnnotationPodName, AnnotationPodNamespace, AnnotationPodUID, AnnotationContainerName, AnnotationCRIOType}
)

// IdentityOf resolves the identity of a container from its annotations and
// its listenerMetadata, as Identity describes. Its errors match
// ErrAmbiguousIdentity, or name a "runtime" metadata value it does not know.
func IdentityOf(annotations map[string]string, metadata string) (Identity, error) {
	id := Identity{Metadata: ParseMetadata(metadata)}
	has := func(keys []string) bool {
		for _, k := range keys {
			if _, ok := annotations[k]; ok {
				return true
			}
		}
		return false
	}
	rt, pinned := id.Metadata["runtime"]
	switch {
	case pinned && rt != RuntimeContainerd && rt != RuntimeCRIO:
		return Identity{}, fmt.Errorf("agent: listenerMetadata: runtime=%q (want %q or %q)", rt, RuntimeContainerd, RuntimeCRIO)
	case pinned:
	case has(containerdKeys) && has(crioKeys):
		return Identity{}, fmt.Errorf("%w (and listenerMetadata has no runtime= line)", ErrAmbiguousIdentity)
	case has(containerdKeys):
		rt = RuntimeContainerd
	case has(crioKeys):
		rt = RuntimeCRIO
	default:
		return id, nil
	}
	keys := containerdKeys
	if rt == RuntimeCRIO {
		keys = crioKeys
	}
	id.Runtime = rt
	id.Pod = annotations[keys[0]]
	id.Namespace = annotations[keys[1]]
	id.PodUID = annotations[keys[2]]
	id.Container = annotations[keys[3]]
	id.Sandbox = annotations[keys[4]] == "sandbox"
	if id.Sandbox {
		// CRI-O names its infra container "POD"; containerd gives none.
		id.Container = ""
	}
	return id, nil
}

// ParseMetadata reads listenerMetadata as KEY=VALUE lines: each line with
// an "=" gives one entry, key and value trimmed of white space; blank
// lines, lines starting with "#" and lines without "=" (an opaque
// string, as listenerMetadata may be) add nothing. A later key replaces
// an earlier one. It returns nil when no line gives an entry.
func ParseMetadata(s string) map[string]string {
	var m map[string]string
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			continue
		}
		if m == nil {
			m = make(map[string]string)
		}
		m[k] = strings.TrimSpace(v)
	}
	return m
}

// IsZero reports whether id has neither a Kubernetes identity nor
// metadata.
func (id Identity) IsZero() bool {
	return id.Pod == "" && id.Namespace == "" && id.PodUID == "" && id.Container == "" && !id.Sandbox && len(id.Metadata) == 0
}

// PodName returns "namespace/pod", the pod's name as kubectl shows it; ""
// without a pod.
func (id Identity) PodName() string {
	if id.Pod == "" {
		return ""
	}
	if id.Namespace == "" {
		return id.Pod
	}
	return id.Namespace + "/" + id.Pod
}

// logAttrs returns the identity's fields for a log record: the ones set.
func (id Identity) logAttrs() []any {
	var a []any
	if id.Namespace != "" {
		a = append(a, slog.String("namespace", id.Namespace))
	}
	if id.Pod != "" {
		a = append(a, slog.String("pod", id.Pod))
	}
	if id.PodUID != "" {
		a = append(a, slog.String("pod_uid", id.PodUID))
	}
	if id.Container != "" {
		a = append(a, slog.String("k8s_container", id.Container))
	}
	if id.Sandbox {
		a = append(a, slog.Bool("sandbox", true))
	}
	return a
}
