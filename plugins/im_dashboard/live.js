// IM dashboard: while the page is shown, fetch its figures again every few seconds and swap
// them in; a change of the period or channel filter shows its figures at once.
(function () {
  "use strict";
  var figures = document.getElementById("dashboard-figures");
  var form = document.getElementById("dashboard-filter");
  if (!figures) {
    return;
  }
  var seconds = parseInt(figures.getAttribute("data-refresh-seconds"), 10) || 5;
  var busy = false;

  function refresh() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    fetch(figures.getAttribute("data-fragment-url"), {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
    })
      .then(function (answer) {
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html !== null) {
          figures.innerHTML = html;
          figures.setAttribute("data-refreshed", String(Date.now()));
        }
      })
      .catch(function () {})
      .then(function () {
        busy = false;
      });
  }

  window.setInterval(refresh, seconds * 1000);
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
