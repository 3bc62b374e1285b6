// The letter editor, a little quicker with a script: each statement's preview follows the
// typing (rendered and sanitised by the server, as the letter page is), the address is
// suggested from the title until it is typed, and the texts become tabs. Without this script
// the Preview button sends the form back with every preview, and the texts are fieldsets
// one after the other, reached by the links above them.
(function () {
  "use strict";

  var form = document.getElementById("letter-editor");
  if (!form || !window.fetch || !window.FormData) { return; }
  var token = form.querySelector("input[name=csrf_token]");
  // The previews follow the typing: the button that sends the form back for them is not needed.
  var previewButton = form.querySelector(".preview-button");
  if (previewButton) { previewButton.hidden = true; }

  // --- the live preview ---------------------------------------------------------------------
  var previewUrl = form.getAttribute("data-preview-url");
  form.querySelectorAll("[data-preview-of]").forEach(function (target) {
    var source = document.getElementById(target.getAttribute("data-preview-of"));
    if (!source) { return; }
    var timer = null;
    var sent = 0;
    function refresh() {
      var data = new FormData();
      data.append("csrf_token", token ? token.value : "");
      data.append("markdown", source.value);
      var number = ++sent;
      fetch(previewUrl, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { Accept: "application/json" }
      }).then(function (response) {
        return response.ok ? response.json() : null;
      }).then(function (body) {
        // Only the answer to the latest request: an older one may come back after it.
        if (body && number === sent) { target.innerHTML = body.html; }
      }).catch(function () { /* the Preview button still works */ });
    }
    source.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 350);
    });
  });

  // --- the address from the title -------------------------------------------------------------
  var title = document.getElementById("title");
  var slug = document.getElementById("slug");
  function slugify(text) {
    return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 80).replace(/-+$/, "");
  }
  if (title && slug) {
    var suggested = slug.value === "" || slug.value === slugify(title.value);
    slug.addEventListener("input", function () { suggested = slug.value === ""; });
    title.addEventListener("input", function () {
      if (suggested) { slug.value = slugify(title.value); }
    });
  }

  // --- tabs -------------------------------------------------------------------------------------
  var tabs = form.querySelector("[data-tabs]");
  if (!tabs) { return; }
  var list = tabs.querySelector(".tab-links");
  var links = Array.prototype.slice.call(list.querySelectorAll("a"));
  var panels = links.map(function (link) { return document.getElementById(link.getAttribute("href").slice(1)); });
  list.setAttribute("role", "tablist");
  tabs.classList.add("tabs-on");
  links.forEach(function (link, index) {
    link.parentNode.setAttribute("role", "presentation");
    link.setAttribute("role", "tab");
    link.setAttribute("aria-controls", panels[index].id);
    panels[index].setAttribute("role", "tabpanel");
    panels[index].setAttribute("aria-labelledby", link.id);
    panels[index].setAttribute("tabindex", "-1");
  });

  function usable(index) { return !links[index].parentNode.hidden; }

  function choose(index, focus) {
    links.forEach(function (link, i) {
      var on = i === index;
      link.setAttribute("aria-selected", on ? "true" : "false");
      link.setAttribute("tabindex", on ? "0" : "-1");
      panels[i].hidden = !on;
    });
    if (focus) { links[index].focus(); }
  }

  links.forEach(function (link, index) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      choose(index, false);
    });
    link.addEventListener("keydown", function (event) {
      var open = links.map(function (_l, i) { return i; }).filter(usable);
      var at = open.indexOf(index);
      var to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: open.length - 1 }[event.key];
      if (to === undefined) { return; }
      event.preventDefault();
      choose(open[(to + open.length) % open.length], true);
    });
  });

  // A link in the error summary opens the tab its field is in.
  document.querySelectorAll(".error-summary a[href^='#']").forEach(function (link) {
    link.addEventListener("click", function () {
      var field = document.getElementById(link.getAttribute("href").slice(1));
      var panel = field && field.closest("[role=tabpanel]");
      if (panel) { choose(panels.indexOf(panel), false); }
    });
  });

  // The letter's own language has no translation tab (the new letter's form lets it change).
  var language = document.getElementById("lang");
  function followLanguage() {
    if (!language) { return; }
    links.forEach(function (link) {
      var item = link.parentNode;
      var lang = item.getAttribute("data-lang");
      if (lang) { item.hidden = lang === language.value; }
      if (item.hidden && link.getAttribute("aria-selected") === "true") { choose(0, false); }
    });
  }
  if (language) { language.addEventListener("change", followLanguage); }
  followLanguage();

  var first = panels.findIndex(function (panel) { return panel.querySelector(".field-error"); });
  choose(first >= 0 ? first : 0, false);
})();
