package caddyfedauth

import "testing"

// FuzzClassifyPath checks, for any input, that classify is deterministic,
// that its reason is one of the fixed labels, that ambiguity does not depend
// on allowInvoke and that allowInvoke only widens what is allowed; and, for
// every allowed path, that it has one reading only (see otherReading).
func FuzzClassifyPath(f *testing.F) {
	for _, tc := range classifyCases {
		f.Add(tc.path)
	}
	for _, s := range []string{
		"/system/info/%2e%2e/", "/function/fn/%2e%2e%2f%2e%2e%2fui",
		"/function/fn/%u2215", "/function/fn/%ef%bc%8f", "/system/%E0%80%AF",
		"/function/fn/.%00./", "/function/fn/..\x00/", "/function/fn/%09",
		"/function/fn/a%20/..", "/system/info%2", "/system/in%fo",
	} {
		f.Add(s)
	}
	known := map[string]bool{
		pathReasonAllowed: true, pathReasonNotAllowed: true, pathReasonNotAbsolute: true,
		pathReasonDotSegment: true, pathReasonEmptySegment: true, pathReasonBackslash: true,
		pathReasonPathParam: true, pathReasonEncodedSlash: true, pathReasonEncodedDot: true,
		pathReasonEncodedPercent: true, pathReasonEncodedDelim: true, pathReasonEncodedChar: true,
		pathReasonBadEscape: true, pathReasonControlChar: true, pathReasonNonASCII: true,
		pathReasonBadChar: true,
	}
	f.Fuzz(func(t *testing.T, p string) {
		var verdicts [2]pathVerdict
		for i, invoke := range []bool{false, true} {
			rules := pathRules{allowInvoke: invoke}
			v, reason := rules.classify(p)
			if v2, reason2 := rules.classify(p); v2 != v || reason2 != reason {
				t.Fatalf("classify(%q) not deterministic: %d %q then %d %q", p, v, reason, v2, reason2)
			}
			if !known[reason] {
				t.Fatalf("classify(%q): unknown reason %q", p, reason)
			}
			if (v == pathAllowed) != (reason == pathReasonAllowed) ||
				(v == pathDenied) != (reason == pathReasonNotAllowed) {
				t.Fatalf("classify(%q): verdict %d with reason %q", p, v, reason)
			}
			if v == pathAllowed {
				if err := otherReading(p, invoke); err != "" {
					t.Fatalf("allowed %q (allowInvoke=%t): %s", p, invoke, err)
				}
			}
			verdicts[i] = v
		}
		if (verdicts[0] == pathAmbiguous) != (verdicts[1] == pathAmbiguous) {
			t.Fatalf("classify(%q): ambiguity depends on allowInvoke: %d vs %d", p, verdicts[0], verdicts[1])
		}
		if verdicts[0] == pathAllowed && verdicts[1] != pathAllowed {
			t.Fatalf("classify(%q): allowed without invoke but %d with it", p, verdicts[1])
		}
	})
}
