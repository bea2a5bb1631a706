// Trygg fleet page: releases and staged rollouts, progress per stage, pause, resume and
// abort. No framework, no external requests (CSP: 'self' only). Refreshes every 5 s.
import { $, createPage, el, say } from "/crew/static/page.js";

const T = {
  sv: {
    appName: "uppdateringar", rollouts: "Utrullningar", releases: "Versioner", empty: "Inga utrullningar.",
    version: "Version", published: "Publicerad", by: "Av", files: "Filer", id: "Id",
    who: (n) => `Inloggad som ${n}`,
    status: { running: "Pågår", paused: "Pausad", halted: "Stoppad", aborted: "Avbruten", done: "Klar" },
    pause: "Pausa", resume: "Fortsätt", abort: "Avbryt",
    confirmAbort: (id) => `Avbryta utrullning ${id}? Stolpar som redan har uppdaterats behåller versionen.`,
    changed: (id, s) => `Utrullning ${id}: ${s}.`,
    title: (id, v) => `Utrullning ${id} – version ${v}`,
    summary: (h, n, f) => `${h} av ${n} enheter klara, ${f} misslyckade`,
    stage: (i, name) => `Steg ${i}: ${name}`,
    counts: (h, f, b, p) => `${h} klara · ${f} misslyckade · ${b} pågår · ${p} väntar`,
  },
  en: {
    appName: "updates", rollouts: "Rollouts", releases: "Releases", empty: "No rollouts.",
    version: "Version", published: "Published", by: "By", files: "Files", id: "Id",
    who: (n) => `Signed in as ${n}`,
    status: { running: "Running", paused: "Paused", halted: "Halted", aborted: "Aborted", done: "Done" },
    pause: "Pause", resume: "Resume", abort: "Abort",
    confirmAbort: (id) => `Abort rollout ${id}? Poles already updated keep the release.`,
    changed: (id, s) => `Rollout ${id}: ${s}.`,
    title: (id, v) => `Rollout ${id} – version ${v}`,
    summary: (h, n, f) => `${h} of ${n} devices done, ${f} failed`,
    stage: (i, name) => `Stage ${i}: ${name}`,
    counts: (h, f, b, p) => `${h} done · ${f} failed · ${b} in progress · ${p} waiting`,
  },
};
const FAILED = new Set(["rolled_back", "failed", "timed_out"]);
const state = { me: null, rollouts: [], releases: [], timer: null };
const page = createPage({
  texts: T,
  onSignIn: start,
  onSignOut: () => { clearInterval(state.timer); state.me = null; },
  onLang: () => { if (state.me) { $("who").textContent = t("who")(state.me.name); render(); } },
});
const { t, api } = page;

function stageRow(ro, st) {
  const c = st.counts, n = st.devices || 0;
  const healthy = c.healthy || 0, pending = c.pending || 0;
  const failed = Object.entries(c).filter(([k]) => FAILED.has(k)).reduce((a, [, v]) => a + v, 0);
  const busy = n - healthy - failed - pending;
  const pct = (x) => (n ? (100 * x) / n : 0).toFixed(1) + "%";
  const label = t("stage")(st.position + 1, st.name);
  const current = st.position === ro.current_stage && ["running", "paused", "halted"].includes(ro.status);
  return el("li", { class: `stage${current ? " current" : ""}`, "data-stage": String(st.position) },
    el("div", { class: "name", text: `${label} (${n})` }),
    el("div", { class: "bar-track", role: "img", "aria-label": `${label}: ${t("counts")(healthy, failed, busy, pending)}` },
      el("span", { class: "healthy", css: { width: pct(healthy) } }),
      el("span", { class: "failed", css: { width: pct(failed) } }),
      el("span", { class: "busy", css: { width: pct(busy) } })),
    el("div", { class: "meta counts", text: t("counts")(healthy, failed, busy, pending) }));
}

function render() {
  const list = $("rollouts"); list.replaceChildren();
  $("empty").hidden = state.rollouts.length > 0;
  for (const ro of state.rollouts) {
    const title = t("title")(ro.id, ro.version);
    const card = el("li", { class: `card ${ro.status}`, "data-rollout": String(ro.id) },
      el("h3", { text: title }),
      el("p", { class: "meta" },
        el("span", { class: `badge ${ro.status}`, text: t("status")[ro.status] || ro.status }), " ",
        t("summary")(ro.healthy, ro.devices, ro.failed)),
      ro.reason ? el("p", { class: "reason", text: ro.reason }) : null,
      el("ol", { class: "stages" }, ...ro.stages.map((st) => stageRow(ro, st))));
    const actions = el("div", { class: "actions" });
    const button = (what) => el("button", { type: "button", class: what, "aria-label": `${t(what)}: ${title}`, text: t(what), on: { click: () => act(ro.id, what) } });
    if (ro.status === "running") actions.append(button("pause"));
    if (ro.status === "paused" || ro.status === "halted") actions.append(button("resume"));
    if (["running", "paused", "halted"].includes(ro.status)) actions.append(button("abort"));
    card.append(actions); list.append(card);
  }
  const body = $("releases").querySelector("tbody"); body.replaceChildren();
  for (const r of state.releases) {
    body.append(el("tr", {},
      el("td", { text: r.version }),
      el("td", { text: new Date(r.published_at).toLocaleString(page.locale()) }),
      el("td", { text: r.published_by }),
      el("td", { text: String(r.files.length) }),
      el("td", {}, el("code", { text: r.id.slice(0, 12) }))));
  }
}

async function act(id, what) {
  if (what === "abort" && !window.confirm(t("confirmAbort")(id))) return;
  try {
    const ro = await api(`/api/v1/rollouts/${id}/${what}`, { method: "POST" });
    say(t("changed")(id, t("status")[ro.status] || ro.status));
    await load();
  } catch (err) { say(t("failed") + err.message); }
}

async function load() {
  [state.rollouts, state.releases] = await Promise.all([api("/api/v1/rollouts"), api("/api/v1/releases")]);
  render();
}

async function start() {
  try { state.me = await api("/api/v1/me"); } catch (err) { if (err.message !== "401") say(t("failed") + err.message); return; }
  $("login").hidden = true; $("work").hidden = false;
  page.applyLang();
  await load().catch((err) => say(t("failed") + err.message));
  state.timer = setInterval(() => load().catch(() => {}), 5000);
}

document.addEventListener("DOMContentLoaded", () => page.ready());
