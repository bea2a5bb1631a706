// Trygg crew page's service worker: keeps the page's own files so it opens without a network.
// Network first (a new version shows at once when online), the last copy when offline. The
// API is not cached here: the page keeps its last ticket list and queues actions itself.
"use strict";
const CACHE = "trygg-crew-v2";
const SHELL = ["/crew/", "/crew/static/app.js", "/crew/static/page.js", "/crew/static/app.css",
  "/crew/static/icon.svg", "/crew/manifest.webmanifest", "/crew/kinds.json", "/crew/config.json",
  "/crew/vendor/leaflet.js", "/crew/vendor/leaflet.css"];

self.addEventListener("install", (ev) => {
  // One by one: a missing map library must not keep the rest from being kept.
  ev.waitUntil(caches.open(CACHE).then((c) => Promise.all(SHELL.map((u) => c.add(u).catch(() => null))))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (ev) => {
  ev.waitUntil(caches.keys().then((ks) => Promise.all(ks.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== self.location.origin || !url.pathname.startsWith("/crew")) return;
  ev.respondWith(fetch(ev.request).then((resp) => {
    if (resp.ok) { const copy = resp.clone(); caches.open(CACHE).then((c) => c.put(ev.request, copy)); }
    return resp;
  }).catch(() => caches.match(ev.request, { ignoreSearch: true }).then((hit) => hit || Response.error())));
});
