// What the Trygg pages (crew, operator, fleet, partner) share: the texts every page has, the
// sign-in form, the token, the JSON API calls and the language switch. Each page keeps its own
// texts and rendering. No framework, no external requests (CSP: 'self' only).

const COMMON = {
  sv: {
    skip: "Hoppa till innehållet", loginTitle: "Logga in", username: "Användarnamn",
    password: "Lösenord", login: "Logga in", logout: "Logga ut", other: "English",
    badLogin: "Fel användarnamn eller lösenord.", failed: "Det gick inte: ",
  },
  en: {
    skip: "Skip to content", loginTitle: "Log in", username: "User name",
    password: "Password", login: "Log in", logout: "Log out", other: "Svenska",
    badLogin: "Wrong user name or password.", failed: "That failed: ",
  },
};
const SVG = new Set(["svg", "circle", "text", "line", "title", "g", "rect"]);
const SESSION = "/api/v1/session";

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...kids) {
  const e = SVG.has(tag) ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k === "text") e.textContent = v;
    else if (k === "css") Object.assign(e.style, v); // CSSOM: the CSP forbids style attributes
    else e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid != null) e.append(kid);
  return e;
}

export function say(msg) { $("status").textContent = msg; }

// Server-sent events read from a fetch response (EventSource cannot send the token): calls
// onEvent(name, data) for each event until the stream ends or stop() says to.
export async function readEvents(resp, onEvent, stop = () => false) {
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done || stop()) return;
    buf += value;
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const lines = buf.slice(0, cut).split("\n"); buf = buf.slice(cut + 2);
      const field = (name) => lines.filter((l) => l.startsWith(name)).map((l) => l.slice(name.length).replace(/^ /, ""));
      const data = field("data:").join("\n");
      if (data) onEvent(field("event:")[0] || "message", data);
    }
  }
}

// One copy of the form for all pages; a page without scripts cannot sign in anyway, and a
// form there would only send the password in the address when submitted.
function loginForm(t) {
  const text = (key) => ({ "data-i18n": key, text: t(key) });
  return [
    el("h2", { id: "login-h", ...text("loginTitle") }),
    el("form", { id: "login-form", novalidate: "" },
      el("label", { for: "username", ...text("username") }),
      el("input", { id: "username", name: "username", autocomplete: "username", required: "", autocapitalize: "none" }),
      el("label", { for: "password", ...text("password") }),
      el("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: "" }),
      el("button", { type: "submit", class: "primary", ...text("login") }),
      el("p", { id: "login-error", class: "error", role: "alert" })),
  ];
}

// The page object: `t(key)` in the chosen language, `api(path, opts)` with the token, and the
// session's life. Hooks: onSignIn (after a sign-in or with a kept token; may throw, which shows
// on the form), onSignOut (drop the page's own state), onLang (re-render after a switch),
// beforeSignIn (runs inside the tap, e.g. to allow sound). offlineText names the text an API
// call's error carries when the network is gone (the error has `offline` set).
export function createPage({ texts, tokenKey = "trygg.token", signOutPath = SESSION, offlineText = null,
  onSignIn, onSignOut = () => {}, onLang = () => {}, beforeSignIn = () => {} }) {
  const all = { sv: { ...COMMON.sv, ...texts.sv }, en: { ...COMMON.en, ...texts.en } };
  const page = {
    lang: localStorage.getItem("trygg.lang") === "en" ? "en" : "sv",
    token: sessionStorage.getItem(tokenKey),
    t: (k) => all[page.lang][k],
    locale: () => (page.lang === "sv" ? "sv-SE" : "en-GB"),
    api, applyLang, logout, ready,
  };
  const t = page.t;

  async function api(path, opts = {}) {
    const headers = { Accept: "application/json", ...(opts.headers || {}) };
    if (page.token) headers.Authorization = `Bearer ${page.token}`;
    let body = opts.body;
    if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(opts.json); }
    let resp;
    try { resp = await fetch(path, { method: opts.method || "GET", headers, body }); }
    catch (err) { const e = new Error(offlineText ? t(offlineText) : err.message); e.offline = true; throw e; }
    if (resp.status === 401 && path !== SESSION) { logout(); throw new Error("401"); }
    if (!resp.ok) {
      let detail = resp.statusText;
      try { const j = await resp.json(); detail = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); } catch (_) { /* keep statusText */ }
      const e = new Error(detail); e.status = resp.status; throw e;
    }
    return resp.status === 204 ? null : resp.json();
  }

  function applyLang() {
    document.documentElement.lang = page.lang;
    document.querySelectorAll("[data-i18n]").forEach((n) => { n.textContent = t(n.dataset.i18n); });
    const b = $("lang"); b.textContent = t("other"); b.lang = page.lang === "sv" ? "en" : "sv";
    onLang();
  }

  function logout() {
    if (page.token) fetch(signOutPath, { method: "DELETE", headers: { Authorization: `Bearer ${page.token}` } }).catch(() => {});
    onSignOut();
    page.token = null; sessionStorage.removeItem(tokenKey);
    $("work").hidden = true; $("login").hidden = false; say("");
  }

  // Shows the texts in the chosen language and, with a token kept from before, goes in.
  function ready() {
    applyLang();
    if (page.token) Promise.resolve().then(onSignIn).catch(() => logout());
  }

  // The form and the buttons work from the start: a tap before ready() must not submit natively.
  $("login").append(...loginForm(t));
  $("lang").addEventListener("click", () => {
    page.lang = page.lang === "sv" ? "en" : "sv"; localStorage.setItem("trygg.lang", page.lang); applyLang();
  });
  $("logout").addEventListener("click", logout);
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); $("login-error").textContent = "";
    beforeSignIn();
    try {
      const r = await api(SESSION, { method: "POST", json: { username: $("username").value, password: $("password").value } });
      page.token = r.token; sessionStorage.setItem(tokenKey, r.token); $("password").value = "";
      await onSignIn();
    } catch (err) { $("login-error").textContent = err.message === "wrong user name or password" ? t("badLogin") : t("failed") + err.message; }
  });
  return page;
}
