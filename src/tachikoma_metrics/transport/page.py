"""The live page: one self-contained HTML document (no CDN, fonts or other URLs) that
polls the metrics endpoint of the server it came from and shows every family.

The script asks for OpenMetrics 1.0 (text 0.0.4 parses too), every ``STEP`` ms, from a
relative URL the endpoint writes into ``<body data-src>`` (empty: the page's own path,
where a mounted app answers metrics to a non-HTML ``Accept``), so it works behind any
path prefix. It keeps the last ``WINDOW`` ms of values per series for the sparklines:
counter rates, gauge trends, histogram and summary request rates. Families that appear
or disappear between polls are added or dropped; a failed poll keeps the last values and
says what failed. Label values and help text are escaped before they reach the DOM.

The ``Content-Security-Policy`` sent with it allows only this script and style (by hash)
and connections to the same origin, so the browser itself enforces "nothing from
anywhere else".
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
from urllib.parse import quote

from ..exposition.negotiate import accept_clauses

__all__ = ["content_security_policy", "metrics_url", "prefers_html", "render"]

STYLE = """
:root{color-scheme:light dark;--fg:#111;--bg:#fff;--mute:#4a4a4a;--line:#ccc;--ink:#0a58a8;
--err:#a30000;font:15px/1.4 system-ui,sans-serif}
@media (prefers-color-scheme:dark){:root{--fg:#eee;--bg:#121212;--mute:#b4b4b4;--line:#444;
--ink:#7cbcff;--err:#ff8a80}}
body{margin:0 auto;padding:0 1rem 2rem;max-width:72rem;color:var(--fg);background:var(--bg)}
header{position:sticky;top:0;background:var(--bg);padding:.5rem 0;border-bottom:1px solid
var(--line)}
h1{font-size:1.3rem;margin:.2rem 0}h2{font-size:1rem;margin:0}
input{font:inherit;padding:.2rem .4rem;min-width:18rem;color:inherit;background:inherit;
border:1px solid var(--mute)}
input:focus-visible{outline:3px solid var(--ink);outline-offset:1px}
#status,.help,.type,caption{color:var(--mute)}#error{color:var(--err);font-weight:600}
section{margin:1rem 0;border-bottom:1px solid var(--line);padding-bottom:.6rem}
.type{font-weight:400;font-size:.85rem;margin-left:.4rem}.help{margin:.2rem 0 .4rem}
table{border-collapse:collapse;width:100%}th:first-child{width:32%}
th:last-child{width:8rem}
th,td{text-align:left;padding:.15rem .6rem .15rem 0;vertical-align:middle}
th{font-size:.8rem;font-weight:600;color:var(--mute)}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
td.labels{word-break:break-all;font-family:ui-monospace,monospace;font-size:.85rem}
svg{display:block}polyline{fill:none;stroke:var(--ink);stroke-width:1.5}rect{fill:var(--ink)}
"""

SCRIPT = r"""
"use strict";
const STEP = 2000, WINDOW = 300e3, RATE_SPAN = 60e3, QS = [0.5, 0.9, 0.99];
const ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
const $ = id => document.getElementById(id);
const main = $("families"), filter = $("q");
const given = document.body.dataset.src;
const src = given ? new URL(given, location.origin + location.pathname.replace(/\/?$/, "/"))
  : location.pathname;
const past = new Map(), sections = new Map();
document.title = "Metrics \u00b7 " + location.host;

const esc = s => String(s).replace(/[&<>"']/g, c => "&#" + c.charCodeAt(0) + ";");
const num = s => s === "+Inf" ? Infinity : s === "-Inf" ? -Infinity : Number(s);
function fmt(v, digits = 6) {
  if (v === null || v === undefined) return "\u2014";
  if (!isFinite(v)) return isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e9 || a < 1e-3)) return v.toExponential(digits - 1);
  return String(Number.isInteger(v) ? v : +v.toPrecision(digits));
}
const fmt3 = v => fmt(v, 3);

function sample(line) {
  const m = /^[^\s{]+/.exec(line);
  if (!m) return null;
  const s = {name: m[0], labels: []};
  let i = m[0].length;
  if (line[i] === "{") {
    for (i++; ;) {
      while (line[i] === " " || line[i] === ",") i++;
      if (line[i] === "}") { i++; break; }
      const eq = line.indexOf('="', i);
      if (eq < 0) return null;
      const key = line.slice(i, eq).trim();
      let v = "";
      for (i = eq + 2; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === "\\") { i++; v += line[i] === "n" ? "\n" : line[i]; } else v += line[i];
      }
      if (i++ >= line.length) return null;
      s.labels.push([key, v]);
    }
  }
  s.value = num(line.slice(i).trim().split(/\s+/)[0]);
  return s;
}

function parse(text) {
  const families = new Map();
  let cur = null;
  const family = name => {
    let f = families.get(name);
    if (!f) families.set(name, f = {name, type: "unknown", help: "", unit: "", samples: []});
    return f;
  };
  for (const line of text.split("\n")) {
    if (!line) continue;
    if (line[0] === "#") {
      const m = /^# (TYPE|HELP|UNIT) (\S+) ?(.*)$/.exec(line);
      if (!m) continue;
      cur = family(m[2]);
      if (m[1] === "TYPE") cur.type = m[3] === "untyped" ? "unknown" : m[3];
      else if (m[1] === "HELP") cur.help = m[3].replace(/\\(.)/g, (_, c) => c === "n" ? "\n" : c);
      else cur.unit = m[3];
      continue;
    }
    const s = sample(line);
    if (!s) continue;
    const mine = cur && (s.name === cur.name || s.name.startsWith(cur.name + "_"));
    const f = mine ? cur : family(s.name);
    s.suffix = s.name.slice(f.name.length);
    if (s.suffix !== "_created") f.samples.push(s);
  }
  return [...families.values()];
}

function series(f) {
  const by = new Map();
  const inner = {histogram: "le", gaugehistogram: "le", summary: "quantile"}[f.type];
  for (const s of f.samples) {
    const own = s.labels.filter(l => l[0] !== inner);
    const lab = own.map(([k, v]) => k + "=" + JSON.stringify(v)).join(", ");
    const key = f.name + (inner ? "" : s.suffix) + "{" + lab + "}";
    let r = by.get(key);
    if (!r) by.set(key, r = {key, lab, suffix: s.suffix, value: s.value, parts: []});
    r.parts.push(s);
  }
  return [...by.values()];
}

function track(key, t, v, seen) {
  let h = past.get(key);
  if (!h) past.set(key, h = []);
  h.push([t, v]);
  while (h[0][0] < t - WINDOW) h.shift();
  seen.add(key);
  return h;
}

function rates(h) {
  const out = [];
  for (let i = 1; i < h.length; i++) {
    const d = h[i][1] - h[i - 1][1];
    out.push([h[i][0], (d < 0 ? h[i][1] : d) / ((h[i][0] - h[i - 1][0]) / 1e3)]);
  }
  return out;
}

function rate(h) {
  const end = h[h.length - 1][0];
  let inc = 0, start = end;
  for (let i = h.length - 1; i > 0 && h[i - 1][0] >= end - RATE_SPAN; i--) {
    const d = h[i][1] - h[i - 1][1];
    inc += d < 0 ? h[i][1] : d;
    start = h[i - 1][0];
  }
  return start < end ? inc / ((end - start) / 1e3) : null;
}

function spark(points, what) {
  const pts = points.filter(p => isFinite(p[1]));
  if (pts.length < 2) return "";
  const W = 120, H = 24, end = pts[pts.length - 1][0];
  const span = end - pts[0][0] || 1;
  const lo = Math.min(...pts.map(p => p[1])), hi = Math.max(...pts.map(p => p[1]));
  const y = v => H - 2 - (hi > lo ? (v - lo) / (hi - lo) : 0.5) * (H - 4);
  const xy = pts.map(p => (W - (end - p[0]) / span * W).toFixed(1) + "," + y(p[1]).toFixed(1));
  const label = `${what}, last ${Math.round(span / 1e3)} s: ${fmt3(lo)} to ${fmt3(hi)}`;
  return `<svg width="${W}" height="${H}" role="img" aria-label="${esc(label)}">` +
    `<title>${esc(label)}</title><polyline points="${xy.join(" ")}"/></svg>`;
}

function bars(buckets) {
  const W = 120, H = 24, w = W / buckets.length;
  let prev = 0;
  const counts = buckets.map(([le, v]) => { const d = v - prev; prev = v; return [le, d]; });
  const max = Math.max(1, ...counts.map(c => c[1]));
  const text = counts.map(([le, d]) => `\u2264 ${fmt(le)}: ${fmt(d)}`).join(", ");
  return `<svg width="${W}" height="${H}" role="img" aria-label="${esc("buckets " + text)}">` +
    `<title>${esc(text)}</title>` + counts.map(([, d], i) => {
      const h = Math.max(d > 0 ? 1 : 0, d / max * H);
      return `<rect x="${(i * w).toFixed(1)}" y="${(H - h).toFixed(1)}" ` +
        `width="${Math.max(1, w - 1).toFixed(1)}" height="${h.toFixed(1)}"/>`;
    }).join("") + "</svg>";
}

function quantile(q, b) {
  const total = b[b.length - 1][1];
  if (!(total > 0) || b[b.length - 1][0] !== Infinity) return NaN;
  const rank = q * total;
  const i = b.findIndex(x => x[1] >= rank);
  if (b[i][0] === Infinity) return i > 0 ? b[i - 1][0] : NaN;
  const lower = i > 0 ? b[i - 1][0] : Math.min(0, b[0][0]);
  const below = i > 0 ? b[i - 1][1] : 0;
  return lower + (b[i][0] - lower) * (rank - below) / (b[i][1] - below);
}

const td = (v, cls = "num") => `<td class="${cls}">${v}</td>`;
const HEAD = {
  counter: ["Value", "Rate /s (1 min)", "Rate"],
  gauge: ["Value", "Change (5 min)", "Trend"],
  histogram: ["Count", "Sum", "Rate /s", "p50 \u00b7 p90 \u00b7 p99 (est.)", "Buckets"],
  summary: ["Count", "Sum", "Rate /s", "Quantiles", "Count rate"],
};
HEAD.gaugehistogram = HEAD.histogram;

function row(f, r, t, seen) {
  const name = f.type === "unknown" && r.suffix ? r.suffix + " " : "";
  const cells = [td(esc(name + (r.lab ? "{" + r.lab + "}" : "\u2014")), "labels")];
  const part = sfx => r.parts.find(p => p.suffix === sfx || p.suffix === sfx.replace("_", "_g"));
  if (f.type === "histogram" || f.type === "gaugehistogram" || f.type === "summary") {
    const count = part("_count"), sum = part("_sum");
    const h = count && f.type !== "gaugehistogram" ? track(r.key, t, count.value, seen) : [];
    cells.push(td(fmt(count && count.value)), td(fmt(sum && sum.value)),
      td(fmt3(h.length ? rate(h) : null)));
    if (f.type === "summary") {
      const qs = r.parts.filter(p => p.suffix === "").map(p => {
        const q = p.labels.find(l => l[0] === "quantile");
        return `${q ? q[1] : "?"}: ${fmt(p.value)}`;
      });
      cells.push(td(esc(qs.join(" \u00b7 ") || "\u2014")), td(spark(rates(h), "count rate /s")));
    } else {
      const b = r.parts.filter(p => /^_g?bucket$/.test(p.suffix)).map(p => {
        const le = p.labels.find(l => l[0] === "le");
        return [num(le ? le[1] : "NaN"), p.value];
      }).sort((x, y) => x[0] - y[0]);
      const est = b.length ? QS.map(q => fmt3(quantile(q, b))).join(" \u00b7 ") : "\u2014";
      cells.push(td(est), td(b.length > 1 ? bars(b) : ""));
    }
  } else {
    const h = track(r.key, t, r.value, seen);
    cells.push(td(fmt(r.value)));
    if (f.type === "counter") cells.push(td(fmt3(rate(h))), td(spark(rates(h), "rate /s")));
    else {
      const d = h.length > 1 ? r.value - h[0][1] : null;
      const arrow = d > 0 ? "\u25b2 +" : d < 0 ? "\u25bc " : "";
      cells.push(td(d === null ? "\u2014" : arrow + fmt(d)), td(spark(h, "value")));
    }
  }
  return `<tr>${cells.join("")}</tr>`;
}

function show(f, t, seen) {
  let sec = sections.get(f.name);
  if (!sec) {
    sec = document.createElement("section");
    sec.id = "family-" + f.name;
    sections.set(f.name, sec);
  }
  const rows = series(f);
  const head = ["Series", ...(HEAD[f.type] || HEAD.gauge)];
  const unit = f.unit ? ` (${f.unit})` : "";
  const id = "h-" + f.name;
  sec.innerHTML = `<h2 id="${esc(id)}"><code>${esc(f.name)}</code>` +
    `<span class="type">${esc(f.type + unit)}</span></h2>` +
    (f.help ? `<p class="help">${esc(f.help)}</p>` : "") +
    `<table aria-labelledby="${esc(id)}"><thead><tr>` +
    head.map(h => `<th scope="col">${h}</th>`).join("") + "</tr></thead><tbody>" +
    rows.map(r => row(f, r, t, seen)).join("") + "</tbody></table>";
  sec.dataset.text = [f.name, f.help, ...rows.map(r => r.lab)].join(" ").toLowerCase();
  return sec;
}

function update(families, t) {
  const seen = new Set(), names = new Set();
  families.forEach((f, i) => {
    const sec = show(f, t, seen);
    names.add(f.name);
    if (main.children[i] !== sec) main.insertBefore(sec, main.children[i] || null);
  });
  for (const [name, sec] of sections) if (!names.has(name)) { sec.remove(); sections.delete(name); }
  for (const key of past.keys()) if (!seen.has(key)) past.delete(key);
  applyFilter();
}

function applyFilter() {
  const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
  let shown = 0;
  for (const sec of sections.values()) {
    sec.hidden = !words.every(w => sec.dataset.text.includes(w));
    if (!sec.hidden) shown++;
  }
  $("count").textContent = `${shown} of ${sections.size} families`;
}

function say(error) {
  const el = $("error");
  if (el.textContent !== error) el.textContent = error;
}

async function poll() {
  const t = Date.now(), at = new Date(t).toLocaleTimeString();
  let wait = STEP;
  try {
    const answer = await fetch(src, {headers: {Accept: ACCEPT}, cache: "no-store"});
    const text = await answer.text();
    if (!answer.ok) throw new Error(`HTTP ${answer.status} ${text.trim().slice(0, 300)}`);
    const started = performance.now();
    update(parse(text), t);
    // A registry so large that showing it takes a while is polled less often.
    wait = Math.max(STEP, 5 * (performance.now() - started));
    $("status").textContent = `Updated ${at}, next in ${(wait / 1e3).toFixed(0)} s.`;
    say("");
  } catch (e) {
    say(`Update failed at ${at}: ${e.message}. Showing the last values.`);
  }
  setTimeout(poll, wait);
}

filter.addEventListener("input", applyFilter);
document.addEventListener("keydown", e => {
  if (e.key === "/" && document.activeElement !== filter) { e.preventDefault(); filter.focus(); }
});
poll();
"""

_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Metrics</title>
<link rel="icon" href="data:,">
<style>{style}</style>
</head>
<body data-src="""

_TAIL = """>
<header>
<h1>Metrics</h1>
<p><label for="q">Filter families</label>
<input id="q" type="search" placeholder="name, help or label" autocomplete="off"
spellcheck="false"> <span id="count" aria-live="polite"></span></p>
<p id="status">Loading\u2026</p>
<p id="error" role="alert"></p>
</header>
<main id="families"></main>
<script>{script}</script>
</body>
</html>
"""


def _hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


@functools.cache
def content_security_policy() -> str:
    """The page's ``Content-Security-Policy``: its own script and style (by hash), requests
    to the same origin, a ``data:`` favicon; nothing else (no frames, forms or plugins)."""
    return (
        f"default-src 'none'; script-src {_hash(SCRIPT)}; style-src {_hash(STYLE)}; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


@functools.lru_cache(maxsize=8)
def render(metrics_url: str) -> bytes:
    """The page, polling ``metrics_url``: a relative URL (taken relative to the page's path
    as a directory), or ``""`` for the page's own path. UTF-8 bytes."""
    source = (
        _HEAD.replace("{style}", STYLE)
        + '"'
        + html.escape(metrics_url)
        + '"'
        + _TAIL.replace("{script}", SCRIPT)
    )
    return source.encode()


def metrics_url(path: str) -> str:
    """The relative URL of ``path`` (absolute, as the endpoint's) from a page at ``/``."""
    return "./" + quote(path.lstrip("/"), safe="/:@!$&'()*+,;=-._~")


_HTML_TYPES = ("text/html", "application/xhtml+xml")
_METRICS_TYPES = ("text/plain", "application/openmetrics-text", "application/vnd.google.protobuf")


def prefers_html(accept: str | None) -> bool:
    """Whether ``Accept`` (as a browser sends it for a page) ranks HTML above zero and at
    least as high as any exposition format it names; wildcards (``*/*``, ``text/*``) never
    count, so scrapers, curl and ``fetch()`` keep getting metrics."""
    html_q = metrics_q = 0.0
    for media, _, q in accept_clauses(accept or ""):
        if media in _HTML_TYPES:
            html_q = max(html_q, q)
        elif media in _METRICS_TYPES:
            metrics_q = max(metrics_q, q)
    return html_q > 0.0 and html_q >= metrics_q
