/// The web console: one page, no external files (it works offline). The server writes the
/// first render into the HTML (header, brokers, topics) with the whole state beside it as JSON,
/// so a script or a slow link sees the cluster at once; the page's script then renders the full
/// view from that state and follows `/api/stream` (Server-Sent Events). Elements carry data
/// attributes (`data-tp`, `data-leader`, `data-isr`, `data-state`, `data-offset`, ...) so that
/// scripts and tests can read what the page shows.
enum ConsolePage {
    /// The page with its first render: `state` is `/api/state`'s JSON, `summary` the
    /// server-rendered header, brokers and topics.
    static func html(state: String, summary: Summary) -> String {
        // "<" never appears in JSON outside strings; escaped there, no text can end the script.
        let embedded = state.replacingOccurrences(of: "<", with: "\\u003c")
        return head + summary.html + body.replacingOccurrences(of: "/*INITIAL_STATE*/null", with: embedded)
    }

    /// What the server renders itself, before any script runs.
    struct Summary {
        var clusterId: String
        var node: Int32
        var controller: String
        var underReplicated: Int
        var offline: Int
        var brokers: [(id: Int32, address: String, state: String, epoch: Int64)]
        var topics: [(name: String, partitions: Int, underReplicated: Int)]

        var html: String {
            func e(_ s: String) -> String {
                var out = ""
                for c in s {
                    switch c {
                    case "&": out += "&amp;"
                    case "<": out += "&lt;"
                    case ">": out += "&gt;"
                    case "\"": out += "&quot;"
                    default: out.append(c)
                    }
                }
                return out
            }
            let brokerRows = brokers.map {
                "<tr data-broker=\"\($0.id)\" data-state=\"\(e($0.state))\"><td>\($0.id)</td><td>\(e($0.address))</td>"
                    + "<td class=\"\(e($0.state.replacingOccurrences(of: " ", with: "-")))\">\(e($0.state))</td><td>\($0.epoch)</td></tr>"
            }.joined()
            let topicRows = topics.map {
                "<li data-topic=\"\(e($0.name))\">\(e($0.name)): \($0.partitions) partition(s)"
                    + ($0.underReplicated > 0 ? ", \($0.underReplicated) under-replicated" : "") + "</li>"
            }.joined()
            return """
                <header>
                  <h1>Tern</h1>
                  <span class="stat">cluster <b id="cluster-id">\(e(clusterId))</b></span>
                  <span class="stat">served by node <b id="node">\(node)</b></span>
                  <span class="stat">active controller <b id="controller">\(e(controller))</b></span>
                  <span class="stat\(underReplicated > 0 ? " bad" : "")" id="urp-stat">under-replicated <b id="urp">\(underReplicated)</b></span>
                  <span class="stat\(offline > 0 ? " bad" : "")" id="offline-stat">offline <b id="offline">\(offline)</b></span>
                  <span class="stat" id="conn">as of page load</span>
                </header>
                <main>
                  <section><h2>Brokers</h2><table id="brokers"><thead><tr><th>id</th><th>address</th><th>state</th><th>epoch</th></tr></thead><tbody>\(brokerRows)</tbody></table></section>
                  <section><h2>Topics <span class="muted" id="topic-count"></span></h2><div id="topics"><ul>\(topicRows)</ul></div></section>
                """
        }
    }

    static let head = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Tern cluster</title>
        <style>
          :root { --ok:#1a7f37; --bad:#cf222e; --warn:#9a6700; --muted:#57606a; --line:#d0d7de; }
          body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
          header { background: #24292f; color: #fff; padding: 10px 18px; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; }
          header h1 { font-size: 18px; margin: 0; }
          header .stat { color: #d0d7de; } header .stat b { color: #fff; }
          header .stat.bad b { color: #ff8182; }
          main { padding: 12px 18px; display: grid; gap: 14px; }
          section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; }
          h2 { font-size: 15px; margin: 0 0 8px; }
          table { border-collapse: collapse; } td, th { padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
          th { color: var(--muted); font-weight: 600; }
          .up { color: var(--ok); font-weight: 600; } .fenced { color: var(--bad); font-weight: 600; }
          .missed-heartbeats { color: var(--warn); font-weight: 600; }
          .grid { display: flex; flex-wrap: wrap; gap: 6px; }
          .cell { border: 1px solid var(--line); border-radius: 4px; padding: 4px 6px; min-width: 120px; font-size: 12px; }
          .cell.under { border-color: var(--warn); background: #fff8c5; } .cell.offline { border-color: var(--bad); background: #ffebe9; }
          .cell .p { font-weight: 600; } .r { margin-right: 4px; } .r.in { color: var(--ok); } .r.out { color: var(--bad); text-decoration: line-through; }
          .r.lead { font-weight: 700; text-decoration: underline; }
          .muted { color: var(--muted); } .error { color: var(--bad); }
          .why { color: var(--muted); font-size: 0.85em; margin-top: 2px; }
          #events li { font-family: ui-monospace, monospace; font-size: 12px; }
          .k-leader { color: #0969da; } .k-isr-shrink { color: var(--bad); } .k-isr-expand { color: var(--ok); } .k-broker { color: var(--warn); }
          #conn.down { color: #ff8182; }
          .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 10px; }
          .chart h3 { font-size: 13px; margin: 0 0 4px; } .chart svg { width: 100%; height: 140px; background: #fbfcfd; border: 1px solid var(--line); }
          .legend span { margin-right: 8px; font-size: 12px; } .legend i { display: inline-block; width: 10px; height: 3px; margin-right: 3px; vertical-align: middle; }
          form.row { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin-bottom: 8px; }
          form.row label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
          input, select, textarea, button { font: inherit; }
          #m-records td { font-family: ui-monospace, monospace; font-size: 12px; max-width: 520px; overflow-wrap: anywhere; }
          #m-records pre { margin: 0; white-space: pre-wrap; }
          .bin { color: var(--muted); }
        </style>
        </head>
        <body data-renders="0">
        """#

    static let body = #"""
          <section><h2>Throughput and health <span class="muted">(since this page opened)</span></h2><div class="charts" id="charts"></div></section>
          <section id="messages"><h2>Messages</h2>
            <div id="m-off" class="muted" hidden></div>
            <form class="row" id="browse">
              <label>topic<select id="m-topic"></select></label>
              <label>partition<input id="m-partition" type="number" min="0" value="0" style="width:6em"></label>
              <label>from<select id="m-from"><option value="end">the end (latest)</option><option value="beginning">the beginning</option><option value="offset">offset</option><option value="timestamp">time</option></select></label>
              <label>offset / time<input id="m-at" placeholder="42 or 2026-12-07T10:00" style="width:14em"></label>
              <label>count<input id="m-limit" type="number" min="1" max="500" value="50" style="width:5em"></label>
              <label>key or value contains<input id="m-filter" style="width:12em"></label>
              <label>show values as<select id="m-view"><option value="text">text</option><option value="json">JSON</option><option value="hex">hex</option></select></label>
              <label><span><input id="m-follow" type="checkbox"> follow live</span></label>
              <button id="m-load">Load</button>
            </form>
            <div id="m-status" class="muted"></div>
            <table id="m-records"><thead><tr><th>offset</th><th>timestamp</th><th>key</th><th>value</th><th>headers</th></tr></thead><tbody></tbody></table>
            <h3>Produce a message</h3>
            <form class="row" id="produce">
              <label>topic<select id="p-topic"></select></label>
              <label>partition<input id="p-partition" type="number" min="0" placeholder="by key" style="width:6em"></label>
              <label>key<input id="p-key" style="width:10em"></label>
              <label>value<textarea id="p-value" rows="2" cols="40"></textarea></label>
              <label>headers (name: value per line)<textarea id="p-headers" rows="2" cols="24"></textarea></label>
              <button id="p-send">Send</button>
            </form>
            <div id="p-result"></div>
          </section>
          <section><h2>Consumer groups <span class="muted" id="groups-scope"></span></h2><div id="groups"></div></section>
          <section><h2>Transactions <span class="muted" id="transactions-scope"></span></h2><div id="transactions"></div></section>
          <section><h2>ACLs <span class="muted" id="acl-count"></span></h2><div id="acls"></div></section>
          <section><h2>Leader elections and ISR changes</h2><ul id="events"></ul></section>
        </main>
        <script>
        "use strict";
        const esc = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));
        const $ = id => document.getElementById(id);
        const started = performance.now();
        const initialState = /*INITIAL_STATE*/null;
        let last = null;

        // ---- Charts: kept in the page, from the states it receives (5 minutes).
        const history = [];
        const keepMs = 5 * 60 * 1000;
        const colors = ["#0969da", "#1a7f37", "#cf222e", "#9a6700", "#8250df", "#bf3989", "#1b7c83", "#57606a"];
        // Maps keyed by names from the cluster have no prototype: a topic called "constructor"
        // is a topic, not a function.
        const dict = () => Object.create(null);
        const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
        function sample(s) {
          const now = Date.now();
          const hw = dict();
          for (const t of s.topics) for (const p of t.partitions) {
            hw[`${t.name}\u0000${p.partition}`] = { hw: p.highWatermark, size: p.sizeBytes, leader: p.leader, topic: t.name, internal: t.internal };
          }
          const lag = dict();
          for (const g of s.groups) lag[g.id] = g.partitions.reduce((a, p) => a + (p.lag ?? 0), 0);
          const out = dict();
          for (const [k, v] of Object.entries(s.bytesOut || {})) out[k] = v;
          history.push({ t: now, parts: hw, urp: s.cluster.underReplicated, lag, out });
          while (history.length > 2 && now - history[0].t > keepMs) history.shift();
        }
        // Per-second rates between successive samples, summed by a key of each partition.
        function rates(field, keyOf) {
          const series = dict();
          for (let i = 1; i < history.length; i++) {
            const a = history[i - 1], b = history[i], dt = (b.t - a.t) / 1000;
            if (dt <= 0) continue;
            const sums = dict();
            for (const k in b.parts) {
              const x = b.parts[k], y = a.parts[k];
              if (x.internal || !y || x[field] === null || y[field] === null) continue;
              const key = keyOf(x);
              sums[key] = (sums[key] || 0) + Math.max(0, x[field] - y[field]) / dt;
            }
            for (const k in sums) (series[k] = series[k] || []).push([b.t, sums[k]]);
          }
          return series;
        }
        function values(pick) {
          const series = dict();
          for (const h of history) for (const [k, v] of Object.entries(pick(h))) (series[k] = series[k] || []).push([h.t, v]);
          return series;
        }
        function counterRates(pick) {
          const series = dict();
          for (let i = 1; i < history.length; i++) {
            const a = pick(history[i - 1]), b = pick(history[i]), dt = (history[i].t - history[i - 1].t) / 1000;
            if (dt <= 0) continue;
            for (const k in b) (series[k] = series[k] || []).push([history[i].t, Math.max(0, b[k] - (own(a, k) || 0)) / dt]);
          }
          return series;
        }
        const fmt = v => v >= 1e9 ? (v / 1e9).toFixed(1) + "G" : v >= 1e6 ? (v / 1e6).toFixed(1) + "M" : v >= 1e3 ? (v / 1e3).toFixed(1) + "k" : (Math.round(v * 10) / 10).toString();
        function chart(id, title, series, unit) {
          let el = document.querySelector(`[data-chart="${id}"]`);
          if (!el) {
            el = document.createElement("div");
            el.className = "chart"; el.dataset.chart = id;
            $("charts").appendChild(el);
          }
          const names = Object.keys(series).sort().slice(0, 8);
          const all = names.flatMap(n => series[n]);
          // The window grows from one minute to five as the page stays open.
          const t1 = Date.now(), t0 = Math.max(t1 - keepMs, Math.min(history.length ? history[0].t : t1, t1 - 60000));
          const span = Math.round((t1 - t0) / 60000);
          const max = Math.max(1, ...all.map(p => p[1]));
          const W = 320, H = 130, x = t => 30 + (t - t0) / (t1 - t0) * (W - 34), y = v => H - 12 - v / max * (H - 24);
          const lines = names.map((n, i) => `<polyline fill="none" stroke="${colors[i]}" stroke-width="1.5" points="${
            series[n].map(p => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ")}"/>`).join("");
          const lastValues = dict();
          for (const n of names) lastValues[n] = series[n][series[n].length - 1][1];
          el.dataset.points = all.length;
          el.dataset.last = JSON.stringify(lastValues);
          el.innerHTML = `<h3>${esc(title)}</h3><svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">` +
            `<line x1="30" y1="${H - 12}" x2="${W}" y2="${H - 12}" stroke="#d0d7de"/>` +
            `<text x="2" y="12" font-size="10" fill="#57606a">${fmt(max)}${unit}</text>` +
            `<text x="2" y="${H - 2}" font-size="10" fill="#57606a">0</text>` +
            `<text x="${W - 60}" y="${H - 2}" font-size="10" fill="#57606a">last ${span} min</text>${lines}</svg>` +
            `<div class="legend">${names.length === 0 ? `<span class="muted">no data yet</span>` : names.map((n, i) =>
              `<span><i style="background:${colors[i]}"></i>${esc(n)} ${fmt(lastValues[n])}${unit}</span>`).join("")}</div>`;
        }
        function renderCharts() {
          chart("records-by-topic", "Records in / s by topic", rates("hw", p => p.topic), "/s");
          chart("records-by-broker", "Records in / s by leader broker", rates("hw", p => `broker ${p.leader}`), "/s");
          chart("bytes-by-topic", "Bytes in / s by topic (log growth)", rates("size", p => p.topic), " B/s");
          chart("bytes-out", "Bytes out / s to consumers, by topic (this node)", counterRates(h => h.out), " B/s");
          chart("lag", "Consumer lag by group", values(h => h.lag), "");
          chart("urp", "Under-replicated partitions", values(h => ({ "under-replicated": h.urp })), "");
        }

        // ---- The state view.
        function render(s) {
          last = s;
          const c = s.cluster;
          $("cluster-id").textContent = c.clusterId;
          $("node").textContent = c.node;
          $("controller").textContent = c.controller === null ? "none" : `node ${c.controller}, epoch ${c.controllerEpoch}`;
          $("controller").dataset.id = c.controller === null ? "-1" : c.controller;
          $("urp").textContent = c.underReplicated; $("offline").textContent = c.offline;
          $("urp-stat").classList.toggle("bad", c.underReplicated > 0); $("offline-stat").classList.toggle("bad", c.offline > 0);
          $("brokers").tBodies[0].innerHTML = c.brokers.map(b =>
            `<tr data-broker="${b.id}" data-state="${b.state}"><td>${b.id}${b.id === c.controller ? " ★" : ""}</td><td>${esc(b.host)}:${b.port}</td>` +
            `<td class="${b.state.replace(/ /g, "-")}">${b.state}${b.state === "missed heartbeats" ? ` (silent ${(b.silentMs / 1000).toFixed(1)} s, not fenced yet)` : ""}</td><td>${b.epoch}</td></tr>`).join("");
          const fenced = new Set(c.brokers.filter(b => b.state === "fenced").map(b => b.id));
          const visible = s.topics.filter(t => !t.internal);
          $("topic-count").textContent = `(${visible.length}, ${c.partitions} partitions in all)`;
          $("topics").innerHTML = visible.map(t => `<h3>${esc(t.name)}</h3><div class="grid">` + t.partitions.map(p => {
            const offline = p.leader < 0 || fenced.has(p.leader), under = p.isr.length < p.replicas.length;
            const reps = p.replicas.map(r => `<span class="r ${p.isr.includes(r) ? "in" : "out"}${r === p.leader ? " lead" : ""}">${r}</span>`).join("");
            const lso = p.lastStableOffset !== null && p.lastStableOffset !== p.highWatermark ? ` · lso ${p.lastStableOffset} (${p.openTransactions} open txn)` : "";
            const offs = p.logEndOffset === null ? (p.sizeBytes === null ? "" : `<div class="muted">${fmt(p.sizeBytes)}B on the leader</div>`)
              : `<div class="muted">hw ${p.highWatermark}${lso} / end ${p.logEndOffset} · ${p.sizeBytes} B</div>`;
            const copies = (p.replicaSizes || []).filter(r => r.broker !== s.cluster.node || p.logEndOffset === null);
            const sizes = copies.length === 0 ? "" : `<div class="muted sizes">` + copies.map(r =>
              `b${r.broker} ${fmt(r.sizeBytes)}B${r.offsetLag > 0 ? ` (${r.offsetLag} behind)` : ""}`).join(" · ") + `</div>`;
            return `<div class="cell${offline ? " offline" : under ? " under" : ""}" data-tp="${esc(t.name)}-${p.partition}" data-leader="${p.leader}" ` +
              `data-isr="${p.isr.join(",")}" data-out="${p.outOfSync.join(",")}"><span class="p">P${p.partition}</span> leader ${p.leader < 0 ? "none" : p.leader}` +
              ` · epoch ${p.leaderEpoch}<div>replicas ${reps}</div>${offs}${sizes}${p.why ? `<div class="why">${esc(p.why)}</div>` : ""}</div>`;
          }).join("") + `</div>`).join("");
          $("groups-scope").textContent = s.groupsScope || "(coordinated by this node)";
          $("groups").innerHTML = s.groups.length === 0 ? `<span class="muted">none</span>` : s.groups.map(g =>
            `<h3 data-group="${esc(g.id)}" data-coordinator="${g.coordinator ?? ""}">${esc(g.id)} <span class="muted">${esc(g.state)}, ${g.members} member(s)` +
            `${g.coordinator !== undefined ? `, coordinator ${g.coordinator}` : ""}</span></h3>` +
            (g.assignment && g.assignment.length ? `<div class="muted">${g.assignment.map(m => `${esc(m.clientId)} (${esc(m.host)}): ${m.partitions.map(esc).join(", ") || "nothing"}`).join("<br>")}</div>` : "") +
            `<table><tr><th>topic</th><th>partition</th><th>committed</th><th>high watermark</th><th>lag</th></tr>` +
            g.partitions.map(p => `<tr><td>${esc(p.topic)}</td><td>${p.partition}</td><td>${p.committed}</td><td>${p.highWatermark ?? "?"}</td><td>${p.lag ?? "?"}</td></tr>`).join("") + `</table>`).join("");
          const txns = s.transactions || [];
          $("transactions-scope").textContent = s.transactionsScope || "(coordinated by this node)";
          $("transactions").innerHTML = txns.length === 0 ? `<span class="muted">none</span>` :
            `<table><tr><th>transactional id</th><th>state</th><th>producer</th><th>partitions</th><th>open for</th><th>coordinator</th></tr>` +
            txns.map(t => `<tr data-txn="${esc(t.id)}"><td>${esc(t.id)}</td><td>${esc(t.state)}</td><td>${t.producerId} (epoch ${t.producerEpoch})</td>` +
              `<td>${t.partitions.map(esc).join(", ")}</td><td>${t.openMs === null ? "" : (t.openMs / 1000).toFixed(1) + " s"}</td>` +
              `<td>${t.coordinator ?? ""}</td></tr>`).join("") + `</table>`;
          const acls = s.acls || { total: 0, shown: [] };
          $("acl-count").textContent = acls.total > acls.shown.length ? `(${acls.shown.length} of ${acls.total})` : `(${acls.total})`;
          $("acls").innerHTML = acls.total === 0 ? `<span class="muted">none</span>` : acls.hidden ? `<span class="muted">${esc(acls.hidden)}</span>` :
            `<table><tr><th>resource</th><th>pattern</th><th>principal</th><th>host</th><th>operation</th><th>permission</th></tr>` +
            acls.shown.map(a => `<tr data-acl="${esc(a.principal)}"><td>${esc(a.resourceType)}:${esc(a.name)}</td><td>${esc(a.pattern)}</td>` +
              `<td>${esc(a.principal)}</td><td>${esc(a.host)}</td><td>${esc(a.operation)}</td><td>${esc(a.permission)}</td></tr>`).join("") + `</table>`;
          $("events").innerHTML = s.events.slice(-60).reverse().map(e =>
            `<li class="k-${e.kind}">${e.replayed ? "<span class=\"muted\">(start-up replay)</span>" : new Date(e.timeMs).toLocaleTimeString()} ${esc(e.text)}</li>`).join("");
          topicOptions(visible.map(t => t.name).concat(s.topics.filter(t => t.internal).map(t => t.name)));
          const m = s.messages || { enabled: true };
          $("m-off").hidden = m.enabled; $("m-off").textContent = m.why || "";
          for (const f of ["browse", "produce"]) $(f).hidden = !m.enabled;
          sample(s);
          renderCharts();
          const n = Number(document.body.dataset.renders) + 1;
          document.body.dataset.renders = n;
          if (n === 1) document.body.dataset.firstRenderMs = Math.round(performance.now() - started);
        }
        function topicOptions(names) {
          for (const id of ["m-topic", "p-topic"]) {
            const sel = $(id), keep = sel.value;
            if ([...sel.options].map(o => o.value).join("\u0000") === names.join("\u0000")) continue;
            sel.innerHTML = names.map(n => `<option value="${esc(n)}">${esc(n)}</option>`).join("");
            if (names.includes(keep)) sel.value = keep;
          }
        }

        // ---- Message browser.
        let next = null, following = null, loading = false, generation = 0;
        // A record's timestamp is the producer's: outside what a Date holds, it is shown as a number.
        const when = ts => { const d = new Date(ts); return isFinite(d.getTime()) ? d.toISOString() : String(ts); };
        const hex = b64 => [...atob(b64)].map(c => c.charCodeAt(0).toString(16).padStart(2, "0")).join(" ");
        function shown(b, view) {
          if (b === null) return `<span class="muted">null</span>`;
          const more = b.truncated ? ` <span class="muted">… (${b.size} bytes)</span>` : "";
          if (view === "hex" || b.text === undefined) return `<span class="${b.text === undefined ? "bin" : ""}">${hex(b.base64)}</span>${more}`;
          if (view === "json") { try { return `<pre>${esc(JSON.stringify(JSON.parse(b.text), null, 2))}</pre>${more}`; } catch (e) {} }
          return esc(b.text) + more;
        }
        function rows(records, view) {
          return records.map(r => r.error ? `<tr data-offset="${r.offset}"><td>${r.offset}</td><td colspan="4" class="error">${esc(r.error)}</td></tr>` :
            `<tr data-offset="${r.offset}"><td>${r.offset}</td><td title="${r.timestampType}">${when(r.timestamp)}</td>` +
            `<td class="key">${shown(r.key, view)}</td><td class="value">${shown(r.value, view)}</td>` +
            `<td>${r.headers.map(h => `${esc(h.key)}: ${shown(h.value, view)}`).join("<br>")}</td></tr>`).join("");
        }
        async function browse(from, at, append) {
          // One request at a time; an answer to an older question (before a new Load) is dropped.
          if (append && loading) return;
          const mine = append ? generation : ++generation;
          loading = true;
          try { await browseOnce(from, at, append, mine); } finally { loading = false; }
        }
        async function browseOnce(from, at, append, mine) {
          const q = new URLSearchParams({ topic: $("m-topic").value, partition: $("m-partition").value || "0", from,
                                          limit: $("m-limit").value || "50", q: $("m-filter").value });
          if (from === "offset") q.set("offset", at);
          if (from === "timestamp") q.set("timestamp", /^\d+$/.test(at) ? at : String(Date.parse(at)));
          const r = await fetch(`/api/messages?${q}`, { headers: { "X-Tern-Console": "1" } });
          const d = await r.json();
          if (mine !== generation) return;
          if (!r.ok) { $("m-status").innerHTML = `<span class="error">${esc(d.error)}</span>`;
                       $("m-status").dataset.loads = Number($("m-status").dataset.loads || 0) + 1; return; }
          const body = $("m-records").tBodies[0], view = $("m-view").value;
          if (append) { body.insertAdjacentHTML("beforeend", rows(d.records, view)); while (body.rows.length > 500) body.deleteRow(0); }
          else body.innerHTML = rows(d.records, view);
          next = d.next;
          $("m-status").dataset.next = d.next;
          $("m-status").dataset.loads = Number($("m-status").dataset.loads || 0) + 1;
          $("m-status").textContent = `${d.topic}-${d.partition} (leader ${d.leader}): offsets ${d.logStartOffset} to ${d.highWatermark}; ` +
            `showing ${body.rows.length} record(s)` + (d.scannedBytes ? `, read ${fmt(d.scannedBytes)}B` : "") +
            (d.next < d.highWatermark ? ` · more from ${d.next}` : " · at the end");
        }
        $("browse").addEventListener("submit", ev => {
          ev.preventDefault();
          browse($("m-from").value, $("m-at").value.trim(), false);
        });
        $("m-view").addEventListener("change", () => $("browse").requestSubmit());
        $("m-follow").addEventListener("change", () => {
          if (following) { clearInterval(following); following = null; }
          if ($("m-follow").checked) following = setInterval(() => { if (next !== null) browse("offset", String(next), true); }, 1000);
        });
        $("produce").addEventListener("submit", async ev => {
          ev.preventDefault();
          const form = new URLSearchParams({ topic: $("p-topic").value, partition: $("p-partition").value, key: $("p-key").value,
                                             value: $("p-value").value, headers: $("p-headers").value });
          const r = await fetch("/api/produce", { method: "POST", body: form, headers: { "X-Tern-Console": "1" } });
          const d = await r.json();
          const out = $("p-result");
          if (r.ok) { out.className = ""; out.dataset.partition = d.partition; out.dataset.offset = d.offset;
                      out.textContent = `sent to ${d.topic}-${d.partition} at offset ${d.offset}`; }
          else { out.className = "error"; out.dataset.offset = ""; out.textContent = d.error; }
        });

        function connect() {
          const es = new EventSource("/api/stream");
          es.onopen = () => { $("conn").textContent = "live"; $("conn").classList.remove("down"); };
          es.onmessage = m => render(JSON.parse(m.data));
          es.onerror = () => { $("conn").textContent = "reconnecting…"; $("conn").classList.add("down"); };
        }
        if (initialState) render(initialState);
        connect();
        </script>
        </body>
        </html>
        """#
}
