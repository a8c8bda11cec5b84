// flowplan's web UI: a run's logs and state, followed by polling /runs/<id>/logs.json until
// the run reaches a final state. Text is added with textContent only (never parsed as HTML).
"use strict";
(function () {
  const box = document.getElementById("logs");
  if (!box) return;
  const run = box.dataset.run;
  let next = 0;
  let wasFinal = box.dataset.final === "1";
  function add(lines) {
    for (const [at, level, message] of lines) {
      const line = document.createElement("span");
      line.className = "lvl-" + level;
      line.textContent = at + " " + level.padEnd(8) + " " + message + "\n";
      box.appendChild(line);
    }
    if (lines.length) box.scrollTop = box.scrollHeight;
  }
  function showState(kind, name) {
    const cell = document.getElementById("run-state");
    if (!cell) return;
    const badge = document.createElement("span");
    badge.className = "state s-" + kind.toLowerCase();
    badge.textContent = name;
    cell.replaceChildren(badge);
  }
  async function poll() {
    let delay = 1000;
    try {
      const answer = await fetch("/runs/" + run + "/logs.json?offset=" + next,
        { credentials: "same-origin", cache: "no-store" });
      if (answer.ok) {
        const data = await answer.json();
        add(data.lines);
        next = data.next;
        showState(data.state, data.state_name);
        if (data.final) {
          // a page drawn before the end is drawn again, with the state history and no Cancel
          if (wasFinal) box.dataset.done = "1";
          else window.location.reload();
          return;
        }
        if (data.lines.length) delay = 200;
      }
    } catch (e) {
      delay = 3000;
    }
    window.setTimeout(poll, delay);
  }
  poll();
})();
