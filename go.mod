module github.com/seccompstream/seccompstream

go 1.26.8

require (
	github.com/moby/profiles/seccomp v0.3.0
	github.com/opencontainers/runtime-spec v1.3.0
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)

require gopkg.in/yaml.v3 v3.0.1
