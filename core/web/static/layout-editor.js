// The custom field layout editor: HTML5 drag and drop for adding fields from the palette and
// reordering the layout; the move up/down buttons do the same from the keyboard. A new order
// is saved with one POST of every key (X-CSRFToken header). Without this script the page
// still works through its forms.
(function () {
  "use strict";

  var editor = document.getElementById("layout-editor");
  if (!editor) return;
  var list = document.getElementById("layout-list");
  var status = document.getElementById("layout-status");
  var form = document.getElementById("new-field-form");
  var typeSelect = document.getElementById("new-field-type");
  var positionInput = document.getElementById("new-field-position");
  var labelInput = document.getElementById("new-field-label");
  var dragged = null; // a layout item being moved
  var draggedType = null; // a palette type being added
  var marker = document.createElement("li");
  marker.className = "drop-marker";
  marker.setAttribute("aria-hidden", "true");

  function items() {
    return Array.prototype.slice.call(list.querySelectorAll(".layout-item"));
  }

  function say(text) {
    status.textContent = text;
  }

  function refreshButtons() {
    var all = items();
    all.forEach(function (item, index) {
      var up = item.querySelector(".move-up");
      var down = item.querySelector(".move-down");
      if (up) up.disabled = index === 0;
      if (down) down.disabled = index === all.length - 1;
    });
  }

  function saveOrder() {
    var keys = items().map(function (item) { return item.getAttribute("data-key"); });
    return window.deskFetch(editor.getAttribute("data-order-url"), {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ keys: keys })
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      editor.setAttribute("data-saved", keys.join(","));
      say(editor.getAttribute("data-saved-text"));
    }).catch(function () {
      say(editor.getAttribute("data-failed-text"));
      window.alert(editor.getAttribute("data-failed-text"));
    });
  }

  function showTypeRows() {
    Array.prototype.forEach.call(form.querySelectorAll("[data-for-type]"), function (row) {
      row.hidden = row.getAttribute("data-for-type") !== typeSelect.value;
    });
  }

  function startNewField(fieldType, position) {
    typeSelect.value = fieldType;
    positionInput.value = position === null ? "" : String(position);
    showTypeRows();
    form.scrollIntoView({ block: "center" });
    labelInput.focus();
  }

  // The index the pointer is over: before the first item whose middle is below it.
  function dropIndex(clientY) {
    var all = items().filter(function (item) { return item !== dragged; });
    for (var i = 0; i < all.length; i += 1) {
      var box = all[i].getBoundingClientRect();
      if (clientY < box.top + box.height / 2) return { index: i, before: all[i] };
    }
    return { index: all.length, before: null };
  }

  editor.addEventListener("dragstart", function (event) {
    var paletteItem = event.target.closest(".palette-item");
    var layoutItem = event.target.closest(".layout-item");
    if (paletteItem) {
      draggedType = paletteItem.getAttribute("data-field-type");
      event.dataTransfer.setData("text/plain", "type:" + draggedType);
      event.dataTransfer.effectAllowed = "copy";
    } else if (layoutItem) {
      dragged = layoutItem;
      layoutItem.classList.add("dragging");
      event.dataTransfer.setData("text/plain", "key:" + layoutItem.getAttribute("data-key"));
      event.dataTransfer.effectAllowed = "move";
    }
  });

  list.addEventListener("dragover", function (event) {
    if (!dragged && !draggedType) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = draggedType ? "copy" : "move";
    var spot = dropIndex(event.clientY);
    list.insertBefore(marker, spot.before);
  });

  list.addEventListener("dragleave", function (event) {
    if (!list.contains(event.relatedTarget)) marker.remove();
  });

  list.addEventListener("drop", function (event) {
    event.preventDefault();
    var spot = dropIndex(event.clientY);
    marker.remove();
    if (draggedType) {
      var fieldType = draggedType;
      draggedType = null;
      startNewField(fieldType, spot.index);
    } else if (dragged) {
      var moved = dragged;
      list.insertBefore(moved, spot.before);
      refreshButtons();
      saveOrder();
    }
  });

  editor.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
    draggedType = null;
    marker.remove();
  });

  // Keyboard and click alternatives: palette buttons add at the end, arrows move one place.
  editor.addEventListener("click", function (event) {
    var add = event.target.closest(".palette-add");
    if (add) {
      startNewField(add.getAttribute("data-field-type"), null);
      return;
    }
    var button = event.target.closest(".move-up, .move-down");
    if (!button || button.disabled) return;
    event.preventDefault();
    var item = button.closest(".layout-item");
    if (button.classList.contains("move-up")) {
      var previous = item.previousElementSibling;
      if (previous) list.insertBefore(item, previous);
    } else {
      var next = item.nextElementSibling;
      if (next) list.insertBefore(next, item);
    }
    refreshButtons();
    // Keep focus on the pressed button so repeated presses keep moving the same field.
    (button.disabled ? item.querySelector(".move-up:not([disabled]), .move-down:not([disabled])") : button).focus();
    saveOrder();
  });

  typeSelect.addEventListener("change", showTypeRows);
  showTypeRows();
})();
