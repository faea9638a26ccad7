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
  $("#farm").hidden = true;
  $("#who").hidden = true;
  $("#login").hidden = false;
  $("#login [name=user]").focus();
}

async function start(session) {
  app.session = session;
  $("#login").hidden = true;
  $("#who").hidden = false;
  $("#user").textContent = `${session.user} (${session.role})`;
  document.body.classList.toggle("viewer", !canOperate());
  for (const el of document.querySelectorAll(".operator-only")) el.hidden = !canOperate();
  $("#farm").hidden = false;
  await refresh();
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
  $(".name", el).textContent = p.name;
  const state = $(".state", el);
  state.textContent = p.held ? "held" : p.state;
  state.className = `state ${p.state}`;
  $(".temps", el).textContent = temps(p.temperatures);
  const bar = $("progress", el);
  const job = $(".job", el);
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
  app.refreshTimer = setTimeout(() => refresh().catch((e) => say(e.message)), 250);
}

function update(id, change) {
  const p = app.printers.get(id);
  if (!p) return;
  change(p);
  const el = app.tiles.get(id);
  if (el) fillTile(el, p);
}

$("#state-filter").addEventListener("change", render);

// --- actions -----------------------------------------------------------------------------

async function act(ids, action) {
  if (action === "cancel" && !confirm(`Cancel the print on ${ids.join(", ")}?`)) return;
  const results = await Promise.allSettled(ids.map((id) => api("POST", `/printers/${encodeURIComponent(id)}/${action}`)));
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
  const es = new EventSource(`${API}/events?types=printer-state,temperatures,progress,print,jobs`);
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
    }
  });
  es.addEventListener("progress", (e) => {
    for (const [id, g] of Object.entries(JSON.parse(e.data).printers)) {
      update(id, (p) => { p.progress = g; });
    }
  });
  for (const kind of ["print", "jobs", "resync", "dropped"]) es.addEventListener(kind, refreshSoon);
}

// --- start ---------------------------------------------------------------------------------

fetch(`${API}/session`, { credentials: "same-origin" })
  .then((res) => (res.ok ? res.json() : null))
  .then((session) => (session ? start(session) : showLogin()))
  .catch(() => showLogin());
