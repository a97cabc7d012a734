// IM Dashboard's live pages: while a page is shown, each element with data-fragment-url asks
// for its content again every few seconds (data-refresh-seconds) and swaps it in, unless the
// reader is using something inside it (a focused select or field keeps its state). On the
// dashboard, a change of the period or channel filter shows its figures at once.
(function () {
  "use strict";
  var parts = document.querySelectorAll("[data-fragment-url]");
  var busy = false;

  function refresh(part) {
    if (document.hidden || part.contains(document.activeElement)) {
      return Promise.resolve();
    }
    return fetch(part.getAttribute("data-fragment-url"), {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
    })
      .then(function (answer) {
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html !== null && !part.contains(document.activeElement)) {
          part.innerHTML = html;
          part.setAttribute("data-refreshed", String(Date.now()));
        }
      })
      .catch(function () {});
  }

  function refreshAll() {
    if (busy) {
      return;
    }
    busy = true;
    Promise.all(Array.prototype.map.call(parts, refresh)).then(function () {
      busy = false;
    });
  }

  if (parts.length) {
    var seconds = parseInt(parts[0].getAttribute("data-refresh-seconds"), 10) || 5;
    window.setInterval(refreshAll, seconds * 1000);
  }

  var form = document.getElementById("dashboard-filter");
  if (form) {
    var custom = form.querySelector("[data-custom-dates]");
    var period = form.querySelector("select[name=period]");
    var showCustom = function () {
      if (custom && period) {
        custom.hidden = period.value !== "custom";
      }
    };
    showCustom();
    form.addEventListener("change", function (event) {
      showCustom();
      if (event.target.name === "channel" || (event.target.name === "period" && period.value !== "custom")) {
        form.submit();
      }
    });
  }
})();
