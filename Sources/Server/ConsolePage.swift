/// The web console: one page, no external files (it works offline), updated by Server-Sent
/// Events from `/api/stream`. Elements carry data attributes (`data-tp`, `data-leader`,
/// `data-isr`, `data-state`) so that scripts and tests can read what the page shows.
enum ConsolePage {
    static let html = #"""
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
          table { border-collapse: collapse; } td, th { padding: 3px 10px 3px 0; text-align: left; }
          th { color: var(--muted); font-weight: 600; }
          .up { color: var(--ok); font-weight: 600; } .fenced { color: var(--bad); font-weight: 600; }
          .grid { display: flex; flex-wrap: wrap; gap: 6px; }
          .cell { border: 1px solid var(--line); border-radius: 4px; padding: 4px 6px; min-width: 120px; font-size: 12px; }
          .cell.under { border-color: var(--warn); background: #fff8c5; } .cell.offline { border-color: var(--bad); background: #ffebe9; }
          .cell .p { font-weight: 600; } .r { margin-right: 4px; } .r.in { color: var(--ok); } .r.out { color: var(--bad); text-decoration: line-through; }
          .r.lead { font-weight: 700; text-decoration: underline; }
          .muted { color: var(--muted); }
          .why { color: var(--muted); font-size: 0.85em; margin-top: 2px; }
          #events li { font-family: ui-monospace, monospace; font-size: 12px; }
          .k-leader { color: #0969da; } .k-isr-shrink { color: var(--bad); } .k-isr-expand { color: var(--ok); } .k-broker { color: var(--warn); }
          #conn.down { color: #ff8182; }
        </style>
        </head>
        <body data-renders="0">
        <header>
          <h1>Tern</h1>
          <span class="stat">cluster <b id="cluster-id">…</b></span>
          <span class="stat">served by node <b id="node">…</b></span>
          <span class="stat">active controller <b id="controller">…</b></span>
          <span class="stat" id="urp-stat">under-replicated <b id="urp">…</b></span>
          <span class="stat" id="offline-stat">offline <b id="offline">…</b></span>
          <span class="stat" id="conn">connecting…</span>
        </header>
        <main>
          <section><h2>Brokers</h2><table id="brokers"><thead><tr><th>id</th><th>address</th><th>state</th><th>epoch</th></tr></thead><tbody></tbody></table></section>
          <section><h2>Topics <span class="muted" id="topic-count"></span></h2><div id="topics"></div></section>
          <section><h2>Consumer groups <span class="muted">(coordinated by this node)</span></h2><div id="groups"></div></section>
          <section><h2>Transactions <span class="muted">(coordinated by this node)</span></h2><div id="transactions"></div></section>
          <section><h2>Leader elections and ISR changes</h2><ul id="events"></ul></section>
        </main>
        <script>
        "use strict";
        const esc = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));
        const $ = id => document.getElementById(id);
        const started = performance.now();
        function render(s) {
          const c = s.cluster;
          $("cluster-id").textContent = c.clusterId;
          $("node").textContent = c.node;
          $("controller").textContent = c.controller === null ? "none" : `node ${c.controller}, epoch ${c.controllerEpoch}`;
          $("controller").dataset.id = c.controller === null ? "-1" : c.controller;
          $("urp").textContent = c.underReplicated; $("offline").textContent = c.offline;
          $("urp-stat").classList.toggle("bad", c.underReplicated > 0); $("offline-stat").classList.toggle("bad", c.offline > 0);
          $("brokers").tBodies[0].innerHTML = c.brokers.map(b =>
            `<tr data-broker="${b.id}" data-state="${b.state}"><td>${b.id}${b.id === c.controller ? " ★" : ""}</td><td>${esc(b.host)}:${b.port}</td>` +
            `<td class="${b.state}">${b.state}</td><td>${b.epoch}</td></tr>`).join("");
          const fenced = new Set(c.brokers.filter(b => b.state !== "up").map(b => b.id));
          const visible = s.topics.filter(t => !t.internal);
          $("topic-count").textContent = `(${visible.length}, ${c.partitions} partitions in all)`;
          $("topics").innerHTML = visible.map(t => `<h3>${esc(t.name)}</h3><div class="grid">` + t.partitions.map(p => {
            const offline = p.leader < 0 || fenced.has(p.leader), under = p.isr.length < p.replicas.length;
            const reps = p.replicas.map(r => `<span class="r ${p.isr.includes(r) ? "in" : "out"}${r === p.leader ? " lead" : ""}">${r}</span>`).join("");
            const lso = p.lastStableOffset !== null && p.lastStableOffset !== p.highWatermark ? ` · lso ${p.lastStableOffset} (${p.openTransactions} open txn)` : "";
            const offs = p.logEndOffset === null ? "" : `<div class="muted">hw ${p.highWatermark}${lso} / end ${p.logEndOffset} · ${p.sizeBytes} B</div>`;
            return `<div class="cell${offline ? " offline" : under ? " under" : ""}" data-tp="${esc(t.name)}-${p.partition}" data-leader="${p.leader}" ` +
              `data-isr="${p.isr.join(",")}" data-out="${p.outOfSync.join(",")}"><span class="p">P${p.partition}</span> leader ${p.leader < 0 ? "none" : p.leader}` +
              ` · epoch ${p.leaderEpoch}<div>replicas ${reps}</div>${offs}${p.why ? `<div class="why">${esc(p.why)}</div>` : ""}</div>`;
          }).join("") + `</div>`).join("");
          $("groups").innerHTML = s.groups.length === 0 ? `<span class="muted">none</span>` : s.groups.map(g =>
            `<h3 data-group="${esc(g.id)}">${esc(g.id)} <span class="muted">${esc(g.state)}, ${g.members} member(s)</span></h3><table><tr><th>topic</th><th>partition</th><th>committed</th><th>high watermark</th><th>lag</th></tr>` +
            g.partitions.map(p => `<tr><td>${esc(p.topic)}</td><td>${p.partition}</td><td>${p.committed}</td><td>${p.highWatermark ?? "?"}</td><td>${p.lag ?? "?"}</td></tr>`).join("") + `</table>`).join("");
          const txns = s.transactions || [];
          $("transactions").innerHTML = txns.length === 0 ? `<span class="muted">none</span>` :
            `<table><tr><th>transactional id</th><th>state</th><th>producer</th><th>partitions</th><th>open for</th></tr>` +
            txns.map(t => `<tr data-txn="${esc(t.id)}"><td>${esc(t.id)}</td><td>${esc(t.state)}</td><td>${t.producerId} (epoch ${t.producerEpoch})</td>` +
              `<td>${t.partitions.map(esc).join(", ")}</td><td>${t.openMs === null ? "" : (t.openMs / 1000).toFixed(1) + " s"}</td></tr>`).join("") + `</table>`;
          $("events").innerHTML = s.events.slice(-60).reverse().map(e =>
            `<li class="k-${e.kind}">${new Date(e.timeMs).toLocaleTimeString()} ${esc(e.text)}</li>`).join("");
          const n = Number(document.body.dataset.renders) + 1;
          document.body.dataset.renders = n;
          if (n === 1) document.body.dataset.firstRenderMs = Math.round(performance.now() - started);
        }
        function connect() {
          const es = new EventSource("/api/stream");
          es.onopen = () => { $("conn").textContent = "live"; $("conn").classList.remove("down"); };
          es.onmessage = m => render(JSON.parse(m.data));
          es.onerror = () => { $("conn").textContent = "reconnecting…"; $("conn").classList.add("down"); };
        }
        connect();
        </script>
        </body>
        </html>
        """#
}
