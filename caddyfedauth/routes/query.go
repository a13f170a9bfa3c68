package routes

import (
	"net/url"
	"strings"
)

// queryKeys are the query keys an OpenFaaS provider reads on a /system/
// endpoint: namespace everywhere, the rest by faas-provider's logs handler
// (logs/handler.go) and faas-cli's describe (usage).
var queryKeys = [...]string{"namespace", "name", "instance", "tail", "since", "follow", "usage"}

const (
	qNamespace = iota
	qName
)

// maxQueryParams bounds the '&'-separated parameters of a /system/ query.
// Go 1.26's url.ParseQuery returns no values at all past 10000 (GODEBUG
// urlmaxqueryparams, lower if the provider sets it), so a provider built
// with it would read ?namespace=staging&&&…&& as no namespace, the
// default; faas-netes builds with Go 1.26. No client sends more than 7.
const maxQueryParams = 100

// query holds what the providers read from a /system/ query string.
type query struct {
	val [len(queryKeys)]string
	set [len(queryKeys)]bool
}

// namespace returns the query's namespace and whether it has the key.
func (q *query) namespace() (string, bool) { return q.val[qNamespace], q.set[qNamespace] }

// parseQuery reads raw the way url.ParseQuery does, and refuses what the
// providers would read differently from us: a query ParseQuery reports an
// error for (it silently drops the offending pair: a semicolon, a bad
// escape), too many parameters, and a key the providers read, given
// twice (r.URL.Query().Get takes the first value, faas-provider's logs
// getValue the last). It allocates only to unescape a key or value.
func parseQuery(raw string) (query, *Error) {
	var q query
	if strings.Count(raw, "&")+1 > maxQueryParams {
		return q, errQueryTooLong
	}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		if strings.IndexByte(pair, ';') >= 0 {
			return q, errQuerySemi
		}
		k, v, _ := strings.Cut(pair, "=")
		k, ok := unescapeQuery(k)
		if !ok {
			return q, errQueryEscape
		}
		// Keys no provider reads are unescaped too: ParseQuery must not
		// fail on them either.
		if v, ok = unescapeQuery(v); !ok {
			return q, errQueryEscape
		}
		i := keyIndex(k)
		if i < 0 {
			continue
		}
		if q.set[i] {
			return q, errQueryRepeated
		}
		q.val[i], q.set[i] = v, true
	}
	return q, nil
}

func keyIndex(k string) int {
	for i, key := range queryKeys {
		if k == key {
			return i
		}
	}
	return -1
}

// unescapeQuery is url.QueryUnescape, without allocating when s has
// nothing to unescape.
func unescapeQuery(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, true
	}
	u, err := url.QueryUnescape(s)
	return u, err == nil
}
