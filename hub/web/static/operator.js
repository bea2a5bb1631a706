// Trygg operator page: live alerts (server-sent events over fetch, so the token stays in a
// header), the running event's zones coloured by level of service, one-tap acknowledge and
// a sound for Extreme alerts. No framework, no external requests (CSP: 'self' only).
import { $, createPage, el, readEvents, say } from "/crew/static/page.js";

const T = {
  sv: {
    appName: "larm", openAlerts: "Aktiva larm", empty: "Inga aktiva larm.",
    who: (n) => `Inloggad som ${n}`, live: "Live", offline: "Ej ansluten",
    ack: "Kvittera", resolve: "Avsluta", acked: (id) => `Larm ${id} är kvitterat.`,
    resolvedMsg: (id) => `Larm ${id} är avslutat.`, noEvent: "Inget pågående evenemang",
    event: (n, p) => `${n} – ${p}`, newAlert: (a) => `Nytt larm: ${a}`,
    mapCap: (n) => `Schematisk karta: ${n} zoner färgade efter servicenivå (A bäst, F farligast). Norr är uppåt.`,
    kind: { crowdLevel: "Trängsel", crowdRising: "Snabbt ökande trängsel",
      crowdOverCapacity: "Över kapacitet", zoneBlind: "Zon utan bild", binFire: "Brand i papperskorg" },
    sev: { Extreme: "Extrem", Severe: "Allvarlig", Moderate: "Måttlig", Minor: "Låg" },
    status: { raised: "Nytt", acknowledged: "Kvitterat", escalated: "Eskalerat", resolved: "Avslutat" },
    phase: { ingress: "insläpp", event: "pågår", egress: "utsläpp" },
    fig: { peopleDensity: "pers/m²", peopleCount: "personer", occupancy: "beläggning", levelOfService: "nivå" },
  },
  en: {
    appName: "alerts", openAlerts: "Open alerts", empty: "No open alerts.",
    who: (n) => `Signed in as ${n}`, live: "Live", offline: "Not connected",
    ack: "Acknowledge", resolve: "Resolve", acked: (id) => `Alert ${id} acknowledged.`,
    resolvedMsg: (id) => `Alert ${id} resolved.`, noEvent: "No event running",
    event: (n, p) => `${n} – ${p}`, newAlert: (a) => `New alert: ${a}`,
    mapCap: (n) => `Schematic map: ${n} zones coloured by level of service (A best, F most dangerous). North is up.`,
    kind: { crowdLevel: "Crowding", crowdRising: "Crowd rising fast",
      crowdOverCapacity: "Over capacity", zoneBlind: "Zone without camera", binFire: "Bin fire" },
    sev: { Extreme: "Extreme", Severe: "Severe", Moderate: "Moderate", Minor: "Minor" },
    status: { raised: "New", acknowledged: "Acknowledged", escalated: "Escalated", resolved: "Resolved" },
    phase: { ingress: "ingress", event: "running", egress: "egress" },
    fig: { peopleDensity: "persons/m²", peopleCount: "persons", occupancy: "occupancy", levelOfService: "level" },
  },
};
const OPEN = new Set(["raised", "acknowledged", "escalated"]);
const state = { me: null, alerts: new Map(), event: null, zones: [], stream: null, audio: null, timer: null };
const page = createPage({
  texts: T,
  onSignIn: start,
  onSignOut: () => {
    if (state.stream) state.stream.abort();
    clearInterval(state.timer);
    state.me = null; state.stream = null;
  },
  onLang: () => {
    if (state.me) { $("who").textContent = t("who")(state.me.name); render(); }
    setLive(state.stream !== null);
  },
  // The AudioContext is made on the login tap: browsers allow sound only after a gesture.
  beforeSignIn: () => { if (!state.audio && window.AudioContext) state.audio = new AudioContext(); },
});
const { t, api } = page;

function setLive(on) {
  const b = $("live"); b.textContent = on ? t("live") : t("offline"); b.classList.toggle("live", on);
}

// A short two-tone beep, when the login tap made an AudioContext.
function beep() {
  const ctx = state.audio; if (!ctx) return;
  [880, 660].forEach((hz, i) => {
    const o = ctx.createOscillator(), g = ctx.createGain();
    o.frequency.value = hz; g.gain.value = 0.2; o.connect(g); g.connect(ctx.destination);
    const at = ctx.currentTime + i * 0.25; o.start(at); o.stop(at + 0.2);
  });
}

function figuresText(f) {
  const names = t("fig");
  return Object.entries(f).filter(([k]) => k in names).map(([k, v]) => `${names[k]} ${v}`).join(" · ");
}

function render() {
  const list = $("alerts"); list.replaceChildren();
  const open = [...state.alerts.values()].filter((a) => OPEN.has(a.status)).sort((a, b) => b.id - a.id);
  $("empty").hidden = open.length > 0;
  for (const a of open) {
    const title = `${t("kind")[a.kind] || a.kind} – ${a.place || a.zone}`;
    const card = el("li", { class: `card ${a.severity} ${a.status}`, "data-alert": String(a.id) },
      el("h3", { text: title }),
      el("p", { class: "meta" },
        el("span", { class: `badge ${a.severity}`, text: t("sev")[a.severity] || a.severity }), " ",
        el("span", { class: "badge", text: t("status")[a.status] || a.status }),
        ` · ${new Date(a.raisedAt).toLocaleTimeString(page.locale())}`),
      el("p", { class: "figures", text: figuresText(a.figures) }));
    const actions = el("div", { class: "actions" });
    if (a.status !== "acknowledged") actions.append(el("button", { type: "button", class: "ack", "aria-label": `${t("ack")}: ${title}`, text: t("ack"), on: { click: () => step(a.id, "acknowledge") } }));
    actions.append(el("button", { type: "button", class: "resolve", "aria-label": `${t("resolve")}: ${title}`, text: t("resolve"), on: { click: () => step(a.id, "resolve") } }));
    card.append(actions); list.append(card);
  }
  drawMap();
}

function drawMap() {
  const svg = $("map"); svg.replaceChildren();
  const zones = state.zones.filter((z) => z.lat != null && z.lon != null);
  $("event-h").textContent = state.event ? t("event")(state.event.name, t("phase")[state.event.phase] || "") : t("noEvent");
  $("map-cap").textContent = t("mapCap")(zones.length);
  if (!zones.length) return;
  const lats = zones.map((z) => z.lat), lons = zones.map((z) => z.lon);
  const [la0, la1, lo0, lo1] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const x = (lon) => 40 + (lo1 > lo0 ? (lon - lo0) / (lo1 - lo0) : 0.5) * 280;
  const y = (lat) => 30 + (la1 > la0 ? (la1 - lat) / (la1 - la0) : 0.5) * 150;
  for (const z of zones) {
    const los = z.figures.levelOfService || "none";
    const g = el("g", { "data-zone": z.zone, "data-los": los },
      el("title", { text: `${z.name || z.zone}: ${los} ${figuresText(z.figures)}` }),
      el("circle", { cx: x(z.lon), cy: y(z.lat), r: 16, class: `los-${los}` }),
      el("text", { x: x(z.lon), y: y(z.lat) + 5, "text-anchor": "middle", class: "zone-letter", text: los === "none" ? "?" : los }),
      el("text", { x: x(z.lon), y: y(z.lat) + 32, "text-anchor": "middle", class: "zone-label", text: z.name || z.zone }));
    svg.append(g);
  }
}

function hear(a) {
  const old = state.alerts.get(a.id);
  state.alerts.set(a.id, a);
  if (!old && OPEN.has(a.status)) {
    say(t("newAlert")(`${t("kind")[a.kind] || a.kind} – ${a.place || a.zone}`));
    if (a.severity === "Extreme") beep();
  } else if (old && old.severity !== "Extreme" && a.severity === "Extreme") beep();
  render();
}

async function step(id, what) {
  try {
    hear(await api(`/api/v1/alerts/${id}/${what}`, { method: "POST" }));
    say(what === "acknowledge" ? t("acked")(id) : t("resolvedMsg")(id));
  } catch (err) { say(t("failed") + err.message); }
}

async function loadAlerts() {
  const list = await api("/api/v1/alerts?status=open");
  state.alerts = new Map(list.map((a) => [a.id, a]));
  render();
}

async function loadEvent() {
  const events = await api("/api/v1/events");
  const now = Date.now();
  let found = null;
  for (const ev of events) {
    const ph = ev.phases.find((p) => Date.parse(p.start) <= now && now < Date.parse(p.end));
    if (ph) { found = { name: ev.name, phase: ph.name }; break; }
  }
  state.event = found;
  state.zones = found ? await api(`/api/v1/events/${encodeURIComponent(found.name)}/zones`) : [];
  drawMap();
}

// The stream ends on the server's terms (a time limit, a hub restart): reload and reconnect.
async function listen() {
  while (page.token) {
    const ctrl = new AbortController(); state.stream = ctrl;
    try {
      const resp = await fetch("/api/v1/alerts/stream", { headers: { Authorization: `Bearer ${page.token}`, Accept: "text/event-stream" }, signal: ctrl.signal });
      if (resp.status === 401) { page.logout(); return; }
      if (!resp.ok || !resp.body) throw new Error(resp.statusText);
      setLive(true);
      await loadAlerts();
      await readEvents(resp, (_, data) => hear(JSON.parse(data)));
    } catch (err) { if (ctrl.signal.aborted) return; }
    state.stream = null; setLive(false);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function start() {
  try { state.me = await api("/api/v1/me"); } catch (err) { if (err.message !== "401") say(t("failed") + err.message); return; }
  $("login").hidden = true; $("work").hidden = false;
  page.applyLang();
  await loadEvent().catch((err) => say(t("failed") + err.message));
  state.timer = setInterval(() => loadEvent().catch(() => {}), 5000);
  listen();
}

document.addEventListener("DOMContentLoaded", () => page.ready());
