// htmx 2 does not swap 4xx responses by default; validation errors (422) and
// conflicts (409) come back as fragments that must replace the form.
document.addEventListener("DOMContentLoaded", function () {
  if (!window.htmx) return;
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "(409|422)", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
  ];
});
