// Sharing without anyone else's script: the browser's own share sheet where it has one
// (navigator.share: on phones it lists WhatsApp, KakaoTalk, LINE ...), a copy-link button, and
// KakaoTalk, which has no web link without its SDK: its button opens the share sheet, or copies
// the link to paste into a chat. Without this script the plain links still work.
(function () {
  "use strict";

  var status = document.querySelector(".copy-status");

  function say(attribute) {
    if (status) { status.textContent = status.getAttribute(attribute); }
  }

  function copy(url, attribute) {
    if (!navigator.clipboard) { return; }
    navigator.clipboard.writeText(url).then(function () { say(attribute); });
  }

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    if (!navigator.clipboard) { return; }
    button.closest("[hidden]") && (button.closest("[hidden]").hidden = false);
    button.addEventListener("click", function () { copy(button.getAttribute("data-copy"), "data-copied"); });
  });

  document.querySelectorAll("[data-share-url]").forEach(function (button) {
    var data = {
      title: button.getAttribute("data-share-title"),
      text: button.getAttribute("data-share-text"),
      url: button.getAttribute("data-share-url")
    };
    var native = navigator.share && (!navigator.canShare || navigator.canShare(data));
    var kakao = button.hasAttribute("data-kakao");
    if (!native && !(kakao && navigator.clipboard)) { return; }
    button.closest("[hidden]") && (button.closest("[hidden]").hidden = false);
    button.addEventListener("click", function () {
      if (native) {
        navigator.share(data).catch(function () { /* closed by the person: nothing to do */ });
      } else {
        copy(data.url, "data-copied-kakao");
      }
    });
  });
}());
