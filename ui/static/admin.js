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
