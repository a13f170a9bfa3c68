package audit

import (
	"sync/atomic"
	"time"
)

// The kinds of warning, each rate limited on its own, so a flood of one
// (a full queue) does not hide another (a refused batch).
const (
	logQueueFull = iota
	logClosed
	logFailed
	logRejected
	logSecret
	numLogKinds
)

// logLimiter lets one message through per interval and counts the rest,
// without a lock: Send calls it on the request path when the queue is full.
type logLimiter struct {
	next       atomic.Int64 // unix nanoseconds before which messages are suppressed
	suppressed atomic.Int64
}

// allow reports whether to log now and, if so, how many messages were
// suppressed since the last one.
func (l *logLimiter) allow(every time.Duration) (bool, int64) {
	now := time.Now().UnixNano()
	next := l.next.Load()
	if now < next || !l.next.CompareAndSwap(next, now+int64(every)) {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, l.suppressed.Swap(0)
}
