package routes

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
)

// unreadable fails the test if it is read.
type unreadable struct{ t *testing.T }

func (u unreadable) Read([]byte) (int, error) {
	u.t.Fatal("body read although Content-Length is over the limit")
	return 0, nil
}

// endless is an endless chunked body.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	e.n += int64(len(p))
	return len(p), nil
}

func wantStatus(t *testing.T, err error, status int, reason string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != status || e.Reason != reason {
		t.Fatalf("error %v; want %d %s", err, status, reason)
	}
}

func TestReadBody(t *testing.T) {
	const limit = 1024
	body := bytes.Repeat([]byte("x"), limit)

	t.Run("declared length over the limit is refused unread", func(t *testing.T) {
		_, err := ReadBody(unreadable{t}, limit+1, limit)
		wantStatus(t, err, http.StatusRequestEntityTooLarge, ReasonBodyTooLarge)
	})
	t.Run("chunked body over the limit", func(t *testing.T) {
		src := &endless{}
		_, err := ReadBody(src, -1, limit)
		wantStatus(t, err, http.StatusRequestEntityTooLarge, ReasonBodyTooLarge)
		if src.n > 2*limit+512 { // LimitReader stops at limit+1; one buffer of slack
			t.Fatalf("read %d bytes for a %d-byte limit", src.n, limit)
		}
	})
	t.Run("chunked body one byte over", func(t *testing.T) {
		_, err := ReadBody(bytes.NewReader(append(body, 'y')), -1, limit)
		wantStatus(t, err, http.StatusRequestEntityTooLarge, ReasonBodyTooLarge)
	})
	t.Run("body longer than declared", func(t *testing.T) {
		_, err := ReadBody(bytes.NewReader(append(body, 'y')), 10, limit)
		wantStatus(t, err, http.StatusRequestEntityTooLarge, ReasonBodyTooLarge)
	})
	for _, cl := range []int64{-1, limit} {
		got, err := ReadBody(bytes.NewReader(body), cl, limit)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("exactly the limit, Content-Length %d: %d bytes, %v", cl, len(got), err)
		}
	}
	t.Run("small body, read byte for byte", func(t *testing.T) {
		in := `{"service":"fn"}`
		got, err := ReadBody(io.MultiReader(strings.NewReader(in[:3]), strings.NewReader(in[3:])), int64(len(in)), limit)
		if err != nil || string(got) != in {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("read error", func(t *testing.T) {
		boom := errors.New("connection reset")
		_, err := ReadBody(io.MultiReader(strings.NewReader("{"), &failing{boom}), -1, limit)
		wantStatus(t, err, http.StatusBadRequest, ReasonBodyRead)
		if !errors.Is(err, boom) {
			t.Fatalf("error %v does not wrap the read error", err)
		}
	})
	t.Run("nil body", func(t *testing.T) {
		if got, err := ReadBody(nil, 0, limit); got != nil || err != nil {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("no limit does not overflow", func(t *testing.T) {
		if got, err := ReadBody(strings.NewReader("{}"), -1, math.MaxInt64); err != nil || string(got) != "{}" {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("zero limit", func(t *testing.T) {
		if _, err := ReadBody(strings.NewReader(""), -1, 0); err != nil {
			t.Fatalf("empty body: %v", err)
		}
		_, err := ReadBody(strings.NewReader("{"), -1, 0)
		wantStatus(t, err, http.StatusRequestEntityTooLarge, ReasonBodyTooLarge)
	})
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }
