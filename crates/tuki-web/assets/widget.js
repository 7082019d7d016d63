// Tuki's help widget for a company's own website: article search and a
// short request form, in a shadow root so that neither the site's styles
// nor ours leak. Include with <script src="https://desk.example/widget.js" async>;
// `data-lang="fi"` or `"en"` on the tag chooses the language (else the page's).
// It talks to the desk's /widget/v1 API without cookies; the desk answers
// only the websites its administrator listed.
(function () {
  "use strict";
  var tag = document.currentScript;
  if (!tag || !window.fetch) return;
  var base = new URL(tag.src, window.location.href).origin;
  var wanted = (tag.getAttribute("data-lang") || document.documentElement.lang || navigator.language || "en").slice(0, 2);
  var T = {
    fi: {
      open: "Ohjeet ja tuki", close: "Sulje", search: "Hae ohjeista", hint: "Kuvaa ongelma",
      none: "Ohjeita ei löytynyt.", back: "Takaisin", solved: "Tämä ratkaisi ongelmani",
      thanks_solved: "Hienoa, että asia ratkesi!", ask: "Lähetä pyyntö tukeen",
      name: "Nimi", email: "Sähköpostiosoite", subject: "Otsikko", body: "Kuvaa ongelma",
      send: "Lähetä", sent: "Kiitos! Pyyntösi on vastaanotettu, ja saat vahvistuksen sähköpostiisi.",
      failed: "Lähettäminen ei onnistunut: ", symptom: "Oire", cause: "Syy", solution: "Ratkaisu",
      website: "Jätä tämä kenttä tyhjäksi"
    },
    en: {
      open: "Help and support", close: "Close", search: "Search help", hint: "Describe the problem",
      none: "No help articles found.", back: "Back", solved: "This solved my problem",
      thanks_solved: "Glad it is solved!", ask: "Send a request to support",
      name: "Name", email: "Email address", subject: "Subject", body: "Describe the problem",
      send: "Send", sent: "Thank you! Your request was received, and a confirmation is on its way to your email.",
      failed: "Could not send: ", symptom: "Symptom", cause: "Cause", solution: "Solution",
      website: "Leave this field empty"
    }
  }[wanted === "fi" ? "fi" : "en"];

  function api(path, method, body) {
    var init = { method: method || "GET", credentials: "omit", mode: "cors" };
    if (body) { init.headers = { "Content-Type": "application/json" }; init.body = JSON.stringify(body); }
    return fetch(base + "/widget/v1" + path, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) { return { status: r.status, body: b }; });
    });
  }
  function el(name, attrs, text) {
    var e = document.createElement(name);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) e.textContent = text;
    return e;
  }

  var host = el("div", { id: "tuki-help-widget" });
  var root = host.attachShadow({ mode: "open" });
  var style = el("style");
  style.textContent = [
    ":host{all:initial;font:15px/1.45 system-ui,sans-serif;color:#1d2733}",
    ".launch{position:fixed;right:20px;bottom:20px;z-index:2147483000;background:#1f5fa8;color:#fff;border:0;border-radius:24px;padding:10px 18px;font:inherit;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.25)}",
    ".panel{position:fixed;right:20px;bottom:72px;z-index:2147483000;width:min(380px,calc(100vw - 40px));max-height:min(600px,calc(100vh - 100px));overflow:auto;background:#fff;border:1px solid #d0d7de;border-radius:8px;box-shadow:0 6px 24px rgba(0,0,0,.2);padding:14px}",
    ".panel[hidden]{display:none}",
    "input,textarea{box-sizing:border-box;width:100%;font:inherit;padding:6px 8px;border:1px solid #b7c0c9;border-radius:4px;margin:2px 0 8px}",
    "label{display:block;font-size:13px;color:#4a5561}",
    "button{font:inherit;cursor:pointer}",
    ".primary{background:#1f5fa8;color:#fff;border:0;border-radius:4px;padding:6px 12px}",
    ".link{background:none;border:0;color:#1f5fa8;padding:0;text-align:left}",
    "ul{list-style:none;margin:0;padding:0}li{margin:6px 0}",
    ".snippet{color:#5b6672;font-size:13px;margin:2px 0 0}",
    "h2{font-size:16px;margin:0 0 8px}h3{font-size:13px;text-transform:uppercase;color:#5b6672;margin:12px 0 4px}",
    ".trap{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}",
    ".note{background:#e8f1fb;border-radius:4px;padding:8px}"
  ].join("\n");
  root.appendChild(style);

  var launch = el("button", { class: "launch", type: "button", "aria-expanded": "false" }, T.open);
  var panel = el("div", { class: "panel", role: "dialog", "aria-label": T.open, hidden: "" });
  root.appendChild(launch);
  root.appendChild(panel);

  var searchBox = el("input", { type: "search", name: "q", placeholder: T.hint, "aria-label": T.search, maxlength: "200" });
  var results = el("ul", { class: "results", "aria-live": "polite" });
  var view = el("div", { class: "article" });
  var askButton = el("button", { type: "button", class: "link ask" }, T.ask);
  var form = el("form", { class: "request", hidden: "" });
  panel.appendChild(el("h2", {}, T.search));
  panel.appendChild(searchBox);
  panel.appendChild(results);
  panel.appendChild(view);
  panel.appendChild(askButton);
  panel.appendChild(form);

  function field(name, label, kind) {
    var l = el("label", {}, label);
    var input = kind === "textarea" ? el("textarea", { name: name, rows: "4", required: "" }) :
      el("input", { name: name, type: kind || "text", required: "" });
    l.appendChild(input);
    form.appendChild(l);
    return input;
  }
  field("name", T.name);
  field("email", T.email, "email");
  field("subject", T.subject);
  field("body", T.body, "textarea");
  // The honeypot: out of sight and out of the tab order; people leave it empty.
  var trap = el("label", { class: "trap", "aria-hidden": "true" }, T.website);
  trap.appendChild(el("input", { name: "website", type: "text", tabindex: "-1", autocomplete: "off" }));
  form.appendChild(trap);
  var status = el("p", { class: "status", "aria-live": "polite" });
  form.appendChild(el("button", { type: "submit", class: "primary" }, T.send));
  form.appendChild(status);
  var token = null;

  function list(articles) {
    results.textContent = "";
    view.textContent = "";
    if (!articles.length) { results.appendChild(el("li", { class: "none" }, T.none)); return; }
    articles.forEach(function (a) {
      var li = el("li");
      var b = el("button", { type: "button", class: "link" }, a.title);
      b.addEventListener("click", function () { show(a.id); });
      li.appendChild(b);
      if (a.snippet) li.appendChild(el("p", { class: "snippet" }, a.snippet));
      results.appendChild(li);
    });
  }
  function find(q) {
    api("/articles?q=" + encodeURIComponent(q)).then(function (r) {
      if (r.status === 200) list(r.body.articles || []);
    });
  }
  function show(id) {
    api("/articles/" + encodeURIComponent(id)).then(function (r) {
      if (r.status !== 200) return;
      var a = r.body;
      results.textContent = "";
      view.textContent = "";
      view.appendChild(el("h2", {}, a.title));
      [["symptom_html", T.symptom], ["cause_html", T.cause], ["solution_html", T.solution]].forEach(function (s) {
        if (!a[s[0]]) return;
        view.appendChild(el("h3", {}, s[1]));
        var body = el("div", { class: "section" });
        // Markdown rendered and sanitised by the desk (no scripts, no handlers).
        body.innerHTML = a[s[0]];
        view.appendChild(body);
      });
      var done = el("button", { type: "button", class: "primary solved" }, T.solved);
      done.addEventListener("click", function () {
        api("/articles/" + encodeURIComponent(id) + "/solved", "POST").then(function () {
          view.textContent = "";
          view.appendChild(el("p", { class: "note" }, T.thanks_solved));
        });
      });
      var back = el("button", { type: "button", class: "link" }, T.back);
      back.addEventListener("click", function () { find(searchBox.value); });
      view.appendChild(done);
      view.appendChild(el("br"));
      view.appendChild(back);
    });
  }

  var timer = null;
  searchBox.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { find(searchBox.value); }, 300);
  });
  launch.addEventListener("click", function () {
    var opening = panel.hasAttribute("hidden");
    if (opening) { panel.removeAttribute("hidden"); searchBox.focus(); if (!results.childNodes.length) find(""); }
    else panel.setAttribute("hidden", "");
    launch.setAttribute("aria-expanded", String(opening));
  });
  askButton.addEventListener("click", function () {
    form.removeAttribute("hidden");
    askButton.setAttribute("hidden", "");
    api("/forms", "POST").then(function (r) { if (r.status === 201) token = r.body.token; });
    form.querySelector("[name=name]").focus();
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var data = {};
    ["name", "email", "subject", "body", "website"].forEach(function (n) { data[n] = form.querySelector("[name=" + n + "]").value; });
    data.token = token || "";
    status.textContent = "";
    api("/requests", "POST", data).then(function (r) {
      if (r.status === 201) {
        form.textContent = "";
        form.appendChild(el("p", { class: "note sent" }, T.sent));
      } else {
        var err = (r.body && r.body.error) || {};
        status.textContent = T.failed + (err.message || r.status) + (err.field ? " (" + err.field + ")" : "");
      }
    });
  });

  (document.body || document.documentElement).appendChild(host);
})();
