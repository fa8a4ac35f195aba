// Package console is the operator console (strangler console): one web page
// for the whole migration — the phase, routes and write groups with their
// plans and bakes, live charts against the SLO, shadow diffs, the data path
// (cdc lag and events, dead letters, sync-back) and the audit log — with the
// proxy's actions behind a reason and a confirmation.
//
// It is stateless but for login sessions: every figure is read from the
// parts' admin and status APIs when a page asks, and pushed to open pages by
// server-sent events. Actions go through proxy.AdminClient, the CLI's own
// client, so they leave the same audit trail. Login takes the proxy's admin
// token and sets an HttpOnly, SameSite=Strict session cookie; every action
// also needs the session's CSRF token and a same-origin request. The page's
// assets (uPlot pinned by console/web/package-lock.json, copied by make
// console-assets) are embedded: nothing loads from elsewhere.
package console
