/* Layout behaviour shared by every dashboard page: toasts and htmx error reporting. */
(function () {
  "use strict";
  const bzm = (window.bzm = window.bzm || {});

  bzm.toast = function (text, kind) {
    const box = document.getElementById("toasts");
    if (!box || !text) return;
    const el = document.createElement("div");
    el.className = "toast" + (kind ? " toast--" + kind : "");
    el.textContent = text; // text, never HTML: messages can quote customer input
    box.appendChild(el);
    setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
  };

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("#toasts .toast").forEach((el) => setTimeout(() => el.remove(), 5000));
  });

  // Views answer with `HX-Trigger: {"toast": {"text": "...", "kind": "error"}}`.
  document.addEventListener("toast", (e) => {
    const d = e.detail || {};
    bzm.toast(d.text || d.value, d.kind);
  });

  // A fragment request that fails must never fail silently.
  document.addEventListener("htmx:responseError", (e) => {
    const xhr = e.detail.xhr;
    if (xhr && xhr.getResponseHeader("HX-Trigger")) return; // the view already explained
    let text = "Something went wrong (" + (xhr ? xhr.status : "?") + "). Please try again.";
    if (xhr && xhr.status === 403) text = "You don't have access to that.";
    if (xhr && xhr.status === 404) text = "That item no longer exists.";
    bzm.toast(text, "error");
  });
  document.addEventListener("htmx:sendError", () => bzm.toast("You appear to be offline. Nothing was sent.", "error"));
})();
