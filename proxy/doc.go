// Package proxy is the strangler proxy: a reverse proxy in front of the
// legacy order service and the new one that moves traffic a slice at a
// time, by route, with sticky monotonic buckets (invariant 5 of
// shared/DESIGN.md), and keeps every change persisted and audited.
//
// The parts, one responsibility each, wired by New:
//
//   - Proxy is the request path (an http.Handler): match a route of the
//     current Table, pick a backend (forced, owned id, pinned idempotency
//     key, mode and sticky bucket, availability), forward it through that
//     backend's httputil.ReverseProxy (Upstream), record the outcome.
//   - Table is an immutable routing table; Switch owns the current one behind
//     an atomic.Pointer and applies every change (admin API, plans, the
//     config file, other replicas) by persisting it with its audit entry
//     (StateStore: the ControlTable in DynamoDB) and swapping in a new Table.
//   - Pinner pins POSTs with an Idempotency-Key to the backend that first saw
//     the key (PinStore: the ControlTable).
//   - HealthChecker and Breaker say whether the new backend may take a
//     request; Stats and Metrics record per route and backend figures, which
//     also feed the plan controller (proxy/plan) through planObserver.
//   - mirrorSet runs a proxy/shadow Mirror per route for shadow mode.
//   - Admin is the operators' API; AdminClient its client (the CLI).
//   - Reloader applies edits of the config file live.
//
// Decisions worth knowing: bucket = fmix64(fnv1a64(key)) mod 10000 (see
// Bucket); X-Strangler-Backend without force.token is ignored, not
// refused, and a client's own X-Strangler-* headers never reach a backend; a persisted admin or plan change wins over the config file until
// the file changes that route's mode or weight (see Switch).
package proxy
