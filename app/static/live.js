// Live count, progress and newest signers: poll the letter's JSON (cheap: ETag + short cache)
// and update the page in place; focus on the form's errors (sharing is share.js). The page is
// complete without this script.
(function () {
  "use strict";

  // After a refused form, the summary of its errors takes the focus (once the browser has
  // scrolled to the form's #sign fragment, which would otherwise leave the focus on the body).
  var summary = document.getElementById("error-summary");
  if (summary) {
    window.addEventListener("load", function () { window.setTimeout(function () { summary.focus(); }, 0); });
  }

  var box = document.querySelector("[data-live]");
  if (!box || !window.fetch) { return; }
  var numberEl = box.querySelector("[data-count]");
  var goalBox = box.querySelector("[data-goal]");
  var list = document.querySelector("[data-newest]");
  var emptyNote = document.querySelector("[data-empty]");
  var lang = document.documentElement.lang || "en";
  var numbers = new Intl.NumberFormat(lang);
  var seconds = Math.max(parseInt(box.getAttribute("data-poll-seconds"), 10) || 3, 1);
  var shown = parseInt(numberEl.getAttribute("data-count"), 10);
  // Signatures counted but not listed until a moderator reviews them: approving one lists a name
  // without changing the count, so a change here refreshes the newest signers too.
  var waiting = parseInt(box.getAttribute("data-awaiting-listing"), 10) || 0;

  // The server works out the goal shown (the one set, or once it is reached the next round
  // number) and sends it with the count: the page only displays it.
  function updateGoal(count, progress) {
    if (!goalBox || !progress) { return; }
    var bar = goalBox.querySelector("progress");
    bar.max = progress.goal;
    bar.value = count;
    bar.textContent = progress.percent + "%";
    var template = goalBox.getAttribute(progress.reached ? "data-next-goal-text" : "data-goal-text");
    goalBox.querySelector(".goal-text").textContent =
      template.replace("{count}", numbers.format(count)).replace("{goal}", numbers.format(progress.goal));
  }

  function refreshList() {
    var url = box.getAttribute("data-newest-url");
    if (!list || !url) { return Promise.resolve(); }
    return fetch(url, { cache: "no-cache" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        // Our own server-rendered, escaped list items.
        list.innerHTML = html;
        if (emptyNote) { emptyNote.hidden = list.children.length > 0; }
      });
  }

  function poll() {
    if (document.hidden) { return; } // resumed by visibilitychange
    fetch(box.getAttribute("data-letter-url"), { cache: "no-cache" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (letter) {
        if (!letter) { return; }
        var nowWaiting = (letter.moderation && letter.moderation.awaiting_review_counted) || 0;
        if (letter.signature_count === shown) {
          if (nowWaiting === waiting) { return; }
          waiting = nowWaiting;
          return refreshList();
        }
        waiting = nowWaiting;
        shown = letter.signature_count;
        // The sidebar's count, and the one under the title on narrow screens.
        document.querySelectorAll("[data-count]").forEach(function (el) {
          el.textContent = numbers.format(shown);
          el.setAttribute("data-count", String(shown));
        });
        document.querySelectorAll(".count-label").forEach(function (el) {
          if (el.dataset.one && el.dataset.many) { el.textContent = shown === 1 ? el.dataset.one : el.dataset.many; }
        });
        updateGoal(shown, letter.progress);
        return refreshList();
      })
      .catch(function () { /* offline for a moment: try again at the next tick */ })
      .then(schedule);
  }

  // "5 minutes ago" as the minutes pass (the server wrote it; past a day it shows a date).
  var relative = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(lang) : null;
  function refreshTimes() {
    if (!relative) { return; }
    document.querySelectorAll("time[data-relative]").forEach(function (el) {
      var seconds = (Date.now() - Date.parse(el.getAttribute("datetime"))) / 1000;
      if (seconds < 60 || seconds >= 24 * 3600) { return; }
      el.textContent = seconds >= 3600
        ? relative.format(-Math.floor(seconds / 3600), "hour")
        : relative.format(-Math.floor(seconds / 60), "minute");
    });
  }
  window.setInterval(refreshTimes, 30000);

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
