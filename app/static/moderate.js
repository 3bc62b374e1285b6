// The review queue from the keyboard, and without reloads: j/k (or the arrows) move between
// signatures, one key decides (y looks fine, f fake, d duplicate, v verify), u undoes the last
// decision, ? shows the keys. A decision is sent with fetch and its row is redrawn in place, so
// the search, the page and the scroll position stay and the next signature has the focus.
// Without this script every button is a plain form that comes back to the same search at the
// next row.
(function () {
  "use strict";

  var table = document.querySelector(".queue-table tbody");
  var banner = document.getElementById("undo-banner");
  var help = document.getElementById("keys-help");
  if (!table || !banner || !window.fetch || !window.FormData) { return; }

  if (help) {
    help.querySelectorAll("[data-close-dialog]").forEach(function (button) {
      button.addEventListener("click", function () { help.close(); });
    });
  }
  var hint = document.querySelector("[data-keys-hint]");
  if (hint) { hint.hidden = false; }
  // Decisions are sent one after another, in the order they were made.
  var pending = Promise.resolve();

  function rows() { return Array.prototype.slice.call(table.querySelectorAll("tr[data-signature]")); }

  function currentRow() {
    var active = document.activeElement;
    return active && active.closest ? active.closest("tr[data-signature]") : null;
  }

  function focusRow(row) {
    if (!row) { return; }
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = rows();
    if (!all.length) { return; }
    var row = currentRow();
    var index = row ? all.indexOf(row) + step : (step > 0 ? 0 : all.length - 1);
    focusRow(all[Math.max(0, Math.min(all.length - 1, index))]);
  }

  function say(text) { banner.textContent = text || ""; }

  function replaceRows(drawn) {
    Object.keys(drawn).forEach(function (id) {
      var old = document.getElementById("signature-" + id);
      if (!old) { return; }
      var holder = document.createElement("tbody");
      holder.innerHTML = drawn[id];
      var fresh = holder.querySelector("tr");
      if (!fresh) { return; }
      var hadFocus = old === document.activeElement || old.contains(document.activeElement);
      var tick = old.querySelector("input[name=signature]");
      var newTick = fresh.querySelector("input[name=signature]");
      if (tick && newTick) { newTick.checked = tick.checked; }
      old.parentNode.replaceChild(fresh, old);
      if (hadFocus) { fresh.focus({ preventScroll: true }); }
    });
    countTicked();
  }

  function showCounts(counts) {
    Object.keys(counts || {}).forEach(function (view) {
      var element = document.querySelector('[data-count-view="' + view + '"]');
      if (element) { element.textContent = counts[view]; }
    });
  }

  function send(form, submitter, row) {
    var data = new FormData(form);
    if (submitter && submitter.name) { data.append(submitter.name, submitter.value); }
    if (row) { row.classList.add("row-busy"); }
    pending = pending.then(function () {
      return fetch(form.action, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { Accept: "application/json" }
      }).then(function (response) {
        return response.json().then(function (body) {
          return { ok: response.ok, body: body };
        }, function () {
          return { ok: false, body: { message: banner.getAttribute("data-failed") } };
        });
      }).then(function (answer) {
        if (row) { row.classList.remove("row-busy"); }
        replaceRows(answer.body.rows || {});
        if (answer.body.banner) { banner.innerHTML = answer.body.banner; } else { say(answer.body.message); }
        showCounts(answer.body.counts);
        if (!answer.ok && row) {
          var drawn = document.getElementById(row.id);
          if (drawn) { drawn.classList.add("row-error"); }
        }
      }, function () {
        if (row) { row.classList.remove("row-busy"); }
        say(banner.getAttribute("data-failed"));
      });
    });
    return pending;
  }

  function nextAfter(row) {
    var all = rows();
    var index = all.indexOf(row);
    return index >= 0 && index + 1 < all.length ? all[index + 1] : null;
  }

  function openVerify(row) {
    var details = row.querySelector("details");
    var note = row.querySelector(".verify-form input[name=note]");
    if (!details || !note) { say(banner.getAttribute("data-not-here")); return; }
    details.open = true;
    note.focus();
  }

  function decide(row, value) {
    var button = row.querySelector('.row-decide button[name=decision][value="' + value + '"]');
    if (!button) { say(banner.getAttribute("data-not-here")); return; }
    if (value === "verify") { openVerify(row); return; }
    var next = nextAfter(row);
    send(button.form, button, row);
    if (next) { focusRow(next); }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches(".row-decide, .verify-form, .undo-form")) { return; }
    var submitter = event.submitter || null;
    var row = form.closest("tr[data-signature]");
    event.preventDefault();
    if (form.matches(".row-decide") && submitter && submitter.value === "verify") {
      openVerify(row);
      return;
    }
    var next = row && !form.matches(".undo-form") ? nextAfter(row) : null;
    send(form, submitter, row);
    if (next) { focusRow(next); }
  });

  function undoLast() {
    var form = banner.querySelector("form.undo-form");
    if (form) { send(form, null, null); } else { say(banner.getAttribute("data-nothing-to-undo")); }
  }

  function typing(element) {
    return element && element.matches && element.matches(
      "input:not([type=checkbox]):not([type=radio]):not([type=submit]):not([type=button]), textarea, select, [contenteditable]"
    );
  }

  // Letters by their place on the keyboard (event.code), so that they work whatever the layout
  // or input method (a Korean keyboard types ㅓ where j is).
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    if (help && help.open) { return; }
    if (event.key === "?") {
      event.preventDefault();
      if (help && help.showModal) { help.showModal(); }
      return;
    }
    var row = currentRow();
    var key = /^Key[A-Z]$/.test(event.code || "") ? event.code.slice(3).toLowerCase() : "";
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      // The arrows scroll the page as usual unless a signature has the focus (or nothing does).
      if (!row && document.activeElement !== document.body) { return; }
      key = event.key === "ArrowDown" ? "j" : "k";
    }
    if (event.shiftKey && key) { return; }
    if (key === "j") { move(1); } else if (key === "k") { move(-1); } else if (key === "u") { undoLast(); } else if ("yfdvox".indexOf(key) >= 0 && key) {
      if (!row) { move(1); return event.preventDefault(); }
      if (key === "y") { decide(row, "fine"); }
      if (key === "f") { decide(row, "fake"); }
      if (key === "d") { decide(row, "duplicate"); }
      if (key === "v") { decide(row, "verify"); }
      if (key === "o") {
        var details = row.querySelector("details");
        if (details) { details.open = !details.open; }
      }
      if (key === "x") {
        var tick = row.querySelector("input[name=signature]");
        if (tick) { tick.checked = !tick.checked; countTicked(); }
      }
    } else {
      return;
    }
    event.preventDefault();
  });

  // Ticking: a box in the table's head ticks the page (the link does it without the script).
  var tickAll = document.getElementById("select-page");
  var ticked = document.querySelector("[data-selected-count]");
  function countTicked() {
    var boxes = table.querySelectorAll("input[name=signature]");
    var on = table.querySelectorAll("input[name=signature]:checked").length;
    if (tickAll) {
      tickAll.checked = boxes.length > 0 && on === boxes.length;
      tickAll.indeterminate = on > 0 && on < boxes.length;
    }
    if (ticked) { ticked.textContent = on ? ticked.getAttribute("data-template").replace("{count}", on) : ""; }
  }
  if (tickAll) {
    tickAll.hidden = false;
    document.querySelectorAll("[data-select-page]").forEach(function (link) { link.hidden = true; });
    tickAll.addEventListener("change", function () {
      table.querySelectorAll("input[name=signature]").forEach(function (box) { box.checked = tickAll.checked; });
      countTicked();
    });
    table.addEventListener("change", function (event) {
      if (event.target.name === "signature") { countTicked(); }
    });
    countTicked();
  }

  // Back at a row (after a plain form), or at a refused field: the focus goes there.
  var invalid = document.querySelector("[aria-invalid=true]");
  var target = window.location.hash ? document.getElementById(window.location.hash.slice(1)) : null;
  if (invalid) {
    invalid.focus();
  } else if (target && target.matches("tr[data-signature]")) {
    focusRow(target);
  }
}());
