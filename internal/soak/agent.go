package soak

import (
	"context"
	"sync"
	"time"
)

// agentRun is the agent scenario (agent_linux.go builds it).
type agentRun struct{}

func (h *harness) startAgent(*sync.WaitGroup) *agentRun           { return nil }
func (a *agentRun) killer(ctx context.Context, every time.Duration) {}
func (a *agentRun) stopAll()                                       {}
func (a *agentRun) close()                                         {}
