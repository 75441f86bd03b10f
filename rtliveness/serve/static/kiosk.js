// rtliveness kiosk page: camera -> WebSocket /v1/stream -> boxes, labels and one decision.
// The decision rule and timeout are the ones of rtliveness.runtime.decision.decide(): a face
// is decided once `windows` consecutive scored windows all lie on one side of the threshold
// by at least the margin — p_spoof below `live_below` or at least `spoof_from`, both computed
// by the service (decision_bounds) and sent in /health, read again at every check; a record
// marked `repeated` (the previous frame's verdicts given again: identical pixels) is no new
// window and counts for nothing; after `timeout_s` from the start of the check (fetching /health,
// opening the camera and connecting included) without that, the answer is "undecided".
//
// For a host app: window.rtliveness = {state, decision, result, error, stats}; state is
// "starting" | "checking" | "done"; stats count this check's frames and records; a
// "rtliveness:decision" event (detail: decision, result, error) is dispatched on window when a
// check ends. A check that ends without the service deciding (no camera, service unreachable,
// wrong token, busy, connection lost, no answer from /health, the camera or the service within
// the timeout) is "undecided" with `error` saying why, and "Check again" starts over (camera and
// /health included).
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
      if (f.p_spoof === null || f.p_spoof === undefined) {  // pending: new, or its window restarted
        this.recent.delete(f.track);  // the count starts over, as in decide()
        continue;
      }
      if (record.repeated) continue;  // the same verdict on the same pixels: no new window, as in decide()
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

// the token: ?token=… or #token=… (a fragment never reaches servers, proxies' logs or Referer headers)
const token = new URLSearchParams(location.search).get("token")
  || new URLSearchParams(location.hash.replace(/^#/, "")).get("token");
const video = document.getElementById("video");
const overlay = document.getElementById("overlay");
const decisionEl = document.getElementById("decision");
const statusEl = document.getElementById("status");
const againBtn = document.getElementById("again");
const grab = document.createElement("canvas");
const stats = { sent: 0, records: 0, boxes: 0, dropped: 0, repeated: 0, errors: 0 };
// error: why a check ended without the service deciding
window.rtliveness = { stats, state: "starting", decision: null, result: null, error: null };
const DEFAULT_TIMEOUT_S = 10;  // the check's timeout until /health has given the service's

let ws = null, rule = null, started = 0, inFlight = 0, done = true, timer = null, cfg = null, camera = null;
let check = 0;  // the current check's number: an earlier check's awaits end when they resume
let aborter = null;  // ends the current check's /health request when the check ends
let waiting = null;  // what the check waits for before its stream is open: timeout (s) => why
let cameraOpening = null;  // getUserMedia's pending answer, shared by the checks that wait for it
// A camera frame is sent once: where the browser says when the camera presents a new frame
// (requestVideoFrameCallback), only a new one is grabbed; elsewhere whatever the video shows,
// paced by the answers and the timer (a frame sent again is answered `repeated`).
const frameCallbacks = "requestVideoFrameCallback" in HTMLVideoElement.prototype;
let newFrame = !frameCallbacks, frameRequest = 0;

const CLOSE_REASONS = {
  4401: "wrong or missing token (add ?token=… or #token=… to the page address, URL-encoded)",
  4403: "this page's origin is not allowed (start the service with --allow-origin)",
  1013: "the service is busy; try again shortly",
  1012: "the service restarted; check again",
  1001: "the service closed the idle connection; check again",
  1009: "a camera frame was too large for the service (--max-frame-mb)",
  1006: "the connection to the service was lost",
};

function setStatus(text) { statusEl.textContent = text; }

function clearOverlay() {
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
}

function finish(label, detail, error = null, result = null) {
  if (done) return;
  done = true;
  waiting = null;
  if (aborter) aborter.abort();
  Object.assign(window.rtliveness, { state: "done", decision: label, result, error });
  decisionEl.textContent = label;
  decisionEl.className = label;
  setStatus(detail);
  againBtn.hidden = false;
  againBtn.focus();
  clearInterval(timer);
  const sock = ws;
  ws = null;
  if (sock) {
    sock.onopen = sock.onmessage = sock.onclose = null;  // a late event of this socket cannot touch the next check
    if (sock.readyState <= WebSocket.OPEN) sock.close(1000, "decided");
  }
  window.dispatchEvent(new CustomEvent("rtliveness:decision", { detail: { decision: label, result, error } }));
}

function fail(why) { finish("undecided", why, why); }

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
  const sock = ws;
  if (done || !sock || sock.readyState !== WebSocket.OPEN || inFlight >= 2 || !video.videoWidth || !newFrame) return;
  newFrame = !frameCallbacks;
  grab.width = video.videoWidth; grab.height = video.videoHeight;
  grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
  inFlight += 1;
  grab.toBlob(blob => {
    if (!blob || sock !== ws || sock.readyState !== WebSocket.OPEN) { if (sock === ws) inFlight = Math.max(0, inFlight - 1); return; }
    blob.arrayBuffer().then(buf => {
      if (sock !== ws || sock.readyState !== WebSocket.OPEN) return;
      sock.send(buf); stats.sent += 1;
    });
  }, "image/jpeg", 0.85);
}

function watchFrames() {  // armed again at each check: the camera may have been opened again
  video.cancelVideoFrameCallback(frameRequest);
  frameRequest = video.requestVideoFrameCallback(() => { newFrame = true; sendFrame(); watchFrames(); });
}

function ensureCamera() {
  if (camera && camera.getVideoTracks().some(t => t.readyState === "live")) return Promise.resolve();
  if (!cameraOpening) cameraOpening = openCamera().finally(() => { cameraOpening = null; });
  return cameraOpening;
}

async function openCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error(window.isSecureContext === false
      ? "the camera needs https:// or localhost (this page is not a secure context)"
      : "this browser gives no camera access");
  }
  try {
    camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) {
    throw new Error(`camera not available: ${e.name || e}${e.name === "NotAllowedError" ? " (allow the camera for this page)" : ""}`);
  }
  for (const t of camera.getVideoTracks()) {
    t.onended = () => { if (!done) fail("the camera was lost (unplugged or taken by another program)"); };
  }
  video.srcObject = camera;
  await video.play().catch(() => {});
}

function tick() {
  const limit = cfg ? cfg.decision.timeout_s : DEFAULT_TIMEOUT_S;
  if (!done && performance.now() - started > limit * 1000) {
    if (waiting) fail(waiting(limit));
    else finish("undecided", `no confident decision within ${limit} s`);
  }
  sendFrame();
}

async function start() {
  const mine = ++check;
  const current = () => mine === check && !done;
  done = false;
  started = performance.now();  // the timeout counts from here: /health, the camera and connecting included
  clearInterval(timer);
  timer = setInterval(tick, 100);
  for (const k in stats) stats[k] = 0;  // this check's (the object stays: a host app may hold it)
  Object.assign(window.rtliveness, { state: "starting", decision: null, result: null, error: null });
  decisionEl.textContent = ""; decisionEl.className = "";
  againBtn.hidden = true;
  clearOverlay();
  setStatus("starting…");
  aborter = new AbortController();
  waiting = s => `service not reachable: /health did not answer within ${s} s`;
  try {
    const res = await fetch("health", { cache: "no-store", signal: aborter.signal });  // the service's bounds now: it may have restarted
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    cfg = await res.json();
  } catch (e) { if (current()) fail(`service not reachable: ${e.message || e}`); return; }
  if (!current()) return;
  waiting = s => `the camera did not start within ${s} s (allow the camera for this page)`;
  try { await ensureCamera(); } catch (e) { if (current()) fail(e.message); return; }
  if (!current()) return;
  if (frameCallbacks) watchFrames();
  waiting = s => `no connection to the service within ${s} s`;
  rule = new DecisionRule(cfg.decision.live_below, cfg.decision.spoof_from, cfg.decision.windows);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const q = token ? `?token=${encodeURIComponent(token)}` : "";
  const base = location.pathname.replace(/[^/]*$/, "");  // works behind a proxy path prefix too
  const sock = new WebSocket(`${scheme}://${location.host}${base}v1/stream${q}`);
  ws = sock;
  sock.binaryType = "arraybuffer";
  inFlight = 0;
  window.rtliveness.state = "checking";
  sock.onopen = () => { waiting = null; setStatus("look at the camera"); sendFrame(); };
  sock.onmessage = ev => {
    if (sock !== ws) return;
    inFlight = Math.max(0, inFlight - 1);
    const record = JSON.parse(ev.data);
    stats.records += 1;
    if (record.error) { stats.errors += 1; }
    else if (record.dropped) { stats.dropped += 1; }  // a frame the service skipped: no news about any face
    else {
      if (record.repeated) stats.repeated += 1;
      draw(record);
      const got = rule.update(record);
      if (got) finish(got.label, `track ${got.track}, mean p_spoof ${got.p.toFixed(2)}`, null, got);
    }
    sendFrame();
  };
  sock.onclose = ev => {
    if (sock !== ws || done) return;
    const why = CLOSE_REASONS[ev.code] || `connection closed (${ev.code}${ev.reason ? ": " + ev.reason : ""})`;
    fail(why);
  };
}

document.addEventListener("visibilitychange", () => {
  // a hidden tab's timers slow to once a second: the check would time out without saying why
  if (document.hidden && !done) fail("the page was hidden during the check");
});
againBtn.onclick = start;
start();
