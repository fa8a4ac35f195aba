package console

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/anycompany/strangler/internal/problem"
	"github.com/anycompany/strangler/proxy"
)

//go:embed assets
var assets embed.FS

// Server is the operator console: one web page over the parts' admin and
// status APIs. It holds no state but the login sessions; every figure is
// read from the parts when a page asks (and pushed by server-sent events
// every Config.Refresh). Make one with New; never copy one.
type Server struct {
	cfg      Config
	rd       *reader
	sess     *sessions
	admin    ProxyAdmin
	pages    *template.Template
	static   http.Handler
	log      *slog.Logger
	secure   bool
	tickerFn func(time.Duration) (<-chan time.Time, func())
}

// Deps are the Server's collaborators.
type Deps struct {
	// Admin calls the proxy. Optional: defaults to a *proxy.AdminClient on
	// Config.Proxy.
	Admin ProxyAdmin
	// HTTP reads the parts' metrics and status. Optional: defaults to a
	// client with Config.CallTimeout.
	HTTP *http.Client
	// DynamoDB reads the control table (Config.Migration). Optional: nil
	// hides the backfill and verify figures.
	DynamoDB ControlReader
	// DeadLetters lists and replays dead letters. Optional: nil hides them.
	DeadLetters DeadLetters
	// Now is the clock. Optional: defaults to time.Now.
	Now func() time.Time
	// Logger is the log. Optional: defaults to slog.Default().
	Logger *slog.Logger
}

// New builds the console on a validated cfg.
func New(cfg Config, d Deps) (*Server, error) {
	if d.HTTP == nil {
		d.HTTP = &http.Client{Timeout: cfg.CallTimeout}
	}
	if d.Admin == nil {
		d.Admin = &proxy.AdminClient{BaseURL: cfg.Proxy.AdminURL, Token: cfg.Proxy.Token.Reveal(), HTTP: d.HTTP}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	pages, err := template.ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("parsing the console's pages: %w", err)
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("the console's assets: %w", err)
	}
	s := &Server{
		cfg: cfg, admin: d.Admin, pages: pages, log: d.Logger.With("component", "console"),
		sess:   newSessions(cfg.SessionTTL, d.Now),
		static: http.StripPrefix("/assets/", http.FileServerFS(static)),
		secure: cfg.TLS.Enabled(),
		rd: &reader{admin: d.Admin, adminURL: strings.TrimRight(cfg.Proxy.AdminURL, "/"), token: cfg.Proxy.Token.Reveal(),
			cdcURL: cfg.CDCURL, sbURL: cfg.SyncbackURL, http: d.HTTP, timeout: cfg.CallTimeout, now: d.Now,
			ddb: d.DynamoDB, mig: cfg.Migration, dead: d.DeadLetters},
		tickerFn: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		},
	}
	return s, nil
}

// Handler returns the console's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.Handle("GET /assets/", s.static)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /api/snapshot", s.authed(s.snapshot))
	mux.HandleFunc("GET /api/events", s.authed(s.events))
	mux.HandleFunc("GET /api/routes/{route}/history", s.authed(s.history))
	mux.HandleFunc("POST /api/routes/{route}", s.action(s.setRoute))
	mux.HandleFunc("POST /api/routes/{route}/plan", s.action(s.planAction))
	mux.HandleFunc("POST /api/deadletters/{source}/{id}/replay", s.action(s.replayDeadLetter))
	return securityHeaders(mux)
}

// securityHeaders forbids framing and anything not from the console itself.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin") // no-referrer would make forms send Origin: null
		h.ServeHTTP(w, r)
	})
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.sess.get(r)
	if !ok {
		s.page(w, http.StatusOK, "login.html", map[string]string{})
		return
	}
	s.page(w, http.StatusOK, "index.html", map[string]string{"CSRF": sess.csrf, "Actor": sess.actor})
}

func (s *Server) page(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := s.pages.ExecuteTemplate(w, name, data); err != nil {
		s.log.Warn("rendering a page failed", "page", name, "err", err)
	}
}

// wantsJSON says whether the client asked for JSON rather than a page.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json") && !strings.Contains(r.Header.Get("Accept"), "text/html")
}

// login checks the proxy's admin token and starts a session named after
// the operator (the actor of their changes in the audit log).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		problem.Write(w, problem.New(http.StatusForbidden, "Cross-site request", "log in from the console's own page"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	token, name := r.PostFormValue("token"), strings.TrimSpace(r.PostFormValue("name"))
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.Proxy.Token.Reveal())) != 1 {
		s.log.Warn("login refused: wrong token", "remote", r.RemoteAddr)
		const detail = "the token is not the proxy's admin token (admin.token, STRANGLER_PROXY_ADMIN_TOKEN)"
		if wantsJSON(r) {
			problem.Write(w, problem.New(http.StatusUnauthorized, "Unauthorized", detail))
			return
		}
		s.page(w, http.StatusUnauthorized, "login.html", map[string]string{"Error": "Wrong token: " + detail, "Name": name})
		return
	}
	if name == "" {
		name = "console"
	}
	id, _ := s.sess.create(name)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.cfg.SessionTTL.Seconds())})
	s.log.Info("login", "actor", name, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.sess.get(r)
	if !ok {
		problem.Write(w, problem.New(http.StatusUnauthorized, "Unauthorized", "no session to end"))
		return
	}
	if !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.csrf)) != 1 {
		problem.Write(w, problem.New(http.StatusForbidden, "Forbidden", "log out from the console's own page"))
		return
	}
	s.sess.drop(r)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// authed lets only a logged-in session through.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.sess.get(r)
		if !ok {
			problem.Write(w, problem.New(http.StatusUnauthorized, "Unauthorized", "log in with the proxy's admin token first"))
			return
		}
		h(w, r, sess)
	}
}

// action is authed plus the CSRF token and a same-origin check.
func (s *Server) action(h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, sess session) {
		if !sameOrigin(r) || !csrfOK(r, sess) {
			problem.Write(w, problem.New(http.StatusForbidden, "CSRF check failed", "send the page's CSRF token in X-CSRF-Token (reload the page)"))
			return
		}
		h(w, r, sess)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) snapshot(w http.ResponseWriter, r *http.Request, _ session) {
	writeJSON(w, http.StatusOK, s.rd.snapshot(r.Context()))
}

// history passes on the proxy's history of a route or write group, with
// which the page seeds its charts (the proxy keeps it, not the console).
func (s *Server) history(w http.ResponseWriter, r *http.Request, _ session) {
	v, err := s.admin.History(r.Context(), r.PathValue("route"))
	if err != nil {
		s.proxyError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// events pushes a snapshot at once and then every Config.Refresh, as
// server-sent events named "snapshot", until the page goes away.
func (s *Server) events(w http.ResponseWriter, r *http.Request, _ session) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	tick, stop := s.tickerFn(s.cfg.Refresh)
	defer stop()
	for {
		b, err := json.Marshal(s.rd.snapshot(r.Context()))
		if err != nil {
			s.log.Error("encoding a snapshot failed", "err", err)
			return
		}
		if _, err := fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick:
		}
	}
}

// actionRequest is the body of the console's actions: what to change and
// why. Reason (it goes to the audit log) and Confirmed are required.
type actionRequest struct {
	Mode   *string  `json:"mode,omitempty"`
	Weight *float64 `json:"weight,omitempty"`
	Action string   `json:"action,omitempty"`
	Reason string   `json:"reason"`
	// Confirmed says the operator confirmed the action in the page.
	Confirmed bool `json:"confirmed,omitempty"`
}

func (s *Server) decodeAction(w http.ResponseWriter, r *http.Request) (actionRequest, bool) {
	var req actionRequest
	if p := problem.DecodeJSON(w, r, 16<<10, &req); p != nil {
		problem.Write(w, p)
		return req, false
	}
	if strings.TrimSpace(req.Reason) == "" {
		problem.Write(w, problem.Invalid("reason", "say why (it goes to the audit log)"))
		return req, false
	}
	if !req.Confirmed {
		problem.Write(w, problem.Invalid("confirmed", "confirm the action first (the page asks; send \"confirmed\": true)"))
		return req, false
	}
	return req, true
}

func (s *Server) setRoute(w http.ResponseWriter, r *http.Request, sess session) {
	req, ok := s.decodeAction(w, r)
	if !ok {
		return
	}
	route := r.PathValue("route")
	st, err := s.admin.SetRoute(r.Context(), route, proxy.SetRouteRequest{Mode: req.Mode, Weight: req.Weight, Actor: sess.actor, Reason: req.Reason})
	if err != nil {
		s.proxyError(w, err)
		return
	}
	s.log.Info("route set", "route", route, "actor", sess.actor, "mode", st.Mode, "weight", st.Weight, "reason", req.Reason)
	writeJSON(w, http.StatusOK, st)
}

// planAction starts, pauses, resumes or aborts a route's plan, with the
// operator's reason (the plan's history and the proxy's audit log).
func (s *Server) planAction(w http.ResponseWriter, r *http.Request, sess session) {
	req, ok := s.decodeAction(w, r)
	if !ok {
		return
	}
	route := r.PathValue("route")
	st, err := s.admin.Plan(r.Context(), route, proxy.PlanRequest{Action: req.Action, Actor: sess.actor, Reason: req.Reason})
	if err != nil {
		s.proxyError(w, err)
		return
	}
	s.log.Info("plan action", "route", route, "action", req.Action, "actor", sess.actor, "reason", req.Reason, "state", st.State)
	writeJSON(w, http.StatusOK, st)
}

func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	problem.Write(w, problem.New(status, title, detail))
}

// proxyError passes the proxy's problem on, or says the proxy is unreachable.
func (s *Server) proxyError(w http.ResponseWriter, err error) {
	var p *problem.Problem
	if errors.As(err, &p) {
		problem.Write(w, p)
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		problem.Write(w, problem.New(http.StatusGatewayTimeout, "Proxy did not answer", err.Error()))
		return
	}
	problem.Write(w, problem.New(http.StatusBadGateway, "Proxy unreachable", err.Error()))
}
