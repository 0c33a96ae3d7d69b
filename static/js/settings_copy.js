/* Copy buttons of the settings pages: <button data-copy="element-id">. Works for content
 * swapped in by htmx (one delegated listener). */
(function () {
  "use strict";
  document.addEventListener("click", (e) => {
    const button = e.target.closest("[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const text = source.textContent.trim();
    const done = () => window.bzm && window.bzm.toast("Copied.", "success");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => select(source));
    } else {
      select(source);
    }
  });

  function select(el) {
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    if (window.bzm) window.bzm.toast("Selected: press Ctrl+C (⌘C) to copy.", "");
  }
})();
