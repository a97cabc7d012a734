// Views: add and remove conditions, offer the operators a field's kind allows, and confirm
// deleting a view. The form works without this script (one empty condition row is served).
(function () {
  "use strict";

  var NO_VALUE = ["empty", "not_empty"];

  function syncRow(row) {
    var field = row.querySelector("[data-condition-field]");
    var operator = row.querySelector("[data-condition-operator]");
    var value = row.querySelector("[data-condition-value]");
    var value2 = row.querySelector("[data-condition-value2]");
    var chosen = field.options[field.selectedIndex];
    var kind = chosen ? chosen.getAttribute("data-kind") : null;
    var firstAllowed = null;
    Array.prototype.forEach.call(operator.options, function (option) {
      var kinds = (option.getAttribute("data-kinds") || "").split(" ");
      var allowed = !kind || kinds.indexOf(kind) !== -1;
      option.hidden = !allowed;
      option.disabled = !allowed;
      if (allowed && firstAllowed === null) firstAllowed = option;
    });
    var current = operator.options[operator.selectedIndex];
    if ((!current || current.disabled) && firstAllowed) firstAllowed.selected = true;
    var op = operator.value;
    value.hidden = NO_VALUE.indexOf(op) !== -1;
    value2.hidden = op !== "between";
    // Picklist choices and yes/no as suggestions while typing.
    var listId = field.id + "-choices";
    var list = document.getElementById(listId);
    var options = chosen ? (chosen.getAttribute("data-options") || "") : "";
    if (kind === "boolean") options = "yes\nno";
    if (options) {
      if (!list) {
        list = document.createElement("datalist");
        list.id = listId;
        row.appendChild(list);
      }
      list.innerHTML = "";
      options.split("\n").forEach(function (text) {
        var option = document.createElement("option");
        option.value = text;
        list.appendChild(option);
      });
      value.setAttribute("list", listId);
    } else {
      value.removeAttribute("list");
    }
  }

  function renumber(list) {
    Array.prototype.forEach.call(list.querySelectorAll("[data-condition]"), function (row, index) {
      Array.prototype.forEach.call(row.querySelectorAll("select, input"), function (input) {
        var old = input.id;
        input.id = old.replace(/-\d+$/, "-" + index);
        var label = row.querySelector('label[for="' + old + '"]');
        if (label) label.htmlFor = input.id;
      });
    });
  }

  function setUp() {
    var list = document.getElementById("conditions");
    var add = document.getElementById("add-condition");
    if (list && add) {
      var template = list.querySelector("[data-condition]:last-child").cloneNode(true);
      Array.prototype.forEach.call(template.querySelectorAll(".field-error"), function (node) {
        node.remove();
      });
      Array.prototype.forEach.call(list.querySelectorAll("[data-condition]"), syncRow);
      list.addEventListener("change", function (event) {
        var row = event.target.closest("[data-condition]");
        if (row) syncRow(row);
      });
      list.addEventListener("click", function (event) {
        var button = event.target.closest("[data-remove-condition]");
        if (!button) return;
        var row = button.closest("[data-condition]");
        row.remove();
        renumber(list);
        add.focus();
      });
      add.addEventListener("click", function () {
        var row = template.cloneNode(true);
        Array.prototype.forEach.call(row.querySelectorAll("input"), function (input) {
          input.value = "";
        });
        row.querySelector("[data-condition-field]").selectedIndex = 0;
        list.appendChild(row);
        renumber(list);
        syncRow(row);
        row.querySelector("[data-condition-field]").focus();
      });
    }
    Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
