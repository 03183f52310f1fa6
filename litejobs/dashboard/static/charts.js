// The overview's charts, drawn as SVG with axes and time labels (no library, no build):
// throughput (succeeded and failed per second, from /api/charts every 2 s), queue depth
// over time (sampled from /api/overview while the page is open), and running jobs.
(function () {
  if (!document.getElementById("throughput")) return;
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#6366f1", "#f59e0b", "#10b981", "#ef4444", "#0ea5e9", "#a855f7", "#64748b"];
  const M = {left: 44, right: 12, top: 10, bottom: 26};

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;  // text, never HTML
    return node;
  }
  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 4, 8, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function clock(t) {
    const d = new Date(t * 1000);
    return d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"});
  }
  // series: [{name, color, points: [[t, y], ...]}]
  function draw(svg, series, t0, t1, unit) {
    const w = svg.width.baseVal.value, h = svg.height.baseVal.value;
    const iw = w - M.left - M.right, ih = h - M.top - M.bottom;
    const ymax = niceMax(Math.max(0, ...series.flatMap(s => s.points.map(p => p[1]))));
    const x = t => M.left + iw * (t - t0) / Math.max(1e-9, t1 - t0);
    const y = v => M.top + ih - ih * v / ymax;
    svg.replaceChildren();
    for (let i = 0; i <= 4; i++) {  // y grid and labels
      const v = ymax * i / 4, yy = y(v);
      svg.appendChild(el("line", {x1: M.left, x2: w - M.right, y1: yy, y2: yy, class: "grid"}));
      svg.appendChild(el("text", {x: M.left - 6, y: yy + 4, "text-anchor": "end", class: "tick"},
        String(+v.toFixed(2)) + (i === 4 ? unit : "")));
    }
    for (let i = 0; i <= 5; i++) {  // x labels: clock times
      const t = t0 + (t1 - t0) * i / 5, xx = x(t);
      svg.appendChild(el("line", {x1: xx, x2: xx, y1: M.top + ih, y2: M.top + ih + 4, class: "axis"}));
      svg.appendChild(el("text", {x: xx, y: h - 6, "text-anchor": i === 0 ? "start" : i === 5 ? "end" : "middle", class: "tick"}, clock(t)));
    }
    svg.appendChild(el("line", {x1: M.left, x2: w - M.right, y1: M.top + ih, y2: M.top + ih, class: "axis"}));
    svg.appendChild(el("line", {x1: M.left, x2: M.left, y1: M.top, y2: M.top + ih, class: "axis"}));
    for (const s of series) {
      if (!s.points.length) continue;
      const d = s.points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
      svg.appendChild(el("path", {d, fill: "none", stroke: s.color, "stroke-width": 2, class: "series", "data-series": s.name}));
    }
  }

  function drawThroughput(data) {
    const pts = data.throughput;
    if (!pts.length) return;
    draw(document.getElementById("throughput"), [
      {name: "succeeded", color: "#16a34a", points: pts.map(p => [p.t, p.success])},
      {name: "failed", color: "#dc2626", points: pts.map(p => [p.t, p.failure])},
    ], pts[0].t, pts[pts.length - 1].t, "/s");
  }

  function drawRunning(data) {
    const box = document.getElementById("running");
    box.replaceChildren();
    const workers = Object.entries(data.running);
    if (!workers.length) { box.appendChild(Object.assign(document.createElement("p"), {className: "hint", textContent: "none"})); return; }
    for (const [worker, jobs] of workers) {
      const h = document.createElement("h4");
      h.textContent = `${worker} · ${jobs.length} running`;
      const ul = document.createElement("ul");
      ul.className = "running";
      for (const j of jobs) {
        const li = document.createElement("li"), a = document.createElement("a");
        a.href = "/jobs/" + encodeURIComponent(j.id);
        a.textContent = j.task;
        li.append(a, ` for ${j.for === null ? "?" : j.for.toFixed(1)} s`);
        ul.appendChild(li);
      }
      box.append(h, ul);
    }
  }

  const history = [];  // [t, {queue: waiting}]
  function sampleDepth(data) {
    const depth = {};
    for (const [q, c] of Object.entries(data.queues)) depth[q] = (c.pending || 0) + (c.scheduled || 0);
    history.push([data.now, depth]);
    while (history.length > 300) history.shift();
    const queues = [...new Set(history.flatMap(([, d]) => Object.keys(d)))].sort();
    const series = queues.map((q, i) => ({name: q, color: COLORS[i % COLORS.length],
      points: history.map(([t, d]) => [t, d[q] || 0])}));
    const t1 = history[history.length - 1][0], t0 = Math.min(history[0][0], t1 - 60);
    draw(document.getElementById("depth"), series, t0, t1, "");
    const legend = document.getElementById("depth-legend");
    legend.replaceChildren(...series.map(s => {
      const span = document.createElement("span");
      const i = document.createElement("i");
      i.style.background = s.color;
      span.append(i, s.name);
      return span;
    }));
  }

  function poll() {
    fetch("/api/charts", {credentials: "same-origin"}).then(r => r.ok ? r.json() : null)
      .then(d => { if (d) { drawThroughput(d); drawRunning(d); } }).catch(() => {});
    fetch("/api/overview", {credentials: "same-origin"}).then(r => r.ok ? r.json() : null)
      .then(d => d && sampleDepth(d)).catch(() => {});
  }
  if (window.LITEJOBS_OVERVIEW) sampleDepth(window.LITEJOBS_OVERVIEW);
  poll();
  setInterval(poll, 2000);
})();
