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

// Saved replies: without this script a saved reply's link reloads the page
// with the text in the reply box; with it, the text goes in at once, at
// the cursor, and the box keeps what was typed.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("a[data-insert]") : null;
    var box = document.getElementById("reply-text");
    if (!a || !box) return;
    e.preventDefault();
    var text = a.getAttribute("data-insert");
    var start = box.selectionStart || 0, end = box.selectionEnd || 0;
    box.value = box.value.slice(0, start) + text + box.value.slice(end);
    box.focus();
    box.selectionStart = box.selectionEnd = start + text.length;
  });
})();
