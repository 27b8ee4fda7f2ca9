// bizbots console: live refresh. Pages work without this script; with it,
// the part of the page marked id="live" reloads whenever the server's
// event stream says something changed (a new conversation or message, a
// reply delivered). Forms and what you are typing are left alone.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-live");
  var live = document.getElementById("live");
  if (!url || !live || !window.EventSource || !window.fetch || !window.DOMParser) return;
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (next) { live.innerHTML = next.innerHTML; document.body.setAttribute("data-refreshed", String(Date.now())); }
      })
      .catch(function () {})
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  var es = new EventSource(url);
  es.addEventListener("change", refresh);
  es.addEventListener("open", function () { document.body.setAttribute("data-live-open", "1"); });
})();
