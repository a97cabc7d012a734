// Import progress: poll the progress JSON, update the bar and the numbers, reload when done
// (the finished page adds the rejected-rows download). Without JavaScript, a Refresh link.
(function () {
  "use strict";
  var section = document.getElementById("import-progress");
  if (!section) {
    return;
  }
  var state = section.getAttribute("data-state");
  if (state !== "queued" && state !== "running") {
    return;
  }
  var url = section.getAttribute("data-progress-url");
  var bar = document.getElementById("import-progress-bar");
  var stateLabel = document.getElementById("import-state");

  function show(progress) {
    bar.value = progress.percent;
    bar.textContent = progress.percent + "%";
    stateLabel.textContent = progress.state_label;
    section.querySelectorAll("[data-count]").forEach(function (element) {
      var value = progress[element.getAttribute("data-count")];
      element.textContent = Number(value).toLocaleString(document.documentElement.lang || undefined);
    });
    section.setAttribute("data-state", progress.state);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (progress) {
        show(progress);
        if (progress.state === "done" || progress.state === "failed") {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () {
        window.setTimeout(poll, 3000);
      });
  }

  window.setTimeout(poll, 500);
})();
