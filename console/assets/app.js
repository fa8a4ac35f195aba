// strangler console: renders the snapshots the server pushes (server-sent
// events) and sends actions with the page's CSRF token. It keeps only
// what a page needs to draw charts (the figures of the snapshots it saw).
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
const MAXPOINTS = 1000; // the proxy's hour of history (360) and the live points
const openedAt = Date.now() / 1000; // when the page was opened (the browser test reads it)

let snap = null;      // the latest snapshot
let prev = null;      // the one before (for rates)
const series = {};    // route -> {t:[], lreq:[], nreq:[], lerr:[], nerr:[], lp99:[], np99:[]}
const seeded = {};    // route -> its history was asked for
const charts = {};

// h builds an element: attributes, then children (strings become text).
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== undefined && k !== null) el.append(k instanceof Node ? k : String(k));
  return el;
}

// refill replaces a container's children, keeping the focus on the element
// with the same id (a keyboard user's place survives each refresh).
function refill(el, kids) {
  const focused = document.activeElement && el.contains(document.activeElement) ? document.activeElement.id : "";
  el.replaceChildren(...kids);
  if (focused && $(focused)) $(focused).focus();
}

// unchanged says whether what a view shows is the same as when it was last
// drawn: a view is redrawn only when it changed, so a button is not
// replaced under the pointer (a click spans mousedown and mouseup).
const drawn = {};
function unchanged(view, ...what) {
  const key = JSON.stringify(what);
  if (drawn[view] === key) return true;
  drawn[view] = key;
  return false;
}

const pct = (x) => (x * 100).toFixed(2) + "%";
const when = (s) => (s ? new Date(s).toLocaleTimeString() : "");
const slug = (s) => s.replace(/[^A-Za-z0-9_-]/g, "_");

function figures(b) {
  if (!b) return "–";
  const w = b.last_60s;
  const ratio = w.requests ? w.errors / w.requests : 0;
  return `${w.requests} · ${pct(ratio)} · ${w.p99_ms.toFixed(1)} ms`;
}

function planText(p) {
  if (!p) return "none";
  return `${p.state}, step ${p.step + 1}/${p.steps.length} (${p.steps.join(" → ")})`;
}

function bake(p) {
  if (!p || p.state !== "running" || !p.next_step_at) return "";
  const start = Date.parse(p.step_started_at), end = Date.parse(p.next_step_at);
  const done = Math.max(0, Math.min(1, (Date.now() - start) / Math.max(1, end - start)));
  return h("progress", { max: "1", value: done.toFixed(3), "aria-label": `bake ${Math.round(done * 100)}%` });
}

// units lists the routes and the write groups as one thing each to act on.
function units() {
  const v = snap && snap.routes;
  if (!v) return [];
  const out = (v.groups || []).map((g) => ({ name: g.name, group: true, state: g.state, plan: g.plan, has_plan: g.has_plan, slo: g.slo }));
  for (const r of v.routes) out.push({ name: r.name, state: r.state, plan: r.plan, has_plan: r.has_plan, slo: r.slo, route: r });
  return out;
}

function openRoute(name) {
  $("route-pick").value = name;
  location.hash = "#route";
  renderRoute();
}

function renderOverview() {
  const v = snap.routes;
  // A running bake's progress moves with the clock: redraw it each second.
  const baking = v && [...v.routes, ...(v.groups || [])].some((r) => r.plan && r.plan.state === "running");
  if (unchanged("overview", snap.phase, v, snap.last_rollback, snap.dead_letter_count, baking ? Math.floor(Date.now() / 1000) : 0)) return;
  const n = snap.dead_letter_count;
  $("overview-dead").hidden = !snap.dead_letters_shown;
  refill($("overview-dead"), [`${n} dead letter${n === 1 ? "" : "s"} waiting `, n ? h("a", { href: "#data" }, "(list and replay them on the data path)") : ""]);
  $("phase").textContent = snap.phase;
  refill($("health"), (v ? v.backends : []).map((b) =>
    h("span", { class: b.healthy ? "ok" : "bad", id: "health-" + b.name },
      `${b.name}: ${b.healthy ? "healthy" : "unhealthy"}${b.circuit ? ", circuit " + b.circuit : ""}`)));
  const rb = snap.last_rollback;
  refill($("rollback"), rb ? [h("strong", {}, "Last rollback: "),
    `${rb.route} at ${when(rb.at)} to ${rb.weight}% (step ${rb.step + 1}): `, h("span", { id: "rollback-reason" }, rb.reason)]
    : ["No rollback."]);
  refill($("routes").tBodies[0], (v ? v.routes : []).map((r) => h("tr", { id: "row-" + slug(r.name) },
    h("th", { scope: "row" }, r.name), h("td", {}, r.group || ""), h("td", { class: "mode" }, r.state.mode),
    h("td", { class: "weight" }, r.state.weight + "%"), h("td", {}, planText(r.plan)), h("td", {}, bake(r.plan)),
    h("td", {}, figures(r.backends.legacy)), h("td", {}, figures(r.backends.new)),
    h("td", {}, r.state.actor ? r.state.actor + (r.state.reason ? ": " + r.state.reason : "") : ""),
    h("td", {}, h("button", { type: "button", id: "open-" + slug(r.name), onclick: () => openRoute(r.name) }, "Open")))));
  const groups = (v && v.groups) || [];
  $("groups-box").hidden = groups.length === 0;
  refill($("groups").tBodies[0], groups.map((g) => h("tr", { id: "grow-" + slug(g.name) },
    h("th", { scope: "row" }, g.name), h("td", {}, g.routes.join(", ")), h("td", {}, g.state.mode),
    h("td", {}, g.state.weight + "%"), h("td", {}, planText(g.plan)), h("td", {}, bake(g.plan)),
    h("td", {}, h("button", { type: "button", id: "gopen-" + slug(g.name), onclick: () => openRoute(g.name) }, "Open")))));
}

// point is one chart point of a route: t in seconds, l and n the last
// minute's figures of legacy and new.
function point(t, l, n) {
  return { t, lreq: l.requests / 60, nreq: n.requests / 60, lerr: l.requests ? l.errors / l.requests : null,
    nerr: n.requests ? n.errors / n.requests : null, lp99: l.requests ? l.p99_ms : null, np99: n.requests ? n.p99_ms : null };
}

function seriesOf(name) {
  return series[name] || (series[name] = { t: [], lreq: [], nreq: [], lerr: [], nerr: [], lp99: [], np99: [] });
}

// seed puts the proxy's history of a route (one sample every 10 s for the
// last hour) before the points this page saw, so the charts do not start
// empty; it asks again on the next snapshot if it failed.
async function seed(name) {
  seeded[name] = true;
  let v;
  try {
    const res = await fetch(`/api/routes/${encodeURIComponent(name)}/history`);
    if (!res.ok) throw new Error(String(res.status));
    v = await res.json();
  } catch { seeded[name] = false; return; }
  const s = seriesOf(name), first = s.t.length ? s.t[0] : Infinity;
  const old = v.samples.map((x) => point(Date.parse(x.at) / 1000, x.legacy, x.new)).filter((p) => p.t < first);
  for (const k of Object.keys(s)) s[k] = [...old.map((p) => p[k]), ...s[k]].slice(-MAXPOINTS);
  if (location.hash === "#route" && $("route-pick").value === name) renderRoute();
}

// record appends this snapshot's figures to every route's series.
function record() {
  const v = snap.routes;
  if (!v) return;
  const t = Date.parse(snap.at) / 1000;
  // A write group's figures are its members' summed (p99: the worst member's).
  const add = (a, b) => ({ requests: a.requests + b.requests, errors: a.errors + b.errors, p99_ms: Math.max(a.p99_ms, b.p99_ms) });
  const zero = { requests: 0, errors: 0, p99_ms: 0 };
  const groups = (v.groups || []).map((g) => {
    const ms = v.routes.filter((r) => r.group === g.name);
    return { name: g.name, backends: { legacy: { last_60s: ms.map((r) => r.backends.legacy.last_60s).reduce(add, zero) },
      new: { last_60s: ms.map((r) => r.backends.new.last_60s).reduce(add, zero) } } };
  });
  for (const r of [...v.routes, ...groups]) {
    const s = seriesOf(r.name), p = point(t, r.backends.legacy.last_60s, r.backends.new.last_60s);
    for (const k of Object.keys(s)) { s[k].push(p[k]); if (s[k].length > MAXPOINTS) s[k].shift(); }
    if (!seeded[r.name]) seed(r.name);
  }
}

function chart(id, label, data, slo) {
  const el = $(id);
  const opts = {
    width: Math.max(280, Math.min(520, el.clientWidth || 420)), height: 180,
    series: [{}, { label: "legacy", stroke: "#2b6cb0", width: 2 }, { label: "new", stroke: "#c05621", width: 2 }],
    axes: [{}, { label }],
  };
  if (slo !== null && slo !== undefined) opts.series.push({ label: "SLO", stroke: "#c53030", dash: [6, 4], width: 1 });
  const d = slo !== null && slo !== undefined ? [...data, data[0].map(() => slo)] : data;
  const key = id + ":" + (slo !== null && slo !== undefined);
  if (charts[id] && charts[id].key === key) { charts[id].u.setData(d); return; }
  if (charts[id]) charts[id].u.destroy();
  el.replaceChildren();
  charts[id] = { key, u: new uPlot(opts, d, el) };
}

function renderRoute() {
  const pick = $("route-pick");
  const names = units().map((u) => u.name);
  if ([...pick.options].map((o) => o.value).join("\n") !== names.join("\n")) {
    const cur = pick.value;
    pick.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
    if (names.includes(cur)) pick.value = cur;
  }
  const u = units().find((x) => x.name === pick.value);
  if (!u) return;
  const p = u.plan;
  $("route-state").textContent = `${u.group ? "write group" : "route"} ${u.name}: ${u.state.mode} at ${u.state.weight}%; plan ${planText(p)}${p && p.reason ? " — " + p.reason : ""}`;
  const bakeS = p && p.bake_ns ? Math.round(p.bake_ns / 1e9) : 0;
  refill($("steps"), (p ? p.steps : []).map((w, i) => {
    const st = i < p.step || p.state === "done" ? "passed" : i > p.step ? "pending" : p.state;
    return h("li", { class: "step-" + st }, `${w}%`, h("br", {}), i === p.step && p.state === "running" ? bake(p) : st, bakeS ? ` (bake ${bakeS} s)` : "");
  }));
  refill($("timeline"), (p ? p.history : []).map((e) => h("li", { class: "ev-" + e.action },
    h("time", { datetime: e.at }, when(e.at)), ` ${e.action} step ${e.step + 1} at ${e.weight}% by ${e.actor}`, e.reason ? ": " + e.reason : "")));
  const s = series[u.name];
  if (!s || typeof uPlot === "undefined") return;
  const slo = (p && p.slo) || u.slo; // the running plan's, else the configured one's
  chart("chart-req", "req/s", [s.t, s.lreq, s.nreq], null);
  chart("chart-err", "5xx ratio", [s.t, s.lerr, s.nerr], slo ? slo.Max5xxRatio : null);
  chart("chart-p99", "p99 ms", [s.t, s.lp99, s.np99], slo && slo.MaxP99 ? slo.MaxP99 / 1e6 : null);
}

function renderDiffs() {
  const rep = snap.diffs;
  const box = $("diffs");
  if (unchanged("diffs", rep)) return;
  if (!rep || rep.routes.length === 0) { refill(box, [h("p", {}, "No route in shadow mode has compared an exchange yet.")]); return; }
  refill(box, rep.routes.map((r) => h("div", { class: "diff-route" },
    h("h3", {}, `${r.route}: ${r.compared} compared, ${r.mismatched} mismatched (${pct(r.mismatch_rate)}); noise measured on ${r.noise_compared}; ${r.dropped} dropped, ${r.errors} errors`),
    h("table", {}, h("thead", {}, h("tr", {}, ["Field", "Mismatch rate (new vs legacy)", "Noise rate (legacy vs legacy)", "Reported", "Samples"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, r.fields.map((f) => h("tr", { class: f.reported ? "reported" : "" },
        h("th", { scope: "row" }, f.field), h("td", {}, `${pct(f.mismatch_rate)} (${f.mismatches})`),
        h("td", {}, `${pct(f.noise_rate)} (${f.noise})`), h("td", {}, f.reported ? "yes" : "no"),
        h("td", {}, f.samples.length ? h("button", { type: "button", id: `sample-${slug(r.route)}-${slug(f.field)}`,
          onclick: () => showPair(r.route, f) }, `Show ${f.samples.length}`) : "–"))))))));
}

function pretty(s) {
  try { return JSON.stringify(JSON.parse(s), null, 2); } catch { return s; }
}

// lineDiff marks the lines of a and b outside their longest common subsequence.
function lineDiff(a, b) {
  const n = a.length, m = b.length;
  const L = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--)
    L[i][j] = a[i] === b[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const ka = new Array(n).fill(false), kb = new Array(m).fill(false);
  for (let i = 0, j = 0; i < n && j < m;) {
    if (a[i] === b[j]) { ka[i] = kb[j] = true; i++; j++; } else if (L[i + 1][j] >= L[i][j + 1]) i++; else j++;
  }
  return [ka, kb];
}

function showPair(route, f) {
  const s = f.samples[f.samples.length - 1];
  const a = pretty(s.legacy).split("\n"), b = pretty(s.new).split("\n");
  const [ka, kb] = lineDiff(a, b);
  $("diff-title").textContent = `${route} ${s.path}: field ${s.field}`;
  $("diff-legacy").replaceChildren(...a.map((l, i) => h("span", { class: ka[i] ? "" : "del" }, l + "\n")));
  $("diff-new").replaceChildren(...b.map((l, i) => h("span", { class: kb[i] ? "" : "ins" }, l + "\n")));
  $("diff-pair").hidden = false;
}

function rate(part, key) {
  if (!prev || !prev[part] || !snap[part]) return null;
  const a = prev[part].metrics[key], b = snap[part].metrics[key];
  const dt = (Date.parse(snap.at) - Date.parse(prev.at)) / 1000;
  if (a === undefined || b === undefined || dt <= 0) return null;
  return (b - a) / dt;
}

function sumKeys(m, prefix) {
  return Object.entries(m || {}).filter(([k]) => k === prefix || k.startsWith(prefix + "{")).reduce((x, [, v]) => x + v, 0);
}

function kv(rows) {
  return h("table", { class: "kv" }, h("tbody", {}, rows.map(([k, v, id]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", { id }, v)))));
}

function renderData() {
  const out = [];
  const c = snap.cdc;
  out.push(h("h3", {}, "cdc"));
  if (!c) out.push(h("p", {}, snap.errors && snap.errors.cdc ? "unreachable: " + snap.errors.cdc : "not configured (cdc_url)"));
  else {
    const m = c.metrics;
    const rows = Object.keys(m).filter((k) => k.startsWith("strangler_cdc_lag_seconds")).sort()
      .map((k) => [`lag, stage ${(k.match(/stage="([^"]*)"/) || [])[1] || ""}`, m[k].toFixed(1) + " s"]);
    const ev = rate("cdc", "strangler_cdc_events_published_total"), tx = rate("cdc", "strangler_cdc_transactions_total");
    rows.push(["events/s", ev === null ? "…" : ev.toFixed(1), "cdc-events"], ["transactions/s", tx === null ? "…" : tx.toFixed(1)]);
    rows.push(["dead letters recorded", String(sumKeys(m, "strangler_cdc_dead_letters_total")), "cdc-dead"]);
    const dl = Object.keys(m).filter((k) => k.startsWith("strangler_dead_letters{"));
    for (const k of dl) rows.push([`dead letters waiting, ${(k.match(/source="([^"]*)"/) || [])[1]}`, String(m[k])]);
    if (c.status) {
      rows.push(["checkpoint behind source", `${c.status.behind} transactions, ${c.status.lag_seconds >= 1e9 ? "no checkpoint yet" : c.status.lag_seconds.toFixed(1) + " s"}`]);
      rows.push(["leading", c.status.leading ? "yes" : "no (standby)"]);
    }
    out.push(kv(rows));
  }
  const s = snap.syncback;
  out.push(h("h3", {}, "sync-back"));
  if (!s) out.push(h("p", {}, snap.errors && snap.errors.syncback ? "unreachable: " + snap.errors.syncback : "not configured (syncback_url)"));
  else {
    const m = s.metrics;
    const rows = Object.keys(m).filter((k) => k.startsWith("strangler_syncback_events_total")).sort().map((k) => {
      const r = rate("syncback", k);
      return [`events ${(k.match(/outcome="([^"]*)"/) || [])[1]}`, `${m[k]} (${r === null ? "…" : r.toFixed(1)}/s)`];
    });
    const lag = m.strangler_syncback_lag_seconds;
    rows.push(["lag (new's change to legacy's row, last event applied)", lag === undefined ? "…" : lag.toFixed(1) + " s", "sb-lag"]);
    rows.push(["apply time p99 (lag added per event)", ((m.strangler_syncback_apply_seconds_p99 || 0) * 1000).toFixed(1) + " ms", "sb-p99"]);
    out.push(kv(rows));
  }
  out.push(h("h3", {}, "backfill"));
  const b = snap.backfill;
  if (!b) out.push(h("p", {}, snap.errors && snap.errors.migration ? "unreadable: " + snap.errors.migration : "no backfill job in the control table yet"));
  else {
    const done = b.total_rows ? Math.min(1, b.rows_done / b.total_rows) : (b.state === "done" ? 1 : 0);
    out.push(kv([
      ["job", `${b.job} (${b.state})`],
      ["progress", h("span", {}, h("progress", { max: "1", value: done.toFixed(4), "aria-label": "backfill progress" }), ` ${(done * 100).toFixed(1)}%`)],
      ["rows", `${b.rows_done} of ${b.total_rows}; chunks ${b.chunks_done} of ${b.chunks}`, "backfill-rows"],
      ["pace", `${Math.round(b.rows_per_second)} rows/s`],
      ["ETA", b.state === "done" ? "done" : b.eta_seconds > 0 ? `${Math.ceil(b.eta_seconds)} s` : "…", "backfill-eta"],
    ]));
  }
  out.push(h("h3", {}, "last verify"));
  const v = snap.verify;
  if (!v) out.push(h("p", {}, "no verify run recorded yet (strangler migrate verify records its result)"));
  else out.push(kv([
    ["result", v.equal ? "EQUAL" : "DIFFERENT", "verify-result"],
    ["when", new Date(v.at).toLocaleString()],
    ["checked", `${v.rows_checked} rows, ${v.items_checked} items (${v.sample}% of keys)`],
    ["differences", `missing ${v.missing}, extra ${v.extra}, different ${v.different}; repaired ${v.repaired}`],
  ]));
  refill($("data"), out);
}

function renderDeadLetters() {
  $("dl-box").hidden = !snap.dead_letters_shown;
  if (!snap.dead_letters_shown) return;
  const list = snap.dead_letters || [];
  if (unchanged("deadletters", list, snap.dead_letter_count, snap.errors && snap.errors.deadletters)) return;
  $("dl-count").textContent = snap.errors && snap.errors.deadletters ? "unreadable: " + snap.errors.deadletters
    : `${snap.dead_letter_count} dead letter${snap.dead_letter_count === 1 ? "" : "s"} waiting${snap.dead_letter_count > list.length ? ` (the first ${list.length} listed)` : ""}`;
  refill($("deadletters").tBodies[0], list.map((d) => h("tr", {},
    h("td", {}, d.source), h("td", {}, h("code", {}, d.id)), h("td", {}, d.kind), h("td", {}, d.key), h("td", {}, d.reason),
    h("td", {}, when(d.at)), h("td", {}, String(d.attempts)),
    h("td", {}, h("button", { type: "button", id: `replay-${slug(d.source)}-${slug(d.id)}`, "aria-label": `Replay the ${d.source} dead letter ${d.id}…`, onclick: (ev) => replay(d, ev.currentTarget.id) }, "Replay…")))));
}

async function replay(d, buttonID) {
  const reason = $("dl-reason").value.trim();
  if (!reason) { $("dl-result").textContent = "Give a reason for the replay first."; $("dl-reason").focus(); return; }
  if (!(await confirmAction(`Replay the ${d.source} dead letter ${d.id} because "${reason}"?`))) {
    $("dl-result").textContent = "Cancelled.";
  } else {
    try {
      const out = await send(`/api/deadletters/${encodeURIComponent(d.source)}/${encodeURIComponent(d.id)}/replay`, { reason, confirmed: true });
      $("dl-result").textContent = "Replayed: " + out.result;
    } catch (e) {
      $("dl-result").textContent = "Not replayed: " + e.message;
    }
  }
  ($(buttonID) || $("dl-reason")).focus();
}

function renderAudit() {
  const fr = $("audit-route").value.trim(), fa = $("audit-actor").value.trim().toLowerCase(), ft = $("audit-text").value.trim().toLowerCase();
  const rows = (snap.audit || []).filter((e) => (!fr || e.route === fr) && (!fa || e.actor.toLowerCase().includes(fa)) &&
    (!ft || JSON.stringify(e).toLowerCase().includes(ft)));
  refill($("audit").tBodies[0], rows.map((e) => h("tr", {}, h("td", {}, h("time", { datetime: e.at }, new Date(e.at).toLocaleString())),
    h("td", {}, e.route), h("td", {}, e.actor), h("td", {}, `${e.before.mode} ${e.before.weight}%`),
    h("td", {}, `${e.after.mode} ${e.after.weight}%`), h("td", {}, e.reason))));
  $("dl-audit-box").hidden = !snap.dead_letters_shown;
  const dl = (snap.dead_letter_audit || []).filter((a) => (!fa || a.by.toLowerCase().includes(fa)) && (!ft || a.line.toLowerCase().includes(ft)));
  refill($("dl-audit").tBodies[0], dl.map((a) => h("tr", {}, h("td", {}, h("time", { datetime: a.at }, new Date(a.at).toLocaleString())),
    h("td", {}, a.action), h("td", {}, h("code", {}, `${a.source}/${a.id}`)), h("td", {}, a.by), h("td", {}, a.line))));
  const names = units().map((u) => u.name);
  if ($("route-names").options.length !== names.length) $("route-names").replaceChildren(...names.map((n) => h("option", { value: n })));
}

function render() {
  if (!snap) return;
  const errs = Object.entries(snap.errors || {}).filter(([k]) => k !== "cdc" && k !== "syncback");
  $("errors").hidden = errs.length === 0;
  $("errors").textContent = errs.map(([k, v]) => `${k}: ${v}`).join("; ");
  renderOverview(); renderRoute(); renderDiffs(); renderData(); renderDeadLetters(); renderAudit();
}

function showView() {
  const want = (location.hash || "#overview").slice(1);
  for (const s of document.querySelectorAll("section[data-view]")) s.hidden = s.dataset.view !== want;
  for (const a of document.querySelectorAll("nav a")) a.setAttribute("aria-current", a.hash === "#" + want ? "page" : "false");
  if (want === "route") renderRoute();
}

// confirm asks in a modal dialog; it resolves true on Confirm.
function confirmAction(text) {
  return new Promise((resolve) => {
    const d = $("confirm");
    $("confirm-text").textContent = text;
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.returnValue = "";
    d.showModal();
    $("confirm-cancel").focus();
  });
}

async function send(path, body) {
  const res = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body) });
  const out = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${out.title || res.status}: ${out.detail || ""}`);
  return out;
}

// act confirms and sends an action; once done, the reason field is emptied
// (a reason is one action's) and the focus goes back to focusBack.
async function act(path, body, text, focusBack, reasonField) {
  if (!(await confirmAction(text + "?"))) { $("action-result").textContent = "Cancelled."; focusBack.focus(); return; }
  try {
    await send(path, { ...body, confirmed: true });
    $("action-result").textContent = "Done: " + text + ".";
    reasonField.value = "";
  } catch (e) {
    $("action-result").textContent = "Refused: " + e.message;
  }
  focusBack.focus();
}

function wire() {
  window.addEventListener("hashchange", showView);
  $("route-pick").addEventListener("change", renderRoute);
  $("set-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const route = $("route-pick").value, body = { reason: $("set-reason").value.trim() };
    if ($("set-mode").value) body.mode = $("set-mode").value;
    if ($("set-weight").value !== "") body.weight = Number($("set-weight").value);
    if (body.mode === undefined && body.weight === undefined) { $("action-result").textContent = "Pick a mode or a weight."; return; }
    const what = [body.mode ? "mode " + body.mode : "", body.weight !== undefined ? "weight " + body.weight + "%" : ""].filter(Boolean).join(", ");
    act(`/api/routes/${encodeURIComponent(route)}`, body, `Set ${route} to ${what} because "${body.reason}"`, $("set-apply"), $("set-reason"));
  });
  $("plan-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const action = ev.submitter ? ev.submitter.value : "start", route = $("route-pick").value, reason = $("plan-reason").value.trim();
    act(`/api/routes/${encodeURIComponent(route)}/plan`, { action, reason }, `${action[0].toUpperCase() + action.slice(1)} the plan of ${route} because "${reason}"`, ev.submitter || $("plan-start"), $("plan-reason"));
  });
  $("audit-filter").addEventListener("input", () => snap && renderAudit());
  $("audit-filter").addEventListener("submit", (ev) => ev.preventDefault());
}

function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("snapshot", (ev) => {
    prev = snap;
    snap = JSON.parse(ev.data);
    record();
    $("live").textContent = "live, " + when(snap.at);
    render();
  });
  es.onerror = () => { $("live").textContent = "reconnecting…"; };
}

wire();
showView();
connect();
