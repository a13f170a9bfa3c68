package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/openfaas/faas-provider/logs"
)

// maxLogLines bounds each function's log.
const maxLogLines = 100

// logf appends a line to a function's log. The caller holds p.mu.
func (f *function) logf(format string, args ...any) {
	f.log = append(f.log, logs.Message{
		Name:      f.status.Name,
		Namespace: f.status.Namespace,
		Instance:  f.status.Name + "-0",
		Timestamp: time.Now().UTC(),
		Text:      fmt.Sprintf(format, args...),
	})
	if len(f.log) > maxLogLines {
		f.log = f.log[len(f.log)-maxLogLines:]
	}
}

// Query implements faas-provider's logs.Requester, so that /system/logs
// is faas-provider's own handler (NDJSON, one logs.Message a line). It
// answers a function's log so far, the last Tail lines if Tail > 0, and
// ends the stream even when Follow is set: there is nothing live to tail.
// An unknown namespace or function is an error, which the handler answers
// with 500, as faas-netes does.
func (p *provider) Query(ctx context.Context, r logs.Request) (<-chan logs.Message, error) {
	ns, ok := p.namespace(r.Namespace)
	if !ok {
		return nil, fmt.Errorf("namespace %q is not allowed", ns)
	}
	p.mu.Lock()
	f, exists := p.functions[ns][r.Name]
	var lines []logs.Message
	if exists {
		lines = append(lines, f.log...)
	}
	p.mu.Unlock()
	if !exists {
		return nil, fmt.Errorf("function %s.%s not found", r.Name, ns)
	}
	if r.Instance != "" {
		lines = slices.DeleteFunc(lines, func(m logs.Message) bool { return m.Instance != r.Instance })
	}
	if r.Since != nil {
		for len(lines) > 0 && lines[0].Timestamp.Before(*r.Since) {
			lines = lines[1:]
		}
	}
	if r.Tail > 0 && len(lines) > r.Tail {
		lines = lines[len(lines)-r.Tail:]
	}
	out := make(chan logs.Message, len(lines))
	for _, m := range lines {
		out <- m
	}
	close(out)
	return out, nil
}

var _ logs.Requester = (*provider)(nil)
