// The farm dashboard. Plain browser JavaScript, no build step: it logs in with a session cookie,
// reads the farm through the host API and stays live on the event stream.
"use strict";

const API = "/farm/api";
const $ = (sel, root = document) => root.querySelector(sel);

const app = {
  session: null,       // {user, role, csrf}
  printers: new Map(), // id -> summary
  tiles: new Map(),    // id -> element
  selected: new Set(),
  events: null,
  refreshTimer: null,
};

const canOperate = () => app.session && app.session.role !== "viewer";
const isAdmin = () => app.session && app.session.role === "admin";

/** An element with attributes (`on*` functions become listeners) and children (text or nodes). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  el.append(...children.filter((c) => c != null));
  return el;
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1 << 20)).toFixed(1)} MB`;
}

async function api(method, path, body) {
  const headers = {};
  if (method !== "GET") headers["X-CSRF-Token"] = app.session ? app.session.csrf : "";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(API + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401 && path !== "/login") {
    showLogin();
    throw new Error("logged out");
  }
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error((data && data.error) || `HTTP ${res.status}`);
  return data;
}

function say(message) {
  $("#status").textContent = message;
}

// --- login -------------------------------------------------------------------------------

function showLogin() {
  if (app.events) { app.events.close(); app.events = null; }
  app.session = null;
  for (const id of ["#farm", "#queue", "#library", "#admin", "#who", "#views"]) $(id).hidden = true;
  $("#login").hidden = false;
  $("#login [name=user]").focus();
}

async function start(session) {
  app.session = session;
  $("#login").hidden = true;
  $("#who").hidden = false;
  $("#user").textContent = `${session.user} (${session.role})`;
  document.body.classList.toggle("viewer", !canOperate());
  document.body.classList.toggle("admin", isAdmin());
  $("#views").hidden = false;
  await showFromUrl({ push: false });
  listen();
}

$("#login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const error = $("#login-error");
  error.hidden = true;
  try {
    const session = await api("POST", "/login", { user: form.get("user"), password: form.get("password") });
    e.target.reset();
    await start(session);
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  }
});

$("#logout").addEventListener("click", async () => {
  try { await api("POST", "/logout"); } catch (_) { /* the cookie is cleared either way */ }
  showLogin();
});

// --- the farm view ---------------------------------------------------------------------

const ATTENTION = new Set(["error", "paused"]);

function visible(p) {
  const f = $("#state-filter").value;
  if (!f) return true;
  if (f === "attention") return ATTENTION.has(p.state) || p.held || waitsForBed(p);
  if (f === "offline") return p.state === "offline" || p.state === "error";
  return p.state === f;
}

function waitsForBed(p) {
  return p.state === "operational" && !p.bed_clear && !p.self_clearing;
}

function clock(secs) {
  if (secs == null || !isFinite(secs)) return "";
  const s = Math.max(0, Math.round(secs));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}

function temps(readings) {
  return (readings || [])
    .map((r) => `${r.sensor} ${r.actual.toFixed(1)}°` + (r.target ? ` / ${r.target.toFixed(0)}°` : ""))
    .join(" · ");
}

function fillTile(el, p) {
  const open = $(".name button", el) || $(".name", el).appendChild(h("button", { type: "button", class: "open" }));
  open.textContent = p.name;
  const state = $(".state", el);
  state.textContent = p.held ? "held" : p.state;
  state.className = `state ${p.state}`;
  $(".temps", el).textContent = temps(p.temperatures);
  const bar = $("progress", el);
  const job = $(".job span", el) || $(".job", el).appendChild(h("span"));
  const thumb = $("img.thumb", el);
  const file = p.progress && p.progress.file;
  if (file && thumb.dataset.file !== file) {
    thumb.dataset.file = file;
    thumb.hidden = true;
    thumb.onload = () => { thumb.hidden = false; };
    thumb.onerror = () => { thumb.hidden = true; };
    thumb.src = `${API}/files/thumbnail?path=${encodeURIComponent(file)}`;
  } else if (!file) {
    thumb.hidden = true;
    delete thumb.dataset.file;
  }
  const camera = $("img.camera", el);
  camera.hidden = !p.webcam_snapshot;
  if (p.webcam_snapshot && !camera.src) camera.src = `${API}/printers/${encodeURIComponent(p.id)}/snapshot?t=${Date.now()}`;
  if (p.progress) {
    const fraction = p.progress.fraction != null ? p.progress.fraction
      : (p.progress.file_size ? p.progress.acked_offset / p.progress.file_size : 0);
    bar.hidden = false;
    bar.value = fraction;
    const left = clock(p.progress.remaining_secs ?? p.remaining_secs);
    job.textContent = `${p.progress.file} — ${(fraction * 100).toFixed(1)} %` + (left ? `, ${left} left` : "");
  } else {
    bar.hidden = true;
    job.textContent = p.state_reason || "";
  }
  const bed = $(".bed", el);
  bed.textContent = p.held ? "interrupted print: decide on the queue page"
    : waitsForBed(p) ? "bed not cleared: waiting for you" : "";
  bed.classList.toggle("waiting", waitsForBed(p) || p.held);
  const printing = p.state === "printing", paused = p.state === "paused";
  const show = {
    connect: p.state === "offline" || p.state === "error" || p.held,
    pause: printing, resume: paused, cancel: printing || paused,
    "bed-cleared": waitsForBed(p),
    retry: p.held, dismiss: p.held,
  };
  for (const b of el.querySelectorAll("[data-action]")) b.hidden = !show[b.dataset.action];
  el.hidden = !visible(p);
  el.classList.toggle("selected", app.selected.has(p.id));
}

function tileFor(p) {
  let el = app.tiles.get(p.id);
  if (el) return el;
  el = $("#tile").content.firstElementChild.cloneNode(true);
  el.dataset.printer = p.id;
  $(".name", el).addEventListener("click", () => { app.printer = p.id; show("printer"); });
  $(".pick input", el).addEventListener("change", (e) => {
    if (e.target.checked) app.selected.add(p.id); else app.selected.delete(p.id);
    $("#selected-count").textContent = `${app.selected.size} selected`;
    el.classList.toggle("selected", e.target.checked);
  });
  for (const b of el.querySelectorAll("[data-action]")) {
    b.addEventListener("click", () => act([p.id], b.dataset.action));
  }
  app.tiles.set(p.id, el);
  return el;
}

function render() {
  const groups = new Map();
  for (const p of app.printers.values()) {
    const tag = (p.tags && p.tags[0]) || "untagged";
    if (!groups.has(tag)) groups.set(tag, []);
    groups.get(tag).push(p);
  }
  const root = $("#groups");
  root.replaceChildren();
  for (const [tag, printers] of [...groups.entries()].sort()) {
    const section = document.createElement("section");
    section.className = "group";
    const title = document.createElement("h3");
    title.textContent = groups.size > 1 ? tag : `${printers.length} printers`;
    const grid = document.createElement("div");
    grid.className = "grid";
    for (const p of printers) {
      const el = tileFor(p);
      fillTile(el, p);
      grid.append(el);
    }
    section.append(title, grid);
    root.append(section);
  }
}

async function refresh() {
  const list = await api("GET", "/printers");
  app.printers = new Map(list.map((p) => [p.id, p]));
  render();
}

function refreshSoon() {
  clearTimeout(app.refreshTimer);
  app.refreshTimer = setTimeout(() => VIEWS[app.view]().catch((e) => say(e.message)), 250);
}

function update(id, change) {
  const p = app.printers.get(id);
  if (!p) return;
  change(p);
  const el = app.tiles.get(id);
  if (el) fillTile(el, p);
}

$("#state-filter").addEventListener("change", render);

// --- views -------------------------------------------------------------------------------

const VIEWS = { farm: refresh, printer: loadPrinter, queue: loadQueue, library: loadLibrary, history: loadHistory, admin: loadAdmin };
app.view = "farm";

/**
 * Shows a view. Its address goes into the URL (`#/queue`, `#/printer/v1`), so reloads, links
 * and the back button work; `focus` moves the keyboard focus to the view, as a page change
 * would, when the user asked for it.
 */
async function show(view, { focus = true, push = true } = {}) {
  app.view = view;
  for (const name of Object.keys(VIEWS)) $(`#${name}`).hidden = name !== view;
  if (view !== "printer") { app.printer = null; clearInterval(app.terminal.timer); }
  for (const b of document.querySelectorAll("[data-view]")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  }
  const hash = view === "printer" ? `#/printer/${encodeURIComponent(app.printer)}` : `#/${view}`;
  if (push && location.hash !== hash) history.pushState(null, "", hash);
  if (focus) $(`#${view}`).focus({ preventScroll: false });
  try { await VIEWS[view](); } catch (e) { say(e.message); }
}

/** The view the URL names (`#/printer/v1`), or the farm. */
function showFromUrl(options) {
  const [, view, id] = location.hash.split("/");
  if (view === "printer" && id) { app.printer = decodeURIComponent(id); return show("printer", options); }
  return show(VIEWS[view] && view !== "printer" ? view : "farm", options);
}

window.addEventListener("popstate", () => { if (app.session) showFromUrl({ push: false }); });

// Keyboard shortcuts, only while no field has the focus (a typed "1" is text there).
const SHORTCUTS = { 1: "farm", 2: "queue", 3: "library", 4: "history", 5: "admin" };
document.addEventListener("keydown", (e) => {
  if (!app.session || e.ctrlKey || e.metaKey || e.altKey) return;
  const typing = e.target.closest("input, select, textarea, [contenteditable]");
  if (e.key === "Escape") {
    if (!$("#print-form").hidden) { $("#print-form").hidden = true; return; }
    if (!typing && app.view !== "farm") show("farm");
    return;
  }
  if (typing) return;
  const view = SHORTCUTS[e.key];
  if (view && (view !== "admin" || isAdmin())) { e.preventDefault(); show(view); }
  else if (e.key === "/") { e.preventDefault(); if (app.view !== "farm") show("farm", { focus: false }); $("#state-filter").focus(); }
  else if (e.key === "?") toggleShortcuts();
});

function toggleShortcuts() {
  const panel = $("#shortcuts");
  panel.hidden = !panel.hidden;
  $("#keys-help").setAttribute("aria-expanded", String(!panel.hidden));
}
$("#keys-help").addEventListener("click", toggleShortcuts);

for (const b of document.querySelectorAll("[data-view]")) b.addEventListener("click", () => show(b.dataset.view));

// --- one printer ---------------------------------------------------------------------------

app.printer = null;
app.samples = [];
const COLORS = ["#ef4444", "#3b82f6", "#f59e0b", "#10b981"];

async function loadPrinter() {
  const id = app.printer;
  if (!id) return show("farm");
  const enc = encodeURIComponent(id);
  const [p, samples, history] = await Promise.all([
    api("GET", `/printers/${enc}`), api("GET", `/printers/${enc}/temperatures`), api("GET", `/history?printer=${enc}`),
  ]);
  app.printers.set(id, p);
  app.samples = samples.map((s) => ({ time: s.time_ms, readings: s.readings }));
  await startTerminal();
  $("#printer-name").textContent = p.name;
  const state = $("#printer-state");
  state.textContent = p.held ? "held" : p.state;
  state.className = `state ${p.state}`;
  drawChart();
  $("#printer-history").replaceChildren(...(history.length ? history.slice(0, 50).map((r) =>
    h("div", { class: "row" }, h("span", { class: "grow" }, r.file,
      h("span", { class: "muted" }, ` — ${r.outcome}` + (r.finished_ms ? `, ${clock((r.finished_ms - r.started_ms) / 1000)}` : "")
        + (r.outcome === "interrupted" ? `, last acknowledged line ${r.last_line}` : "") + (r.reason ? ` (${r.reason})` : "")))))
    : [h("p", { class: "muted" }, "Nothing printed yet.")]));
}

function drawChart() {
  const canvas = $("#chart");
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const samples = app.samples.slice(-1800);
  if (samples.length < 2) { $("#chart-legend").textContent = "no readings yet"; return; }
  const t0 = samples[0].time, t1 = samples[samples.length - 1].time || t0 + 1;
  let max = 50;
  for (const s of samples) for (const r of s.readings) max = Math.max(max, r.actual, r.target || 0);
  max = Math.ceil(max / 50) * 50;
  const x = (t) => ((t - t0) / Math.max(1, t1 - t0)) * (width - 40) + 35;
  const y = (v) => height - 20 - (v / max) * (height - 30);
  ctx.strokeStyle = "#8883"; ctx.fillStyle = "#888"; ctx.font = "11px sans-serif";
  for (let v = 0; v <= max; v += 50) { ctx.beginPath(); ctx.moveTo(35, y(v)); ctx.lineTo(width, y(v)); ctx.stroke(); ctx.fillText(`${v}°`, 2, y(v) + 4); }
  const sensors = [...new Set(samples.flatMap((s) => s.readings.map((r) => r.sensor)))];
  sensors.forEach((sensor, i) => {
    ctx.strokeStyle = COLORS[i % COLORS.length];
    for (const [field, dash] of [["actual", []], ["target", [6, 4]]]) {
      ctx.setLineDash(dash);
      ctx.beginPath();
      let started = false;
      for (const s of samples) {
        const r = s.readings.find((q) => q.sensor === sensor);
        if (!r || r[field] == null) continue;
        if (started) ctx.lineTo(x(s.time), y(r[field])); else { ctx.moveTo(x(s.time), y(r[field])); started = true; }
      }
      ctx.stroke();
    }
  });
  ctx.setLineDash([]);
  const minutes = Math.round((t1 - t0) / 60000);
  $("#chart-legend").textContent = `${sensors.join(", ")}: actual (solid) and target (dashed), last ${minutes} min`;
}

// The terminal shows the printer's own ring of recent lines (both ways, every `ok` and report),
// polled while the printer view is open; its filters hide the chatty lines.
app.terminal = { after: 0, timer: null };
const CHATTER = { temps: /^(ok )?\s*(T\d?|B):-?[\d.]+/, oks: /^ok\b\s*$|^N\d+ M105\*\d+$/, busy: /^echo:busy|^wait$/ };

function terminal(line, cls) {
  const pre = $("#terminal");
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  const row = h("span", cls ? { class: cls } : {}, line + "\n");
  for (const [name, re] of Object.entries(CHATTER)) if (re.test(line.replace(/^(Send|Recv): /, ""))) row.dataset.chatter = name;
  pre.append(row);
  while (pre.childNodes.length > 1000) pre.removeChild(pre.firstChild);
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

async function pollTerminal() {
  const id = app.printer;
  if (!id || document.hidden) return;
  const page = await api("GET", `/printers/${encodeURIComponent(id)}/terminal?after=${app.terminal.after}`);
  if (id !== app.printer) return;
  if (page.skipped && app.terminal.after) terminal("… (lines skipped)", "muted");
  for (const l of page.lines) terminal(`${l.direction === "sent" ? "Send" : "Recv"}: ${l.text}`, l.direction);
  app.terminal.after = page.last_seq;
}

function startTerminal() {
  $("#terminal").replaceChildren();
  app.terminal.after = 0;
  clearInterval(app.terminal.timer);
  app.terminal.timer = setInterval(() => pollTerminal().catch(() => {}), 1000);
  return pollTerminal();
}

for (const name of Object.keys(CHATTER)) {
  $(`#hide-${name}`).addEventListener("change", (e) => $("#terminal").classList.toggle(`hide-${name}`, e.target.checked));
}

async function sendCommands(commands) {
  const id = app.printer;
  try { await api("POST", `/printers/${encodeURIComponent(id)}/commands`, { commands }); await pollTerminal(); }
  catch (e) { terminal(`! ${e.message}`, "error"); }
}

$("#printer-back").addEventListener("click", () => show("farm"));
$("#set-temp").addEventListener("submit", (e) => {
  e.preventDefault();
  const target = Number(e.target.target.value);
  sendCommands([e.target.heater.value === "bed" ? `M140 S${target}` : `M104 S${target}`]);
});
for (const b of document.querySelectorAll("[data-jog]")) {
  b.addEventListener("click", () => {
    const axis = b.dataset.jog[0], dist = b.dataset.jog.slice(1);
    sendCommands(["G91", `G1 ${axis}${dist} F${axis === "Z" ? 600 : 3000}`, "G90"]);
  });
}
$("#home").addEventListener("click", () => sendCommands(["G28"]));
$("#command").addEventListener("submit", (e) => {
  e.preventDefault();
  const line = e.target.line.value.trim();
  if (line) sendCommands([line]);
  e.target.reset();
});

// --- queue ---------------------------------------------------------------------------------

/** Why an idle printer prints nothing: what it waits for. */
function waitsFor(p, jobs, paused) {
  if (p.held) return "held: decide about its interrupted print";
  if (p.state !== "operational") return `${p.state}${p.state_reason ? `: ${p.state_reason}` : ""}`;
  if (!p.bed_clear && !p.self_clearing) return "its bed to be cleared";
  if (paused) return "the queue to be resumed";
  const queued = jobs.filter((j) => j.tasks.some((t) => t.state === "queued"));
  if (!queued.length) return "a job: nothing is queued";
  const admits = (j) => (!j.placement.printers.length || j.placement.printers.includes(p.id))
    && j.placement.tags.every((t) => (p.tags || []).includes(t));
  return queued.some(admits) ? "nothing: a copy starts in a moment" : "a job it may print (the queued ones are placed elsewhere)";
}

async function loadQueue() {
  const [jobs, queue, printers] = await Promise.all([api("GET", "/jobs"), api("GET", "/queue"), api("GET", "/printers")]);
  $("#queue-paused").checked = !!queue.paused;
  const idle = printers.filter((p) => p.state !== "printing" && p.state !== "paused" && p.state !== "pausing");
  $("#idle").replaceChildren(...(idle.length ? idle.map((p) =>
    h("div", { class: "row", "data-printer": p.id }, h("span", { class: "grow" }, p.name,
      h("span", { class: "muted" }, ` — waits for ${waitsFor(p, jobs, queue.paused)}`))))
    : [h("p", { class: "muted" }, "Every printer is busy.")]));
  const interrupted = [];
  const rows = jobs.map((job) => {
    const done = job.tasks.filter((t) => t.state === "done").length;
    const running = job.tasks.filter((t) => t.state === "running").map((t) => t.printer);
    for (const t of job.tasks) if (t.needs_decision) interrupted.push([job, t]);
    return h("div", { class: "row", "data-job": job.id },
      h("span", { class: "grow" }, job.file,
        h("span", { class: "muted" }, ` — ${done}/${job.copies} done` + (running.length ? `, printing on ${running.join(", ")}` : ""))),
      h("span", { class: "muted" }, `priority ${job.priority}`),
      canOperate() && h("button", { type: "button", title: "raise priority", onclick: () => priority(job, 1) }, "▲"),
      canOperate() && h("button", { type: "button", title: "lower priority", onclick: () => priority(job, -1) }, "▼"),
      canOperate() && h("button", { type: "button", class: "danger", onclick: () => cancelJob(job) }, "Cancel"));
  });
  $("#jobs").replaceChildren(...(rows.length ? rows : [h("p", { class: "muted" }, "Nothing queued.")]));
  $("#interrupted").replaceChildren(...(interrupted.length ? interrupted.map(([job, t]) =>
    h("div", { class: "row", "data-task": t.id },
      h("span", { class: "grow" }, `${job.file} copy ${t.copy} on ${t.printer}`,
        h("span", { class: "muted" }, ` — ${t.reason || "interrupted"}; last acknowledged line ${t.last_line ?? "?"}`)),
      canOperate() && h("button", { type: "button", onclick: () => decide(t, "retry") }, "Retry"),
      canOperate() && h("button", { type: "button", onclick: () => decide(t, "dismiss") }, "Dismiss")))
    : [h("p", { class: "muted" }, "None.")]));
}

async function priority(job, delta) {
  await api("PUT", `/jobs/${job.id}/priority`, { priority: job.priority + delta });
  await loadQueue();
}

async function cancelJob(job) {
  if (!confirm(`Cancel ${job.file}?`)) return;
  await api("POST", `/jobs/${job.id}/cancel`);
  await loadQueue();
}

async function decide(task, what) {
  await api("POST", `/tasks/${task.id}/${what}`);
  say(`task ${task.id}: ${what}`);
  await loadQueue();
}

$("#queue-paused").addEventListener("change", async (e) => {
  await api("PUT", "/queue", { paused: e.target.checked });
  say(e.target.checked ? "queue paused" : "queue running");
});

// --- library -------------------------------------------------------------------------------

app.folder = "";

async function loadLibrary() {
  $("#folder").textContent = "/" + app.folder;
  const entries = await api("GET", `/files?folder=${encodeURIComponent(app.folder)}`);
  const rows = entries.map((f) => {
    const a = f.analysis || {};
    const facts = f.is_folder ? "folder" : [size(f.size), a.estimated_print_secs ? clock(a.estimated_print_secs) : null,
      a.filament_mm && a.filament_mm.length ? `${(a.filament_mm.reduce((x, y) => x + y, 0) / 1000).toFixed(2)} m` : null,
      a.layers ? `${a.layers} layers` : null, a.slicer].filter(Boolean).join(" · ");
    const thumb = !f.is_folder && f.thumbnails && f.thumbnails.length
      ? h("img", { src: `${API}/files/thumbnail?path=${encodeURIComponent(f.path)}`, alt: "", width: 48, height: 48 }) : null;
    const name = f.is_folder ? h("a", { class: "folder", onclick: () => { app.folder = f.path; loadLibrary(); } }, f.name + "/") : f.name;
    return h("div", { class: "row", "data-path": f.path }, thumb,
      h("span", { class: "grow" }, name, h("span", { class: "muted" }, ` — ${facts}`)),
      canOperate() && !f.is_folder && h("button", { type: "button", onclick: () => openPrint(f) }, "Print"),
      canOperate() && h("button", { type: "button", onclick: () => moveEntry(f) }, "Move / rename"),
      canOperate() && h("button", { type: "button", class: "danger", onclick: () => removeEntry(f) }, "Delete"));
  });
  $("#entries").replaceChildren(...(rows.length ? rows : [h("p", { class: "muted" }, "Empty folder.")]));
}

$("#folder-up").addEventListener("click", () => {
  app.folder = app.folder.includes("/") ? app.folder.slice(0, app.folder.lastIndexOf("/")) : "";
  loadLibrary();
});

async function moveEntry(f) {
  const destination = prompt(`Move or rename ${f.path} to:`, f.path);
  if (!destination || destination === f.path) return;
  try {
    await api("POST", "/files/move", { source: f.path, destination: destination.replace(/^\/+/, "") });
    say(`${f.path} → ${destination}`);
  } catch (e) { say(e.message); }
  await loadLibrary();
}

$("#folder-new").addEventListener("click", async () => {
  const name = prompt("New folder's name:");
  if (!name) return;
  const path = app.folder ? `${app.folder}/${name}` : name;
  try { await api("POST", "/files/folder", { path }); } catch (e) { say(e.message); }
  await loadLibrary();
});

async function removeEntry(f) {
  if (!confirm(`Delete ${f.path}?`)) return;
  await api("DELETE", `/files?path=${encodeURIComponent(f.path)}`);
  await loadLibrary();
}

/** Uploads one file with a progress bar of its own (fetch cannot report upload progress). */
function upload(file) {
  const bar = h("progress", { max: 1, value: 0 });
  const note = h("span", { class: "muted" }, "uploading");
  const row = h("div", { class: "row upload", "data-upload": file.name }, h("span", { class: "grow" }, file.name), bar, note);
  $("#uploads").append(row);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${API}/files`);
    xhr.setRequestHeader("X-CSRF-Token", app.session.csrf);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
    xhr.onload = () => {
      const ok = xhr.status === 201;
      bar.value = ok ? 1 : bar.value;
      let message = ok ? "stored" : `failed: HTTP ${xhr.status}`;
      try { if (!ok) message = `failed: ${JSON.parse(xhr.responseText).error}`; } catch (_) { /* keep the status */ }
      note.textContent = message;
      row.classList.add(ok ? "done" : "failed");
      resolve(ok);
    };
    xhr.onerror = () => { note.textContent = "failed: the connection broke"; resolve(false); };
    const form = new FormData();
    if (app.folder) form.append("path", app.folder + "/");
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

async function uploadAll(files) {
  const results = await Promise.all([...files].map(upload));
  say(`${results.filter(Boolean).length} of ${results.length} uploaded`);
  await loadLibrary();
}

const drop = $("#drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  uploadAll(e.dataTransfer.files);
});
$("#files").addEventListener("change", (e) => uploadAll(e.target.files));

function openPrint(f) {
  const form = $("#print-form");
  form.dataset.file = f.path;
  $("#print-file").textContent = f.path;
  form.hidden = false;
  form.copies.focus();
}

$("#print-close").addEventListener("click", () => { $("#print-form").hidden = true; });
$("#print-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const list = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);
  try {
    const job = await api("POST", "/jobs", {
      file: form.dataset.file, copies: Number(form.copies.value), priority: Number(form.priority.value),
      placement: { printers: list(form.printers.value), tags: list(form.tags.value) },
    });
    say(`queued ${job.copies} × ${job.file}`);
    form.hidden = true;
  } catch (err) { say(err.message); }
});

// --- history and statistics ---------------------------------------------------------------

/** Per printer and for the farm: attempts by outcome, success rate, printing time and the share
 *  of the period spent printing. */
function statistics(records, since, now, printers) {
  const rows = new Map(printers.map((id) => [id, { attempts: 0, done: 0, failed: 0, cancelled: 0, interrupted: 0, ms: 0 }]));
  for (const r of records) {
    if (r.started_ms < since) continue;
    if (!rows.has(r.printer)) rows.set(r.printer, { attempts: 0, done: 0, failed: 0, cancelled: 0, interrupted: 0, ms: 0 });
    const row = rows.get(r.printer);
    row.attempts += 1;
    if (row[r.outcome] !== undefined) row[r.outcome] += 1;
    row.ms += Math.max(0, (r.finished_ms || now) - Math.max(r.started_ms, since));
  }
  return rows;
}

async function loadHistory() {
  const [records, printers] = await Promise.all([api("GET", "/history?limit=10000"), api("GET", "/printers")]);
  const now = Date.now();
  const period = Number($("#period").value);
  const since = period ? now - period : Math.min(now, ...records.map((r) => r.started_ms));
  const span = Math.max(1, now - since);
  const rows = statistics(records, since, now, printers.map((p) => p.id));
  const total = { attempts: 0, done: 0, failed: 0, cancelled: 0, interrupted: 0, ms: 0 };
  const line = (name, r, share, cls) => h("tr", { class: cls, "data-printer": name },
    h("td", {}, name), h("td", {}, String(r.attempts)), h("td", {}, String(r.done)), h("td", {}, String(r.failed)),
    h("td", {}, String(r.cancelled)), h("td", {}, String(r.interrupted)),
    h("td", {}, r.attempts ? `${((r.done / r.attempts) * 100).toFixed(0)} %` : "–"),
    h("td", {}, `${(r.ms / 3600000).toFixed(1)} h`), h("td", {}, `${(share * 100).toFixed(1)} %`));
  const body = [];
  for (const [id, r] of rows) {
    for (const k of Object.keys(total)) total[k] += r[k];
    body.push(line(id, r, r.ms / span));
  }
  body.push(line("farm", total, total.ms / span / Math.max(1, rows.size), "total"));
  $("#stats tbody").replaceChildren(...body);
  const recent = records.filter((r) => r.started_ms >= since).slice(0, 100);
  $("#attempts").replaceChildren(...(recent.length ? recent.map((r) =>
    h("div", { class: "row" }, h("span", { class: "grow" }, r.file, h("span", { class: "muted" },
      ` — ${r.outcome} on ${r.printer}, ${new Date(r.started_ms).toLocaleString()}` + (r.finished_ms ? `, ${clock((r.finished_ms - r.started_ms) / 1000)}` : "")))))
    : [h("p", { class: "muted" }, "No attempts in this period.")]));
}

$("#period").addEventListener("change", () => loadHistory().catch((e) => say(e.message)));

// --- admin ---------------------------------------------------------------------------------

async function loadAdmin() {
  const [requests, users, sessions, plugins] = await Promise.all([
    api("GET", "/key-requests"), api("GET", "/users"), api("GET", "/sessions"), api("GET", "/plugins"),
  ]);
  $("#key-requests").replaceChildren(...(requests.length ? requests.map((r) =>
    h("div", { class: "row", "data-request": r.id },
      h("span", { class: "grow" }, `${r.app}`, h("span", { class: "muted" }, ` — for ${r.user || "any user"}, from ${r.client} (${r.plugin})`)),
      h("button", { type: "button", onclick: () => decideKey(r, true) }, "Approve"),
      h("button", { type: "button", class: "danger", onclick: () => decideKey(r, false) }, "Deny")))
    : [h("p", { class: "muted" }, "No pending requests.")]));
  $("#users").replaceChildren(...users.map((u) =>
    h("div", { class: "row", "data-user": u.name }, h("span", { class: "grow" }, u.name),
      h("span", { class: "muted" }, `${u.role}, ${u.api_keys} key(s)` + (u.has_password ? ", password" : "")),
      h("button", { type: "button", onclick: (e) => showKeys(u.name, e.target.closest(".row")) }, "Keys"),
      h("button", { type: "button", onclick: () => newKey(u.name) }, "New key"),
      u.name !== app.session.user && h("button", { type: "button", class: "danger", onclick: () => deleteUser(u.name) }, "Delete"))));
  $("#sessions").replaceChildren(...sessions.map((x) =>
    h("div", { class: "row", "data-session": x.id }, h("span", { class: "grow" }, x.user,
      h("span", { class: "muted" }, ` — since ${new Date(x.created_ms).toLocaleString()}, until ${new Date(x.expires_ms).toLocaleString()}`
        + (x.id === app.session.session ? " (this one)" : ""))),
      x.id !== app.session.session && h("button", { type: "button", class: "danger", onclick: () => revokeSession(x.id) }, "Revoke"))));
  $("#plugins").replaceChildren(...plugins.map((p) =>
    h("div", { class: "row", "data-plugin": p.id }, h("span", { class: "grow" }, `${p.name || p.id} ${p.version}`,
      h("span", { class: "muted" }, ` — ${p.state}` + (p.reason ? ` (${p.reason})` : "")
        + `; grants: ${p.capabilities_granted.join(", ") || "none"}; ${p.calls} calls, ${p.failures} failures`)),
      ...(p.state === "enabled" ? p.pages : []).map((page) => h("a", { href: page.url, class: "button" }, page.title)),
      h("button", { type: "button", onclick: (e) => showConfig(p.id, e.target.closest(".row")) }, "Config"))));
}

/** A plugin's settings: each property of its schema with its description and the value set. */
async function showConfig(id, row) {
  const { schema, values } = await api("GET", `/plugins/${encodeURIComponent(id)}/config`);
  const props = (schema && schema.properties) || {};
  const lines = Object.entries(props).map(([name, prop]) => {
    const value = values && Object.prototype.hasOwnProperty.call(values, name) ? JSON.stringify(values[name])
      : `default ${JSON.stringify(prop.default ?? null)}`;
    return `${name} = ${value}\n    ${prop.description || ""}`;
  });
  const pre = row.querySelector("pre.config") || row.appendChild(h("pre", { class: "config" }));
  pre.textContent = lines.length ? lines.join("\n") : "No settings.";
}

/** A user's keys (labels only: a key is shown once, when issued), each revocable. */
async function showKeys(user, row) {
  const keys = await api("GET", `/users/${encodeURIComponent(user)}/keys`);
  const list = row.querySelector(".keys") || row.appendChild(h("div", { class: "keys list" }));
  list.replaceChildren(...(keys.length ? keys.map((k) =>
    h("div", { class: "row", "data-key": k.id }, h("span", { class: "grow" }, k.label,
      h("span", { class: "muted" }, ` — issued ${new Date(k.created_ms).toLocaleString()}`)),
      h("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm(`Revoke ${user}'s key "${k.label}"? Whatever uses it stops working.`)) return;
        await api("DELETE", `/users/${encodeURIComponent(user)}/keys/${k.id}`);
        say(`${user}'s key "${k.label}" revoked`);
        await showKeys(user, row);
      } }, "Revoke")))
    : [h("p", { class: "muted" }, "No API keys.")]));
}

async function newKey(user) {
  const label = prompt(`What is the new key of ${user} for?`, "dashboard");
  if (label === null) return;
  const issued = await api("POST", `/users/${encodeURIComponent(user)}/keys`, { label });
  const box = $("#new-key");
  box.textContent = `New API key of ${user} (shown this once): ${issued.api_key}`;
  box.hidden = false;
  await loadAdmin();
}

async function deleteUser(user) {
  if (!confirm(`Delete the user ${user}, their keys and sessions?`)) return;
  await api("DELETE", `/users/${encodeURIComponent(user)}`);
  await loadAdmin();
}

async function revokeSession(id) {
  await api("DELETE", `/sessions/${encodeURIComponent(id)}`);
  say(`session ${id} ended`);
  await loadAdmin();
}

$("#new-user").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  try {
    // `f.name` would be the form's own name: read the field through `elements`.
    const field = (n) => f.elements.namedItem(n).value;
    const created = await api("POST", "/users", { name: field("name").trim(), role: field("role"), password: field("password") || null });
    const box = $("#new-key");
    box.textContent = `User ${created.user.name} added. Their API key (shown this once): ${created.api_key}`;
    box.hidden = false;
    f.reset();
    await loadAdmin();
  } catch (err) { say(err.message); }
});

async function decideKey(r, approve) {
  await api("POST", `/key-requests/${r.id}`, { approve });
  say(`${r.app}: ${approve ? "approved" : "denied"}`);
  await loadAdmin();
}

// --- actions -----------------------------------------------------------------------------

/** The interrupted task a held printer waits on a decision for. */
async function interruptedTask(printer) {
  const jobs = await api("GET", "/jobs");
  for (const job of jobs) for (const t of job.tasks) if (t.needs_decision && t.printer === printer) return t;
  throw new Error(`no interrupted print on ${printer}`);
}

async function act(ids, action) {
  if (action === "cancel" && !confirm(`Cancel the print on ${ids.join(", ")}?`)) return;
  const one = async (id) => {
    if (action === "retry" || action === "dismiss") {
      const task = await interruptedTask(id);
      return api("POST", `/tasks/${task.id}/${action}`);
    }
    return api("POST", `/printers/${encodeURIComponent(id)}/${action}`);
  };
  const results = await Promise.allSettled(ids.map(one));
  const failed = results.map((r, i) => [r, ids[i]]).filter(([r]) => r.status === "rejected");
  say(failed.length ? failed.map(([r, id]) => `${id}: ${r.reason.message}`).join("; ") : `${action}: done`);
  refreshSoon();
}

for (const b of document.querySelectorAll("[data-bulk]")) {
  b.addEventListener("click", () => {
    if (!app.selected.size) { say("select printers first"); return; }
    act([...app.selected], b.dataset.bulk);
  });
}

// --- live ------------------------------------------------------------------------------

function listen() {
  if (app.events) app.events.close();
  const live = $("#live");
  const es = new EventSource(`${API}/events?types=printer-state,temperatures,progress,print,files,jobs,key-request`);
  app.events = es;
  es.onopen = () => { live.textContent = "live"; live.classList.add("on"); };
  es.onerror = () => { live.textContent = "reconnecting…"; live.classList.remove("on"); };
  es.addEventListener("printer-state", (e) => {
    const d = JSON.parse(e.data);
    update(d.printer, (p) => { p.state = d.state; p.state_reason = d.reason; });
    refreshSoon();
  });
  es.addEventListener("temperatures", (e) => {
    for (const [id, t] of Object.entries(JSON.parse(e.data).printers)) {
      update(id, (p) => { p.temperatures = t.readings; });
      if (id === app.printer) {
        app.samples.push({ time: t.time, readings: t.readings });
        if (app.samples.length > 2000) app.samples.splice(0, app.samples.length - 1800);
        drawChart();
      }
    }
  });
  es.addEventListener("progress", (e) => {
    for (const [id, g] of Object.entries(JSON.parse(e.data).printers)) {
      update(id, (p) => { p.progress = g; });
    }
  });
  for (const kind of ["print", "jobs", "resync", "dropped"]) es.addEventListener(kind, refreshSoon);
  es.addEventListener("key-request", () => { if (app.view === "admin") loadAdmin(); });
  // A file stored, removed or analysed: the library view shows it.
  es.addEventListener("files", () => { if (app.view === "library") refreshSoon(); });
}

// Camera pictures are refreshed every 10 s while the farm view shows.
setInterval(() => {
  if (app.view !== "farm" || document.hidden) return;
  for (const img of document.querySelectorAll(".tile img.camera:not([hidden])")) {
    const id = img.closest(".tile").dataset.printer;
    img.src = `${API}/printers/${encodeURIComponent(id)}/snapshot?t=${Date.now()}`;
  }
}, 10_000);

// --- start ---------------------------------------------------------------------------------

fetch(`${API}/session`, { credentials: "same-origin" })
  .then((res) => (res.ok ? res.json() : null))
  .then((session) => (session ? start(session) : showLogin()))
  .catch(() => showLogin());
