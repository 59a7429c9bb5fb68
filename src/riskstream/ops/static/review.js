// riskstream review queue: lists the open reviews (GET /v1/reviews), claims one when it is
// opened (POST /v1/reviews/{txn}/claim) and posts the analyst's verdict (POST
// /v1/reviews/{txn}). Every value from the server is put in the page as text (textContent),
// never as HTML: a note or an id with markup shows as the characters it is.
"use strict";

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
let current = null; // the review opened (claimed) here
let shown = ""; // what the table shows (ages aside): redrawn only when it changes

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "-" : String(text);
  row.appendChild(td);
  return td;
}

function table(id, pairs) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren();
  for (const [k, v] of pairs) {
    const row = document.createElement("tr");
    cell(row, k);
    cell(row, typeof v === "object" && v !== null ? JSON.stringify(v) : v);
    body.appendChild(row);
  }
}

function say(text, isError) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

function analyst() {
  const id = $("analyst").value.trim();
  localStorage.setItem("riskstream.analyst", id);
  return id;
}

function age(s) {
  if (s === null || s === undefined) return "-";
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method, cache: "no-store",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
  return { status: response.status, data };
}

async function refresh() {
  try {
    const [{ status, data }, ops] = await Promise.all([
      call("GET", "/v1/reviews?limit=200"), call("GET", "/v1/ops/summary"),
    ]);
    if (status !== 200) throw new Error(data.error || status);
    let items = data.items;
    if ($("order").value === "age") items = [...items].sort((a, b) => a.opened_ts - b.opened_ts);
    const body = $("queue").querySelector("tbody");
    const key = JSON.stringify(items.map((i) => [i.txn_id, i.claimed_by, i.escalated]));
    if (key === shown) { // the same reviews: only their ages move (a click is never lost)
      items.forEach((item, n) => { body.rows[n].cells[5].textContent = age(item.age_s); });
      items.length = 0;
    } else {
      shown = key;
      body.replaceChildren();
    }
    for (const item of items) {
      const row = document.createElement("tr");
      row.dataset.txn = item.txn_id;
      if (item.claimed_by) row.classList.add("claimed");
      if (item.escalated) row.classList.add("escalated");
      cell(row, item.txn_id);
      cell(row, item.user_id);
      cell(row, `${item.amount} ${item.currency}`);
      cell(row, item.risk_score);
      cell(row, item.priority);
      cell(row, age(item.age_s));
      cell(row, (item.reasons || []).join(", "));
      cell(row, item.claimed_by);
      const open = document.createElement("button");
      open.textContent = "open";
      open.className = "open";
      open.addEventListener("click", () => claim(item.txn_id));
      row.appendChild(document.createElement("td")).appendChild(open);
      body.appendChild(row);
    }
    $("n-open").textContent = String(data.open);
    if (ops.status === 200 && ops.data.reviews) {
      $("n-oldest").textContent = age(ops.data.reviews.oldest_age_s);
      $("n-escalated").textContent = String(ops.data.reviews.escalated);
    }
    $("status").textContent = `live, ${new Date().toLocaleTimeString()}`;
    $("status").className = "status ok";
  } catch (e) {
    $("status").textContent = `no answer: ${e.message}`;
    $("status").className = "status down";
  }
}

function show(item) {
  current = item;
  $("item").hidden = false;
  $("item-txn").textContent = item.txn_id;
  const p = item.payment, d = item.decision;
  table("item-summary", [
    ["user", p.user_id], ["merchant", p.merchant_id], ["amount", `${p.amount} ${p.currency}`],
    ["channel", p.channel], ["funding", p.funding], ["country", p.country],
    ["device", p.device_id], ["ip", p.ip], ["risk score", d.risk_score],
    ["fraud probability", d.fraud_probability], ["model", d.model_version],
    ["at stake", item.priority], ["claimed by", item.claimed_by],
  ]);
  const reasons = $("item-reasons");
  reasons.replaceChildren();
  for (const reason of d.reasons || []) {
    const li = document.createElement("li");
    li.textContent = reason;
    reasons.appendChild(li);
  }
  const line = item.credit_line || {};
  table("item-credit", ["credit_score", "limit", "available", "currency", "status",
    "days_past_due"].map((k) => [k, line[k]]));
  const recent = $("item-recent").querySelector("tbody");
  recent.replaceChildren();
  for (const r of item.recent_payments || []) {
    const row = document.createElement("tr");
    [r.txn_id, new Date(r.ts).toISOString(), r.amount, r.merchant_id, r.country, r.device_id,
      r.decision].forEach((v) => cell(row, v));
    recent.appendChild(row);
  }
  table("item-features", Object.entries(item.features || {}).map(
    ([k, v]) => [k, Number.isFinite(v) ? Math.round(v * 1000) / 1000 : v]));
}

async function claim(txn) {
  const who = analyst();
  if (!who) { say("enter your analyst id first", true); return; }
  const { status, data } = await call("POST", `/v1/reviews/${encodeURIComponent(txn)}/claim`,
    { analyst: who });
  if (status === 200) { show(data); say(`review ${txn} is yours for ${data.lease_s} s`); }
  else say(data.error || `claim refused (${status})`, true);
  refresh();
}

async function judge(txn, label) {
  const note = $("note").value;
  const body = { label, analyst: analyst() };
  if (note) body.note = note;
  return call("POST", `/v1/reviews/${encodeURIComponent(txn)}`, body);
}

function done() {
  current = null;
  $("item").hidden = true;
  $("note").value = "";
}

async function verdict(label) {
  if (!current) return;
  const txn = current.txn_id;
  const { status, data } = await judge(txn, label);
  if (status === 200) { say(`${txn}: ${label}`); done(); }
  else say(data.error || `verdict refused (${status})`, true);
  refresh();
}

async function fraudForAll() {
  if (!current) return;
  const user = current.payment.user_id;
  const { status, data } = await call("GET", `/v1/reviews?limit=200&user_id=${encodeURIComponent(user)}`);
  if (status !== 200) { say(data.error || String(status), true); return; }
  const txns = new Set(data.items.map((i) => i.txn_id));
  txns.add(current.txn_id);
  let marked = 0; const refused = [];
  for (const txn of txns) {
    const answer = await judge(txn, "fraud");
    if (answer.status === 200) marked += 1; else refused.push(`${txn}: ${answer.data.error}`);
  }
  done();
  say(`${marked} of user ${user}'s reviews marked fraud` + (refused.length ? `; refused: ${refused.join("; ")}` : ""), refused.length > 0);
  refresh();
}

$("analyst").value = localStorage.getItem("riskstream.analyst") || "";
$("fraud").addEventListener("click", () => verdict("fraud"));
$("legit").addEventListener("click", () => verdict("legit"));
$("fraud-all").addEventListener("click", fraudForAll);
$("order").addEventListener("change", refresh);
refresh();
setInterval(refresh, POLL_MS);
