// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit")) {
      target.form.submit();
    }
  });
  // fetch() helper for extension panels: sends the page's CSRF token on unsafe requests.
  window.deskFetch = function (url, options) {
    options = options || {};
    var method = (options.method || "GET").toUpperCase();
    if (["GET", "HEAD", "OPTIONS"].indexOf(method) === -1) {
      var meta = document.querySelector('meta[name="csrf-token"]');
      options.headers = Object.assign({}, options.headers, { "X-CSRFToken": meta ? meta.content : "" });
    }
    options.credentials = "same-origin";
    return fetch(url, options);
  };
})();
// Ticket work: select all tickets of the list page; @mentions only in internal comments;
// the new-ticket form's contact type-ahead. Without JavaScript: tick each box, mentions are
// plain text, and the contact search is a search-then-choose step.
(function () {
  "use strict";
  var all = document.querySelector("input[data-select-all]");
  if (all) {
    var name = all.getAttribute("data-select-all");
    var boxes = function () {
      return Array.prototype.slice.call(all.form.querySelectorAll('input[type="checkbox"][name="' + name + '"]'));
    };
    all.hidden = false;
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
    });
    all.form.addEventListener("change", function (event) {
      if (event.target === all) return;
      var list = boxes();
      var ticked = list.filter(function (box) { return box.checked; }).length;
      all.checked = ticked === list.length;
      all.indeterminate = ticked > 0 && ticked < list.length;
    });
  }

  // A reply goes to the customer: a mention token there would be sent as text, so the
  // @-autocomplete (mentions.js) hears the box only while "Internal comment" is chosen.
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLTextAreaElement) || !box.hasAttribute("data-mentions-kind")) return;
    var chosen = box.form.querySelector('input[name="' + box.getAttribute("data-mentions-kind") + '"]:checked');
    if (!chosen || chosen.value !== "comment") event.stopPropagation();
  }, true);

  var search = document.querySelector("input[data-contact-search]");
  if (!search) return;
  var choices = document.getElementById("contact-choices");
  var latest = 0;
  var timer = null;
  function show(items) {
    choices.textContent = "";
    items.forEach(function (item) {
      var entry = document.createElement("li");
      var link = document.createElement("a");
      link.href = search.getAttribute("data-choose-url") + "?contact=" + encodeURIComponent(item.id);
      link.textContent = item.name;  // textContent: names are never parsed as HTML
      entry.appendChild(link);
      [item.email, item.phone].forEach(function (detail) {
        if (!detail) return;
        var span = document.createElement("span");
        span.className = "muted";
        span.textContent = " " + detail;
        entry.appendChild(span);
      });
      choices.appendChild(entry);
    });
  }
  search.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () {
      var term = search.value.trim();
      var ticket = ++latest;
      if (!term) { show([]); return; }
      fetch(search.getAttribute("data-contact-search") + "?q=" + encodeURIComponent(term), {
        credentials: "same-origin",
        headers: { Accept: "application/json" }
      })
        .then(function (answer) { return answer.ok ? answer.json() : { items: [] }; })
        .then(function (data) { if (ticket === latest) show(data.items || []); })
        .catch(function () { /* the search button still works */ });
    }, 200);
  });
})();
