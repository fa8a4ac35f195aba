// Package orderapi is the order API both order services answer with, the
// HTTP contract of shared/DESIGN.md: bearer keys bound to a channel, the
// create/get/list/cancel/patch handlers over a Store, the one mapping of
// store errors to problem documents, and the request metrics. What differs
// between the services (downstream calls, dry runs, faults, readiness) is
// passed in as function fields of Config.
package orderapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/problem"
)

// Store is the part of an order store the API calls. A store without dry
// runs may ignore dryRun when Config.DryRun is nil: it is then always false.
type Store interface {
	Create(ctx context.Context, d order.Draft, idemKey string, dryRun bool) (Created, error)
	Get(ctx context.Context, ch order.Channel, id string) (order.Order, error)
	List(ctx context.Context, ch order.Channel, customer string, limit int, cursor string) (Page, error)
	Cancel(ctx context.Context, ch order.Channel, id string, dryRun bool) (order.Order, error)
	Advance(ctx context.Context, ch order.Channel, id string, next order.Status, dryRun bool) (order.Order, error)
}

// Config is what an API is built from.
type Config struct {
	// Store holds the orders. Required.
	Store Store
	// Keys are the bearer keys, each bound to a channel. Required: with none
	// every order request is 401.
	Keys APIKeys
	// Rules validate new orders.
	Rules order.Rules
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// Logger logs, already scoped to the service. Required.
	Logger *slog.Logger

	// Ready checks the service's dependencies for /readyz. Required.
	Ready func(context.Context) error
	// NotReadyLog is the message logged when Ready fails, NotReadyDetail the
	// problem detail answered with the 503. Optional: default to empty.
	NotReadyLog, NotReadyDetail string

	// Admit runs first on every order API request, before authentication;
	// when it returns false it has answered. Optional: nil admits all.
	Admit func(http.ResponseWriter, *http.Request) bool
	// DryRun reports whether a write asks for a dry run (and marks the
	// answer). Optional: nil means never.
	DryRun func(http.ResponseWriter, *http.Request) bool
	// OnCreate is called after a new order is stored (not for a replay or
	// a dry run), before the 201 is written. Optional.
	OnCreate func(ctx context.Context, ch order.Channel, o order.Order)
	// Problem maps the service's own store errors to a response, or returns
	// nil for an error it does not know. It is asked after the shared
	// errors. Optional.
	Problem func(error) *problem.Problem
}

// API serves the order routes of Config.Store. The zero value is not
// usable; make one with New. It is safe for concurrent use.
type API struct {
	cfg  Config
	keys []apiKey
}

type apiKey struct {
	key     []byte
	channel order.Channel
}

// New builds the API from cfg.
func New(cfg Config) *API {
	a := &API{cfg: cfg}
	for _, k := range cfg.Keys {
		a.keys = append(a.keys, apiKey{key: []byte(k.Key.Reveal()), channel: order.Channel(k.Channel)})
	}
	return a
}

// Register adds the order routes, /healthz and /readyz to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/orders", a.authed(a.create))
	mux.HandleFunc("GET /v1/orders", a.authed(a.list))
	mux.HandleFunc("GET /v1/orders/{id}", a.authed(a.get))
	mux.HandleFunc("POST /v1/orders/{id}/cancel", a.authed(a.cancel))
	mux.HandleFunc("PATCH /v1/orders/{id}", a.authed(a.patch))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", a.ready)
}

// authed runs Admit, then resolves the bearer key to its channel or
// answers 401.
func (a *API) authed(h func(http.ResponseWriter, *http.Request, order.Channel)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.Admit != nil && !a.cfg.Admit(w, r) {
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			problem.Write(w, problem.New(http.StatusUnauthorized, "Unauthorized", "send Authorization: Bearer <api key>"))
			return
		}
		for _, k := range a.keys {
			if subtle.ConstantTimeCompare(k.key, []byte(token)) == 1 {
				h(w, r, k.channel)
				return
			}
		}
		problem.Write(w, problem.New(http.StatusUnauthorized, "Unauthorized", "the API key is not known; ask for a retail or wholesale key"))
	}
}

func (a *API) dryRun(w http.ResponseWriter, r *http.Request) bool {
	return a.cfg.DryRun != nil && a.cfg.DryRun(w, r)
}

func (a *API) create(w http.ResponseWriter, r *http.Request, ch order.Channel) {
	var req order.CreateRequest
	if p := problem.DecodeJSON(w, r, a.cfg.MaxBodyBytes, &req); p != nil {
		problem.Write(w, p)
		return
	}
	idemKey := r.Header.Get("Idempotency-Key")
	if len(idemKey) > 64 {
		problem.Write(w, problem.Invalid("Idempotency-Key", "must be at most 64 characters"))
		return
	}
	d, fe := a.cfg.Rules.Validate(ch, req)
	if fe != nil {
		problem.Write(w, problem.Invalid(fe.Field, fe.Detail))
		return
	}
	dry := a.dryRun(w, r)
	c, err := a.cfg.Store.Create(r.Context(), d, idemKey, dry)
	switch {
	case errors.Is(err, ErrIdempotencyConflict):
		problem.Write(w, problem.New(http.StatusUnprocessableEntity, "Idempotency key reused",
			"the Idempotency-Key was first used with another request; use a new key for a new order"))
		return
	case err != nil:
		a.fail(w, r, err)
		return
	}
	if c.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		WriteJSON(w, http.StatusCreated, c.Order)
		return
	}
	if !dry && a.cfg.OnCreate != nil {
		a.cfg.OnCreate(r.Context(), ch, c.Order)
	}
	w.Header().Set("Location", "/v1/orders/"+c.Order.ID)
	WriteJSON(w, http.StatusCreated, c.Order)
}

func (a *API) get(w http.ResponseWriter, r *http.Request, ch order.Channel) {
	o, err := a.cfg.Store.Get(r.Context(), ch, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, o)
}

func (a *API) list(w http.ResponseWriter, r *http.Request, ch order.Channel) {
	q := r.URL.Query()
	customer := q.Get("customer_id")
	if customer == "" {
		problem.Write(w, problem.Invalid("customer_id", "is required: GET /v1/orders?customer_id=…"))
		return
	}
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			problem.Write(w, problem.Invalid("limit", "must be a whole number from 1 to 100"))
			return
		}
		limit = n
	}
	page, err := a.cfg.Store.List(r.Context(), ch, customer, limit, q.Get("cursor"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, page)
}

func (a *API) cancel(w http.ResponseWriter, r *http.Request, ch order.Channel) {
	o, err := a.cfg.Store.Cancel(r.Context(), ch, r.PathValue("id"), a.dryRun(w, r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, o)
}

func (a *API) patch(w http.ResponseWriter, r *http.Request, ch order.Channel) {
	var req order.PatchRequest
	if p := problem.DecodeJSON(w, r, a.cfg.MaxBodyBytes, &req); p != nil {
		problem.Write(w, p)
		return
	}
	next, fe := req.Validate()
	if fe != nil {
		problem.Write(w, problem.Invalid(fe.Field, fe.Detail))
		return
	}
	o, err := a.cfg.Store.Advance(r.Context(), ch, r.PathValue("id"), next, a.dryRun(w, r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, o)
}

func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.cfg.Ready(ctx); err != nil {
		a.cfg.Logger.Warn(a.cfg.NotReadyLog, "err", err)
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "Not ready", a.cfg.NotReadyDetail))
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// fail maps a store error to its response: the one place that does.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var te *TransitionError
	var own *problem.Problem
	if a.cfg.Problem != nil {
		own = a.cfg.Problem(err)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		problem.Write(w, problem.New(http.StatusNotFound, "Order not found", "no order "+r.PathValue("id")+" for this API key's channel"))
	case errors.Is(err, ErrBadCursor):
		problem.Write(w, problem.Invalid("cursor", "is not a cursor this service issued; start again without it"))
	case errors.As(err, &te):
		problem.Write(w, problem.New(http.StatusConflict, "Status conflict", te.Error()))
	case own != nil:
		problem.Write(w, own)
	case errors.Is(err, context.Canceled):
		w.WriteHeader(499) // the client went away; nobody reads this
	default:
		a.cfg.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		problem.Write(w, problem.New(http.StatusInternalServerError, "Internal error", "the order service failed; retry with the same Idempotency-Key"))
	}
}

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
