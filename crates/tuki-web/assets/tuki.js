// Tuki's small helpers: keyboard navigation of ticket lists (j/k, Enter),
// selecting a link to copy
// and live updates over server-sent events. Pages work without this file.
(function () {
  "use strict";
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr[data-href]")); }
  var current = -1;
  function select(i) {
    var r = rows();
    if (!r.length) return;
    current = Math.max(0, Math.min(r.length - 1, i));
    r.forEach(function (row, n) { row.classList.toggle("selected", n === current); });
    r[current].scrollIntoView({ block: "nearest" });
  }
  // A link to copy (an invitation) is selected whole when it gets focus;
  // here and not in the page, whose policy allows no inline handler.
  document.addEventListener("focusin", function (e) {
    if (e.target.matches && e.target.matches("input.copy")) e.target.select();
  });
  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "j") { select(current + 1); e.preventDefault(); }
    else if (e.key === "k") { select(current - 1); e.preventDefault(); }
    else if (e.key === "Enter" && current >= 0) {
      var r = rows()[current];
      if (r) { window.location.href = r.getAttribute("data-href"); e.preventDefault(); }
    }
  });
  document.addEventListener("htmx:afterSwap", function () { current = -1; });

  // "Insert solution into reply": the use is counted by the server, which
  // answers with the text; it goes into the reply box where the cursor is,
  // keeping what the agent already wrote. Without this, the form opens the
  // ticket with the reply box filled.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.classList || !form.classList.contains("insert-article")) return;
    var box = document.querySelector("#composer textarea[name=body]");
    if (!box || !window.fetch) return;
    e.preventDefault();
    fetch(form.action, {
      method: "POST", credentials: "same-origin",
      headers: { "X-Tuki-Insert": "1", "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(new FormData(form)).toString()
    }).then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (text) {
        var at = box.selectionStart || box.value.length;
        var before = box.value.slice(0, at), after = box.value.slice(at);
        var sep = before && !/\n$/.test(before) ? "\n\n" : "";
        box.value = before + sep + text + after;
        box.focus();
        box.selectionStart = box.selectionEnd = (before + sep + text).length;
        box.dispatchEvent(new Event("input", { bubbles: true }));
      })
      .catch(function () { form.submit(); });
  });

  // Live updates: the console listens; when a ticket changes, the list or the
  // ticket's header and timeline are fetched again (the composer is kept).
  var main = document.getElementById("main");
  if (!main || !window.EventSource) return;
  var live = main.getAttribute("data-live") || "";
  var es = new EventSource("/agent/events");
  var pending = null;
  function refresh(selector) {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      fetch(window.location.href, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var doc = new DOMParser().parseFromString(html, "text/html");
          selector.forEach(function (s) {
            var fresh = doc.querySelector(s), old = document.querySelector(s);
            if (fresh && old) old.replaceWith(fresh);
          });
        });
    }, 300);
  }
  // Incoming calls: the card of a call that rings this agent pops up (fetched
  // with htmx) and goes away when the call ends.
  var calls = document.getElementById("calls");
  es.addEventListener("call", function (ev) {
    var id = String(parseInt(ev.data, 10));
    if (!calls || id === "NaN" || document.getElementById("call-" + id)) return;
    var url = "/agent/calls/" + id + "/card";
    if (window.htmx) window.htmx.ajax("GET", url, { target: "#calls", swap: "beforeend" });
    else fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { calls.insertAdjacentHTML("beforeend", html); });
  });
  es.addEventListener("hangup", function (ev) {
    var card = document.getElementById("call-" + String(parseInt(ev.data, 10)));
    if (card) card.remove();
  });
  es.addEventListener("ticket", function (ev) {
    if (live === "queue") refresh(["#ticket-list", "#sidebar"]);
    else if (live === "ticket:" + ev.data || ev.data === "*") refresh(["#ticket-head", "#timeline", "#sidebar"]);
    else refresh(["#sidebar"]);
  });
})();

// The time box's start/stop timer: the start is kept in the browser per
// ticket (so a reload or another tab keeps counting); stopping fills the
// minutes field, rounded up, for the agent to book.
(function () {
  function key(box) { return "tuki-timer-" + box.getAttribute("data-timer"); }
  function show(box) {
    var started = localStorage.getItem(key(box));
    var start = box.querySelector("[data-timer-start]");
    var stop = box.querySelector("[data-timer-stop]");
    var shown = box.querySelector("[data-timer-shown]");
    if (!start || !stop || !shown) return;
    start.hidden = !!started;
    stop.hidden = !started;
    shown.textContent = started ? Math.floor((Date.now() - Number(started)) / 60000) + " min" : "";
  }
  document.addEventListener("click", function (e) {
    var box = e.target.closest && e.target.closest("[data-timer]");
    if (!box) return;
    if (e.target.hasAttribute("data-timer-start")) {
      localStorage.setItem(key(box), String(Date.now()));
    } else if (e.target.hasAttribute("data-timer-stop")) {
      var started = Number(localStorage.getItem(key(box)) || Date.now());
      localStorage.removeItem(key(box));
      var field = box.closest("form").querySelector("[name=minutes]");
      if (field) field.value = Math.max(1, Math.ceil((Date.now() - started) / 60000));
    } else {
      return;
    }
    show(box);
  });
  function all() { document.querySelectorAll("[data-timer]").forEach(show); }
  document.addEventListener("htmx:afterSwap", all);
  setInterval(all, 30000);
})();
