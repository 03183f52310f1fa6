// Live overview: poll /api/overview every 2 s and update counts, workers and the chart.
(function () {
  const STATES = ["scheduled", "pending", "running", "success", "failure", "revoked"];

  function drawChart(points) {
    const svg = document.getElementById("chart");
    if (!svg || !points.length) return;
    const w = svg.width.baseVal.value, h = svg.height.baseVal.value;
    const max = Math.max(1, ...points.map(p => p.per_second));
    const step = w / Math.max(1, points.length - 1);
    const path = points.map((p, i) =>
      `${i ? "L" : "M"}${(i * step).toFixed(1)},${(h - 4 - (h - 12) * p.per_second / max).toFixed(1)}`).join(" ");
    svg.innerHTML = `<path d="${path}" fill="none" stroke="#2563eb" stroke-width="2"/>` +
      `<text x="4" y="12" font-size="10">${max.toFixed(1)}/s</text>`;
  }

  function update(data) {
    drawChart(data.throughput);
    for (const [queue, counts] of Object.entries(data.queues)) {
      const row = document.querySelector(`#queues tr[data-queue="${CSS.escape(queue)}"]`);
      if (!row) { location.reload(); return; }  // a new queue: redraw the page
      for (const state of STATES) {
        const cell = row.querySelector(`td[data-state="${state}"]`);
        if (cell) cell.textContent = counts[state] || 0;
      }
    }
    const count = document.getElementById("worker-count");
    if (count) count.textContent = `(${data.workers.length} live)`;
    const body = document.querySelector("#workers tbody");
    if (body) {
      body.innerHTML = "";
      for (const w of data.workers) {
        const tr = document.createElement("tr");
        for (const v of [w.id, w.host, w.pid, w.queues.join(", "), w.concurrency, w.running,
                         w.processed, `${w.heartbeat_age.toFixed(1)}s ago`]) {
          const td = document.createElement("td");
          td.textContent = v;  // text, never HTML
          tr.appendChild(td);
        }
        body.appendChild(tr);
      }
    }
  }

  if (window.LITEJOBS_OVERVIEW) {
    update(window.LITEJOBS_OVERVIEW);
    setInterval(() => {
      fetch("/api/overview", {credentials: "same-origin"})
        .then(r => r.ok ? r.json() : null).then(d => d && update(d)).catch(() => {});
    }, 2000);
  }
})();
