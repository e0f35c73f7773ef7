// Starts the API viewer (/schema/swagger) on the document its container names.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var box = document.getElementById("swagger-container");
  if (!box || !window.SwaggerUIBundle) return;
  window.SwaggerUIBundle({
    url: box.getAttribute("data-spec-url"),
    dom_id: "#swagger-container",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});
