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
