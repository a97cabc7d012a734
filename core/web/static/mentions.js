// @-mentions in comment boxes: typing "@" offers active agents (from the box's
// data-mentions URL); choosing one inserts its token, @[Name](agent:12), which the desk
// shows as a highlighted name. Keyboard: ArrowDown/ArrowUp move, Enter or Tab choose,
// Escape closes. Without JavaScript the box is a plain textarea.
(function () {
  "use strict";
  // "@" at the start or after a space, then what has been typed of the name so far.
  var TRIGGER = /(^|\s)@([^\s@\[\]()]{0,40})$/;
  var counter = 0;

  function setup(textarea) {
    var url = textarea.getAttribute("data-mentions");
    var list = document.createElement("ul");
    counter += 1;
    list.id = "mention-suggestions-" + counter;
    list.className = "mention-suggestions";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    textarea.insertAdjacentElement("afterend", list);
    textarea.setAttribute("role", "combobox");
    textarea.setAttribute("aria-autocomplete", "list");
    textarea.setAttribute("aria-controls", list.id);
    textarea.setAttribute("aria-expanded", "false");
    var items = [];
    var active = -1;
    var latest = 0;

    function close() {
      items = [];
      active = -1;
      list.hidden = true;
      list.textContent = "";
      textarea.setAttribute("aria-expanded", "false");
      textarea.removeAttribute("aria-activedescendant");
    }

    function render() {
      list.textContent = "";
      if (!items.length) { close(); return; }
      items.forEach(function (item, index) {
        var option = document.createElement("li");
        option.id = list.id + "-" + index;
        option.setAttribute("role", "option");
        option.setAttribute("data-index", String(index));
        option.setAttribute("aria-selected", index === active ? "true" : "false");
        var name = document.createElement("span");
        name.className = "mention-name";
        name.textContent = item.name;  // textContent: agent names are never parsed as HTML
        var email = document.createElement("span");
        email.className = "mention-email";
        email.textContent = item.email;
        option.appendChild(name);
        option.appendChild(email);
        list.appendChild(option);
      });
      list.hidden = false;
      textarea.setAttribute("aria-expanded", "true");
      textarea.setAttribute("aria-activedescendant", list.id + "-" + active);
    }

    function typed() {
      if (textarea.selectionStart !== textarea.selectionEnd) return null;
      return TRIGGER.exec(textarea.value.slice(0, textarea.selectionStart));
    }

    function lookup() {
      var match = typed();
      if (!match) { close(); return; }
      var ticket = ++latest;
      fetch(url + "?q=" + encodeURIComponent(match[2]), {
        credentials: "same-origin",
        headers: { Accept: "application/json" }
      })
        .then(function (answer) { return answer.ok ? answer.json() : { items: [] }; })
        .then(function (data) {
          if (ticket !== latest) return;  // a later keystroke asked again: its answer wins
          items = data.items || [];
          active = items.length ? 0 : -1;
          render();
        })
        .catch(close);
    }

    function choose(index) {
      var item = items[index];
      var match = typed();
      if (!item || !match) { close(); return; }
      var caret = textarea.selectionStart;
      var start = caret - match[2].length - 1;
      var insert = item.token + " ";
      textarea.value = textarea.value.slice(0, start) + insert + textarea.value.slice(caret);
      textarea.setSelectionRange(start + insert.length, start + insert.length);
      close();
      textarea.focus();
    }

    textarea.addEventListener("input", lookup);
    textarea.addEventListener("keydown", function (event) {
      if (list.hidden) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        var step = event.key === "ArrowDown" ? 1 : -1;
        active = (active + step + items.length) % items.length;
        render();
      } else if (event.key === "Enter" || event.key === "Tab") {
        if (active >= 0) { event.preventDefault(); choose(active); }
      } else if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    });
    // mousedown, not click: choosing must happen before the textarea loses focus.
    list.addEventListener("mousedown", function (event) {
      var option = event.target.closest("li[data-index]");
      if (option) { event.preventDefault(); choose(Number(option.getAttribute("data-index"))); }
    });
    textarea.addEventListener("blur", close);
  }

  document.querySelectorAll("textarea[data-mentions]").forEach(setup);
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("form.comment-delete[data-confirm]") && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
})();
