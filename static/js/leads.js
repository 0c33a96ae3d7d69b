/* Leads board: drag a card to another column, or use its Move menu (keyboard and touch).
 * The server's state machine decides: a refused move snaps the card back and says why. */
(function () {
  "use strict";
  const csrf = () => {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { return ""; }
  };

  function askReason() {
    const dialog = document.getElementById("lost-dialog");
    if (!dialog) return Promise.resolve(null);
    const box = dialog.querySelector("textarea");
    box.value = "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", function done() {
        dialog.removeEventListener("close", done);
        resolve(dialog.returnValue === "ok" && box.value.trim() ? box.value.trim() : null);
      });
      dialog.showModal();
      box.focus();
    });
  }

  // Moves a lead; resolves true when the server accepted it.
  async function move(holder, to) {
    let reason = "";
    if (to === "lost") {
      reason = await askReason();
      if (reason === null) return false;
    }
    const body = new FormData();
    body.append("to", to);
    body.append("reason", reason);
    let response;
    try {
      response = await fetch(holder.dataset.moveUrl, {
        method: "POST", body, headers: { "X-CSRFToken": csrf(), "HX-Request": "true" }, credentials: "same-origin",
      });
    } catch (e) {
      window.bzm.toast("You appear to be offline. The lead was not moved.", "error");
      return false;
    }
    if (response.ok) {
      let text = "Moved.";
      try { text = JSON.parse(response.headers.get("HX-Trigger") || "{}").toast.text; } catch (e) { /* keep default */ }
      window.bzm.toast(text, "success");
      document.body.dispatchEvent(new CustomEvent("leads-changed"));
      if (!document.getElementById("board")) window.location.reload();
      return true;
    }
    window.bzm.toast((await response.text()) || "The lead could not be moved.", "error");
    return false;
  }

  // Phones start with the extra filters folded unless one is set (shown without JS).
  function foldFilters(fold) {
    const more = document.getElementById("more-filters");
    const toggle = document.querySelector(".lead-filters__toggle");
    if (!more || !toggle) return;
    more.toggleAttribute("data-collapsed", fold);
    toggle.setAttribute("aria-expanded", String(!fold));
  }
  const phone = window.matchMedia("(max-width: 760px)");
  function foldIfIdle() {
    const more = document.getElementById("more-filters");
    const active = more && [...more.querySelectorAll("input, select")].some((el) => el.value && el.name !== "sort");
    foldFilters(phone.matches && !active);
  }
  document.addEventListener("DOMContentLoaded", foldIfIdle);
  phone.addEventListener("change", foldIfIdle);
  document.addEventListener("click", (e) => {
    if (e.target.closest(".lead-filters__toggle")) foldFilters(!document.getElementById("more-filters").hasAttribute("data-collapsed"));
  });

  document.addEventListener("click", (e) => {
    const button = e.target.closest(".lead-card__move");
    if (!button) return;
    const holder = button.closest("[data-move-url]");
    const menu = button.closest("details");
    if (menu) menu.open = false;
    move(holder, button.dataset.to);
  });

  // Bulk actions: the bar shows while cards are ticked; a board refresh clears the ticks.
  function selection() {
    const boxes = [...document.querySelectorAll(".lead-card__select:checked")];
    const bar = document.getElementById("bulk-form");
    if (!bar) return;
    bar.hidden = boxes.length === 0;
    const count = document.getElementById("bulk-count");
    if (count) count.textContent = boxes.length + " lead" + (boxes.length === 1 ? "" : "s") + " selected";
    document.querySelectorAll(".lead-card").forEach((card) => {
      const box = card.querySelector(".lead-card__select");
      card.classList.toggle("is-selected", !!(box && box.checked));
    });
  }
  document.addEventListener("change", (e) => { if (e.target.closest(".lead-card__select")) selection(); });
  document.addEventListener("click", (e) => {
    if (!e.target.closest("#bulk-clear")) return;
    document.querySelectorAll(".lead-card__select:checked").forEach((box) => { box.checked = false; });
    selection();
  });
  document.body.addEventListener("htmx:afterSwap", selection);
  document.addEventListener("DOMContentLoaded", selection);

  let dragged = null;
  let origin = null;

  function columns() { return document.querySelectorAll(".board__cards"); }

  document.addEventListener("dragstart", (e) => {
    const card = e.target.closest && e.target.closest(".lead-card");
    if (!card) return;
    dragged = card;
    origin = { list: card.parentElement, next: card.nextElementSibling };
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.dataset.leadId);
    const allowed = (card.dataset.allowed || "").split(" ");
    columns().forEach((list) => {
      const stage = list.dataset.stage;
      if (stage === card.dataset.stage) return;
      list.closest(".board__col").classList.add(allowed.includes(stage) ? "is-drop-ok" : "is-drop-no");
    });
    card.classList.add("is-dragging");
  });

  document.addEventListener("dragend", () => {
    document.querySelectorAll(".is-drop-ok, .is-drop-no, .is-over").forEach((el) => el.classList.remove("is-drop-ok", "is-drop-no", "is-over"));
    if (dragged) dragged.classList.remove("is-dragging");
  });

  document.addEventListener("dragover", (e) => {
    const col = dragged && e.target.closest && e.target.closest(".board__col");
    if (!col) return;
    // Every column accepts the drop: the server explains a refused move rather than a dead zone.
    e.preventDefault();
    document.querySelectorAll(".is-over").forEach((el) => el !== col && el.classList.remove("is-over"));
    col.classList.add("is-over");
  });

  document.addEventListener("drop", async (e) => {
    const col = dragged && e.target.closest && e.target.closest(".board__col");
    if (!col) return;
    e.preventDefault();
    const card = dragged;
    const to = col.dataset.stage;
    dragged = null;
    if (to === card.dataset.stage) return;
    const list = col.querySelector(".board__cards");
    list.prepend(card);
    const saved = origin;
    const ok = await move(card, to);
    if (!ok) {
      saved.list.insertBefore(card, saved.next && saved.next.parentElement === saved.list ? saved.next : null);
      card.classList.add("is-refused");
      setTimeout(() => card.classList.remove("is-refused"), 1200);
    }
  });
})();
