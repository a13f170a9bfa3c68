package caddyfedauth

import (
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// statusRecorder passes a response through and keeps its status, as
// caddyhttp.NewResponseRecorder does when it does not buffer, but inside
// the accessCheck, so it costs no allocation of its own. Hijack and Push
// reach the wrapped writer through Unwrap (http.ResponseController) and
// ResponseWriterWrapper.
type statusRecorder struct {
	caddyhttp.ResponseWriterWrapper
	status      int
	wroteHeader bool // the final status: not a 1xx
}

func (s *statusRecorder) WriteHeader(status int) {
	if s.wroteHeader {
		return
	}
	s.status = status
	s.wroteHeader = status < 100 || status > 199
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) ReadFrom(r io.Reader) (int64, error) {
	s.WriteHeader(http.StatusOK)
	return s.ResponseWriterWrapper.ReadFrom(r)
}

// FlushError flushes the wrapped writer. A flush before the status sends
// 200, so that is the status kept.
func (s *statusRecorder) FlushError() error {
	s.WriteHeader(http.StatusOK)
	return http.NewResponseController(s.ResponseWriter).Flush()
}
