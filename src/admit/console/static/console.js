// admit console: a dependency-free single page. It reads the console's JSON API and its
// server-sent event stream; every value from the server goes through textContent (h()), never
// innerHTML, except the source HTML the server highlighted (built from escaped tokens).
"use strict";

const MAX = 500;
const state = { decisions: [], policies: null, status: null, filters: { verdict: "", namespace: "", kind: "", rule: "" }, metricsTimer: null };

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) { // nested lists of nodes are flattened whole
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const badge = (text, cls) => h("span", { class: "badge " + (cls || text) }, text);
const verdict = (d) => badge(d.allowed ? "allowed" : "denied");
const when = (t) => new Date(t * 1000).toLocaleTimeString();
const what = (d) => `${d.kind.split("/").pop()} ${d.namespace ? d.namespace + "/" : ""}${d.name || "(no name)"}`;
const json = (v) => h("pre", { class: "json" }, JSON.stringify(v, null, 2));

async function api(path, options) {
  const r = await fetch(path, options);
  const body = await r.json();
  if (!r.ok) throw new Error(body.message || r.statusText);
  return body;
}

function messagesOf(d) {
  const out = [];
  for (const r of d.results || []) {
    for (const [message] of r.violations || []) out.push(message);
    if (r.error) out.push(`${r.policy}/${r.rule}: ${r.error}`);
  }
  return out;
}

// ---- the live stream -------------------------------------------------------------------
function connect() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/stream");
  source.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  source.onerror = () => { live.textContent = "reconnecting…"; live.className = "live off"; };
  source.addEventListener("decision", (event) => {
    const d = JSON.parse(event.data);
    if (state.decisions.some((x) => x.id === d.id)) return;
    state.decisions.unshift(d);
    if (state.decisions.length > MAX) state.decisions.length = MAX;
    refreshStreams();
  });
}

function matches(d) {
  const f = state.filters;
  if (f.verdict === "allowed" && !d.allowed) return false;
  if (f.verdict === "denied" && d.allowed) return false;
  if (f.namespace && !(d.namespace || "").includes(f.namespace)) return false;
  if (f.kind && !d.kind.toLowerCase().includes(f.kind.toLowerCase())) return false;
  if (f.rule && !(d.results || []).some((r) => `${r.policy}/${r.rule}` === f.rule && r.result !== "skip")) return false;
  return true;
}

function streamList(limit) {
  const shown = state.decisions.filter(matches).slice(0, limit);
  if (!shown.length) return h("p", { class: "muted", id: "stream-empty" }, "No decisions yet: send the webhook a request.");
  return h("ul", { class: "stream", id: "stream" }, shown.map((d) =>
    h("li", { "data-id": d.id, onclick: () => (location.hash = `#/decisions/${d.id}`) },
      verdict(d), " ", h("span", { class: "what" }, what(d)), " ",
      h("span", { class: "muted small" }, `${d.operation} · ${when(d.time)} · ${d.latency_ms} ms`),
      messagesOf(d).map((m) => h("div", { class: "message" }, m)),
      (d.warnings || []).map((m) => h("div", { class: "small warn" }, "warning: " + m)))));
}

function refreshStreams() {
  for (const holder of document.querySelectorAll("[data-stream]")) {
    holder.replaceChildren(streamList(Number(holder.dataset.stream)));
  }
}

// ---- pages -----------------------------------------------------------------------------
function matchText(m) {
  if (!m) return "";
  const parts = [m.kinds.join(", "), m.operations.join("/")];
  for (const k of ["namespaces", "exclude_namespaces", "users", "groups", "exclude_users", "exclude_groups"]) {
    if (m[k]) parts.push(`${k.replace("_", " ")}: ${m[k].join(", ")}`);
  }
  if (m.namespace_selector) parts.push("namespace selector");
  if (m.object_selector) parts.push("object selector");
  return parts.join(" · ");
}

function ruleCounts(stats) {
  const results = (stats && stats.results) || {};
  const names = Object.keys(results);
  return h("span", { class: "small" },
    names.length ? names.map((k) => [badge(`${k} ${results[k]}`, k), " "]) : h("span", { class: "muted" }, "no calls yet"),
    stats && stats.mean_us != null ? h("span", { class: "muted" }, ` ${stats.calls} calls · mean ${micro(stats.mean_us)} · p99 ${micro(stats.p99_us)}`) : null);
}

async function home(main) {
  const policies = await api("/api/policies");
  const list = h("div", { class: "panel", id: "home-policies" }, h("h2", {}, `Policies (${policies.rules || 0} rules)`),
    h("div", { class: "muted small" }, `bundle ${(policies.digest || "none").slice(0, 12)} · ${policies.source || ""}`),
    policies.modules.map((m) => h("div", { class: "rule" }, h("strong", {}, m.policy || "(bundle)"),
      m.rules.map((r) => h("div", {}, badge(r.action, r.action), " ", h("a", { href: `#/policies/${encodeURIComponent(r.key)}` }, r.name),
        h("span", { class: "muted small" }, ` ${r.type} · ${matchText(r.match)}`),
        r.description ? h("div", { class: "small" }, r.description) : null)))));
  main.replaceChildren(h("div", { class: "grid" }, list,
    h("div", { class: "panel" }, h("h2", {}, "Live decisions"), h("div", { "data-stream": "25" }, streamList(25)))));
}

async function policiesPage(main, focus) {
  const policies = await api("/api/policies");
  const modules = policies.modules.map((m) => {
    const code = h("div", {});
    const show = async (line) => {
      const src = await api(`/api/source?file=${encodeURIComponent(m.file)}`);
      const gutter = h("div", { class: "gutter" });
      for (let i = 1; i <= src.lines; i++) gutter.append(h("span", { id: `L${i}`, class: i === line ? "hit" : null }, i));
      const pre = h("pre", {});
      pre.innerHTML = src.html; // escaped and tokenised by the server (admit.console.highlight)
      code.replaceChildren(h("div", { class: "code" }, gutter, pre));
      const target = gutter.querySelector(".hit");
      if (target) code.querySelector(".code").scrollTop = Math.max(0, target.offsetTop - 60);
    };
    return h("div", { class: "panel module" },
      h("h2", {}, m.policy || "(bundle)", " ", h("span", { class: "muted small mono" }, m.shown || m.file)),
      m.rules.map((r) => h("div", { class: "rule", id: `rule-${r.key}` },
        h("h3", {}, r.name, " ", badge(r.type, "plain"), " ", badge(r.action, r.action), " ", badge(`on error: ${r.on_error}`, "plain")),
        r.description ? h("div", {}, r.description) : null,
        h("dl", { class: "kv" },
          h("dt", {}, "matches"), h("dd", {}, matchText(r.match) || (r.path ? `decision /v1/data/${r.path}` : "")),
          r.reads.length ? [h("dt", {}, "reads"), h("dd", {}, r.reads.join(", "))] : null,
          h("dt", {}, "calls"), h("dd", {}, ruleCounts(r.stats)),
          h("dt", {}, "source"), h("dd", {}, h("a", { href: "#", onclick: (e) => { e.preventDefault(); show(r.line); } }, `${r.file.split("/").pop()}:${r.line}`))),
        r.params.length ? h("table", { class: "params" },
          h("tr", {}, h("th", {}, "parameter"), h("th", {}, "type"), h("th", {}, "default"), h("th", {}, "in effect")),
          r.params.map((p) => h("tr", {}, h("td", { class: "mono" }, p.name), h("td", { class: "mono" }, p.type || ""),
            h("td", { class: "mono" }, JSON.stringify(p.default)),
            h("td", { class: "mono" }, JSON.stringify(p.value), " ", p.overridden ? badge("admit.yaml", "override") : null)))) : null)),
      code);
  });
  main.replaceChildren(h("h1", {}, "Policies"), h("p", { class: "muted" }, `bundle ${policies.digest || "none"} · ${policies.source || ""}`), ...modules);
  if (focus) {
    const el = document.getElementById(`rule-${focus}`);
    if (el) el.scrollIntoView();
  }
}

function revisionText(r) {
  if (!r) return "no bundle served";
  const published = r.published ? ` · published ${clock(r.published)}` : "";
  const revision = r.revision ? ` · revision ${r.revision}` : "";
  return `bundle ${r.digest.slice(0, 12)}${revision} · ${r.rules} rules${published}${r.restored ? " · restored from --state-dir" : ""}`;
}

async function refreshRevision() {
  try {
    const rollout = await api("/api/rollout");
    document.getElementById("revision").textContent = revisionText(rollout.revision);
    return rollout;
  } catch (err) { return null; }
}

function rolloutPanels(rollout) {
  if (!rollout) return [];
  const panels = [];
  if (rollout.exceptions.length) {
    panels.push(h("div", { class: "panel", id: "exceptions" }, h("h2", {}, `Policy exceptions (${rollout.exceptions.length})`),
      h("table", {}, h("tr", {}, ["name", "rules", "owner", "reason", "expires", "declared"].map((t) => h("th", {}, t))),
        rollout.exceptions.map((e) => h("tr", {}, h("td", { class: "mono" }, e.name), h("td", { class: "mono small" }, e.rules.join(", ")),
          h("td", {}, e.owner), h("td", {}, e.reason),
          h("td", {}, e.expires, " ", e.expired ? badge("expired", "error") : e.expiring ? badge("expiring soon", "warn") : null),
          h("td", { class: "mono small" }, e.source || ""))))));
  }
  if (rollout.reports && rollout.reports.reports.length) {
    const r = rollout.reports;
    const kinds = ["pass", "fail", "warn", "error", "skip"];
    const summary = h("table", { class: "numbers" }, h("tr", {}, ["namespace", ...kinds].map((t) => h("th", {}, t))),
      r.reports.map((x) => h("tr", {}, h("td", { class: "name" }, x.namespace || "(cluster)"), kinds.map((k) => h("td", {}, (x.summary || {})[k] || 0)))));
    const subject = (f) => (f.resource ? `${f.resource.kind} ${f.resource.namespace ? f.resource.namespace + "/" : ""}${f.resource.name}` : "");
    const details = r.reports.filter((x) => x.results.length).map((x) => h("div", {},
      h("h3", {}, x.namespace || "(cluster)", x.total > x.results.length ? h("span", { class: "muted small" }, ` first ${x.results.length} of ${x.total}`) : null),
      h("table", {}, x.results.map((f) => h("tr", {}, h("td", {}, badge(f.result)), h("td", { class: "mono small" }, `${f.policy}/${f.rule}`), h("td", {}, subject(f)), h("td", {}, f.message || ""))))));
    const at = r.time ? `at ${new Date(r.time * 1000).toLocaleString()}` : "";
    panels.push(h("div", { class: "panel", id: "reports" }, h("h2", {}, "Audit reports ", h("span", { class: "muted small" }, at)), summary, details));
  }
  return panels;
}

async function statusPage(main) {
  const rollout = await refreshRevision();
  const s = await api("/api/status");
  const reload = s.reload || { history: [], last_error: null };
  const lastError = reload.last_error;
  main.replaceChildren(h("h1", {}, "Status"),
    h("div", { class: "panel" }, h("h2", {}, "Active bundle"),
      s.bundle ? h("dl", { class: "kv" }, h("dt", {}, "digest"), h("dd", { class: "mono", id: "digest" }, s.bundle.digest),
        h("dt", {}, "source"), h("dd", { class: "mono" }, s.bundle.source), h("dt", {}, "rules"), h("dd", {}, s.bundle.rules),
        h("dt", {}, "hot reload"), h("dd", {}, s.watching ? "watching for changes" : "off"),
        h("dt", {}, "webhook"), h("dd", { class: "mono" }, s.webhook || ""),
        h("dt", {}, "decision buffer"), h("dd", {}, `${s.feed.buffered} of ${s.feed.capacity}`))
        : h("p", { class: "message" }, "No bundle loaded.")),
    h("div", { class: "panel" }, h("h2", {}, "Last reload error"),
      lastError ? [h("div", {}, badge("error"), ` at ${when(lastError.time)} (the previous policies keep serving)`),
        h("pre", { class: "err", id: "last-error" }, lastError.problems.join("\n"))]
        : h("p", { class: "muted" }, "None: the latest change loaded cleanly (or nothing changed).")),
    h("div", { class: "panel" }, h("h2", {}, "Reload history"),
      reload.history.length ? h("table", {}, h("tr", {}, h("th", {}, "time"), h("th", {}, "result"), h("th", {}, "digest"), h("th", {}, "seconds"), h("th", {}, "problems")),
        reload.history.slice().reverse().map((e) => h("tr", {}, h("td", {}, when(e.time)), h("td", {}, badge(e.result === "ok" ? "pass" : "error", e.result === "ok" ? "pass" : "error")),
          h("td", { class: "mono" }, e.digest.slice(0, 12)), h("td", {}, e.seconds), h("td", { class: "mono small" }, e.problems.join("\n")))))
        : h("p", { class: "muted" }, "No reloads since start.")),
    h("div", { class: "panel" }, h("h2", {}, "Workers"),
      s.workers.length ? h("table", {}, h("tr", {}, h("th", {}, "pid"), h("th", {}, "serving bundle")),
        s.workers.map((w) => h("tr", {}, h("td", {}, w.pid), h("td", { class: "mono" }, (w.bundle || "").slice(0, 12)))))
        : h("p", { class: "muted" }, "Workers publish their state every second.")),
    ...rolloutPanels(rollout));
}

function decisionsPage(main) {
  const f = state.filters;
  const rules = new Set();
  for (const d of state.decisions) for (const r of d.results || []) rules.add(`${r.policy}/${r.rule}`);
  const input = (key, placeholder) => h("input", { placeholder, value: f[key], oninput: (e) => { f[key] = e.target.value; refreshStreams(); } });
  const verdictSelect = h("select", { id: "filter-verdict", onchange: (e) => { f.verdict = e.target.value; refreshStreams(); } },
    ["", "allowed", "denied"].map((v) => h("option", { value: v, selected: f.verdict === v }, v || "allowed and denied")));
  const ruleSelect = h("select", { onchange: (e) => { f.rule = e.target.value; refreshStreams(); } },
    h("option", { value: "" }, "any rule"), [...rules].sort().map((r) => h("option", { value: r, selected: f.rule === r }, r)));
  main.replaceChildren(h("h1", {}, "Decisions"),
    h("div", { class: "panel" }, h("div", { class: "filters" }, verdictSelect, input("namespace", "namespace"), input("kind", "kind"), ruleSelect,
      h("span", { class: "muted small" }, `across all workers · last ${MAX} kept`)),
      h("div", { "data-stream": String(MAX) }, streamList(MAX))));
}

async function decisionPage(main, id) {
  const d = await api(`/api/decisions/${id}`);
  main.replaceChildren(h("h1", {}, verdict(d), " ", what(d)),
    h("div", { class: "grid2" },
      h("div", { class: "panel" }, h("h2", {}, "Request"),
        h("dl", { class: "kv" }, h("dt", {}, "operation"), h("dd", {}, d.operation), h("dt", {}, "kind"), h("dd", {}, d.kind),
          h("dt", {}, "user"), h("dd", {}, `${d.user} (${(d.groups || []).join(", ")})`), h("dt", {}, "uid"), h("dd", { class: "mono" }, d.uid),
          h("dt", {}, "endpoint"), h("dd", {}, d.endpoint), h("dt", {}, "dry run"), h("dd", {}, String(d.dry_run)),
          h("dt", {}, "time"), h("dd", {}, new Date(d.time * 1000).toLocaleString()),
          h("dt", {}, "timings"), h("dd", {}, `${d.latency_ms} ms answered · ${d.eval_us} µs evaluating`),
          h("dt", {}, "bundle"), h("dd", { class: "mono" }, d.bundle), h("dt", {}, "worker"), h("dd", {}, d.pid)),
        d.message ? h("pre", { class: "err" }, d.message) : null,
        h("p", {}, h("button", { class: "secondary", onclick: () => { state.pick = d; location.hash = "#/playground"; } }, "Open in playground"), " ",
          saveAsCase(async () => (await api(`/api/decisions/${id}/case`)).text))),
      h("div", { class: "panel" }, h("h2", {}, "Rules"), resultsTable(d.results),
        h("h3", {}, "Patch"), d.patch && d.patch.length ? json(d.patch) : h("p", { class: "muted" }, "No mutation."))),
    h("div", { class: "panel" }, h("h2", {}, "Object"), json(d.request.object ?? d.request.oldObject)));
}

function resultsTable(results) {
  return h("table", { class: "results" }, h("tr", {}, h("th", {}, "rule"), h("th", {}, "result"), h("th", {}, "action"), h("th", {}, "message"), h("th", {}, "µs")),
    (results || []).map((r) => h("tr", {}, h("td", {}, h("a", { href: `#/policies/${encodeURIComponent(r.policy + "/" + r.rule)}` }, `${r.policy}/${r.rule}`)),
      h("td", {}, badge(r.result)), h("td", {}, badge(r.action, r.action)),
      h("td", {}, (r.violations || []).map(([m, p]) => h("div", {}, m, p ? h("span", { class: "muted small mono" }, ` [${p}]`) : null)),
        r.error ? h("div", { class: "err" }, r.error, r.location ? ` (${r.location})` : "") : null),
      h("td", {}, r.us))));
}

const SAMPLE = `apiVersion: v1
kind: Pod
metadata:
  name: web-server
  namespace: default
spec:
  containers:
  - name: web-server
    image: 192.168.64.1:5000/nginx:latest
`;

const BLANK = `"""A new policy, tried in the console's sandbox: it is never served from here."""

import admit


@admit.validate("Pod", operations=["CREATE", "UPDATE"])
def images_pin_a_version(request):
    """Every image names a version (a tag other than latest, or a digest)."""
    for container in request.containers:
        image = container.image or ""
        if "@" not in image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
            yield admit.Violation(f"{image} names no version", f"{container.path}.image")
`;

// ---- capture as a test case ------------------------------------------------------------
function casePanel(text) {
  if (!text) return h("p", { class: "muted" }, "This decision holds no object to replay, so it cannot become a test case.");
  const pre = h("pre", { class: "json case-text" }, text);
  const download = h("a", { class: "button secondary", download: "captured_test.yaml", href: URL.createObjectURL(new Blob([text], { type: "application/yaml" })) }, "Download captured_test.yaml");
  const copied = h("span", { class: "muted small" });
  const copy = h("button", { class: "secondary", onclick: async () => {
    try { await navigator.clipboard.writeText(text); copied.textContent = " copied"; }
    catch (err) { getSelection().selectAllChildren(pre); copied.textContent = " selected: press Ctrl+C"; }
  } }, "Copy");
  return h("div", { class: "case" },
    h("p", { class: "small" }, "Save it in the bundle as a file named ", h("code", {}, "*_test.yaml"), " and run ", h("code", {}, "admit test BUNDLE"), ": it expects what the rules concluded here."),
    h("div", { class: "filters" }, download, copy, copied), pre);
}

function saveAsCase(getText) {
  const holder = h("div", { class: "case-holder" });
  const button = h("button", { class: "secondary save-case", onclick: async () => {
    try { holder.replaceChildren(casePanel(await getText())); }
    catch (err) { holder.replaceChildren(h("pre", { class: "err" }, err.message)); }
  } }, "Save as test case");
  return [button, holder];
}

// ---- the policy editor (CodeMirror 5, vendored, loaded on first use) -------------------
let editorLoaded = null;
function loadEditor() {
  if (!editorLoaded) {
    const script = (src) => new Promise((resolve, reject) => document.head.append(h("script", { src, onload: resolve, onerror: () => reject(new Error(`cannot load ${src}`)) })));
    document.head.append(h("link", { rel: "stylesheet", href: "/static/codemirror/codemirror.css" }));
    editorLoaded = script("/static/codemirror/codemirror.js").then(() => script("/static/codemirror/python.js"));
  }
  return editorLoaded;
}

function markProblems(editor, problems) {
  for (const mark of state.marks || []) mark.clear ? mark.clear() : editor.removeLineClass(mark, "background", "cm-error-line");
  state.marks = [];
  for (const p of problems) {
    if (!p.edited || !p.line) continue;
    const line = Math.min(p.line, editor.lineCount()) - 1;
    state.marks.push(editor.addLineClass(line, "background", "cm-error-line"));
    state.marks.push(editor.addLineWidget(line, h("div", { class: "cm-error-note" }, `line ${p.line}: ${p.message}`), { coverGutter: false }));
  }
  const first = problems.find((p) => p.edited && p.line);
  if (first) editor.scrollIntoView({ line: first.line - 1, ch: 0 }, 80);
}

function changeSummary(change) {
  if (!change) return null;
  if (change.same) return h("div", { class: "change same" }, "Same decision as the served policies.");
  const verdictOf = (allowed) => (allowed ? "allowed" : "denied");
  return h("div", { class: "change" },
    h("div", {}, h("strong", {}, "Served policies: "), badge(verdictOf(change.allowed[0])), " → ", h("strong", {}, "edited: "), badge(verdictOf(change.allowed[1]))),
    change.rules.map((r) => h("div", { class: "small" }, h("span", { class: "mono" }, r.rule), ": ", badge(r.served, r.served), " → ", badge(r.edited, r.edited),
      r.removed.map((m) => h("div", { class: "diff-del" }, "− " + m)), r.added.map((m) => h("div", { class: "diff-add" }, "+ " + m)))),
    change.patch ? h("div", { class: "small" }, "The patch differs.") : null);
}

function decisionPanel(d, change) {
  return h("div", { class: "panel pg-decision" },
    h("h2", {}, verdict(d), " ", what(d), h("span", { class: "muted small" }, ` ${d.eval_us} µs`)),
    changeSummary(change),
    d.message ? h("pre", { class: "err" }, d.message) : null,
    (d.warnings || []).map((w) => h("div", { class: "warn" }, "warning: " + w)),
    resultsTable(d.results), h("h3", {}, "Patch"), d.patch.length ? json(d.patch) : h("p", { class: "muted" }, "No mutation."),
    h("p", {}, saveAsCase(async () => d.case)));
}

async function playgroundPage(main) {
  const pick = state.pick;
  state.pick = null;
  const policies = await api("/api/policies");
  const text = h("textarea", { id: "pg-text", spellcheck: "false" });
  text.value = pick && pick.request ? JSON.stringify(pick.request.object ?? pick.request.oldObject, null, 2) : (state.playgroundText || SAMPLE);
  const operation = h("select", { id: "pg-operation" }, ["CREATE", "UPDATE", "DELETE", "CONNECT"].map((o) => h("option", { value: o, selected: pick && pick.operation === o }, o)));
  const namespace = h("input", { id: "pg-namespace", value: (pick && pick.namespace) || "default", placeholder: "namespace" });
  const username = h("input", { id: "pg-user", value: (pick && pick.user) || "admit-console", placeholder: "user" });
  const groups = h("input", { id: "pg-groups", value: pick ? (pick.groups || []).filter((g) => g !== "system:authenticated").join(",") : "", placeholder: "groups (comma-separated)" });
  const out = h("div", { id: "pg-result" }, h("p", { class: "muted" }, "Evaluated as the webhook would; nothing reaches a cluster."));
  const recent = h("select", { id: "pg-recent", onchange: async (e) => {
    if (!e.target.value) return;
    state.pick = await api(`/api/decisions/${e.target.value}`);
    await playgroundPage(main);
  } }, h("option", { value: "" }, "pick a recent request…"),
  state.decisions.slice(0, 50).map((d) => h("option", { value: d.id }, `${d.allowed ? "allowed" : "denied"} · ${what(d)} · ${when(d.time)}`)));

  // The policy: the served set as it is, one of its modules edited, or a new one.
  const edit = state.edit || { file: "", source: null };
  const chooser = h("select", { id: "pg-policy" },
    h("option", { value: "", selected: edit.source === null }, "the served policies, as they are"),
    policies.modules.map((m) => h("option", { value: m.file, selected: edit.source !== null && edit.file === m.file }, `edit ${m.policy || "(bundle)"} (${m.file.split("/").pop()})`)),
    h("option", { value: "(new)", selected: edit.source !== null && edit.file === "(new)" }, "a new policy (blank)"));
  const editorHolder = h("div", { id: "pg-editor" });
  const note = h("p", { class: "muted small", id: "pg-sandbox-note" },
    "Edited code runs in a separate process with a time limit, a memory limit, no network and only the bundle's files, against a copy of the served policies. The served policies never change: to serve an edit, change the bundle itself.");
  const editorPanel = h("div", { class: "panel", id: "pg-policy-panel" }, h("h2", {}, "Policy"), h("div", { class: "filters" }, chooser), editorHolder);
  let editor = null;
  const showEditor = async () => {
    if (edit.source === null) { editorHolder.replaceChildren(h("p", { class: "muted small" }, "Requests are judged by the served policies. Choose a module to edit, or a new policy, to try a change.")); editor = null; return; }
    await loadEditor();
    editorHolder.replaceChildren(note);
    editor = window.CodeMirror(editorHolder, { value: edit.source, mode: "python", lineNumbers: true, indentUnit: 4, viewportMargin: 40 });
    editor.on("change", () => { edit.source = editor.getValue(); });
    state.editor = editor;
    state.marks = [];
  };
  chooser.addEventListener("change", async () => {
    const file = chooser.value;
    if (!file) { edit.file = ""; edit.source = null; }
    else if (file === "(new)") { edit.file = file; edit.source = BLANK; }
    else { edit.file = file; edit.source = (await api(`/api/source?file=${encodeURIComponent(file)}`)).text; }
    state.edit = edit;
    await showEditor();
  });

  const run = async () => {
    state.playgroundText = text.value;
    out.replaceChildren(h("p", { class: "muted" }, edit.source === null ? "Evaluating…" : "Trying the edited policy in its sandbox…"));
    try {
      const body = { text: text.value, operation: operation.value, namespace: namespace.value, username: username.value, groups: groups.value };
      if (edit.source !== null) body.policy = { file: edit.file === "(new)" ? null : edit.file, source: edit.source };
      const answer = await api("/api/playground", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const t = answer.trial;
      if (editor) markProblems(editor, (t && t.problems) || []);
      if (t && t.problems.length) {
        out.replaceChildren(h("div", { class: "panel", id: "pg-problems" }, h("h2", {}, "The edited policy does not load"),
          t.problems.map((p) => h("pre", { class: "err" }, `${p.file}${p.line ? ":" + p.line : ""}: ${p.code}: ${p.message}`))));
        return;
      }
      if (t && t.stopped) {
        out.replaceChildren(h("div", { class: "panel", id: "pg-stopped" }, h("h2", {}, "The trial was stopped"), h("pre", { class: "err" }, t.stopped)));
        return;
      }
      out.replaceChildren(
        t ? h("p", { class: "muted small", id: "pg-trial" }, `Edited copy of bundle ${answer.bundle.slice(0, 12)} (${t.file}), judged in ${t.seconds} s · confined: ${t.confinement}`) : null,
        ...answer.decisions.map((d, i) => decisionPanel(d, answer.changes && answer.changes[i])));
    } catch (err) {
      out.replaceChildren(h("pre", { class: "err" }, err.message));
    }
  };
  main.replaceChildren(h("h1", {}, "Playground"),
    h("div", { class: "grid2" },
      h("div", {}, editorPanel,
        h("div", { class: "panel" }, h("h2", {}, "Request"), h("div", { class: "filters" }, recent), text,
          h("div", { class: "filters" }, operation, namespace, username, groups, h("button", { id: "pg-run", onclick: run }, "Evaluate")))),
      out));
  await showEditor();
}

// ---- metrics (hand-drawn SVG) ----------------------------------------------------------
const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const micro = (v) => (v == null ? "–" : v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(1)} µs`);
const percent = (v) => (v == null ? "–" : `${(v * 100).toFixed(v > 0 && v < 0.1 ? 1 : 0)}%`);

// A line over time: y labelled in `unit`, x in local clock time (up to five ticks).
function lineChart(id, title, unit, points, key, format, color) {
  const W = 560, H = 200, L = 64, R = 14, B = 38, T = 12;
  const values = points.map((p) => p[key]).filter((v) => v !== null && v !== undefined);
  const max = key === "deny_ratio" ? 1 : Math.max(...values, 0.000001) * 1.1;
  const span = points.length > 1 ? points[points.length - 1].time - points[0].time : 1;
  const x = (t) => L + (points.length > 1 ? ((t - points[0].time) * (W - L - R)) / span : 0);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": `${title} (${unit})` });
  for (const f of [0, 0.5, 1]) {
    svg.append(s("line", { x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), stroke: "#e2e5eb" }));
    svg.append(s("text", { x: L - 6, y: y(max * f) + 4, "text-anchor": "end" }, format(max * f)));
  }
  svg.append(s("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#9aa3b5" }));
  const ticks = points.length > 1 ? 5 : points.length; // evenly spaced in time
  for (let k = 0; k < ticks; k++) {
    const t = points[0].time + (ticks > 1 ? (k * span) / (ticks - 1) : 0);
    const anchor = ticks === 1 || k === 0 ? "start" : k === ticks - 1 ? "end" : "middle";
    svg.append(s("line", { x1: x(t), x2: x(t), y1: H - B, y2: H - B + 4, stroke: "#9aa3b5" }));
    svg.append(s("text", { class: "tick", x: x(t), y: H - B + 16, "text-anchor": anchor }, clock(t)));
  }
  svg.append(s("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, "time (local)"));
  svg.append(s("text", { x: 12, y: (T + H - B) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(T + H - B) / 2})` }, unit));
  let d = "";
  points.forEach((p) => { if (p[key] !== null && p[key] !== undefined) d += `${d ? "L" : "M"}${x(p.time).toFixed(1)},${y(p[key]).toFixed(1)}`; });
  if (d) svg.append(s("path", { d, fill: "none", stroke: color, "stroke-width": 2 }));
  for (const p of points) { // a dot per sample, so a lone one shows too
    if (p[key] !== null && p[key] !== undefined) svg.append(s("circle", { cx: x(p.time).toFixed(1), cy: y(p[key]).toFixed(1), r: 2.5, fill: color }));
  }
  if (!points.length) svg.append(s("text", { x: L + 10, y: T + 30 }, "Collecting: a point every few seconds."));
  const last = values.length ? format(values[values.length - 1]) : "–";
  return h("div", { class: "panel chart", id }, h("h2", {}, title, " ", h("span", { class: "muted small" }, `(${unit}) · now `, h("span", { class: "now" }, last))), svg);
}

function bar(fraction) {
  const fill = h("span", { class: "fill" });
  fill.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`; // CSSOM: allowed by the CSP
  return h("span", { class: "bar" }, fill);
}

function slowestRules(rules) {
  const max = Math.max(...rules.map((r) => r.mean_us), 0.001);
  return h("div", { class: "panel wide", id: "slowest-rules" }, h("h2", {}, "Slowest rules ", h("span", { class: "muted small" }, "time per call, all workers since start")),
    rules.length ? h("table", { class: "numbers" },
      h("tr", {}, h("th", {}, "rule"), h("th", {}, "calls"), h("th", {}, "mean"), h("th", {}, ""), h("th", {}, "p50"), h("th", {}, "p99")),
      rules.map((r) => h("tr", {}, h("td", { class: "name" }, h("a", { href: `#/policies/${encodeURIComponent(r.rule)}` }, r.rule)),
        h("td", {}, r.calls), h("td", {}, micro(r.mean_us)), h("td", { class: "barcell" }, bar(r.mean_us / max)),
        h("td", {}, micro(r.p50_us)), h("td", {}, micro(r.p99_us)))))
      : h("p", { class: "muted" }, "No rule has run yet."));
}

function policyTable(policies) {
  const count = (p, k) => p.results[k] || 0;
  return h("div", { class: "panel wide", id: "policy-metrics" }, h("h2", {}, "Per policy ", h("span", { class: "muted small" }, "rule evaluations (skips left out); denials are failed or erroring enforce rules")),
    policies.length ? h("table", { class: "numbers" },
      h("tr", {}, ["policy", "evaluations", "pass", "fail", "warn", "error", "deny ratio", "p50 per rule call", "p99 per rule call"].map((t) => h("th", {}, t))),
      policies.map((p) => h("tr", { "data-policy": p.policy }, h("td", { class: "name" }, p.policy || "(bundle)"), h("td", {}, p.evaluations),
        h("td", {}, count(p, "pass")), h("td", {}, count(p, "fail")), h("td", {}, count(p, "warn")), h("td", {}, count(p, "error")),
        h("td", { class: "ratio" }, percent(p.deny_ratio)), h("td", {}, micro(p.p50_us)), h("td", {}, micro(p.p99_us)))))
      : h("p", { class: "muted" }, "No policy has judged a request yet."));
}

async function metricsPage(main) {
  const draw = async () => {
    if (!location.hash.startsWith("#/metrics")) return;
    const m = await api("/api/metrics");
    const ms = (v) => `${v.toFixed(v < 10 ? 2 : 1)} ms`;
    main.replaceChildren(h("h1", {}, "Metrics ", h("span", { class: "muted small", id: "metrics-totals" }, `${m.totals.answered} admission requests, ${m.totals.denied} denied, all workers · a point every ${m.every} s`)),
      h("div", { class: "charts" },
        lineChart("chart-rate", "Request rate", "requests/s", m.points, "rate", (v) => `${v.toFixed(v < 10 ? 1 : 0)}/s`, "#2f5fd0"),
        lineChart("chart-deny", "Deny ratio", "% of requests", m.points, "deny_ratio", (v) => `${(v * 100).toFixed(0)}%`, "#c63d2f"),
        lineChart("chart-p50", "Latency p50", "ms", m.points, "p50_ms", ms, "#1f8a4c"),
        lineChart("chart-p99", "Latency p99", "ms", m.points, "p99_ms", ms, "#b7791f"),
        policyTable(m.policies), slowestRules(m.slowest_rules)));
  };
  await draw();
  state.metricsTimer = setInterval(() => draw().catch(() => {}), 3000);
}

// ---- routing ---------------------------------------------------------------------------
async function route() {
  clearInterval(state.metricsTimer);
  const main = document.getElementById("main");
  const [, page = "", arg] = location.hash.split("/");
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === (page || "home"));
  try {
    if (page === "policies") await policiesPage(main, arg && decodeURIComponent(arg));
    else if (page === "status") await statusPage(main);
    else if (page === "decisions" && arg) await decisionPage(main, arg);
    else if (page === "decisions") decisionsPage(main);
    else if (page === "playground") await playgroundPage(main);
    else if (page === "metrics") await metricsPage(main);
    else await home(main);
  } catch (err) {
    main.replaceChildren(h("p", { class: "err" }, `Could not load this page: ${err.message}`));
  }
}

async function start() {
  try {
    const recent = await api("/api/decisions");
    state.decisions = recent.decisions.slice().reverse();
  } catch (err) { /* the stream fills it */ }
  connect();
  refreshRevision();
  setInterval(refreshRevision, 10000);
  window.addEventListener("hashchange", route);
  await route();
}
start();
