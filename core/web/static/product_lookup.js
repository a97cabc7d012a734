// The product lookup on contact and account pages: typing a name or code offers matching
// products (from the input's data-lookup URL, the REST product list); choosing one sets the
// hidden product_id. Without JavaScript the form links the product named exactly.
(function () {
  "use strict";
  document.querySelectorAll("input[data-lookup]").forEach(function (input) {
    var hidden = input.form.querySelector("input[name=product_id]");
    var list = document.createElement("ul");
    list.id = input.id + "-options";
    list.className = "lookup-options";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    input.insertAdjacentElement("afterend", list);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");
    var items = [];
    var active = -1;
    var latest = 0;

    function close() {
      items = [];
      active = -1;
      list.hidden = true;
      list.textContent = "";
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
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
        option.textContent = item.code ? item.name + " (" + item.code + ")" : item.name;
        list.appendChild(option);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      input.setAttribute("aria-activedescendant", list.id + "-" + active);
    }

    function choose(index) {
      var item = items[index];
      if (!item) return;
      input.value = item.name;
      hidden.value = String(item.id);
      close();
    }

    input.addEventListener("input", function () {
      hidden.value = "";  // typed text no longer names the chosen product
      var term = input.value.trim();
      if (!term) { close(); return; }
      var ticket = ++latest;
      var source = input.getAttribute("data-lookup");
      var joiner = source.indexOf("?") < 0 ? "?" : "&";
      fetch(source + joiner + "limit=10&search=" + encodeURIComponent(term), {
        credentials: "same-origin",
        headers: { Accept: "application/json" }
      })
        .then(function (answer) { return answer.ok ? answer.json() : { items: [] }; })
        .then(function (data) {
          if (ticket !== latest) return;
          items = data.items || [];
          active = items.length ? 0 : -1;
          render();
        })
        .catch(close);
    });
    input.addEventListener("keydown", function (event) {
      if (list.hidden) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        active = (active + (event.key === "ArrowDown" ? 1 : -1) + items.length) % items.length;
        render();
      } else if (event.key === "Enter") {
        event.preventDefault();
        choose(active);
      } else if (event.key === "Escape") {
        close();
      }
    });
    list.addEventListener("mousedown", function (event) {
      var option = event.target.closest("li[data-index]");
      if (option) { event.preventDefault(); choose(Number(option.getAttribute("data-index"))); }
    });
    input.addEventListener("blur", close);
  });
})();
