// The list beside a contact or an account: the up and down arrows open the record above or
// below the one shown (past the list's ends, its previous or next page). Keys typed into a
// field, or with a modifier held, are left alone.
(function () {
  "use strict";

  var list = document.querySelector("[data-record-list]");
  if (!list) return;

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (typing(event.target)) return;
    var links = Array.prototype.slice.call(list.querySelectorAll("[data-record-link]"));
    var current = links.findIndex(function (link) {
      return link.getAttribute("aria-current") === "page";
    });
    var step = event.key === "ArrowDown" ? 1 : -1;
    var next = current === -1 ? (step > 0 ? 0 : links.length - 1) : current + step;
    var target = links[next];
    if (!target) {
      target = list.querySelector(step > 0 ? "[data-list-next]" : "[data-list-previous]");
    }
    if (!target) return;
    event.preventDefault();
    window.location.assign(target.href);
  });
})();
