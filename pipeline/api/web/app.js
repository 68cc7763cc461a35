// ThreatWatch console. Plain JavaScript, no dependency, no network fetch
// beyond this server's own API. Every value from the API is put into the
// page with textContent or SVG attributes, never as HTML. Redaction is
// done by the server for the caller's role; this code never sees more.
"use strict";

(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const SVG = "http://www.w3.org/2000/svg";
  const main = $("#main");

  // ---- elements ----
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const k of kids.flat()) {
      if (k === null || k === undefined || k === false) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }
  const fmt = (n, d = 1) => (typeof n === "number" && isFinite(n) ? n.toFixed(d) : "–");
  function ago(t) {
    if (!t) return "never";
    const s = (Date.now() - new Date(t).getTime()) / 1000;
    if (s < 0) return "just now";
    if (s < 90) return Math.round(s) + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }
  const when = (t) => (t ? new Date(t).toLocaleString() : "–");
  const levelClass = (name) => "n-" + (name || "learning");
  // dark: stale because the scraper cannot read the site (a summary
  // stored before stale_reason existed counts too), not merely quiet.
  const dark = (s) => !!(s.health && s.health.stale && s.health.stale_reason !== "quiet");
  function announce(msg) { $("#announce").textContent = msg; }

  // ---- auth and API ----
  const store = { get: () => sessionStorage.getItem("tw.token") || localStorage.getItem("tw.token"),
    set: (t, remember) => { sessionStorage.setItem("tw.token", t); if (remember) localStorage.setItem("tw.token", t); },
    clear: () => { sessionStorage.removeItem("tw.token"); localStorage.removeItem("tw.token"); } };
  let me = null;

  class HTTPError extends Error { constructor(status, msg) { super(msg); this.status = status; } }

  async function api(path, opts = {}) {
    const tok = store.get();
    if (!tok) { await login(); return api(path, opts); }
    const headers = { Authorization: "Bearer " + tok, Accept: "application/json" };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method: opts.method || "GET", headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), cache: "no-store", credentials: "omit" });
    if (res.status === 401) { store.clear(); me = null; await login("Your token was refused. Sign in again."); return api(path, opts); }
    if (res.status === 204) return null;
    let data = null;
    try { data = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) throw new HTTPError(res.status, (data && data.error) || res.statusText);
    return data;
  }

  let loginWaiters = null;
  function login(message) {
    if (loginWaiters) return new Promise((r) => loginWaiters.push(r));
    loginWaiters = [];
    return new Promise((resolve) => {
      loginWaiters.push(resolve);
      const d = $("#login");
      $("#login-error").textContent = message || "";
      $("#token").value = "";
      if (!d.open) d.showModal();
      $("#token").focus();
      $("#login-form").onsubmit = async (ev) => {
        ev.preventDefault();
        const t = $("#token").value.trim();
        if (!t) return;
        const res = await fetch("/api/v1/me", { headers: { Authorization: "Bearer " + t }, cache: "no-store", credentials: "omit" });
        if (!res.ok) { $("#login-error").textContent = res.status === 429 ? "Too many attempts; wait a minute." : "That token was refused."; return; }
        store.set(t, $("#remember").checked);
        me = await res.json();
        showWho();
        d.close();
        const ws = loginWaiters; loginWaiters = null;
        ws.forEach((w) => w());
        startLive();
      };
    });
  }

  function showWho() {
    if (!me) return;
    $("#who").textContent = me.name + " · " + me.role;
    $("#logout").hidden = false;
    document.body.classList.remove("role-viewer", "role-responder", "role-analyst");
    document.body.classList.add("role-" + me.role);
  }
  const can = (role) => me && ["viewer", "responder", "analyst"].indexOf(me.role) >= ["viewer", "responder", "analyst"].indexOf(role);

  // ---- live updates (server-sent events over fetch, so the token goes in a header, not a URL) ----
  const listeners = new Set();
  let liveAbort = null, lastEventID = "", liveStarted = false;
  function setLive(state, text, title) { const l = $("#live"); l.className = "live " + state; l.textContent = text; l.title = title || ""; }
  // The server says when it cannot reach the stream, or a stage upstream
  // has stalled: what the page shows is then as of that moment, and must
  // not read as live.
  function applyFeed(f) {
    if (!f) return;
    const at = new Date(f.since).toLocaleTimeString();
    if (f.state === "paused") setLive("off", "paused since " + at, f.reason);
    else if (f.state === "behind") setLive("wait", "behind since " + at, f.reason);
    else setLive("on", "live");
  }

  function startLive() {
    if (liveStarted) return;
    liveStarted = true;
    (async function loop() {
      let delay = 1000;
      for (;;) {
        const tok = store.get();
        if (!tok) { await login(); continue; }
        liveAbort = new AbortController();
        try {
          setLive("wait", "connecting");
          const headers = { Authorization: "Bearer " + tok, Accept: "text/event-stream" };
          if (lastEventID) headers["Last-Event-ID"] = lastEventID;
          const res = await fetch("/api/v1/events", { headers, signal: liveAbort.signal, cache: "no-store", credentials: "omit" });
          if (res.status === 401) { store.clear(); await login("Your token was refused. Sign in again."); continue; }
          if (!res.ok || !res.body) throw new Error("stream " + res.status);
          setLive("on", "live");
          delay = 1000;
          await readStream(res.body.getReader());
        } catch (e) { /* reconnect below */ }
        setLive("off", "reconnecting");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30000);
      }
    })();
  }

  async function readStream(reader) {
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let type = "message", data = "", id = "";
        for (const line of frame.split("\n")) {
          if (line.startsWith("event: ")) type = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
          else if (line.startsWith("id: ")) id = line.slice(4);
        }
        if (id) lastEventID = id;
        if (!data) continue;
        let ev;
        try { ev = JSON.parse(data); } catch (_) { continue; }
        if (type === "hello" || type === "feed") applyFeed(type === "hello" ? ev.feed : ev);
        if (type === "hello" && ev.reset) { route(); continue; }
        for (const f of listeners) { try { f(type, ev); } catch (e) { console.error(e); } }
      }
    }
  }
  // on registers a live listener for the current view only.
  function on(f) { listeners.add(f); viewCleanup.push(() => listeners.delete(f)); }

  // ---- charts ----
  // sparkline draws points [{t, l}] into a small SVG.
  function sparkline(points, w = 200, h = 40, fixedMax) {
    const s = svg("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none", role: "img", "aria-label": "level over the last 48 hours" });
    if (!points || points.length === 0) return s;
    const t0 = new Date(points[0].t).getTime(), t1 = Math.max(new Date(points[points.length - 1].t).getTime(), t0 + 1);
    const max = Math.max(fixedMax || 0, ...points.map((p) => p.l), 1);
    const xy = points.map((p) => [((new Date(p.t).getTime() - t0) / (t1 - t0)) * (w - 2) + 1, h - 2 - (p.l / max) * (h - 4)]);
    const d = xy.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join(" ");
    s.append(svg("path", { d: d + ` L${xy[xy.length - 1][0].toFixed(1)} ${h} L${xy[0][0].toFixed(1)} ${h} Z`, class: "sparkfill" }));
    s.append(svg("path", { d, class: "spark" }));
    return s;
  }

  // levelChart draws level (line), bucket max (band), baseline (dashed)
  // and alert markers over [from, to], into a box that takes the width its
  // place in the page gives it. The chart is drawn at that width in pixels
  // (so text is never scaled down, and labels can be spaced for it), and
  // drawn again whenever the box changes size: a phone turned, a window
  // narrowed, a column of a grid.
  function levelChart(series, markers, from, to, label) {
    const box = el("div", { class: "chart-box" });
    box.draw = () => {
      const W = Math.floor(box.clientWidth);
      if (W <= 0 || W === box.drawnAt) return;
      box.drawnAt = W;
      box.replaceChildren(drawLevelChart(box, W, series, markers, from, to, label));
    };
    chartSizes.observe(box);
    return box;
  }
  // chartSizes redraws a chart box when its width changes. A box taken
  // out of the page is let go (the observer reports it at size 0).
  const chartSizes = new ResizeObserver((entries) => {
    for (const e of entries) {
      if (!e.target.isConnected) { chartSizes.unobserve(e.target); continue; }
      e.target.draw();
    }
  });

  function drawLevelChart(box, W, series, markers, from, to, label) {
    const H = Math.round(Math.min(300, Math.max(180, W * 0.4))), R = 10, T = 10, B = 26;
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart", role: "img", "aria-label": label });
    // Attached while drawn, so labels can be measured.
    box.replaceChildren(s);
    const t0 = from.getTime(), t1 = Math.max(to.getTime(), t0 + 1);
    // Points outside the window (a live level stamped after it) would be
    // drawn past the plot's edge.
    const pts = (series.points || []).filter((p) => { const t = new Date(p.t).getTime(); return t >= t0 && t <= t1; });
    const max = Math.max(1, ...pts.map((p) => Math.max(p.max, p.baseline, p.level))) * 1.1;
    const y = (v) => T + (1 - v / max) * (H - T - B);
    const text = (x, yy, anchor, content) => {
      const tx = svg("text", { x, y: yy, "text-anchor": anchor, class: "axis" }); tx.textContent = content; s.append(tx); return tx;
    };
    // The left margin fits the widest level label.
    const yLabels = [];
    for (let i = 0; i <= 4; i++) { const v = (max * i) / 4; yLabels.push([v, text(0, y(v) + 4, "end", fmt(v, v < 10 ? 1 : 0))]); }
    const L = Math.ceil(Math.max(...yLabels.map(([, tx]) => tx.getBBox().width))) + 10;
    for (const [v, tx] of yLabels) {
      tx.setAttribute("x", L - 6);
      s.insertBefore(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }), s.firstChild);
    }
    const x = (t) => L + ((new Date(t).getTime() - t0) / (t1 - t0)) * (W - L - R);
    // Time labels: as many as fit without touching. The first and last
    // are kept inside the chart by their anchors (start, end), so the
    // space a label needs from its neighbour is one and a half widths
    // next to them, two between the two alone.
    const long = t1 - t0 > 86400e3;
    const tl = (t) => (long ? t.toLocaleDateString([], { month: "short", day: "numeric" }) + " " : "") + t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    let lw = 0;
    for (const t of [t0, t1]) { const probe = text(0, H - 6, "start", tl(new Date(t))); lw = Math.max(lw, probe.getBBox().width + 12); probe.remove(); }
    let n = 4;
    while (n > 1 && (W - L - R) / n < 1.5 * lw) n--;
    if (n === 1 && W - L - R < 2 * lw) {
      text(W - R, H - 6, "end", tl(new Date(t1)));
    } else {
      for (let i = 0; i <= n; i++) {
        const t = new Date(t0 + ((t1 - t0) * i) / n);
        text(x(t), H - 6, i === 0 ? "start" : i === n ? "end" : "middle", tl(t));
      }
    }
    if (pts.length) {
      const band = pts.map((p, i) => (i ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p.max).toFixed(1)).join(" ") +
        [...pts].reverse().map((p) => " L" + x(p.t).toFixed(1) + " " + y(p.level).toFixed(1)).join("") + " Z";
      s.append(svg("path", { d: band, class: "max" }));
      s.append(svg("path", { d: pts.map((p, i) => (i ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p.baseline).toFixed(1)).join(" "), class: "base" }));
      s.append(svg("path", { d: pts.map((p, i) => (i ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p.level).toFixed(1)).join(" "), class: "lvl" }));
    }
    for (const m of markers || []) {
      const mx = x(m.starts_at);
      if (mx < L || mx > W - R) continue;
      const a = svg("a", { href: "#/alert/" + encodeURIComponent(m.fingerprint) });
      const title = svg("title", {}); title.textContent = (m.labels.alertname || "alert") + " · " + (m.labels.severity || "") + " · " + when(m.starts_at);
      a.append(title, svg("line", { x1: mx, x2: mx, y1: T, y2: H - B, class: "marker" }), svg("circle", { cx: mx, cy: T + 4, r: 5, class: "marker-dot" }));
      s.append(a);
    }
    return s;
  }

  // ---- views ----
  let viewCleanup = [];
  let viewToken = 0;
  // fill replaces a node's children, skipping the empty parts of
  // conditional content (replaceChildren would print "null").
  function fill(node, ...kids) { node.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false)); return node; }
  function setView(title, ...content) {
    fill(main, el("h1", { text: title }), ...content);
    document.title = title + " · ThreatWatch";
    main.focus({ preventScroll: true });
  }
  function navCurrent(name) {
    document.querySelectorAll("[data-nav]").forEach((a) => { if (a.dataset.nav === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current"); });
  }
  function failView(e) {
    main.replaceChildren(el("h1", { text: "Cannot load this view" }), el("p", { class: "error", role: "alert", text: e.status === 404 ? "Not found." : e.message || String(e) }), el("p", {}, el("a", { href: "#/", text: "Back to the wall" })));
  }

  // Wall: every site as a tile.
  async function wallView() {
    navCurrent("wall");
    const my = viewToken;
    const [sitesRes, alertsRes] = await Promise.all([api("/api/v1/sites?spark=48h"), api("/api/v1/alerts?status=firing&limit=500")]);
    if (my !== viewToken) return;
    const firing = new Map(); // fingerprint -> alert
    for (const a of alertsRes.alerts) firing.set(a.fingerprint, a);
    // The API sends one value per hour from spark_from (null: no level).
    for (const s of sitesRes.sites) {
      const t0 = new Date(s.spark_from || 0).getTime();
      s.spark = (s.spark || []).map((l, i) => (l === null ? null : { t: new Date(t0 + i * 3600e3).toISOString(), l })).filter(Boolean);
    }
    const sites = new Map(sitesRes.sites.map((s) => [s.site, s]));
    const list = el("ul", { class: "tiles", "aria-label": "Sites" });
    const tiles = new Map();
    const counts = el("p", { class: "muted" });
    function summary() {
      let hot = 0, stale = 0;
      for (const s of sites.values()) { if (s.name === "high" || s.name === "severe") hot++; if (dark(s)) stale++; }
      counts.textContent = `${sites.size} sites · ${hot} high or severe · ${firing.size} alerts firing · ${stale} stale`;
    }
    function tile(s) {
      const names = [...firing.values()].filter((a) => a.site === s.site);
      const li = tiles.get(s.site) || el("li");
      // Quiet (no new threat in the level's last step) is the usual state
      // of a site crawled without trouble: only a dark one is "stale".
      const stale = dark(s), quiet = s.health && s.health.stale && !stale;
      const a = el("a", { class: `tile ${levelClass(s.name)}${stale ? " stale" : ""}`, href: "#/site/" + encodeURIComponent(s.site), "data-site": s.site,
        "aria-label": `${s.site}: level ${fmt(s.level)}, ${s.name || "learning"}${stale ? ", stale" : quiet ? ", quiet" : ""}, ${names.length} alerts firing` },
        el("div", { class: "site", text: s.site }),
        el("div", { class: "lvl" }, el("span", { class: "num", text: fmt(s.level) }), el("span", { class: "badge " + levelClass(s.name), text: s.name || "learning" }),
          stale ? el("span", { class: "badge stale", text: "stale" }) : quiet ? el("span", { class: "badge quiet", text: "quiet", title: "no new post with a threat signal in the level's last step" }) : null,
          el("span", { class: "muted", title: "trend over the last hour", text: s.trend === "rising" ? "▲" : s.trend === "falling" ? "▼" : "" })),
        sparkline(s.spark || []),
        el("div", { class: "firing" + (names.length ? "" : " none"), text: names.length ? names.length + " firing: " + [...new Set(names.map((n) => n.labels.alertname))].join(", ") : "no alert firing" }));
      li.replaceChildren(a);
      tiles.set(s.site, li);
      return li;
    }
    for (const s of sites.values()) list.append(tile(s));
    summary();
    setView("Wall", counts, sites.size ? list : el("p", { class: "muted", text: "No site has reported a level yet." }));
    on((type, ev) => {
      if (type === "level" && ev.site && !ev.target_id) {
        const s = sites.get(ev.site) || { site: ev.site, spark: [], health: {} };
        const prev = s.level;
        Object.assign(s, { level: ev.level, baseline: ev.baseline, name: ev.name, time: ev.time });
        // The clock's stale levels during an outage leave it an outage.
        const outage = s.health && s.health.stale && s.health.stale_reason === "scraper";
        s.health = Object.assign({}, s.health, ev.stale ? { stale: true, stale_reason: outage ? "scraper" : "quiet" } : { stale: false, stale_reason: "" });
        const hour = new Date(Math.floor(new Date(ev.time).getTime() / 3600e3) * 3600e3).toISOString();
        const last = s.spark && s.spark[s.spark.length - 1];
        if (last && new Date(last.t).getTime() === new Date(hour).getTime()) last.l = Math.max(last.l, ev.level);
        else (s.spark = s.spark || []).push({ t: hour, l: ev.level });
        if (prev !== undefined) s.trend = ev.level > prev ? "rising" : ev.level < prev ? "falling" : s.trend;
        const isNew = !sites.has(ev.site);
        sites.set(ev.site, s);
        const li = tile(s);
        if (isNew) { list.append(li); if (!list.isConnected) setView("Wall", counts, list); }
        li.firstChild.classList.add("flash");
        summary();
      } else if (type === "health" && ev.site) {
        // A site may be heard of first from its scraper (one dark from the
        // start): the list has it then, so the wall does too.
        const isNew = !sites.has(ev.site);
        const s = sites.get(ev.site) || { site: ev.site, level: 0, baseline: 0, spark: [], health: {} };
        s.health = Object.assign({}, s.health, { stale: ev.stale, stale_reason: ev.stale ? "scraper" : "", scraper: { state: ev.state } });
        sites.set(ev.site, s);
        const li = tile(s);
        if (isNew) { list.append(li); if (!list.isConnected) setView("Wall", counts, list); }
        li.firstChild.classList.add("flash");
        summary();
      } else if (type === "alert") {
        if (ev.status === "firing") firing.set(ev.fingerprint, ev); else firing.delete(ev.fingerprint);
        const s = sites.get(ev.site);
        if (s) { const li = tile(s); li.firstChild.classList.add("flash"); }
        summary();
        if (ev.status === "firing") announce(`Alert firing on ${ev.site || "a target"}: ${ev.labels.alertname}`);
      }
    });
  }

  const RANGES = [["6h", "6 h"], ["24h", "24 h"], ["48h", "48 h"], ["168h", "7 d"], ["720h", "30 d"]];
  function stepFor(range) { return { "6h": "5m", "24h": "10m", "48h": "15m", "168h": "1h", "720h": "6h" }[range] || "15m"; }
  function rangeButtons(cur, onPick) {
    return el("div", { class: "row", role: "group", "aria-label": "Range" }, RANGES.map(([v, label]) =>
      el("button", { type: "button", "aria-pressed": v === cur ? "true" : "false", onclick: () => onPick(v), text: label })));
  }

  async function siteView(site, params) {
    navCurrent("wall");
    const my = viewToken;
    const range = params.get("range") || "48h";
    // A minute ahead, so a point stamped by a clock slightly ahead of ours shows.
    let to = new Date(Date.now() + 60e3), from = new Date(to.getTime() - parseDur(range));
    const q = `site=${encodeURIComponent(site)}`;
    const [res, ser, alerts] = await Promise.all([
      api(`/api/v1/sites/${encodeURIComponent(site)}`),
      api(`/api/v1/levels?${q}&from=${from.toISOString()}&to=${to.toISOString()}&step=${stepFor(range)}`),
      api(`/api/v1/alerts?${q}&from=${from.toISOString()}&limit=200`)]);
    if (my !== viewToken) return;
    const s = res.site;
    const chartBox = el("div", { class: "panel" });
    const drawChart = () => fill(chartBox,
      el("div", { class: "legend" }, el("span", { class: "l", text: "level" }), el("span", { class: "b", text: "baseline" }), el("span", { class: "m", text: "alert" })),
      levelChart(ser, alerts.alerts, from, to, `Level of ${site} against its baseline over ${range}`));
    drawChart();
    const head = el("div", { class: "row" }, el("span", { class: "badge " + levelClass(s.name), text: s.name || "learning" }),
      el("span", { text: `level ${fmt(s.level)} · baseline ${fmt(s.baseline)} · ${s.trend || "steady"}` }),
      el("span", { class: "muted", text: "updated " + ago(s.time) }));
    const h = s.health || {};
    const health = el("dl", { class: "kv" },
      el("dt", { text: "State" }), el("dd", {}, dark(s) ? el("span", { class: "badge stale", text: "stale since " + ago(h.stale_since) })
        : h.stale ? el("span", { class: "badge quiet", text: "quiet since " + ago(h.stale_since), title: "no new post with a threat signal since; the level is current" }) : el("span", { text: "reporting" })),
      el("dt", { text: "Last live level" }), el("dd", { text: when(h.last_live) + " (" + ago(h.last_live) + ")" }),
      ...Object.entries(h.scraper || {}).flatMap(([k, v]) => [el("dt", { text: k.replace(/_/g, " ") }), el("dd", { text: v })]));
    if (!h.scraper) health.append(el("dt", { text: "Scraper" }), el("dd", { class: "muted", text: "no scraper report for this site" }));
    const threads = el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "Thread" }), el("th", { text: "Post" }), el("th", { class: "num", text: "Weight" }), el("th", { text: "Signals" }), el("th", { class: "hide-sm", text: "Snippet" }))),
      el("tbody", {}, (s.contributors || []).map((c) => el("tr", {},
        el("td", { text: c.thread_title || c.thread_id || "–" }), el("td", { text: c.post_id }), el("td", { class: "num", text: fmt(c.weight, 2) }),
        el("td", { text: Object.entries(c.scores || {}).map(([k, v]) => k + " " + fmt(v, 2)).join(", ") }),
        el("td", { class: "snippet hide-sm", text: c.snippet || "" })))));
    const alertRows = el("tbody", {}, alerts.alerts.map(alertRow));
    setView(site, head, rangeButtons(range, (r) => { location.hash = `#/site/${encodeURIComponent(site)}?range=${r}`; }), chartBox,
      el("div", { class: "grid2" },
        el("section", { class: "panel" }, el("h2", { text: "Top contributing threads" }), res.redaction !== "none" ? el("p", { class: "muted", text: "Evidence is redacted for your role (" + res.redaction + ")." }) : null,
          (s.contributors || []).length ? el("div", { class: "table-wrap" }, threads) : el("p", { class: "muted", text: "No contributing posts in the current window." })),
        el("section", { class: "panel" }, el("h2", { text: "Scraper health" }), health)),
      el("h2", { text: "Alerts in range" }), alertTable(alertRows));
    on((type, ev) => {
      if (type === "level" && ev.site === site && !ev.target_id) {
        ser.points.push({ t: ev.time, level: ev.level, max: ev.level, baseline: ev.baseline, name: ev.name });
        // The window moves on with time (and with a level stamped ahead of
        // it), dropping what falls out of it: a page left open draws its
        // range up to now, not the range it was opened on.
        const end = Math.max(Date.now() + 60e3, new Date(ev.time).getTime());
        if (end > to.getTime()) {
          to = new Date(end); from = new Date(end - parseDur(range));
          ser.points = ser.points.filter((p) => new Date(p.t) >= from);
        }
        head.children[1].textContent = `level ${fmt(ev.level)} · baseline ${fmt(ev.baseline)}`;
        head.children[0].className = "badge " + levelClass(ev.name); head.children[0].textContent = ev.name || "learning";
        drawChart();
      } else if (type === "alert" && ev.site === site) {
        alerts.alerts = alerts.alerts.filter((a) => a.fingerprint !== ev.fingerprint); alerts.alerts.unshift(ev);
        alertRows.replaceChildren(...alerts.alerts.map(alertRow)); drawChart();
      }
    });
  }

  function parseDur(s) { const m = /^(\d+)h$/.exec(s); return (m ? +m[1] : 48) * 3600e3; }

  function alertTable(tbody) {
    return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {},
      el("th", { text: "Status" }), el("th", { text: "Alert" }), el("th", { text: "Site / target" }), el("th", { text: "Severity" }),
      el("th", { class: "num", text: "Level" }), el("th", { class: "hide-sm", text: "Started" }), el("th", { class: "hide-sm", text: "State" }))), tbody));
  }
  function alertRow(a) {
    return el("tr", {},
      el("td", {}, el("span", { class: "badge " + a.status, text: a.status })),
      el("td", {}, el("a", { href: "#/alert/" + encodeURIComponent(a.fingerprint), text: a.labels.alertname || a.fingerprint })),
      el("td", { text: [a.site, a.target_id].filter(Boolean).join(" · ") || "–" }),
      el("td", {}, el("span", { class: "badge s-" + (a.labels.severity || ""), text: a.labels.severity || "–" })),
      el("td", { class: "num", text: fmt(a.level) + " / " + fmt(a.baseline) }),
      el("td", { class: "hide-sm", text: when(a.starts_at) }),
      el("td", { class: "hide-sm" }, a.ack ? el("span", { class: "badge acked", text: "acked by " + a.ack.by }) : null, " ",
        a.silenced_by && a.silenced_by.length ? el("span", { class: "badge", text: "silenced" }) : null));
  }

  async function alertsView(params) {
    navCurrent("alerts");
    const my = viewToken;
    // Firing by default; "status=" (any) stays in the query, or picking
    // "any" would read as no choice and fall back to firing.
    const f = { status: params.has("status") ? params.get("status") : "firing", site: params.get("site") || "", severity: params.get("severity") || "", signal: params.get("signal") || "" };
    const q = () => Object.entries(f).filter(([k, v]) => v || k === "status").map(([k, v]) => k + "=" + encodeURIComponent(v)).join("&");
    const page = await api("/api/v1/alerts?limit=100&" + q());
    if (my !== viewToken) return;
    const rows = el("tbody", {}, page.alerts.map(alertRow));
    // The alerts the rows show, by fingerprint: an action taken elsewhere
    // redraws the row from it.
    const shown = new Map(page.alerts.map((a) => [a.fingerprint, a]));
    const rowOf = (fp) => { const a = [...rows.querySelectorAll("a")].find((a) => a.getAttribute("href") === "#/alert/" + encodeURIComponent(fp)); return a ? a.closest("tr") : null; };
    const redraw = (a) => { const tr = rowOf(a.fingerprint); if (tr) tr.replaceWith(alertRow(a)); };
    let cursor = page.next_cursor;
    const more = el("button", { type: "button", hidden: !cursor, text: "Load more", onclick: async () => {
      const p = await api("/api/v1/alerts?limit=100&" + q() + "&cursor=" + encodeURIComponent(cursor));
      for (const a of p.alerts) shown.set(a.fingerprint, a);
      rows.append(...p.alerts.map(alertRow)); cursor = p.next_cursor; more.hidden = !cursor;
    } });
    // Which alerts a silence matches is the server's to say: ask again for
    // the rows shown.
    async function refreshSilenced() {
      const p = await api("/api/v1/alerts?limit=" + Math.min(1000, Math.max(shown.size, 1)) + "&" + q());
      if (my !== viewToken) return;
      for (const a of p.alerts) {
        const s = shown.get(a.fingerprint);
        if (s) { s.silenced_by = a.silenced_by; redraw(s); }
      }
    }
    const sel = (name, opts) => el("label", {}, name, el("select", { name, onchange: (e) => { f[name] = e.target.value; location.hash = "#/alerts?" + q(); } },
      opts.map(([v, l]) => { const o = el("option", { value: v, text: l }); if (f[name] === v) o.selected = true; return o; })));
    const siteIn = el("input", { name: "site", value: f.site, placeholder: "any site", "aria-label": "Site filter" });
    const form = el("form", { class: "row", onsubmit: (e) => { e.preventDefault(); f.site = siteIn.value.trim(); location.hash = "#/alerts?" + q(); } },
      sel("status", [["firing", "firing"], ["resolved", "resolved"], ["", "any"]]),
      sel("severity", [["", "any"], ["critical", "critical"], ["warning", "warning"], ["info", "info"]]),
      sel("signal", [["", "any"], ["doxxing", "doxxing"], ["swatting", "swatting"], ["threat", "threat"]]),
      el("label", {}, "site", siteIn), el("button", { type: "submit", text: "Filter" }),
      can("analyst") ? el("button", { type: "button", text: "Export JSON lines", onclick: () => download("/api/v1/export/alerts?format=jsonl&" + q(), "alerts.jsonl") }) : null);
    setView("Alerts", form, alertTable(rows), more);
    on((type, ev) => {
      if (type === "action") {
        const a = shown.get(ev.fingerprint);
        if (a && (ev.action === "ack" || ev.action === "unack")) {
          a.ack = ev.action === "ack" ? { by: ev.by, at: ev.at, note: ev.note } : null;
          redraw(a);
        } else if (ev.action === "silence" || ev.action === "unsilence") {
          refreshSilenced().catch((e) => console.error(e));
        }
        return;
      }
      if (type !== "alert") return;
      // An alert that no longer matches (it resolved under "firing") leaves
      // the list rather than staying on it as it was.
      const old = rowOf(ev.fingerprint);
      if (old) old.remove();
      shown.delete(ev.fingerprint);
      if ((f.status && ev.status !== f.status) || (f.site && ev.site !== f.site) || (f.severity && ev.labels.severity !== f.severity) || (f.signal && ev.labels.signal !== f.signal)) return;
      shown.set(ev.fingerprint, ev);
      rows.prepend(alertRow(ev));
    });
  }

  async function download(path, name) {
    const res = await fetch(path, { headers: { Authorization: "Bearer " + store.get() }, cache: "no-store", credentials: "omit" });
    if (!res.ok) { announce("Export failed: " + res.status); return; }
    const blob = await res.blob();
    // A browser cannot read the trailer that says more matched: count.
    const max = Number(res.headers.get("X-Export-Max") || 0);
    if (max > 0) {
      let n = (await blob.text()).split("\n").filter(Boolean).length;
      if (name.endsWith(".csv")) n--;
      if (n >= max) announce("The export stopped at " + n + " alerts and more matched: narrow the filter to get the rest.");
    }
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: name }); document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function alertView(fp) {
    navCurrent("alerts");
    const my = viewToken;
    const path = "/api/v1/alerts/" + encodeURIComponent(fp);
    const [a, notes] = await Promise.all([api(path), api(path + "/notifications")]);
    if (my !== viewToken) return;
    const state = el("div", { class: "row", id: "alert-state" });
    const drawState = () => fill(state,
      el("span", { class: "badge " + a.status, text: a.status }),
      el("span", { class: "badge s-" + (a.labels.severity || ""), text: a.labels.severity || "–" }),
      a.ack ? el("span", { class: "badge acked", id: "ack-badge", text: "acknowledged by " + a.ack.by + " " + ago(a.ack.at) }) : el("span", { class: "muted", text: "not acknowledged" }),
      a.silenced_by && a.silenced_by.length ? el("span", { class: "badge", text: "silenced" }) : null,
      a.resolve_request ? el("span", { class: "badge resolved", text: "resolve requested by " + a.resolve_request.by }) : null);
    drawState();
    const info = el("dl", { class: "kv" },
      ...Object.entries(a.labels).sort().flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, k === "site" ? el("a", { href: "#/site/" + encodeURIComponent(v), text: v }) : k === "target" ? el("a", { href: "#/target/" + encodeURIComponent(v), text: v }) : v)]),
      el("dt", { text: "started" }), el("dd", { text: when(a.starts_at) }),
      a.ends_at ? el("dt", { text: "ended" }) : null, a.ends_at ? el("dd", { text: when(a.ends_at) }) : null,
      el("dt", { text: "level / baseline" }), el("dd", { text: fmt(a.level) + " / " + fmt(a.baseline) }),
      ...["summary", "description"].filter((k) => a.annotations && a.annotations[k]).flatMap((k) => [el("dt", { text: k }), el("dd", { "data-annotation": k, text: a.annotations[k] })]));
    const total = Object.values(a.signals || {}).reduce((x, y) => x + y, 0) || 1;
    const mix = el("div", { class: "bars", role: "list", "aria-label": "Signal mix" }, Object.entries(a.signals || {}).sort((x, y) => y[1] - x[1]).map(([k, v]) => {
      const fill = el("div", { class: "fill" }); fill.style.width = Math.round((v / total) * 100) + "%";
      return el("div", { class: "bar", role: "listitem", "aria-label": `${k} ${Math.round((v / total) * 100)} percent` }, el("span", { text: k }), el("div", { class: "track" }, fill), el("span", { class: "num", text: Math.round((v / total) * 100) + "%" }));
    }));
    const evidenceBody = el("tbody");
    const drawEvidence = (ev) => evidenceBody.replaceChildren(...(ev || []).map((c) => el("tr", {},
      el("td", { text: c.post_id }), el("td", { text: c.thread_title || "–" }),
      el("td", { text: Object.entries(c.scores || {}).map(([k, v]) => k + " " + fmt(v, 2)).join(", ") }),
      el("td", { class: "snippet", text: c.snippet || "–" }), el("td", { text: c.url || "–" }))));
    drawEvidence(a.evidence);
    const redactionNote = el("p", { class: "muted", text: { full: "Evidence text is hidden for your role.", pii: "Personal data is replaced by typed placeholders.", none: "Raw evidence." }[a.redaction] });
    const rawBtn = can("analyst") ? el("button", { type: "button", text: "Show raw evidence (written to the audit log)", onclick: async () => {
      const raw = await api(path + "/evidence"); drawEvidence(raw.evidence); redactionNote.textContent = "Raw evidence. This access was written to the audit log."; rawBtn.disabled = true;
      // The summary is shown raw only from this audited read.
      for (const dd of info.querySelectorAll("dd[data-annotation]")) dd.textContent = (raw.annotations || {})[dd.dataset.annotation] || dd.textContent;
    } }) : null;
    const actions = el("section", { class: "panel needs-responder" });
    if (can("responder")) {
      const note = el("textarea", { id: "ack-note", maxlength: 2000, "aria-label": "Note" });
      const msg = el("p", { role: "status", class: "muted" });
      const act = (label, cls, fn) => el("button", { type: "button", class: cls, text: label, onclick: async (e) => {
        e.target.disabled = true;
        try { await fn(); msg.textContent = label + ": done."; } catch (err) { msg.textContent = label + " failed: " + err.message; } finally { e.target.disabled = false; }
      } });
      const dur = el("select", { id: "silence-duration", "aria-label": "Silence duration" }, ["1h", "4h", "12h", "24h", "72h"].map((d) => el("option", { value: d, text: d })));
      const matchers = Object.entries(a.labels).filter(([k]) => ["alertname", "site", "signal", "severity", "target"].includes(k)).map(([k, v]) => `${k}="${v}"`);
      const boxes = matchers.map((m, i) => el("label", { class: "check" }, el("input", { type: "checkbox", value: m, checked: i < 2 || m.startsWith("target=") }), m));
      actions.append(el("h2", { text: "Respond" }), el("label", { for: "ack-note", text: "Note (who, what you did)" }), note,
        el("div", { class: "actions" },
          act("Acknowledge", "primary", async () => { const r = await api(path + "/ack", { method: "POST", body: { note: note.value } }); a.ack = r; drawState(); }),
          act("Resolve", "", async () => { const r = await api(path + "/resolve", { method: "POST", body: { note: note.value } }); a.resolve_request = r; drawState(); })),
        el("h2", { text: "Silence alerts like this" }), el("div", {}, boxes), el("label", { for: "silence-duration", text: "For" }), dur,
        el("div", { class: "actions" }, act("Silence", "danger", async () => {
          const ms = boxes.map((b) => b.firstChild).filter((c) => c.checked).map((c) => c.value);
          if (!ms.length) throw new Error("pick at least one label");
          const r = await api("/api/v1/silences", { method: "POST", body: { matchers: ms, duration: dur.value, comment: note.value } });
          a.silenced_by = [r.id]; drawState();
        })), msg);
    }
    const history = el("tbody", {}, (notes.notifications || []).map((n) => el("tr", {},
      el("td", { text: when(n.at) }), el("td", { text: n.receiver || "–" }), el("td", { text: n.sink || "–" }), el("td", { text: n.status || "–" }), el("td", { text: n.result || "–" }), el("td", { text: n.error || "" }))));
    setView((a.labels.alertname || "Alert") + (a.site ? " on " + a.site : ""), state,
      el("div", { class: "grid2" }, el("section", { class: "panel" }, el("h2", { text: "Alert" }), info), el("section", { class: "panel" }, el("h2", { text: "Signal mix" }), mix), actions),
      el("h2", { text: "Evidence" }), redactionNote, rawBtn,
      el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "Post" }), el("th", { text: "Thread" }), el("th", { text: "Scores" }), el("th", { text: "Snippet" }), el("th", { text: "Link" }))), evidenceBody)),
      el("h2", { text: "Notification history" }),
      (notes.notifications || []).length ? el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "When" }), el("th", { text: "Receiver" }), el("th", { text: "Sink" }), el("th", { text: "Status" }), el("th", { text: "Result" }), el("th", { text: "Error" }))), history)) : el("p", { class: "muted", text: "No notification recorded yet." }));
    on((type, ev) => {
      if (type === "action" && ev.fingerprint === fp) {
        if (ev.action === "ack") a.ack = { by: ev.by, at: ev.at, note: ev.note };
        if (ev.action === "unack") a.ack = null;
        if (ev.action === "resolve") a.resolve_request = { by: ev.by, at: ev.at };
        drawState();
      } else if (type === "action" && (ev.action === "silence" || ev.action === "unsilence")) {
        // Whether a silence matches this alert is the server's to say.
        api(path).then((b) => { if (my !== viewToken) return; a.silenced_by = b.silenced_by; drawState(); }).catch((e) => console.error(e));
      } else if (type === "alert" && ev.fingerprint === fp) { a.status = ev.status; a.ack = ev.ack; a.silenced_by = ev.silenced_by; drawState(); }
    });
  }

  async function targetsView() {
    navCurrent("targets");
    const my = viewToken;
    const res = await api("/api/v1/targets");
    if (my !== viewToken) return;
    setView("Targets", el("p", { class: "muted", text: "People and handles under discussion, by pseudonymous id" + (can("analyst") ? "; open one to read its name, which is written to the audit log." : "; names are shown to analysts only, each read audited.") }),
      res.targets.length ? el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "Target" }), el("th", { text: "Level" }), el("th", { class: "num", text: "Max level" }), el("th", { class: "num", text: "Sites" }), el("th", { class: "num", text: "Firing" }), el("th", { class: "hide-sm", text: "Updated" }))),
        el("tbody", {}, res.targets.map((t) => el("tr", {},
          el("td", {}, el("a", { href: "#/target/" + encodeURIComponent(t.id), text: t.id })),
          el("td", {}, el("span", { class: "badge " + levelClass(t.name), text: t.name || "learning" })),
          el("td", { class: "num", text: fmt(t.max_level) }), el("td", { class: "num", text: t.sites.length }), el("td", { class: "num", text: t.firing }),
          el("td", { class: "hide-sm", text: ago(t.updated) })))))) : el("p", { class: "muted", text: "No target has a level yet." }));
  }

  async function targetView(id) {
    navCurrent("targets");
    const my = viewToken;
    const res = await api("/api/v1/targets/" + encodeURIComponent(id));
    if (my !== viewToken) return;
    const t = res.target;
    const to = new Date(), from = new Date(to.getTime() - 48 * 3600e3);
    const charts = await Promise.all(t.sites.slice(0, 6).map(async (s) => {
      const ser = await api(`/api/v1/levels?site=${encodeURIComponent(s.site)}&target=${encodeURIComponent(id)}&from=${from.toISOString()}&to=${to.toISOString()}&step=15m`);
      return el("section", { class: "panel" }, el("h2", {}, s.site ? el("a", { href: "#/site/" + encodeURIComponent(s.site), text: s.site }) : "all sites"), levelChart(ser, [], from, to, `Level of target ${id} on ${s.site || "all sites"}`));
    }));
    if (my !== viewToken) return;
    // The name behind the id is read only on request: the server writes
    // each read to the audit log first.
    const nameBtn = can("analyst") ? el("button", { type: "button", text: "Show name (written to the audit log)", onclick: async () => {
      const r = await api("/api/v1/targets/" + encodeURIComponent(id) + "/ref");
      if (my !== viewToken) return;
      main.querySelector("h1").textContent = "Target " + r.ref + " (" + r.id + ")"; nameBtn.disabled = true;
    } }) : null;
    setView("Target " + t.id, el("p", { class: "row" }, el("span", { class: "badge " + levelClass(t.name), text: t.name || "learning" }), el("span", { text: `max level ${fmt(t.max_level)} across ${t.sites.length} site(s)` }), nameBtn),
      el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "Site" }), el("th", { text: "Level" }), el("th", { class: "num", text: "Level / baseline" }), el("th", { text: "Updated" }))),
        el("tbody", {}, t.sites.map((s) => el("tr", {}, el("td", { text: s.site || "all sites" }), el("td", {}, el("span", { class: "badge " + levelClass(s.name), text: s.name || "learning" }), s.stale ? el("span", { class: "badge stale", text: "stale" }) : null),
          el("td", { class: "num", text: fmt(s.level) + " / " + fmt(s.baseline) }), el("td", { text: ago(s.time) })))))),
      el("div", { class: "grid2" }, charts),
      el("h2", { text: "Alerts about this target" }), alertTable(el("tbody", {}, res.alerts.map(alertRow))));
  }

  async function silencesView() {
    navCurrent("silences");
    const my = viewToken;
    const res = await api("/api/v1/silences?expired=true");
    if (my !== viewToken) return;
    setView("Silences", res.silences.length ? el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "Matchers" }), el("th", { text: "Until" }), el("th", { text: "By" }), el("th", { text: "Comment" }), el("th", { text: "" }))),
      el("tbody", {}, res.silences.map((s) => el("tr", {}, el("td", { class: "snippet", text: s.matchers.join(", ") }), el("td", { text: (s.active ? "" : "ended ") + when(s.ends_at) }),
        el("td", { text: s.created_by }), el("td", { text: s.comment || "" }),
        el("td", {}, s.active && can("responder") ? el("button", { type: "button", text: "Expire", onclick: async () => { await api("/api/v1/silences/" + encodeURIComponent(s.id), { method: "DELETE" }); route(); } }) : null)))))) :
      el("p", { class: "muted", text: "No silence." }));
  }

  async function auditView() {
    navCurrent("audit");
    const my = viewToken;
    const res = await api("/api/v1/audit?limit=200");
    if (my !== viewToken) return;
    setView("Audit log", el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "When" }), el("th", { text: "Action" }), el("th", { text: "Who" }), el("th", { text: "Alert / silence" }), el("th", { text: "Result" }), el("th", { text: "Note" }))),
      el("tbody", {}, res.entries.map((e) => el("tr", {}, el("td", { text: when(e.at) }), el("td", { text: e.action }), el("td", { text: e.actor || e.receiver || "–" }),
        el("td", {}, e.fingerprint ? el("a", { href: "#/alert/" + encodeURIComponent(e.fingerprint), text: e.fingerprint }) : e.silenceId || "–"),
        el("td", { text: [e.sink, e.result].filter(Boolean).join(" ") || "–" }), el("td", { text: e.note || (e.matchers || []).join(", ") || "" })))))));
  }

  // ---- routing ----
  async function route() {
    viewCleanup.forEach((f) => f()); viewCleanup = [];
    viewToken++;
    const [path, qs] = (location.hash.slice(1) || "/").split("?");
    const params = new URLSearchParams(qs || "");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    try {
      if (!me) { me = await api("/api/v1/me"); showWho(); startLive(); }
      switch (parts[0]) {
        case undefined: return await wallView();
        case "site": return await siteView(parts[1], params);
        case "alerts": return await alertsView(params);
        case "alert": return await alertView(parts[1]);
        case "targets": return await targetsView();
        case "target": return await targetView(parts[1]);
        case "silences": return await silencesView();
        case "audit": return await auditView();
      }
      failView({ status: 404 });
    } catch (e) { failView(e); }
  }

  // ---- keyboard ----
  let pendingG = false;
  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, textarea, select, dialog") || e.ctrlKey || e.metaKey || e.altKey) return;
    if (pendingG) {
      pendingG = false;
      const dest = { w: "#/", a: "#/alerts", t: "#/targets", s: "#/silences" }[e.key];
      if (dest) { location.hash = dest; e.preventDefault(); }
      return;
    }
    if (e.key === "g") { pendingG = true; setTimeout(() => { pendingG = false; }, 1500); return; }
    if (e.key === "?") { $("#help").showModal(); e.preventDefault(); return; }
    if (e.key === "f") { document.body.classList.toggle("wallmode"); e.preventDefault(); return; }
    if (e.key === "Escape" && document.body.classList.contains("wallmode")) { document.body.classList.remove("wallmode"); return; }
    if (e.key === "j" || e.key === "k") {
      const items = [...main.querySelectorAll(".tile, tbody tr a")];
      if (!items.length) return;
      let i = items.indexOf(document.activeElement.closest(".tile") || document.activeElement);
      i = e.key === "j" ? Math.min(items.length - 1, i + 1) : Math.max(0, i - 1);
      items[i].focus(); e.preventDefault();
    }
  });
  $("#logout").addEventListener("click", () => { store.clear(); location.reload(); });
  // The skip link must not change the route.
  $(".skip").addEventListener("click", (e) => { e.preventDefault(); main.focus(); });
  // A sign-in dialog closed with Escape would leave requests waiting.
  $("#login").addEventListener("cancel", (e) => e.preventDefault());
  window.addEventListener("hashchange", route);
  if (new URLSearchParams(location.search).get("wall") === "1") document.body.classList.add("wallmode");
  route();
})();
