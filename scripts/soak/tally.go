package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

const maxSamples = 8

// tally counts events by kind and keeps the first few, with when and in
// which phase they happened, for the report.
type tally struct {
	mu      sync.Mutex
	counts  map[string]int
	samples []string
}

func (t *tally) add(kind, detail string, at time.Duration, phase string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.counts == nil {
		t.counts = make(map[string]int)
	}
	t.counts[kind]++
	if len(t.samples) < maxSamples {
		t.samples = append(t.samples, fmt.Sprintf("t=%v [%s] %s: %s", at.Round(time.Millisecond), phase, kind, detail))
	}
}

func (t *tally) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.counts {
		n += c
	}
	return n
}

// String is "0", or the total followed by the counts by kind.
func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.counts) == 0 {
		return "0"
	}
	n := 0
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(t.counts)) {
		n += t.counts[k]
		kinds = append(kinds, fmt.Sprintf("%s %d", k, t.counts[k]))
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(kinds, ", "))
}

func (t *tally) firstSamples() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.samples)
}
