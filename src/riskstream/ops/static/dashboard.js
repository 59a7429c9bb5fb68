// riskstream ops dashboard: polls /v1/ops/summary every second, turns its cumulative
// counters into rates and latency quantiles, and draws them with uPlot (vendored, MIT).
"use strict";

const POLL_MS = 1000;
const KEEP = 600; // points per chart (10 minutes)
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

const charts = {}; // id -> {plot, keys, data}
let prev = null;

function chart(id, labels, colors) {
  const el = document.getElementById(id);
  const old = charts[id];
  if (old && old.keys.join() === labels.join()) return old;
  if (old) old.plot.destroy();
  const series = [{}].concat(labels.map((label, i) => ({
    label, stroke: (colors || COLORS)[i % COLORS.length], width: 1.5, spanGaps: false,
  })));
  const data = [[]].concat(labels.map(() => []));
  const plot = new uPlot({
    width: Math.max(200, el.clientWidth), height: 200, series,
    scales: { x: { time: true } }, legend: { live: false },
  }, data, el);
  charts[id] = { plot, keys: labels, data };
  return charts[id];
}

function push(id, labels, t, values, colors) {
  const c = chart(id, labels, colors);
  c.data[0].push(t);
  values.forEach((v, i) => c.data[i + 1].push(v));
  if (c.data[0].length > KEEP) c.data.forEach((s) => s.shift());
  c.plot.setData(c.data);
  const points = c.data.slice(1).reduce(
    (n, s) => Math.max(n, s.filter((v) => v !== null && Number.isFinite(v)).length), 0);
  document.getElementById(id).dataset.points = String(points);
}

// histogram_quantile over the buckets observed between two polls (linear within a bucket)
function quantile(q, buckets, before) {
  const delta = buckets.map(([le, n], i) => [le, n - (before ? before[i][1] : 0)]);
  const total = delta.length ? delta[delta.length - 1][1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0, below = 0;
  for (const [le, n] of delta) {
    if (n >= rank) {
      if (!Number.isFinite(le)) return lower;
      return lower + (le - lower) * ((rank - below) / Math.max(n - below, 1e-9));
    }
    lower = le; below = n;
  }
  return lower;
}

function text(id, value) { document.getElementById(id).textContent = value; }

let firstVerdicts = null; // [t, count] at the first poll: verdicts per hour since
function renderReviews(r, t) {
  if (!r) return;
  const verdicts = r.verdicts.fraud + r.verdicts.legit;
  if (firstVerdicts === null) firstVerdicts = [t, verdicts];
  const hours = (t - firstVerdicts[0]) / 3600;
  text("n-reviews", r.open.toLocaleString() + " (" + r.escalated.toLocaleString() + ")");
  text("n-review-age", Math.round(r.oldest_age_s / 60) + " min");
  text("n-sla", r.sla_breaches.toLocaleString());
  text("n-verdicts", hours > 1 / 60 ? Math.round((verdicts - firstVerdicts[1]) / hours).toLocaleString() : "-");
  text("n-fraud-share", r.fraud_share === null ? "-" : (100 * r.fraud_share).toFixed(1) + "%");
}

function render(s) {
  const t = s.ts / 1000;
  const lagTotal = s.lag.reduce((n, r) => n + r.lag, 0);
  text("group", "group " + s.group);
  text("n-payments", s.payments.toLocaleString());
  text("n-lag", lagTotal.toLocaleString());
  text("n-alerts", s.alerts.toLocaleString());
  text("n-dead", s.dead_letters.toLocaleString());
  text("n-clock", clockAhead(s.clock.ahead_s) + " (" + s.clock.future_events.toLocaleString() + ")");
  renderReviews(s.reviews, t);
  const auc = s.model.roc_auc === null ? "no labels yet" : s.model.roc_auc.toFixed(3);
  text("n-model", (s.model.version || "-") + " (" + auc + ")");
  const lagKeys = s.lag.map((r) => r.topic + "[" + r.partition + "]");
  push("c-lag", lagKeys, t, s.lag.map((r) => r.lag));
  const roles = s.models.map((m) => m.role);
  push("c-auc", roles.length ? roles : ["champion"], t,
    roles.length ? s.models.map((m) => m.roc_auc) : [null]);
  renderModels(s);
  const restarted = prev && s.payments < prev.payments; // a new worker process: counters reset
  if (prev && !restarted && s.ts > prev.ts) {
    const dt = (s.ts - prev.ts) / 1000;
    const rate = (s.payments - prev.payments) / dt;
    text("n-rate", rate.toFixed(1));
    push("c-rate", ["payments/s"], t, [rate]);
    const quantiles = (now, before) => [0.5, 0.99].map((q) => quantile(q, now, before));
    push("c-processing", ["p50", "p99"], t, quantiles(s.processing_buckets, prev.processing_buckets));
    push("c-latency", ["p50", "p99"], t, quantiles(s.latency_buckets, prev.latency_buckets));
    latencyNote(s, prev);
    const verdicts = ["approve", "review", "decline"];
    push("c-mix", verdicts, t, verdicts.map((v) => (s.decisions[v] - prev.decisions[v]) / dt),
      ["#2ca02c", "#ff7f0e", "#d62728"]);
    push("c-alerts", ["alerts/min"], t, [((s.alerts - prev.alerts) / dt) * 60]);
  }
  const rows = s.recent_alerts.map((a) => {
    const when = new Date(a.decided_ts).toLocaleTimeString();
    const cells = [when, a.txn_id, a.user_id, a.decision, a.risk_score, (a.reasons || []).join(", ")];
    const tr = document.createElement("tr");
    cells.forEach((v, i) => {
      const td = document.createElement("td");
      td.textContent = String(v);
      if (i === 3) td.className = String(v);
      tr.appendChild(td);
    });
    return tr;
  });
  document.querySelector("#alerts tbody").replaceChildren(...rows);
  renderRules(s.rules, s.tradeoff || []);
  renderCredit(s.credit);
  prev = s;
}

// the published credit scores by band, and their stability (docs/credit.md)
function renderCredit(c) {
  if (!c) return;
  text("n-psi", c.psi === null ? "-" : c.psi.toFixed(3));
  const total = Object.values(c.bands).reduce((a, b) => a + b, 0);
  const rows = Object.entries(c.bands).map(([band, n]) => {
    const tr = document.createElement("tr");
    [band, n.toLocaleString(), total ? (100 * n / total).toFixed(1) + "%" : "-"].forEach((v) => {
      const td = document.createElement("td");
      td.textContent = String(v);
      tr.appendChild(td);
    });
    return tr;
  });
  document.querySelector("#credit-bands tbody").replaceChildren(...rows);
}

// Event times off the wall clock (a simulation or a replay dates its own) say nothing of
// this worker's latency: the worker leaves them out of the event-time chart; say how many.
function latencyNote(s, before) {
  const off = s.event_times_off_clock - before.event_times_off_clock;
  const timed = s.latency_buckets.length ? s.latency_buckets[s.latency_buckets.length - 1][1] : 0;
  const timedBefore = before.latency_buckets.length ?
    before.latency_buckets[before.latency_buckets.length - 1][1] : 0;
  const total = off + timed - timedBefore;
  if (total <= 0) return;
  text("latency-note", off <= 0 ? "" : "(" + (100 * off / total).toFixed(0) + "% of the " +
    "decisions left out: their event times are not the wall clock, e.g. a simulation)");
}

// the rules in force and the trade-off their policy reads (docs/rules.md)
function renderRules(r, tradeoff) {
  if (!r || r.version === undefined) return;
  const at = (t) => (t >= 100 ? "never" : String(t));
  text("n-rules", "v" + r.version + ": " + at(r.review_at) + " / " + at(r.decline_at));
  const policy = r.policy ? Object.entries(r.policy).map(([k, v]) => k + "=" + v).join(", ") : "none";
  text("rules-info", "thresholds " + r.source + "; policy " + policy + "; " +
    r.labels.toLocaleString() + " labelled payments (" + r.frauds.toLocaleString() +
    " fraud) over " + r.hours + " h");
  const pct = (v) => (v === null ? "-" : (100 * v).toFixed(2) + "%");
  const rows = tradeoff.map((row) => {
    const force = [row.threshold === r.review_at ? "review" : "", row.threshold === r.decline_at ? "decline" : ""]
      .filter(Boolean).join(", ");
    const cells = [row.threshold, pct(row.precision), pct(row.recall), pct(row.rate),
      row.per_hour === null ? "-" : row.per_hour.toLocaleString(), force];
    const tr = document.createElement("tr");
    if (force) tr.className = "in-force";
    cells.forEach((v) => {
      const td = document.createElement("td");
      td.textContent = String(v);
      tr.appendChild(td);
    });
    return tr;
  });
  document.querySelector("#tradeoff tbody").replaceChildren(...rows);
}

// share of the payments decided so far that were (champion) or would have been (challenger) declined
function declinedShare(counts) {
  const all = counts.approve + counts.review + counts.decline;
  return all ? (100 * counts.decline / all).toFixed(2) + "%" : "-";
}

function fixed(v, digits) { return v === null || v === undefined ? "-" : v.toFixed(digits); }

function renderModels(s) {
  const rows = s.models.map((m) => {
    const declined = declinedShare(m.role === "champion" ? s.decisions : s.shadow);
    const cells = [m.role, m.model, m.version, fixed(m.roc_auc, 3), m.evaluated.toLocaleString(),
      m.decline_rate === null ? "-" : (100 * m.decline_rate).toFixed(2) + "%",
      fixed(m.decline_precision, 3), fixed(m.decline_recall, 3),
      fixed(m.review_precision, 3), fixed(m.review_recall, 3), declined];
    const tr = document.createElement("tr");
    tr.className = m.role;
    cells.forEach((v) => {
      const td = document.createElement("td");
      td.textContent = String(v);
      tr.appendChild(td);
    });
    return tr;
  });
  document.querySelector("#models tbody").replaceChildren(...rows);
}

async function poll() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/v1/ops/summary", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    render(await response.json());
    status.textContent = "live, updated " + new Date().toLocaleTimeString();
    status.className = "status ok";
  } catch (err) {
    status.textContent = "worker unreachable: " + err.message;
    status.className = "status down";
  }
  setTimeout(poll, POLL_MS);
}

window.addEventListener("resize", () => {
  for (const [id, c] of Object.entries(charts)) {
    c.plot.setSize({ width: Math.max(200, document.getElementById(id).clientWidth), height: 200 });
  }
});
window.riskstreamCharts = charts; // for tests and the curious
poll();

// The stream's clock minus the wall clock: "-1.0 h" behind (the lateness), never far ahead.
function clockAhead(seconds) {
  const abs = Math.abs(seconds);
  if (abs >= 86400) return (seconds / 86400).toFixed(1) + " d";
  if (abs >= 3600) return (seconds / 3600).toFixed(1) + " h";
  return Math.round(seconds) + " s";
}
