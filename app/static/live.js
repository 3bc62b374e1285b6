// Live count and newest signers: poll the letter's JSON (cheap: ETag + short cache) and
// update the page in place. The page is complete without this script.
(function () {
  "use strict";
  var box = document.querySelector("[data-live]");
  if (!box || !window.fetch) { return; }
  var numberEl = box.querySelector("[data-count]");
  var labelEl = box.querySelector(".count-label");
  var list = document.querySelector("[data-newest]");
  var emptyNote = document.querySelector("[data-empty]");
  var lang = document.documentElement.lang || "en";
  var numbers = new Intl.NumberFormat(lang);
  var dates = new Intl.DateTimeFormat(lang, { dateStyle: "medium" });
  var countries = window.Intl && Intl.DisplayNames ? new Intl.DisplayNames([lang], { type: "region" }) : null;
  var seconds = Math.max(parseInt(box.getAttribute("data-poll-seconds"), 10) || 3, 1);
  var shown = parseInt(numberEl.getAttribute("data-count"), 10);

  function text(tag, className, value) {
    var el = document.createElement(tag);
    el.className = className;
    el.textContent = value;
    return el;
  }

  function signerItem(s) {
    var li = document.createElement("li");
    li.className = "signer";
    li.appendChild(text("span", "signer-name", s.name));
    if (s.verified) { li.appendChild(text("span", "badge badge-verified", box.getAttribute("data-label-verified"))); }
    if (s.affiliation) { li.appendChild(text("span", "signer-affiliation", s.affiliation)); }
    var place = [s.city, s.country && countries ? countries.of(s.country) : s.country].filter(Boolean).join(", ");
    if (place) { li.appendChild(text("span", "signer-place", place)); }
    if (s.comment) { li.appendChild(text("q", "signer-comment", s.comment)); }
    var time = text("time", "signer-date", dates.format(new Date(s.signed_at)));
    time.setAttribute("datetime", s.signed_at);
    li.appendChild(time);
    var report = text("a", "signer-report", box.getAttribute("data-label-report"));
    report.href = box.getAttribute("data-report-base") + "/" + encodeURIComponent(s.id) + "/report";
    report.rel = "nofollow";
    li.appendChild(report);
    return li;
  }

  function refreshList() {
    if (!list) { return Promise.resolve(); }
    return fetch(box.getAttribute("data-signatures-url"), { cache: "no-cache" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        var items = document.createDocumentFragment();
        data.signatures.forEach(function (s) { items.appendChild(signerItem(s)); });
        list.replaceChildren(items);
        if (emptyNote) { emptyNote.hidden = data.signatures.length > 0; }
      });
  }

  function poll() {
    if (document.hidden) { return; } // resumed by visibilitychange
    fetch(box.getAttribute("data-letter-url"), { cache: "no-cache" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (letter) {
        if (!letter || letter.signature_count === shown) { return; }
        shown = letter.signature_count;
        numberEl.textContent = numbers.format(shown);
        numberEl.setAttribute("data-count", String(shown));
        if (labelEl && labelEl.dataset.one && labelEl.dataset.many) {
          labelEl.textContent = shown === 1 ? labelEl.dataset.one : labelEl.dataset.many;
        }
        return refreshList();
      })
      .catch(function () { /* offline for a moment: try again at the next tick */ })
      .then(schedule);
  }

  var timer = null;
  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, seconds * 1000);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { window.clearTimeout(timer); poll(); }
  });
  schedule();
})();
