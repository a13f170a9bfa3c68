package caddyfedauth

import (
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"
)

// tokenKey is the cache key: a hash, so the cache never holds a usable token.
type tokenKey [sha256.Size]byte

// hashToken hashes without copying the token: Sum256 only reads it.
func hashToken(token string) tokenKey {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// cachedToken is a token that passed every check, with the key that signed it.
type cachedToken struct {
	id      *identity
	key     *verificationKey
	expires time.Time // the token's exp: an entry is never served past it
}

// tokenCache is a bounded map of verified tokens. It lets a client that
// reuses its token pay for the signature once. When full, it drops expired
// entries, then arbitrary ones (Go's map order): a flood of distinct tokens
// can push useful entries out, but never grow memory past the bound.
type tokenCache struct {
	mu        sync.RWMutex
	entries   map[tokenKey]cachedToken
	max       int
	lastSweep time.Time
}

func newTokenCache(bound int) *tokenCache {
	return &tokenCache{entries: make(map[tokenKey]cachedToken, clamp(bound, 0, 1024)), max: bound}
}

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }

func (c *tokenCache) get(k tokenKey, now time.Time) (cachedToken, bool) {
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return cachedToken{}, false
	}
	return e, true
}

func (c *tokenCache) put(k tokenKey, e cachedToken, now time.Time) {
	if c.max <= 0 || !now.Before(e.expires) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		// A full sweep is O(n); do it at most once a second and
		// otherwise evict one arbitrary entry per insert.
		if now.Sub(c.lastSweep) >= time.Second {
			c.lastSweep = now
			for key, old := range c.entries {
				if !now.Before(old.expires) {
					delete(c.entries, key)
				}
			}
		}
		for key := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, key)
		}
	}
	c.entries[k] = e
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
