// The run and log pages' enhancements; both pages work without this file.
// - A log page on its last page while the job runs follows new lines over
//   server-sent events (rendered by the server), keeping at most MAX_LINES
//   in the page so a long log never fills the browser.
// - `#L1234` for a line on another page loads that page.
// - A run page of a run still going refreshes its sections every few
//   seconds, unless the reader is filling in a form.
"use strict";
(function () {
  var MAX_LINES = 5000;

  function followLog(log) {
    var url = log.getAttribute("data-live-url") + "?from=" + log.getAttribute("data-next");
    var list = log.querySelector("ol.log");
    if (!list) {
      list = document.createElement("ol");
      list.className = "log";
      list.start = Number(log.getAttribute("data-next"));
      log.appendChild(list);
    }
    var base = log.getAttribute("data-base");
    var status = document.getElementById("log-live");
    var source = new EventSource(url);
    source.onmessage = function (event) {
      var line;
      try { line = JSON.parse(event.data); } catch (e) { return; }
      var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
      var item = document.createElement("li");
      item.id = "L" + line.n;
      if (line.stream === "e") { item.className = "err"; }
      var number = document.createElement("a");
      number.className = "ln";
      number.href = base + "?at=" + line.n + "#L" + line.n;
      number.textContent = String(line.n);
      number.setAttribute("aria-label", "line " + line.n);
      var text = document.createElement("span");
      text.className = "lt";
      // The server escaped the text and made the colour spans.
      text.innerHTML = line.html;
      item.appendChild(number);
      item.appendChild(text);
      list.appendChild(item);
      while (list.children.length > MAX_LINES) {
        list.removeChild(list.firstElementChild);
        list.start = Number(list.firstElementChild.id.slice(1));
      }
      if (atBottom) { item.scrollIntoView({ block: "end" }); }
    };
    source.addEventListener("end", function () {
      source.close();
      if (status) { status.textContent = "The step has finished."; }
    });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED && status) {
        status.textContent = "Live updates stopped; reload the page for new lines.";
      }
    });
  }

  function jumpToLine(log) {
    var match = /^#L(\d+)$/.exec(window.location.hash);
    if (match && !document.getElementById("L" + match[1])) {
      window.location.replace(log.getAttribute("data-base") + "?at=" + match[1] + "#L" + match[1]);
    }
  }

  function refreshRun(marker) {
    var busy = function () {
      var active = document.activeElement;
      return active && active.closest && active.closest("form");
    };
    var timer = window.setInterval(function () {
      if (busy()) { return; }
      fetch(window.location.pathname, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html || busy()) { return; }
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var now = document.querySelector("main") || document.body;
          var next = fresh.querySelector("main") || fresh.body;
          now.innerHTML = next.innerHTML;
          var newMarker = document.getElementById("run-live");
          if (!newMarker || newMarker.getAttribute("data-final") === "true") {
            window.clearInterval(timer);
          }
        })
        .catch(function () {});
    }, 3000);
  }

  var log = document.getElementById("log");
  if (log) {
    jumpToLine(log);
    window.addEventListener("hashchange", function () { jumpToLine(log); });
    if (log.getAttribute("data-tail") === "true" && window.EventSource) { followLog(log); }
  }
  var marker = document.getElementById("run-live");
  if (marker && marker.getAttribute("data-final") !== "true" && window.fetch) {
    refreshRun(marker);
  }
})();
