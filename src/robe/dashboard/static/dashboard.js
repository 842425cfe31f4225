// robe dashboard: live parts of the page, ticking elapsed times, and actions.
// The server renders every page; this script only (1) listens on the WebSocket /live and
// fetches the page's live part again when something it shows changed, (2) ticks "running for" times,
// and (3) sends actions as POSTs with the session's CSRF token, showing the server's answer.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var flash = document.getElementById("flash");
  var state = document.getElementById("live-state");
  var csrfMeta = document.querySelector('meta[name="robe-csrf"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  var busy = false, again = false;

  function refresh() {
    if (!live) return;
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.pathname + location.search, {
      headers: { "X-Robe-Fragment": "1" }, cache: "no-store", credentials: "same-origin"
    }).then(function (r) {
      if (r.ok) return r.text().then(function (html) { live.innerHTML = html; tick(); });
    }).catch(function () {}).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }

  function listen() {
    if (!live || !window.WebSocket) return;
    var topics = (live.getAttribute("data-topics") || "").split(" ");
    var opened = false, delay = 500;
    function connect() {
      var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/live");
      ws.onmessage = function (ev) {
        var m = JSON.parse(ev.data);
        if (m.hello !== undefined) {
          if (opened) refresh();  // reconnected: something may have changed meanwhile
          opened = true;
          delay = 500;
          state.setAttribute("data-state", "live");
        } else if (m.change) {
          for (var i = 0; i < m.change.length; i++) {
            if (topics.indexOf(m.change[i]) >= 0) { refresh(); return; }
          }
        }
      };
      ws.onclose = function () {
        state.setAttribute("data-state", "reconnecting");
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 5000);
      };
    }
    connect();
  }

  function age(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    if (s < 120) return s + " s";
    if (s < 7200) return Math.floor(s / 60) + " min";
    var m = Math.floor((s % 3600) / 60);
    return Math.floor(s / 3600) + " h " + (m < 10 ? "0" : "") + m + " min";
  }

  function tick() {
    var now = Date.now() / 1000;
    var els = document.querySelectorAll("[data-since]");
    for (var i = 0; i < els.length; i++) {
      var since = parseFloat(els[i].getAttribute("data-since"));
      if (!isNaN(since)) els[i].textContent = age(now - since);
    }
  }

  function say(message, ok) {
    flash.textContent = message;
    flash.className = ok ? "ok" : "error";
    flash.hidden = false;
  }

  function send(payload) {
    return fetch("/action", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", "X-Robe-CSRF": csrf },
      body: JSON.stringify(payload)
    }).then(function (r) {
      return r.json().catch(function () { return { message: r.status + " " + r.statusText }; })
        .then(function (answer) {
          say(answer.message || (r.ok ? "done" : "refused"), r.ok);
          refresh();
          return r.ok;
        });
    }).catch(function () { say("The dashboard cannot be reached.", false); return false; });
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("button[data-action]") : null;
    if (!b) return;
    ev.preventDefault();
    var payload = {
      action: b.getAttribute("data-action"), queue: b.getAttribute("data-queue"),
      task: b.getAttribute("data-task"), expect: b.getAttribute("data-expect")
    };
    if (payload.action === "priority") {
      var choice = b.parentNode.querySelector("select.priority-choice");
      payload.priority = choice ? choice.value : "";
      payload.expect_priority = b.getAttribute("data-expect-priority");
    }
    b.disabled = true;
    send(payload).then(function () { b.disabled = false; });
  });

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.getAttribute("data-action") !== "add") return;
    ev.preventDefault();
    var payload = { action: "add" };
    var fields = form.querySelectorAll("input, select, textarea");
    for (var i = 0; i < fields.length; i++) payload[fields[i].name] = fields[i].value;
    send(payload).then(function (ok) { if (ok) form.reset(); });
  });

  tick();
  setInterval(tick, 1000);
  listen();
  // Gateways and executors can go down without a file changing: the fleet page looks again now and then.
  if (document.body.getAttribute("data-page") === "fleet") setInterval(refresh, 10000);
})();
