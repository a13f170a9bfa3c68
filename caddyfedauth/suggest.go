package caddyfedauth

import (
	"fmt"
	"maps"
	"slices"
)

// didYouMean returns " (did you mean 'x'?)" naming the option closest to
// the unknown s, or "" when none is close enough to be a typo of it.
func didYouMean[V any](s string, options map[string]V) string {
	if name := closestName(s, slices.Sorted(maps.Keys(options))); name != "" {
		return fmt.Sprintf(" (did you mean '%s'?)", name)
	}
	return ""
}

// closestName returns the first of names nearest to s in edit distance,
// if at most two edits and one per three characters of s apart: close
// enough for a typo, not a different word.
func closestName(s string, names []string) string {
	best, bestDist := "", 0
	for _, name := range names {
		if d := editDistance(s, name); best == "" || d < bestDist {
			best, bestDist = name, d
		}
	}
	if best == "" || bestDist > 2 || 3*bestDist > len(s) {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// the insertions, deletions, substitutions and swaps of two adjacent
// bytes that turn one into the other.
func editDistance(a, b string) int {
	// rows i-2, i-1 and i of the dynamic programming table
	prev2, prev, cur := make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
