// Trygg crew page: log in, see open tickets nearest first on a map, open one to see the whole
// job, start, acknowledge and resolve it (with a photo). No framework; the map library (Leaflet)
// is served by the hub, and without it the page draws the positions alone.
import { $, createPage, el, readEvents, say } from "/crew/static/page.js";

const T = {
  sv: {
    appName: "felärenden", refresh: "Uppdatera", openNearest: "Öppna ärenden, närmast först",
    empty: "Inga öppna ärenden i ditt område.",
    who: (n, a) => `Inloggad som ${n}` + (a ? ` · område ${a}` : ""),
    ack: "Kvittera", resolve: "Markera åtgärdad", note: "Anteckning (valfri)",
    acked: (id) => `Ärende ${id} är kvitterat.`, resolved: (id) => `Ärende ${id} är åtgärdat.`,
    loading: "Hämtar ärenden…", loaded: (n) => `${n} öppna ärenden.`,
    mapCap: (n, here) => `Karta utan bakgrundskarta: ${n} ärenden som numrerade punkter` + (here ? ", du är den blå ringen" : "") + ". Norr är uppåt.",
    liveCap: (n, here) => `Karta: ${n} ärenden som numrerade punkter, grupperade när de ligger nära varandra (tryck för att zooma)` + (here ? "; du är den blå ringen." : "."),
    hereKnown: (acc) => `Din position är känd (±${acc} m); avstånd räknas därifrån.`,
    hereUnknown: "Telefonen ger ingen position, så din plats visas inte och avstånd räknas från Solna centrum.",
    start: "Påbörja", started: (id) => `Ärende ${id} är påbörjat.`, open: "Visa ärendet", close: "Dölj",
    navigate: "Navigera dit", openFor: "Öppet i", wrong: "Vad är fel", asset: "Anläggning", pole: "Stolpe/enhet",
    address: "Adress", evidence: "Underlag", photos: "Foton", history: "Historik", comments: "Kommentarer",
    arrived: (n) => `Nytt ärende: ${n}.`, urgent: (n) => `Nytt akut ärende: ${n}!`, changed: (id) => `Ärende ${id} ändrades.`,
    queued: (id) => `Inget nät: ärende ${id} sparas och skickas när nätet är tillbaka.`, pending: "Väntar på nät",
    synced: (n) => `${n} sparade åtgärder skickade.`, conflict: "Konflikt",
    offline: (at) => `Inget nät: visar listan från ${at}.`,
    none: "inget", photo: "Foto (valfritt)", group: (n) => `${n} ärenden här, tryck för att zooma`,
    ago: (h, m) => (h >= 48 ? `${Math.floor(h / 24)} dygn` : h ? `${h} h ${m} min` : `${m} min`), count: (n) => `${n} larm`,
    mapLabel: (n) => `Karta med ${n} öppna ärenden`, you: "Du är här",
    prio: { 1: "Akut", 2: "Hög", 3: "Normal", 4: "Låg", 5: "Info" },
    status: { new: "Ny", acknowledged: "Kvitterad", in_progress: "Pågår", reopened: "Återöppnad",
      resolved: "Åtgärdad", closed: "Stängd", duplicate: "Dubblett" },
    priority: "Prioritet", due: "Åtgärda senast", away: "bort", noPos: "position saknas",
  },
  en: {
    appName: "fault tickets", refresh: "Refresh", openNearest: "Open tickets, nearest first",
    empty: "No open tickets in your area.",
    who: (n, a) => `Signed in as ${n}` + (a ? ` · area ${a}` : ""),
    ack: "Acknowledge", resolve: "Mark resolved", note: "Note (optional)",
    acked: (id) => `Ticket ${id} acknowledged.`, resolved: (id) => `Ticket ${id} resolved.`,
    loading: "Loading tickets…", loaded: (n) => `${n} open tickets.`,
    mapCap: (n, here) => `Map without a base map: ${n} tickets as numbered dots` + (here ? ", you are the blue ring" : "") + ". North is up.",
    liveCap: (n, here) => `Map: ${n} tickets as numbered dots, grouped when close together (tap to zoom)` + (here ? "; you are the blue ring." : "."),
    hereKnown: (acc) => `Your position is known (±${acc} m); distances are measured from it.`,
    hereUnknown: "The phone gives no position, so yours is not shown and distances are measured from Solna centre.",
    start: "Start work", started: (id) => `Ticket ${id} started.`, open: "Show the job", close: "Hide",
    navigate: "Navigate there", openFor: "Open for", wrong: "What is wrong", asset: "Asset", pole: "Pole/device",
    address: "Address", evidence: "Evidence", photos: "Photos", history: "History", comments: "Comments",
    arrived: (n) => `New ticket: ${n}.`, urgent: (n) => `New urgent ticket: ${n}!`, changed: (id) => `Ticket ${id} changed.`,
    queued: (id) => `No network: ticket ${id} is saved and sent when the network is back.`, pending: "Waiting for network",
    synced: (n) => `${n} saved actions sent.`, conflict: "Conflict",
    offline: (at) => `No network: showing the list from ${at}.`,
    none: "none", photo: "Photo (optional)", group: (n) => `${n} tickets here, tap to zoom`,
    ago: (h, m) => (h >= 48 ? `${Math.floor(h / 24)} days` : h ? `${h} h ${m} min` : `${m} min`), count: (n) => `${n} alarms`,
    mapLabel: (n) => `Map of ${n} open tickets`, you: "You are here",
    prio: { 1: "Urgent", 2: "High", 3: "Normal", 4: "Low", 5: "Info" },
    status: { new: "New", acknowledged: "Acknowledged", in_progress: "In progress",
      reopened: "Reopened", resolved: "Resolved", closed: "Closed", duplicate: "Duplicate" },
    priority: "Priority", due: "Due", away: "away", noPos: "no position",
  },
};
const SOLNA = { lat: 59.3600, lon: 18.0000 };
const state = { me: null, kinds: {}, tickets: [], here: null, conf: null, leaflet: null, openId: null, detail: {},
  pending: {}, conflicts: {}, gone: {} };
const page = createPage({
  texts: T,
  offlineText: "pending",
  onSignIn: enter,
  onSignOut: () => { state.me = null; },
  onLang: () => {
    say("");
    if (state.me) { $("who").textContent = t("who")(state.me.name, state.me.area); render(); }
  },
});
const { t, api } = page;

function distance(a, lat, lon) {
  const r = Math.PI / 180, dp = (lat - a.lat) * r, dl = (lon - a.lon) * r;
  const h = Math.sin(dp / 2) ** 2 + Math.cos(a.lat * r) * Math.cos(lat * r) * Math.sin(dl / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
}

function fmtDistance(m) {
  const loc = page.locale();
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toLocaleString(loc, { maximumFractionDigits: 1 })} km`;
}

function kindName(k) { return (state.kinds[k] && state.kinds[k][page.lang]) || k; }

function drawMap(items) {
  const svg = $("map"); svg.replaceChildren();
  const W = 360, H = 220, pad = 22;
  const pts = items.filter((x) => x.lat != null && x.lon != null);
  const all = pts.map((x) => [x.lat, x.lon]); if (state.here) all.push([state.here.lat, state.here.lon]);
  if (!all.length) all.push([SOLNA.lat, SOLNA.lon]);
  const lat0 = all.reduce((s, p) => s + p[0], 0) / all.length, k = Math.cos(lat0 * Math.PI / 180);
  const xs = all.map((p) => p[1] * k), ys = all.map((p) => p[0]);
  let minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
  const span = Math.max(maxX - minX, maxY - minY, 0.002);          // at least ~200 m across
  const cx = (minX + maxX) / 2, cy = (minY + maxY) / 2;
  const scale = Math.min((W - 2 * pad) / span, (H - 2 * pad) / span) * 0.95;
  const px = (lat, lon) => [W / 2 + (lon * k - cx) * scale, H / 2 - (lat - cy) * scale];
  svg.append(el("rect", { x: 0, y: 0, width: W, height: H, fill: "#eef2f6" }));
  for (let i = 1; i < 6; i++) {
    svg.append(el("line", { x1: (W / 6) * i, y1: 0, x2: (W / 6) * i, y2: H, stroke: "#d5dbe3", "stroke-width": 1 }));
    if (i < 4) svg.append(el("line", { x1: 0, y1: (H / 4) * i, x2: W, y2: (H / 4) * i, stroke: "#d5dbe3", "stroke-width": 1 }));
  }
  // Scale bar: the largest round distance that fits in a quarter of the width.
  const mPerUnit = 111320, units = (W / 4) / scale, metres = units * mPerUnit;
  const nice = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000].filter((v) => v <= metres).pop() || 10;
  const len = nice / mPerUnit * scale;
  svg.append(el("line", { x1: 10, y1: H - 10, x2: 10 + len, y2: H - 10, stroke: "#111", "stroke-width": 3 }));
  svg.append(el("text", { x: 10, y: H - 16, "font-size": 12, fill: "#111", text: fmtDistance(nice) }));
  svg.append(el("text", { x: W - 14, y: 18, "font-size": 13, "font-weight": 700, fill: "#111", "text-anchor": "middle", text: "N" }));
  if (state.here) {
    const [x, y] = px(state.here.lat, state.here.lon);
    svg.append(el("circle", { cx: x, cy: y, r: 9, fill: "none", stroke: "#0050d0", "stroke-width": 4 }, el("title", { text: t("you") })));
  }
  pts.forEach((tk) => {
    const [x, y] = px(tk.lat, tk.lon), n = items.indexOf(tk) + 1;
    const color = tk.priority <= 1 ? "#a4000f" : tk.priority === 2 ? "#8a4b00" : "#004b87";
    const g = el("g", { tabindex: 0, role: "link", "aria-label": `${n}. ${kindName(tk.kind)}`,
      on: { click: () => focusCard(tk.id), keydown: (e) => { if (e.key === "Enter") focusCard(tk.id); } } },
      el("circle", { cx: x, cy: y, r: 13, fill: color, stroke: "#fff", "stroke-width": 2 }),
      el("text", { x, y: y + 5, "font-size": 13, "font-weight": 700, fill: "#fff", "text-anchor": "middle", text: String(n) }),
      el("title", { text: `${n}. ${kindName(tk.kind)}` }));
    svg.append(g);
  });
  svg.setAttribute("aria-label", t("mapLabel")(pts.length));
  $("map-cap").textContent = t("mapCap")(pts.length, !!state.here);
}

function mapReady() {
  if (state.leaflet || !window.L || !state.conf) return state.leaflet;
  $("map").setAttribute("hidden", ""); $("live-map").hidden = false;  // an SVG element has no .hidden
  const [[s, w], [n, e]] = state.conf.bounds;
  const m = L.map("live-map", { maxBounds: [[s - 0.02, w - 0.04], [n + 0.02, e + 0.04]], minZoom: 11, maxZoom: 19 });
  if (state.conf.tile_url) L.tileLayer(state.conf.tile_url, { maxZoom: 19, attribution: state.conf.tile_attribution || "" }).addTo(m);
  m.attributionControl.setPrefix("Leaflet");
  m.fitBounds(state.conf.bounds, { animate: false });
  const layer = L.layerGroup().addTo(m);
  m.on("zoomend moveend", () => drawLive());
  state.leaflet = { m, layer, fitted: false };
  return state.leaflet;
}

// Grid clustering in screen space: tickets closer than one cell on screen share a marker.
function clusters(m, pts, cell = 44) {
  const cells = new Map();
  for (const tk of pts) {
    const p = m.latLngToLayerPoint([tk.lat, tk.lon]);
    const key = `${Math.floor(p.x / cell)}:${Math.floor(p.y / cell)}`;
    if (!cells.has(key)) cells.set(key, []);
    cells.get(key).push(tk);
  }
  return [...cells.values()];
}

function drawLive() {
  const lf = state.leaflet; if (!lf) return;
  const items = state.tickets, pts = items.filter((x) => x.lat != null && x.lon != null);
  if (!lf.fitted && (pts.length || state.here)) {
    const all = pts.map((x) => [x.lat, x.lon]); if (state.here) all.push([state.here.lat, state.here.lon]);
    const inside = all.filter(([a, b]) => lf.m.options.maxBounds.contains([a, b]));
    lf.fitted = true;  // before fitBounds, whose moveend draws again
    if (inside.length) lf.m.fitBounds(inside, { padding: [28, 28], maxZoom: 17, animate: false });
  }
  lf.layer.clearLayers();
  if (state.here) L.circleMarker([state.here.lat, state.here.lon], { radius: 9, color: "#0050d0", weight: 4, fill: false, interactive: false, className: "you" }).addTo(lf.layer);
  for (const group of clusters(lf.m, pts)) {
    const first = group[0], n = items.indexOf(first) + 1, worst = Math.min(...group.map((x) => x.priority));
    const cls = `pin p${worst <= 1 ? 1 : worst === 2 ? 2 : 3}` + (group.length > 1 ? " many" : "");
    const label = group.length > 1 ? `${group.length}` : String(n);
    const name = group.length > 1 ? t("group")(group.length) : `${n}. ${kindName(first.kind)}`;
    const mk = L.marker([first.lat, first.lon], { icon: L.divIcon({ className: cls, html: "", iconSize: [44, 44] }), title: name, alt: name, keyboard: true });
    mk.on("add", () => { const e = mk.getElement(); if (e) { e.textContent = label; e.setAttribute("aria-label", name); e.setAttribute("role", "button"); } });
    mk.on("click", () => {
      if (group.length > 1) lf.m.fitBounds(group.map((x) => [x.lat, x.lon]), { padding: [40, 40], maxZoom: 19 });
      else focusCard(first.id);
    });
    mk.addTo(lf.layer);
  }
  $("live-map").setAttribute("aria-label", t("mapLabel")(pts.length));
  $("map-cap").textContent = t("liveCap")(pts.length, !!state.here);
}

function focusCard(id) { const c = document.getElementById(`ticket-${id}`); if (c) { c.scrollIntoView({ block: "center" }); c.querySelector("h3").focus(); } }

function openFor(tk) {
  const mins = Math.max(0, Math.floor((Date.now() - new Date(tk.created_at).getTime()) / 60000));
  return t("ago")(Math.floor(mins / 60), mins % 60);
}

function when(iso) {
  return new Date(iso).toLocaleString(page.locale(), { dateStyle: "short", timeStyle: "short", timeZone: "Europe/Stockholm" });
}

function section(title, items) {
  return el("div", { class: "part" }, el("h4", { text: title }),
    items.length ? el("ul", {}, ...items.map((x) => el("li", {}, x))) : el("p", { text: t("none") }));
}

function reading(r) {
  const { at, ...rest } = r;
  return `${at ? when(at) + ": " : ""}${Object.entries(rest).map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ")}`;
}

async function photoImg(tk, p) {
  const img = el("img", { alt: `${t("photos")} ${p.id} (${p.uploaded_by}, ${when(p.created_at)})`, width: 96, height: 96 });
  try {
    const r = await fetch(`/api/v1/tickets/${tk.id}/photos/${p.id}`, { headers: { Authorization: `Bearer ${page.token}` } });
    if (r.ok) img.src = URL.createObjectURL(await r.blob());
  } catch (_) { /* the alt text stays */ }
  return img;
}

function details(tk, d) {
  const ev = d.evidence || {};
  const readings = (ev.readings || []).slice(-5).map(reading);
  const other = Object.entries(ev).filter(([k]) => k !== "readings").map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`);
  const pics = el("div", { class: "photos" });
  d.photos.forEach((p) => photoImg(tk, p).then((img) => pics.append(img)));
  return el("div", { class: "details", id: `details-${tk.id}` },
    el("dl", {},
      el("dt", { text: t("wrong") }), el("dd", { text: `${kindName(tk.kind)}${tk.alarm_count > 1 ? ` (${t("count")(tk.alarm_count)})` : ""}${d.description ? ": " + d.description : ""}` }),
      el("dt", { text: t("asset") }), el("dd", { text: tk.asset_id || t("none") }),
      el("dt", { text: t("pole") }), el("dd", { text: tk.device_id || t("none") }),
      el("dt", { text: t("address") }), el("dd", { text: tk.address || t("none") })),
    section(t("evidence"), [...readings, ...other]),
    el("div", { class: "part" }, el("h4", { text: t("photos") }), d.photos.length ? pics : el("p", { text: t("none") })),
    section(t("history"), d.history.map((h) => `${when(h.at)} ${h.actor}: ${h.action}${h.to_status ? " → " + (t("status")[h.to_status] || h.to_status) : ""}${h.note ? " (" + h.note + ")" : ""}`)),
    section(t("comments"), d.comments.map((c) => `${when(c.at)} ${c.author}: ${c.text}`)));
}

function card(tk, n) {
  const d = state.here && tk.lat != null ? `${fmtDistance(distance(state.here, tk.lat, tk.lon))} ${t("away")}` : (tk.lat == null ? t("noPos") : "");
  const noteId = `note-${tk.id}`, photoId = `photo-${tk.id}`, name = `${n}. ${kindName(tk.kind)}`;
  const canAck = tk.status === "new" || tk.status === "reopened";
  const canStart = canAck || tk.status === "acknowledged";
  const due = tk.sla_due ? when(tk.sla_due) : null;
  const isOpen = state.openId === tk.id, detail = state.detail[tk.id];
  return el("li", { class: `card p${tk.priority}`, id: `ticket-${tk.id}` },
    el("h3", { tabindex: -1, text: name }),
    el("p", { class: "meta" },
      el("span", { class: `badge p${tk.priority}`, text: `${t("priority")}: ${t("prio")[tk.priority] || tk.priority}` }), " ",
      el("span", { class: "badge", text: t("status")[tk.status] || tk.status }), el("br"),
      `${tk.address || ""}${tk.address && d ? " · " : ""}${d}`, el("br"), `${t("openFor")}: ${openFor(tk)}`,
      due ? el("br") : null, due ? `${t("due")}: ${due}` : null),
    el("div", { class: "row" },
      el("button", { type: "button", class: "ghost", "aria-expanded": String(isOpen), "aria-controls": `details-${tk.id}`,
        on: { click: () => toggle(tk) }, text: isOpen ? t("close") : t("open"), "aria-label": `${isOpen ? t("close") : t("open")}: ${name}` }),
      tk.lat != null ? el("a", { class: "nav", href: `geo:${tk.lat},${tk.lon}?q=${tk.lat},${tk.lon}`, text: t("navigate"), "aria-label": `${t("navigate")}: ${name}` }) : null),
    state.pending[tk.id] ? el("p", { class: "pending", text: `${t("pending")}: ${state.pending[tk.id].map((a) => t(a === "acknowledge" ? "ack" : a)).join(", ")}` }) : null,
    state.conflicts[tk.id] ? el("p", { class: "conflict", role: "alert", text: `${t("conflict")}: ${state.conflicts[tk.id]}` }) : null,
    isOpen && detail ? details(tk, detail) : null,
    !OPEN.includes(tk.status) ? null : el("div", { class: "actions" },
      canStart ? el("button", { type: "button", class: "start", on: { click: (e) => act(tk, "start", e.target) },
        text: t("start"), "aria-label": `${t("start")}: ${name}` }) : null,
      canAck ? el("button", { type: "button", class: "ack", "data-id": tk.id, on: { click: (e) => act(tk, "acknowledge", e.target) },
        text: t("ack"), "aria-label": `${t("ack")}: ${name}` }) : null,
      el("label", { for: noteId, text: t("note") }),
      el("textarea", { id: noteId, maxlength: 2000, rows: 2 }),
      isOpen ? el("label", { for: photoId, text: t("photo") }) : null,
      isOpen ? el("input", { id: photoId, type: "file", accept: "image/jpeg,image/png,image/webp", capture: "environment" }) : null,
      el("button", { type: "button", class: "resolve", on: { click: (e) => act(tk, "resolve", e.target) },
        text: t("resolve"), "aria-label": `${t("resolve")}: ${name}` })));
}

async function toggle(tk) {
  if (state.openId === tk.id) { state.openId = null; render(); return; }
  try {
    state.detail[tk.id] = await api(`/api/v1/tickets/${tk.id}`);
    state.openId = tk.id; render();
    const c = document.getElementById(`ticket-${tk.id}`); if (c) c.querySelector("h3").focus();
  } catch (err) { say(t("failed") + err.message); }
}

function render() {
  const known = new Set(state.tickets.map((x) => x.id));
  const items = [...state.tickets, ...Object.values(state.gone).filter((x) => x && state.conflicts[x.id] && !known.has(x.id))];
  // Cards are rebuilt: keep what the crew member was typing.
  const notes = {}; document.querySelectorAll("#list textarea").forEach((n) => { if (n.value) notes[n.id] = n.value; });
  if (mapReady()) drawLive(); else drawMap(items);
  $("here").textContent = state.here ? t("hereKnown")(Math.round(state.here.acc || 0)) : t("hereUnknown");
  $("list").replaceChildren(...items.map((tk, i) => card(tk, i + 1)));
  for (const [id, v] of Object.entries(notes)) if ($(id)) $(id).value = v;
  $("empty").hidden = items.length > 0;
}

// The offline queue: actions in IndexedDB, sent in order with their Idempotency-Keys.
function db() {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open("trygg-crew", 1);
    r.onupgradeneeded = () => r.result.createObjectStore("queue", { keyPath: "key" });
    r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error);
  });
}
async function store(mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const tx = d.transaction("queue", mode), out = fn(tx.objectStore("queue"));
    tx.oncomplete = () => resolve(out && out.result); tx.onerror = () => reject(tx.error);
  });
}
const queued = () => store("readonly", (s) => s.getAll());

async function send(item) {
  if (item.photo && !item.photoSent) {
    const form = new FormData(); form.append("photo", item.photo, item.photoName || "photo.jpg");
    await api(`/api/v1/tickets/${item.ticket}/photos`, { method: "POST", body: form, headers: { "Idempotency-Key": `${item.key}-photo` } });
    item.photoSent = true;
  }
  await api(`/api/v1/tickets/${item.ticket}/${item.action}`, { method: "POST", json: { note: item.note }, headers: { "Idempotency-Key": `${item.key}-${item.action}` } });
}

async function markPending() {
  state.pending = {};
  for (const q of await queued()) (state.pending[q.ticket] = state.pending[q.ticket] || []).push(q.action);
}

let flushing = false;
async function flush() {
  if (flushing || !page.token) return;
  flushing = true;
  let sent = 0;
  try {
    for (const item of (await queued()).sort((a, b) => a.at - b.at)) {
      try { await send(item); sent++; }
      catch (err) {
        if (err.offline) break;
        if (err.status === 401) break;
        // E.g. 409, resolved by someone else meanwhile: the card stays, saying so.
        state.conflicts[item.ticket] = err.message;
        state.gone[item.ticket] = await api(`/api/v1/tickets/${item.ticket}`).catch(() => null);
      }
      await store("readwrite", (s) => s.delete(item.key));
    }
  } finally { flushing = false; }
  await markPending();
  if (sent) say(t("synced")(sent));
  await load(false).catch(() => render());
}

async function act(tk, action, button) {
  button.disabled = true;
  const note = ($(`note-${tk.id}`) || {}).value || "";
  const input = $(`photo-${tk.id}`), file = action === "resolve" && input && input.files[0];
  const item = { key: crypto.randomUUID(), at: Date.now(), ticket: tk.id, action, note,
    photo: file || null, photoName: file ? file.name : null };
  delete state.conflicts[tk.id];
  try {
    await send(item);
    if (state.openId === tk.id && action !== "resolve") state.detail[tk.id] = await api(`/api/v1/tickets/${tk.id}`);
    await load(false);
    say(action === "acknowledge" ? t("acked")(tk.id) : action === "start" ? t("started")(tk.id) : t("resolved")(tk.id));
  } catch (err) {
    if (!err.offline) { say(t("failed") + err.message); button.disabled = false; return; }
    await store("readwrite", (s) => s.put(item));
    await markPending(); render();
    say(t("queued")(tk.id));
  }
}

const OPEN = ["new", "acknowledged", "in_progress", "reopened"];

function alarm() {
  if (navigator.vibrate) navigator.vibrate([300, 120, 300]);
  try {
    const ac = new AudioContext(), o = ac.createOscillator(), g = ac.createGain();
    o.frequency.value = 880; g.gain.value = 0.2; o.connect(g).connect(ac.destination);
    o.start(); o.stop(ac.currentTime + 0.4);
  } catch (_) { /* no sound without a user gesture; the vibration and the message remain */ }
}

function arrived(tk) {
  const i = state.tickets.findIndex((x) => x.id === tk.id);
  const isNew = i < 0;
  if (!OPEN.includes(tk.status)) { if (!isNew) state.tickets.splice(i, 1); }
  else if (isNew) state.tickets.push(tk);
  else state.tickets[i] = { ...state.tickets[i], ...tk };
  if (state.here) state.tickets.sort((a, b) => (a.lat == null) - (b.lat == null) || (a.lat == null ? 0 : distance(state.here, a.lat, a.lon) - distance(state.here, b.lat, b.lon)));
  if (state.openId === tk.id && !isNew) delete state.detail[tk.id];
  if (state.openId === tk.id && !OPEN.includes(tk.status)) state.openId = null;
  render();
  if (isNew && OPEN.includes(tk.status)) {
    say(tk.priority <= 1 ? t("urgent")(kindName(tk.kind)) : t("arrived")(kindName(tk.kind)));
    if (tk.priority <= 1) alarm();
  }
}

// Server-sent events over fetch (EventSource cannot send the token); reconnects when cut.
async function listen(token) {
  while (page.token === token) {
    try {
      const resp = await fetch("/api/v1/tickets/stream", { headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" } });
      if (resp.status === 401) { page.logout(); return; }
      if (!resp.ok) throw new Error(resp.statusText);
      await readEvents(resp, (ev, data) => { if (ev === "ticket") arrived(JSON.parse(data)); }, () => page.token !== token);
    } catch (_) { /* offline or the hub restarted: try again shortly */ }
    await new Promise((r) => setTimeout(r, 3000));
  }
}

function locate() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(null);
    navigator.geolocation.getCurrentPosition((p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude, acc: p.coords.accuracy }),
      () => resolve(null), { timeout: 4000, maximumAge: 60000 });
  });
}

async function load(announce = true) {
  if (announce) say(t("loading"));
  if (!state.here) state.here = await locate();
  const near = state.here || SOLNA;
  try {
    state.tickets = await api(`/api/v1/tickets?status=open&near=${near.lat.toFixed(6)},${near.lon.toFixed(6)}&limit=100`);
    localStorage.setItem("trygg.last", JSON.stringify({ at: Date.now(), me: state.me, tickets: state.tickets }));
  } catch (err) {
    const last = JSON.parse(localStorage.getItem("trygg.last") || "null");
    if (!err.offline || !last) throw err;
    state.tickets = last.tickets;
    render(); say(t("offline")(when(new Date(last.at).toISOString()))); return;
  }
  render();
  if (announce) say(t("loaded")(state.tickets.length));
}

async function enter() {
  try { state.me = await api("/api/v1/me"); }
  catch (err) {
    const last = JSON.parse(localStorage.getItem("trygg.last") || "null");
    if (!err.offline || !last) throw err;
    state.me = last.me;
  }
  await markPending().catch(() => {});
  $("login").hidden = true; $("work").hidden = false;
  $("who").textContent = t("who")(state.me.name, state.me.area);
  await load();
  listen(page.token);
  flush();
}

document.addEventListener("DOMContentLoaded", async () => {
  $("refresh").addEventListener("click", () => load().catch((e) => say(t("failed") + e.message)));
  window.addEventListener("online", () => flush());
  setInterval(() => { if (navigator.onLine) flush(); }, 10000);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/crew/sw.js", { scope: "/crew/" }).catch(() => {});
  try { state.kinds = await (await fetch("/crew/kinds.json")).json(); } catch (_) { state.kinds = {}; }
  try { state.conf = await (await fetch("/crew/config.json")).json(); } catch (_) { state.conf = null; }
  page.ready();
});
