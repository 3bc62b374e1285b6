// The delivery PDF's page: follows the job's progress, and reloads the page once it has finished.
(function () {
  "use strict";
  var box = document.querySelector("[data-progress]");
  if (!box || !window.fetch) return;
  var bar = box.querySelector("progress");
  var text = box.querySelector("[data-progress-text]");
  var format = new Intl.NumberFormat(document.documentElement.lang || undefined);
  function poll() {
    fetch(box.getAttribute("data-progress"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { window.setTimeout(poll, 5000); return; }
        if (data.status !== "pending") { window.location.reload(); return; }
        if (bar) { bar.max = Math.max(data.total, 1); bar.value = data.done; bar.textContent = data.percent + "%"; }
        if (text) {
          text.textContent = text.getAttribute("data-template")
            .replace("{done}", format.format(data.done)).replace("{total}", format.format(data.total));
        }
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 2000);
})();
