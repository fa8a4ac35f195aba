package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// cookieName is the session cookie: HttpOnly, SameSite=Strict, Secure on TLS.
const cookieName = "strangler_console"

// session is one login: its CSRF token (sent back in X-CSRF-Token on every
// action) and the name it acts under in the audit log. A value may be copied.
type session struct {
	csrf    string
	actor   string
	expires time.Time
}

// sessions keeps the logins in memory: the only state the console holds (a
// restart logs everyone out). The zero value is not usable; make one with
// newSessions. Safe for concurrent use; never copy one.
type sessions struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[string]session
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, now: now, m: map[string]session{}}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for actor and returns its id.
func (s *sessions) create(actor string) (id string, sess session) {
	id = randomToken()
	now := s.now()
	sess = session{csrf: randomToken(), actor: actor, expires: now.Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m { // drop expired ones, so the map stays small
		if now.After(v.expires) {
			delete(s.m, k)
		}
	}
	s.m[id] = sess
	return id, sess
}

// get returns r's live session.
func (s *sessions) get(r *http.Request) (session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[c.Value]
	if !ok || s.now().After(sess.expires) {
		delete(s.m, c.Value)
		return session{}, false
	}
	return sess, true
}

// drop ends r's session.
func (s *sessions) drop(r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.mu.Lock()
		delete(s.m, c.Value)
		s.mu.Unlock()
	}
}

// csrfOK reports whether r carries sess's CSRF token.
func csrfOK(r *http.Request, sess session) bool {
	got := r.Header.Get("X-CSRF-Token")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) == 1
}

// sameOrigin refuses a state-changing request a browser sent from another
// site (Origin or Sec-Fetch-Site), the second guard beside the CSRF token
// and SameSite=Strict.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return o == scheme+"://"+r.Host
}
