// nautilusd dashboard: one WebSocket to the gateway; a snapshot on connect, then batches.
// Reconnects with exponential backoff (0.5 s doubling to 10 s) when the gateway goes away.
"use strict";
const params = new URLSearchParams(location.search || location.hash.slice(1));
const token = params.get("token") || "";
const state = { status: null, latency: [], alerts: new Map(), events: [], positions: null };
let backoffMs = 500, socket = null;

function el(id) { return document.getElementById(id); }
function text(node, value) { node.textContent = value === undefined || value === null ? "-" : String(value); }
function cell(row, value, cls) { const td = row.insertCell(); text(td, value); if (cls) td.className = cls; return td; }
function num(x, digits) { return typeof x === "number" ? x.toFixed(digits) : "-"; }

function connect() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws?token=${encodeURIComponent(token)}`;
  socket = new WebSocket(url);
  socket.onopen = () => { backoffMs = 500; setConnection("live", "on"); };
  socket.onmessage = (ev) => onMessage(JSON.parse(ev.data));
  socket.onclose = () => {
    setConnection(`reconnecting in ${(backoffMs / 1000).toFixed(1)} s`, "off");
    setTimeout(connect, backoffMs);
    backoffMs = Math.min(backoffMs * 2, 10000);
  };
}

function setConnection(label, cls) { const c = el("connection"); c.textContent = label; c.className = `badge ${cls}`; }

function onMessage(msg) {
  if (msg.type === "snapshot") {
    msg.latest.forEach(apply);
    msg.events.forEach(apply);
  } else if (msg.type === "batch") {
    msg.messages.forEach(apply);
  } else if (msg.type === "error") {
    console.warn("gateway:", msg.error);
  }
  render();
}

function apply(m) {
  const t = m.topic, d = m.data;
  if (t === "system.status") state.status = d;
  else if (t.startsWith("system.engine.")) { state.events.unshift(`${new Date().toLocaleTimeString()} ${t.slice(14)} ${JSON.stringify(d)}`); state.events.length = Math.min(state.events.length, 200); }
  else if (t.startsWith("risk.alerts.")) state.alerts.set(t.slice(12), d);
  else if (t === "trading.positions.all") state.positions = d;
  else if (t === "analytics.summary" && d.tick_to_fill_us) { state.latency.push([Date.now(), d.tick_to_fill_us.p50_us, d.tick_to_fill_us.p99_us]); if (state.latency.length > 300) state.latency.shift(); }
}

function render() {
  renderStatus(); renderPositions(); renderLatency();
  renderList(el("alerts"), [...state.alerts].map(([k, v]) => `${k}: ${JSON.stringify(v)}`));
  renderList(el("events"), state.events.slice(0, 50));
}

function renderList(node, lines) {
  node.replaceChildren(...lines.map((line) => { const li = document.createElement("li"); li.textContent = line; return li; }));
}

function renderStatus() {
  const s = state.status; if (!s) return;
  text(el("instance"), s.daemon && s.daemon.instance);
  const health = (s.daemon && s.daemon.health) || "?";
  el("health").textContent = `health: ${health}`; el("health").className = `badge ${health}`;
  const body = el("engines").tBodies[0]; body.replaceChildren();
  let killed = null;
  for (const e of s.engines || []) {
    const row = body.insertRow(); row.dataset.engine = e.name;
    const named = e.named_counters || {};
    if ("kill_switch_engaged" in named) killed = (killed || 0) + named.kill_switch_engaged;
    cell(row, e.name, "name"); cell(row, e.state, `state ${e.state}`); cell(row, e.pid, "pid");
    cell(row, e.restarts, "restarts");
    cell(row, e.heartbeat_age_ms === null ? null : `${num(e.heartbeat_age_ms, 1)} ms`, "heartbeat");
    const c = e.counters || {};
    cell(row, c.records_in); cell(row, c.records_out);
    cell(row, Object.entries(named).map(([k, v]) => `${k}=${v}`).join(" "), "counters");
  }
  const ks = el("kill-switch");
  ks.textContent = killed === null ? "kill switch: unknown" : killed ? "kill switch: ENGAGED" : "kill switch: off";
  ks.className = `badge ${killed === null ? "off" : killed ? "engaged" : "on"}`;
  ks.dataset.engaged = killed ? "1" : "0";
  renderRings(s.rings || []);
}

function renderRings(rings) {
  const body = el("rings").tBodies[0]; body.replaceChildren();
  for (const r of rings) {
    for (const rd of (r.readers || []).filter((x) => x.active)) {
      const row = body.insertRow();
      cell(row, r.name); cell(row, rd.engine || rd.index);
      cell(row, r.capacity ? `${(100 * rd.lag / r.capacity).toFixed(1)} %` : "-");
      cell(row, rd.lag); cell(row, rd.lost); cell(row, r.backpressure_waits);
    }
  }
}

function renderPositions() {
  const p = state.positions; if (!p) return;
  text(el("pnl"), `P&L ${num(p.pnl, 2)} (realised ${num(p.realised, 2)}, unrealised ${num(p.unrealised, 2)})`);
  const body = el("positions").tBodies[0]; body.replaceChildren();
  for (const x of p.positions || []) {
    const row = body.insertRow();
    cell(row, x.strategy_id); cell(row, x.symbol); cell(row, x.qty); cell(row, num(x.avg_price, 4));
    cell(row, num(x.realised, 2)); cell(row, num(x.unrealised, 2));
  }
}

function renderLatency() {
  const pts = state.latency; if (!pts.length) return;
  const last = pts[pts.length - 1];
  text(el("latency-now"), `p50 ${num(last[1], 1)} us / p99 ${num(last[2], 1)} us`);
  const canvas = el("latency"), g = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  g.clearRect(0, 0, w, h);
  const top = Math.max(1, ...pts.map((p) => p[2] || 0));
  [[1, "#4caf50"], [2, "#ff9800"]].forEach(([k, color]) => {
    g.strokeStyle = color; g.beginPath();
    pts.forEach((p, i) => { const x = (i / Math.max(1, pts.length - 1)) * w, y = h - ((p[k] || 0) / top) * (h - 4); i ? g.lineTo(x, y) : g.moveTo(x, y); });
    g.stroke();
  });
}

el("kill-engage").addEventListener("click", () => {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "action", action: "kill_switch", engage: true }));
});
if (params.get("actions") === "1") el("kill-engage").hidden = false;
connect();
