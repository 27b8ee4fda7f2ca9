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

// Sign-in through one's own homeserver: log in there, ask it for an OpenID
// token, log out again, and hand the token (never the password) to the
// console's OpenID form. Without this script that form takes a pasted
// token.
(function () {
  "use strict";
  var helper = document.getElementById("openid-helper");
  var form = document.getElementById("openid-form");
  if (!helper || !form || !window.fetch) return;
  helper.hidden = false;
  var status = document.getElementById("oid-status");
  function say(t) { status.textContent = t; }
  function post(url, body, token) {
    var h = { "Content-Type": "application/json" };
    if (token) h.Authorization = "Bearer " + token;
    return fetch(url, { method: "POST", headers: h, body: JSON.stringify(body || {}) }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { j._status = r.status; return j; });
    });
  }
  // The homeserver's client address: the configured one for its domain,
  // else what the server's .well-known says, else https://server.
  function baseURL(server) {
    if (server === helper.getAttribute("data-domain")) return Promise.resolve(helper.getAttribute("data-url"));
    return fetch("https://" + server + "/.well-known/matrix/client").then(function (r) { return r.json(); })
      .then(function (j) { return j["m.homeserver"].base_url; })
      .catch(function () { return "https://" + server; });
  }
  helper.addEventListener("submit", function (e) {
    e.preventDefault();
    var user = document.getElementById("oid-user").value.trim();
    var password = document.getElementById("oid-password").value;
    var m = /^@[^:]+:(.+)$/.exec(user);
    if (!m) { say("Enter your full Matrix ID, like @alice:example.org."); return; }
    var server = m[1], base, access;
    say("Signing in at " + server + "…");
    baseURL(server).then(function (b) {
      base = b.replace(/\/+$/, "");
      return post(base + "/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: user },
        password: password, initial_device_display_name: "bizbots console sign-in" });
    }).then(function (login) {
      if (!login.access_token) throw new Error(login._status === 403 ? "Wrong Matrix ID or password." : "Your homeserver refused the sign-in (" + (login.errcode || login._status) + ").");
      access = login.access_token;
      return post(base + "/_matrix/client/v3/user/" + encodeURIComponent(login.user_id) + "/openid/request_token", {}, access);
    }).then(function (tok) {
      // Log the homeserver session out again (best effort): the console
      // needs only the token.
      return post(base + "/_matrix/client/v3/logout", {}, access).catch(function () {}).then(function () { return tok; });
    }).then(function (tok) {
      if (!tok.access_token) throw new Error("Your homeserver would not issue an OpenID token (" + (tok.errcode || tok._status) + ").");
      document.getElementById("oid-server").value = tok.matrix_server_name;
      document.getElementById("oid-token").value = tok.access_token;
      say("Checking the token with " + tok.matrix_server_name + "…");
      form.submit();
    }).catch(function (err) {
      say(err && err.message ? err.message : "Could not reach your homeserver.");
    });
  });
})();
