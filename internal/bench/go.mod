module github.com/seccompstream/seccompstream/internal/bench

go 1.26.8

replace github.com/seccompstream/seccompstream => ../..

require (
	github.com/seccomp/libseccomp-golang v0.11.1
	github.com/seccompstream/seccompstream v0.0.0-00010101000000-000000000000
	golang.org/x/sys v0.50.0
)

require (
	github.com/opencontainers/runtime-spec v1.3.0 // indirect
	golang.org/x/net v0.62.0 // indirect
)
