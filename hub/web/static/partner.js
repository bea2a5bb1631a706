// Trygg partner page: a partner's own places, read-only, with the place's tickets and its
// assets' state on a Leaflet map, and a form to report a problem there. Talks only to
// /api/v1/partner with the user's token (CSP: 'self' and the tile server only).
"use strict";

const KINDS = ["graffiti", "lampOut", "flicker", "binFull", "binTilted", "binFire"];
const T = {
  sv: {
    skip: "Hoppa till innehållet", appName: "lägesbild", loginTitle: "Logga in",
    username: "Användarnamn", password: "Lösenord", login: "Logga in", logout: "Logga ut",
    other: "English", assetsTitle: "Utrustning", ticketsTitle: "Ärenden",
    noTickets: "Inga öppna eller nyligen avslutade ärenden.", reportTitle: "Anmäl ett problem",
    kind: "Vad", description: "Beskrivning", send: "Skicka",
    where: "Tryck på kartan för att välja plats; annars platsens mitt.",
    who: (n, o) => `Inloggad som ${n}, ${o}`, badLogin: "Fel användarnamn eller lösenord.",
    notPartner: "Kontot är inget partnerkonto.", failed: "Det gick inte: ",
    online: "i drift", offline: "ur drift", ours: "er anmälan",
    reported: (id) => `Tack! Ärende ${id} är registrerat.`,
    status: { new: "Nytt", acknowledged: "Mottaget", in_progress: "Pågår", reopened: "Återöppnat",
      resolved: "Åtgärdat", closed: "Stängt", duplicate: "Dubblett" },
  },
  en: {
    skip: "Skip to content", appName: "situation", loginTitle: "Log in",
    username: "User name", password: "Password", login: "Log in", logout: "Log out",
    other: "Svenska", assetsTitle: "Equipment", ticketsTitle: "Tickets",
    noTickets: "No open or recently closed tickets.", reportTitle: "Report a problem",
    kind: "What", description: "Description", send: "Send",
    where: "Tap the map to choose the spot; otherwise the middle of the place.",
    who: (n, o) => `Signed in as ${n}, ${o}`, badLogin: "Wrong user name or password.",
    notPartner: "This is not a partner account.", failed: "That failed: ",
    online: "working", offline: "out of order", ours: "your report",
    reported: (id) => `Thank you! Ticket ${id} is registered.`,
    status: { new: "New", acknowledged: "Received", in_progress: "In progress", reopened: "Reopened",
      resolved: "Fixed", closed: "Closed", duplicate: "Duplicate" },
  },
};
const state = { lang: localStorage.getItem("trygg.lang") || "sv", token: sessionStorage.getItem("trygg.partner"),
  me: null, kinds: {}, conf: null, place: null, assets: [], tickets: [], map: null, pick: null };
const $ = (id) => document.getElementById(id);
const t = (k) => T[state.lang][k];

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid != null) e.append(kid);
  return e;
}

function say(msg) { $("status").textContent = msg; }

async function api(path, opts = {}) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let body;
  if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(opts.json); }
  const resp = await fetch(path, { method: opts.method || "GET", headers, body });
  if (resp.status === 401 && path !== "/api/v1/session") { logout(); throw new Error("401"); }
  if (!resp.ok) {
    let detail = resp.statusText;
    try { const j = await resp.json(); detail = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); } catch (_) { /* keep statusText */ }
    const err = new Error(detail); err.status = resp.status; throw err;
  }
  return resp.status === 204 ? null : resp.json();
}

const kindName = (code) => (state.kinds[code] || {})[state.lang] || code;

function applyLang() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((n) => { n.textContent = t(n.dataset.i18n); });
  const b = $("lang"); b.textContent = t("other"); b.lang = state.lang === "sv" ? "en" : "sv";
  const sel = $("kind"); const was = sel.value; sel.replaceChildren(...KINDS.map((k) => el("option", { value: k, text: kindName(k) })));
  if (was) sel.value = was;
  if (state.me) { $("who").textContent = t("who")(state.me.name, state.me.organisation); render(); }
}

function drawMap() {
  if (!window.L || !state.place) return;
  if (!state.map) {
    const m = L.map("place-map", { maxZoom: 19 });
    if (state.conf && state.conf.tile_url) L.tileLayer(state.conf.tile_url, { maxZoom: 19, attribution: state.conf.tile_attribution || "" }).addTo(m);
    m.on("click", (ev) => { state.pick = ev.latlng; drawMap(); });
    state.map = { m, layer: L.layerGroup().addTo(m) };
  }
  const { m, layer } = state.map;
  layer.clearLayers();
  const shape = L.geoJSON(state.place.geometry, { style: { color: "#004b87", weight: 2, fillOpacity: 0.08 }, className: "place-shape" }).addTo(layer);
  for (const a of state.assets) {
    const bad = !a.online || a.alarms.length > 0;
    L.circleMarker([a.lat, a.lon], { radius: 7, color: bad ? "#a00" : "#080", className: `asset ${bad ? "asset-bad" : "asset-ok"}` })
      .bindTooltip(`${a.id} (${kindName(a.kind)})`).addTo(layer);
  }
  for (const tk of state.tickets) if (tk.lat != null) {
    L.circleMarker([tk.lat, tk.lon], { radius: 4, color: "#d70", className: "ticket" }).bindTooltip(`#${tk.id} ${kindName(tk.kind)}`).addTo(layer);
  }
  if (state.pick) L.circleMarker(state.pick, { radius: 9, color: "#0050d0", fill: false, interactive: false }).addTo(layer);
  if (!state.map.fitted) { m.fitBounds(shape.getBounds(), { padding: [10, 10] }); state.map.fitted = true; }
}

function render() {
  if (!state.me) return;
  $("places").replaceChildren(...state.me.places.map((name) => el("button", {
    type: "button", class: "ghost", "aria-current": String(state.place && state.place.name === name),
    text: name, on: { click: () => open(name) } })));
  $("place-h").textContent = state.place ? state.place.name : "";
  $("assets").replaceChildren(...state.assets.map((a) => el("li", { "data-asset": a.id, class: a.online ? "" : "asset-offline" },
    `${a.id} – ${kindName(a.kind)}: ${a.online ? t("online") : t("offline")}`,
    ...a.alarms.map((x) => el("span", { class: "badge", text: ` ${kindName(x.type)}` })))));
  $("tickets").replaceChildren(...state.tickets.map((tk) => el("li", { "data-ticket": String(tk.id) },
    `#${tk.id} ${kindName(tk.kind)} – ${t("status")[tk.status] || tk.status}${tk.address ? ` – ${tk.address}` : ""}`,
    tk.ours ? el("span", { class: "badge", text: ` ${t("ours")}` }) : null)));
  $("no-tickets").hidden = state.tickets.length > 0;
  drawMap();
}

async function open(name) {
  const base = `/api/v1/partner/places/${encodeURIComponent(name)}`;
  try {
    const [place, assets, tickets] = await Promise.all([api(base), api(`${base}/assets`), api(`${base}/tickets`)]);
    if (state.map && (!state.place || state.place.name !== name)) state.map.fitted = false;
    Object.assign(state, { place, assets, tickets, pick: null });
    render();
  } catch (e) { if (e.message !== "401") say(t("failed") + e.message); }
}

function centre() {
  if (state.pick) return { lat: state.pick.lat, lon: state.pick.lng };
  const ring = state.place.geometry.type === "Polygon" ? state.place.geometry.coordinates[0] : state.place.geometry.coordinates[0][0];
  const xs = ring.map((p) => p[0]); const ys = ring.map((p) => p[1]);
  return { lat: (Math.min(...ys) + Math.max(...ys)) / 2, lon: (Math.min(...xs) + Math.max(...xs)) / 2 };
}

async function report(ev) {
  ev.preventDefault();
  if (!state.place) return;
  const where = centre();
  try {
    const tk = await api(`/api/v1/partner/places/${encodeURIComponent(state.place.name)}/reports`,
      { method: "POST", json: { kind: $("kind").value, description: $("description").value, ...where } });
    $("description").value = "";
    say(t("reported")(tk.id));
    await open(state.place.name);
  } catch (e) { if (e.message !== "401") say(t("failed") + e.message); }
}

async function start() {
  try { state.me = await api("/api/v1/partner/me"); } catch (e) {
    if (e.status === 403) { $("login-error").textContent = t("notPartner"); logout(); }
    return;
  }
  $("login").hidden = true; $("work").hidden = false;
  applyLang();
  if (state.me.places.length) await open(state.me.places[0]);
}

function logout() {
  if (state.token) fetch("/api/v1/partner/session", { method: "DELETE", headers: { Authorization: `Bearer ${state.token}` } }).catch(() => {});
  state.token = null; state.me = null; state.place = null; sessionStorage.removeItem("trygg.partner");
  $("work").hidden = true; $("login").hidden = false;
}

document.addEventListener("DOMContentLoaded", async () => {
  try { state.kinds = await (await fetch("/crew/kinds.json")).json(); } catch (_) { state.kinds = {}; }
  try { state.conf = await (await fetch("/crew/config.json")).json(); } catch (_) { state.conf = null; }
  applyLang();
  $("lang").addEventListener("click", () => { state.lang = state.lang === "sv" ? "en" : "sv"; localStorage.setItem("trygg.lang", state.lang); applyLang(); });
  $("logout").addEventListener("click", logout);
  $("report-form").addEventListener("submit", report);
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); $("login-error").textContent = "";
    try {
      const r = await api("/api/v1/session", { method: "POST", json: { username: $("username").value, password: $("password").value } });
      state.token = r.token; sessionStorage.setItem("trygg.partner", r.token);
      await start();
    } catch (_) { if (!$("login-error").textContent) $("login-error").textContent = t("badLogin"); }
  });
  if (state.token) await start();
});
