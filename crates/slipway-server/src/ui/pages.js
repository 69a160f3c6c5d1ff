// Live updates of server-rendered fragments: every element with
// data-refresh="URL" is replaced by a fresh copy of URL every 2 seconds
// while the page is visible. Without JavaScript the page is simply static.
(function () {
  "use strict";
  function refresh(el) {
    var url = el.getAttribute("data-refresh");
    if (!url || document.hidden) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) {
        if (html !== null && html !== el.innerHTML) { el.innerHTML = html; }
      })
      .catch(function () { /* the next tick tries again */ });
  }
  function tick() {
    var els = document.querySelectorAll("[data-refresh]");
    for (var i = 0; i < els.length; i++) { refresh(els[i]); }
  }
  setInterval(tick, 2000);
})();
