// labledger pages: the few behaviours htmx does not cover. No build step, no dependencies.
(function () {
  "use strict";

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
    htmx.onLoad(openDialogs);
  });

  // A fragment the server marks as such (X-Fragment: true) answers a refusal
  // with something to show in place (a wrong password in the signature dialog
  // is a 403): swap it whatever its status. Full error pages never are.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr && xhr.getResponseHeader("X-Fragment") === "true") {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });

  // A filter form sends only the filters that hold a value, so the address
  // pushed into the browser's history stays short and readable.
  document.addEventListener("htmx:configRequest", function (evt) {
    if (evt.detail.verb !== "get" || !evt.detail.elt.hasAttribute("data-drop-empty")) return;
    var data = evt.detail.formData;
    var empty = [];
    data.forEach(function (value, name) {
      if (typeof value === "string" && value.trim() === "") empty.push(name);
    });
    empty.forEach(function (name) { data.delete(name); });
  });

  // A request that failed without a fragment to show: say so at the top of the page.
  function problem(text) {
    var box = document.getElementById("problem");
    if (!box) {
      box = document.createElement("div");
      box.id = "problem";
      box.className = "alert floating";
      box.setAttribute("role", "alert");
      document.body.appendChild(box);
    }
    box.textContent = text;
    box.hidden = false;
    clearTimeout(box.timer);
    box.timer = setTimeout(function () { box.hidden = true; }, 8000);
  }

  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    var text = "The request failed (" + xhr.status + ").";
    if ((xhr.getResponseHeader("Content-Type") || "").indexOf("text/html") === 0) {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var title = doc.querySelector("main h1");
      var detail = doc.querySelector("main p");
      if (title) text = title.textContent + (detail ? ": " + detail.textContent : "");
    }
    problem(text);
  });
  document.addEventListener("htmx:sendError", function () {
    problem("The server could not be reached; nothing was saved. Check the connection and try again.");
  });

  // Live forms show a field's messages once the person has touched it: the
  // names touched so far travel with each validation request. Captured before
  // htmx sees the event, so the request that a change triggers includes it.
  function touch(evt) {
    var input = evt.target;
    var form = input.form;
    if (!form || !form.hasAttribute("data-live") || !input.name) return;
    var name = input.name.replace(/__tz$/, "").replace(/^file-/, "");
    var field = form.elements.namedItem("__touched");
    var names = field.value ? field.value.split(",") : [];
    if (names.indexOf(name) < 0) {
      names.push(name);
      field.value = names.join(",");
    }
  }
  document.addEventListener("input", touch, true);
  document.addEventListener("change", touch, true);

  // Dialogs loaded by htmx open as modal dialogs; Cancel and Escape close them.
  function openDialogs(root) {
    var found = root.matches && root.matches("dialog[data-modal]") ? [root] : [];
    if (root.querySelectorAll) {
      found = found.concat(Array.prototype.slice.call(root.querySelectorAll("dialog[data-modal]")));
    }
    found.forEach(function (dialog) {
      if (!dialog.open) dialog.showModal();
      dialog.addEventListener("close", function () { dialog.remove(); });
    });
  }
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest("[data-close]");
    if (!button) return;
    var dialog = button.closest("dialog");
    if (dialog) dialog.close();
    else if (button.dataset.close) window.location.href = button.dataset.close;
  });

  // A "select all" box ticks or clears every record box of its form (list, work queue).
  document.addEventListener("change", function (evt) {
    var all = evt.target.closest("[data-select-all]");
    if (!all || !all.form) return;
    // The form's elements include boxes tied to it by their form attribute (grid rows).
    Array.prototype.forEach.call(all.form.elements, function (box) {
      if (box.type === "checkbox" && box.name === "id") box.checked = all.checked;
    });
  });

  // A Print button prints the page it is on.
  document.addEventListener("click", function (evt) {
    if (evt.target.closest("[data-print]")) window.print();
  });

  // Grid entry: the number and context columns stay in view while scrolling sideways;
  // each sticks where the columns before it end.
  function pinColumns(table) {
    var heads = table.querySelectorAll("thead th.sticky-col");
    var left = 0;
    heads.forEach(function (head) {
      var column = head.cellIndex;
      table.querySelectorAll("tr").forEach(function (row) {
        var cell = row.cells[column];
        if (cell && cell.classList.contains("sticky-col")) cell.style.left = left + "px";
      });
      left += head.offsetWidth;
    });
  }
  document.querySelectorAll("table.entry-grid").forEach(pinColumns);

  // Grid entry: Enter moves down the column (Shift+Enter up), like a spreadsheet.
  // Leaving the cell fires its change, which saves the row.
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Enter" || evt.isComposing) return;
    var cell = evt.target.closest("table.entry-grid td");
    if (!cell || evt.target.tagName === "TEXTAREA") return;
    evt.preventDefault();
    var column = cell.cellIndex;
    var row = cell.parentElement;
    var step = evt.shiftKey ? "previousElementSibling" : "nextElementSibling";
    for (var next = nextRow(row, step); next; next = nextRow(next, step)) {
      var target = next.cells[column];
      var input = target && target.querySelector("input:not([type=hidden]):not([disabled]), select:not([disabled])");
      if (input) {
        input.focus();
        if (input.select && input.type !== "checkbox") input.select();
        return;
      }
    }
    evt.target.blur();
    evt.target.focus();
  });

  function nextRow(row, step) {
    var next = row[step];
    if (next) return next;
    var body = row.parentElement[step];
    while (body && !body.rows.length) body = body[step];
    if (!body) return null;
    return step === "nextElementSibling" ? body.rows[0] : body.rows[body.rows.length - 1];
  }
})();
