// Records by number: the scan page posts each scanned number on its own.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  // Each number becomes a line of its own that posts once (htmx) and is replaced by
  // its outcome, so numbers scanned faster than the server answers all run, in order,
  // and the field is free for the next number at once.
  var form = document.getElementById("scan-form");
  var input = document.getElementById("scan-number");
  var log = document.getElementById("scan-log");
  var summary = document.getElementById("scan-summary");
  if (!form || !window.htmx) return;
  form.addEventListener("submit", function (evt) {
    evt.preventDefault();
    var number = input.value.trim();
    input.value = "";
    input.focus();
    if (!number) return;
    var values = { number: number, transition: form.elements.transition.value };
    if (form.elements.reason) values.reason = form.elements.reason.value;
    var line = document.createElement("li");
    line.className = "scan-line working";
    line.setAttribute("hx-post", form.getAttribute("action"));
    line.setAttribute("hx-trigger", "load");
    line.setAttribute("hx-swap", "outerHTML");
    line.setAttribute("hx-vals", JSON.stringify(values));
    var shown = document.createElement("span");
    shown.className = "scan-number";
    shown.textContent = number;
    var state = document.createElement("span");
    state.className = "scan-outcome";
    state.textContent = "Working…";
    line.appendChild(shown);
    line.appendChild(state);
    log.insertBefore(line, log.firstChild);
    htmx.process(line);
  });
  log.addEventListener("htmx:load", function () {
    var done = log.querySelectorAll(".scan-line.done").length;
    var refused = log.querySelectorAll(".scan-line.refused").length;
    summary.textContent = done + " done, " + refused + " refused";
  });
});
