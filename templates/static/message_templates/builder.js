// Template builder: show only the inlines and fields that matter for the chosen kind.
"use strict";
(function () {
  function show(element, wanted) {
    // A group with errors stays visible, or the error could not be seen.
    if (element) { element.style.display = wanted || element.querySelector(".errorlist") ? "" : "none"; }
  }
  function toggle() {
    var select = document.getElementById("id_kind");
    if (!select) { return; }
    var kind = select.value;
    var buttons = document.getElementById("buttons-group");
    var rows = document.getElementById("rows-group");
    var listButton = document.querySelector(".field-list_button");
    show(buttons, kind === "interactive_button" || kind === "meta_template");
    show(rows, kind === "interactive_list");
    show(listButton, kind === "interactive_list");
  }
  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_kind");
    if (select) { select.addEventListener("change", toggle); }
    toggle();
  });
})();
