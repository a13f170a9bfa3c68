package e2e

import (
	"regexp"
	"strings"
)

// Refusal is how faas-cli prints a status it did not expect (proxy/*.go:
// "server returned unexpected status code: 403 - ...", "Server returned
// unexpected status code 403 ...", "Unexpected status: 403, message:
// ..."); the group is the status. go-sdk (namespaces) prints only the
// body of a 403.
var Refusal = regexp.MustCompile(`(?i)unexpected status(?: code)?:? (\d{3})\b`)

// ListedNamespaces reads faas-cli namespaces' output (" - name" lines).
func ListedNamespaces(out string) []string {
	var ns []string
	for _, l := range strings.Split(out, "\n") {
		if n, ok := strings.CutPrefix(l, " - "); ok {
			ns = append(ns, strings.TrimSpace(n))
		}
	}
	return ns
}
