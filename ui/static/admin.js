// The designers keep the definition being edited in the page, not on the
// server: warn before the page is left with changes that were not published.
(function () {
  "use strict";
  var dirty = false;
  var QUIET = /^(refresh|select:\d+|close)$/;  // buttons that only change what is shown

  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("#designer-form")) dirty = true;
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var button = event.detail.elt;
    if (button.name === "op" && button.closest("#designer-form") && !QUIET.test(button.value)) {
      dirty = true;
    }
  });
  document.addEventListener("htmx:afterSwap", function () {
    // A successful publish answers with its confirmation: the draft is saved.
    if (document.querySelector("#designer-form > .success[role=status]")) dirty = false;
  });
  window.addEventListener("beforeunload", function (event) {
    if (!dirty) return;
    event.preventDefault();
    event.returnValue = "";
  });
})();

// Forms that change an account ask first (deactivate, reset a password).
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// The designer's form preview shows the form as people will see it; it never submits.
document.addEventListener("submit", function (event) {
  if (event.target.hasAttribute && event.target.hasAttribute("data-preview-only")) event.preventDefault();
});

// A picker of fields says what is ticked without being opened; the server redraws it
// too, but the live preview leaves the form alone, so keep its summary in step here.
document.addEventListener("change", function (event) {
  var picker = event.target.closest && event.target.closest("details.picker");
  if (!picker) return;
  var ticked = Array.prototype.map.call(
    picker.querySelectorAll("input[type=checkbox]:checked"), function (box) { return box.value; });
  picker.querySelector(".picked").textContent = ticked.join(", ") || "none";
});

// Parts of a designer that apply to one choice only (the fields of "these fields:", the
// alarm value of a yes/no result) follow that choice at once, without a round trip.
document.addEventListener("change", function (event) {
  var form = event.target.form;
  if (!form || form.id !== "designer-form") return;
  Array.prototype.forEach.call(form.querySelectorAll("[data-shown-when]"), function (part) {
    var rule = part.getAttribute("data-shown-when").split("=");
    var control = form.elements[rule[0]];
    part.hidden = !control || control.value !== rule[1];
  });
});
