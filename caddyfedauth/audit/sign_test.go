package audit

import "testing"

func TestSignVerify(t *testing.T) {
	// RFC 4231, test case 2.
	key, data := []byte("Jefe"), []byte("what do ya want for nothing?")
	const want = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	if got := Sign(key, data); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	for _, tc := range []struct {
		name         string
		secret, body []byte
		header       string
		ok           bool
	}{
		{"valid", key, data, want, true},
		{"uppercase hex", key, data, "sha256=5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843", true},
		{"other secret", []byte("jefe"), data, want, false},
		{"other body", key, []byte("what do ya want for nothing!"), want, false},
		{"no prefix", key, data, want[len("sha256="):], false},
		{"sha1 prefix", key, data, "sha1=" + want[len("sha256="):], false},
		{"truncated", key, data, want[:len(want)-2], false},
		{"not hex", key, data, "sha256=zz" + want[len("sha256=")+2:], false},
		{"empty", key, data, "", false},
		{"prefix only", key, data, "sha256=", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verify(tc.secret, tc.body, tc.header); got != tc.ok {
				t.Errorf("Verify = %v, want %v", got, tc.ok)
			}
		})
	}
}
