package routes

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// refParseObject is parseObject's rules written the slow, obvious way, on
// encoding/json's tokenizer, for FuzzParseObject to hold the walker to.
func refParseObject(body []byte, keys ...string) (out [2]string, ok bool) {
	if !utf8.Valid(body) {
		return out, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var skip func(depth int) bool
	skip = func(depth int) bool {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		d, isDelim := t.(json.Delim)
		if !isDelim {
			return true
		}
		if depth+1 > maxBodyDepth {
			return false
		}
		seen := map[string]bool{}
		for dec.More() {
			if d == '{' {
				t, err := dec.Token()
				if err != nil || seen[t.(string)] {
					return false
				}
				seen[t.(string)] = true
			}
			if !skip(depth + 1) {
				return false
			}
		}
		_, err = dec.Token()
		return err == nil
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return out, false
	}
	var names []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return out, false
		}
		name := t.(string)
		for _, n := range names {
			if strings.EqualFold(n, name) {
				return out, false
			}
		}
		names = append(names, name)
		i := -1
		for j, k := range keys {
			if strings.EqualFold(name, k) {
				i = j
			} else if strings.EqualFold(strings.NewReplacer("-", "", "_", "").Replace(name), k) {
				return out, false
			}
		}
		if i < 0 {
			if !skip(1) {
				return out, false
			}
			continue
		}
		switch v, err := dec.Token(); v := v.(type) {
		case string:
			out[i] = v
		case nil:
			if err != nil {
				return out, false
			}
		default:
			return out, false
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return out, false
	}
	return out, len(bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n")) == 0
}

// FuzzParseObject holds parseObject to refParseObject, and what it reads
// to what encoding/json reads into a struct.
func FuzzParseObject(f *testing.F) {
	for _, tc := range append(append([]mapCase{}, faasCLICases...), attackCases...) {
		if tc.body != "" {
			f.Add([]byte(tc.body))
		}
	}
	for _, s := range []string{
		`{"a":[1,{"b":2,"b":3}]}`, `{"a":{"b":{"c":[[[]]]}}}`, `{"name":"\"x\\"}`, `{"na\u006de":"x","NAME":"y"}`,
		`{"a":"\\\"","name":"fn"}`, `{"name":1.5e3}`, `{"name":true}`, `{ "name" : "fn" , "namespace" : null }`,
		`{"a":{"x":1,"X":2},"b":{"x":1,"x":2}}`, `{"name-":"x"}`, `{"__name":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := parseObject(body, "name", "namespace")
		want, ok := refParseObject(body, "name", "namespace")
		if (err == nil) != ok || err == nil && got != want {
			t.Fatalf("parseObject(%q) = %+v, %v; the reference reads %+v, %t", body, got, err, want, ok)
		}
		if err != nil {
			return
		}
		var v struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		}
		if e := json.Unmarshal(body, &v); e != nil || v.Name != got[0] || v.Namespace != got[1] {
			t.Fatalf("parseObject(%q) = %+v; encoding/json reads %+v, %v", body, got, v, e)
		}
	})
}
