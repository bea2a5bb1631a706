// Trygg partner page: a partner's own places, read-only, with the place's tickets and its
// assets' state on a Leaflet map, and a form to report a problem there. Talks only to
// /api/v1/partner with the user's token (CSP: 'self' and the tile server only).
import { $, createPage, el, say } from "/crew/static/page.js";

const KINDS = ["graffiti", "lampOut", "flicker", "binFull", "binTilted", "binFire"];
const T = {
  sv: {
    appName: "lägesbild", assetsTitle: "Utrustning", ticketsTitle: "Ärenden",
    noTickets: "Inga öppna eller nyligen avslutade ärenden.", reportTitle: "Anmäl ett problem",
    kind: "Vad", description: "Beskrivning", send: "Skicka",
    where: "Tryck på kartan för att välja plats; annars platsens mitt.",
    who: (n, o) => `Inloggad som ${n}, ${o}`, notPartner: "Kontot är inget partnerkonto.",
    online: "i drift", offline: "ur drift", ours: "er anmälan",
    reported: (id) => `Tack! Ärende ${id} är registrerat.`,
    status: { new: "Nytt", acknowledged: "Mottaget", in_progress: "Pågår", reopened: "Återöppnat",
      resolved: "Åtgärdat", closed: "Stängt", duplicate: "Dubblett" },
  },
  en: {
    appName: "situation", assetsTitle: "Equipment", ticketsTitle: "Tickets",
    noTickets: "No open or recently closed tickets.", reportTitle: "Report a problem",
    kind: "What", description: "Description", send: "Send",
    where: "Tap the map to choose the spot; otherwise the middle of the place.",
    who: (n, o) => `Signed in as ${n}, ${o}`, notPartner: "This is not a partner account.",
    online: "working", offline: "out of order", ours: "your report",
    reported: (id) => `Thank you! Ticket ${id} is registered.`,
    status: { new: "New", acknowledged: "Received", in_progress: "In progress", reopened: "Reopened",
      resolved: "Fixed", closed: "Closed", duplicate: "Duplicate" },
  },
};
const state = { me: null, kinds: {}, conf: null, place: null, assets: [], tickets: [], map: null, pick: null };
const page = createPage({
  texts: T,
  tokenKey: "trygg.partner",
  signOutPath: "/api/v1/partner/session",
  onSignIn: start,
  onSignOut: () => { state.me = null; state.place = null; },
  onLang: () => {
    const sel = $("kind"); const was = sel.value; sel.replaceChildren(...KINDS.map((k) => el("option", { value: k, text: kindName(k) })));
    if (was) sel.value = was;
    if (state.me) { $("who").textContent = t("who")(state.me.name, state.me.organisation); render(); }
  },
});
const { t, api } = page;

const kindName = (code) => (state.kinds[code] || {})[page.lang] || code;

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
    if (e.status === 403) { $("login-error").textContent = t("notPartner"); page.logout(); }
    return;
  }
  $("login").hidden = true; $("work").hidden = false;
  page.applyLang();
  if (state.me.places.length) await open(state.me.places[0]);
}

document.addEventListener("DOMContentLoaded", async () => {
  $("report-form").addEventListener("submit", report);
  try { state.kinds = await (await fetch("/crew/kinds.json")).json(); } catch (_) { state.kinds = {}; }
  try { state.conf = await (await fetch("/crew/config.json")).json(); } catch (_) { state.conf = null; }
  page.ready();
});
