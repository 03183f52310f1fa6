// Live overview: poll /api/overview every 2 s and update counts and workers (charts.js
// draws the charts).
(function () {
  const STATES = ["scheduled", "pending", "running", "success", "failure", "revoked"];

  function update(data) {
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

// A job's page: poll /api/jobs/<id> every second; move the progress bar and the state
// badge without a reload; reload once when the job finishes (to show its result).
(function () {
  const id = window.LITEJOBS_JOB;
  if (!id) return;
  const badge = document.getElementById("job-state");
  const box = document.getElementById("progress");
  const bar = document.getElementById("progress-bar");
  const text = document.getElementById("progress-text");
  let wasFinished = null;
  function update(d) {
    if (badge) {
      badge.textContent = d.state;  // text, never HTML
      badge.className = "badge state " + d.state.toLowerCase();
    }
    if (d.progress && box) {
      box.hidden = false;
      bar.style.width = d.progress.percent + "%";
      text.textContent = `${d.progress.current} / ${d.progress.total} (${d.progress.percent}%)`;
    }
    if (wasFinished === false && d.finished) location.reload();
    wasFinished = d.finished;
  }
  function poll() {
    fetch("/api/jobs/" + encodeURIComponent(id), {credentials: "same-origin"})
      .then(r => r.ok ? r.json() : null).then(d => d && update(d)).catch(() => {});
  }
  poll();
  setInterval(poll, 1000);
})();

// The job list: select all, count the selection.
(function () {
  const all = document.getElementById("select-all");
  const count = document.getElementById("selected-count");
  const boxes = () => Array.from(document.querySelectorAll('#jobs input[name="id"]'));
  function recount() {
    if (count) count.textContent = `${boxes().filter(b => b.checked).length} selected`;
  }
  if (all) all.addEventListener("change", () => { boxes().forEach(b => { b.checked = all.checked; }); recount(); });
  document.addEventListener("change", e => { if (e.target.name === "id") recount(); });
})();

// Pages that refresh themselves (job list, schedules): reload unless the user is busy
// (typing, an open editor, a selection).
(function () {
  const every = window.LITEJOBS_REFRESH;
  if (!every) return;
  setInterval(() => {
    const busy = document.activeElement && ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)
      || document.querySelector("details[open]")
      || document.querySelector('#jobs input[name="id"]:checked');
    if (!busy) location.reload();
  }, every);
})();
