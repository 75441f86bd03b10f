// rtliveness kiosk page: camera -> WebSocket /v1/stream -> boxes, labels and one decision.
// The decision rule and timeout are the ones of rtliveness.runtime.decision.decide(): a face
// is decided once `windows` consecutive scored windows all lie on one side of the threshold
// by at least the margin — p_spoof below `live_below` or at least `spoof_from`, both computed
// by the service (decision_bounds) and sent in /health; after `timeout_s` without that, the
// answer is "undecided".
"use strict";

class DecisionRule {
  constructor(liveBelow, spoofFrom, windows) {
    this.liveBelow = liveBelow; this.spoofFrom = spoofFrom; this.windows = windows;
    this.recent = new Map();
  }
  update(record) {
    const seen = new Set();
    for (const f of record.faces || []) {
      seen.add(f.track);
      if (f.p_spoof === null || f.p_spoof === undefined) continue;
      const q = this.recent.get(f.track) || [];
      q.push(f.p_spoof);
      if (q.length > this.windows) q.shift();
      this.recent.set(f.track, q);
      if (q.length === this.windows) {
        const mean = q.reduce((a, b) => a + b, 0) / q.length;
        if (q.every(p => p >= this.spoofFrom)) return { label: "spoof", track: f.track, p: mean };
        if (q.every(p => p < this.liveBelow)) return { label: "live", track: f.track, p: mean };
      }
    }
    for (const t of [...this.recent.keys()]) if (!seen.has(t)) this.recent.delete(t);  // a face that left starts over
    return null;
  }
}

const params = new URLSearchParams(location.search);
const token = params.get("token");
const video = document.getElementById("video");
const overlay = document.getElementById("overlay");
const decisionEl = document.getElementById("decision");
const statusEl = document.getElementById("status");
const againBtn = document.getElementById("again");
const grab = document.createElement("canvas");
const stats = { sent: 0, records: 0, boxes: 0, dropped: 0, errors: 0 };
window.rtliveness = { stats, decision: null, error: null };  // error: why a check ended without the service deciding

let ws = null, rule = null, started = 0, inFlight = 0, done = true, timer = null, cfg = null;

function setStatus(text) { statusEl.textContent = text; }

function finish(label, detail, error = null) {
  if (done) return;
  done = true;
  window.rtliveness.decision = label;
  window.rtliveness.error = error;
  decisionEl.textContent = label;
  decisionEl.className = label;
  setStatus(detail);
  againBtn.hidden = false;
  clearInterval(timer);
  if (ws) ws.close(1000, "decided");
}

function draw(record) {
  const ctx = overlay.getContext("2d");
  overlay.width = grab.width; overlay.height = grab.height;
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  ctx.lineWidth = Math.max(2, overlay.width / 200);
  ctx.font = `${Math.max(14, overlay.width / 30)}px system-ui, sans-serif`;
  for (const f of record.faces || []) {
    const [x1, y1, x2, y2] = f.box;
    const colour = f.label === "live" ? "#2ecc71" : f.label === "spoof" ? "#e74c3c" : "#aaaaaa";
    ctx.strokeStyle = colour; ctx.fillStyle = colour;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const text = f.p_spoof === null ? `#${f.track} ${f.label}` : `#${f.track} ${f.label} ${f.p_spoof.toFixed(2)}`;
    ctx.fillText(text, x1, Math.max(16, y1 - 6));
    stats.boxes += 1;
  }
}

function sendFrame() {
  if (done || !ws || ws.readyState !== WebSocket.OPEN || inFlight >= 2 || !video.videoWidth) return;
  grab.width = video.videoWidth; grab.height = video.videoHeight;
  grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
  inFlight += 1;
  grab.toBlob(blob => {
    if (!blob || done || ws.readyState !== WebSocket.OPEN) { inFlight -= 1; return; }
    blob.arrayBuffer().then(buf => { ws.send(buf); stats.sent += 1; });
  }, "image/jpeg", 0.85);
}

function start() {
  done = false;
  started = 0;  // the timeout counts from this check's connection, not the previous one's
  clearInterval(timer);
  window.rtliveness.decision = null;
  window.rtliveness.error = null;
  decisionEl.textContent = ""; decisionEl.className = "";
  againBtn.hidden = true;
  rule = new DecisionRule(cfg.decision.live_below, cfg.decision.spoof_from, cfg.decision.windows);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const q = token ? `?token=${encodeURIComponent(token)}` : "";
  const base = location.pathname.replace(/[^/]*$/, "");  // works behind a proxy path prefix too
  ws = new WebSocket(`${scheme}://${location.host}${base}v1/stream${q}`);
  ws.binaryType = "arraybuffer";
  inFlight = 0;
  ws.onopen = () => { started = performance.now(); setStatus("look at the camera"); sendFrame(); };
  ws.onmessage = ev => {
    inFlight = Math.max(0, inFlight - 1);
    const record = JSON.parse(ev.data);
    stats.records += 1;
    if (record.error) { stats.errors += 1; }
    else {
      if (record.dropped) stats.dropped += 1;
      draw(record);
      const got = rule.update(record);
      if (got) finish(got.label, `track ${got.track}, mean p_spoof ${got.p.toFixed(2)}`);
    }
    sendFrame();
  };
  ws.onclose = ev => {
    if (done) return;
    const why = ev.code === 4401 ? "wrong or missing token (add ?token=… to the page address)"
              : ev.code === 1013 ? "the service is busy; try again shortly"
              : ev.code === 4403 ? "this page's origin is not allowed (start the service with --allow-origin)"
              : `connection closed (${ev.code}${ev.reason ? ": " + ev.reason : ""})`;
    finish("undecided", why, why);
  };
  timer = setInterval(() => {
    if (!done && started && performance.now() - started > cfg.decision.timeout_s * 1000) {
      finish("undecided", `no confident decision within ${cfg.decision.timeout_s} s`);
    }
    sendFrame();
  }, 100);
}

async function main() {
  try {
    cfg = await (await fetch("health")).json();
  } catch (e) { setStatus(`service not reachable: ${e}`); return; }
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) { setStatus(`camera not available: ${e.name || e}`); decisionEl.textContent = ""; return; }
  await video.play().catch(() => {});
  againBtn.onclick = start;
  start();
}

main();
