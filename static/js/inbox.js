/* Inbox and simulator behaviour: live updates over the websocket, catch-up after a drop,
 * the composer (Enter sends, counter, /shortcuts, emoji, notes), small layout toggles.
 *
 * Everything rendered comes from the server as HTML fragments (escaped there); this file
 * only moves fragments into place, never builds markup from event data.
 */
(function () {
  "use strict";
  const bzm = (window.bzm = window.bzm || {});
  const root = document.getElementById("inbox") || document.getElementById("simulator");
  if (!root) return;
  const isSimulator = root.id === "simulator";
  const baseTitle = document.title.replace(/^\(\d+\)\s*/, "");

  // ---------- helpers ----------
  function fetchFragment(url) {
    return fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" }).then((r) => {
      if (!r.ok) {
        const err = new Error("HTTP " + r.status);
        err.status = r.status;
        throw err;
      }
      const unread = r.headers.get("X-Unread-Total");
      if (unread !== null) setUnread(parseInt(unread, 10));
      return r.text();
    });
  }
  function parse(html) {
    const t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content;
  }
  function openConversationId() {
    const convo = document.getElementById("convo");
    return convo ? parseInt(convo.dataset.conversationId, 10) : null;
  }
  function nearBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 160;
  }
  function scrollThreadToEnd(force) {
    const thread = document.getElementById("thread");
    if (thread && (force || nearBottom(thread))) thread.scrollTop = thread.scrollHeight;
  }
  bzm.upsert = function (fragment) {
    // Each top-level element has an id (m-…, a-…, h-…); replace it in place or append it.
    const items = document.getElementById("thread-items");
    if (!items) return;
    const thread = document.getElementById("thread");
    const stick = thread && nearBottom(thread);
    Array.from(fragment.children).forEach((el) => {
      if (!el.id) return;
      const existing = document.getElementById(el.id);
      const older = existing && el.dataset.version && existing.dataset.version
        && parseFloat(el.dataset.version) < parseFloat(existing.dataset.version);
      if (older) return; // a late response must not move ticks backwards
      if (existing) existing.replaceWith(el);
      else {
        const empty = items.querySelector(":scope > .empty-state");
        if (empty) empty.remove();
        items.appendChild(el);
      }
      if (window.htmx) htmx.process(el);
    });
    if (stick) scrollThreadToEnd(true);
  };
  function setUnread(n) {
    if (isNaN(n)) return;
    root.dataset.unreadTotal = String(n);
    document.title = (n > 0 ? "(" + n + ") " : "") + baseTitle;
    document.querySelectorAll('.nav__link[data-section="inbox"]').forEach((link) => {
      let badge = link.querySelector(".nav__badge");
      if (n > 0) {
        if (!badge) {
          badge = document.createElement("span");
          badge.className = "nav__badge";
          link.appendChild(badge);
        }
        badge.textContent = n > 99 ? "99+" : String(n);
        badge.setAttribute("aria-label", n + " unread conversations");
      } else if (badge) badge.remove();
    });
  }
  setUnread(parseInt(root.dataset.unreadTotal || "0", 10));

  // ---------- live updates ----------
  let lastAt = parseFloat(root.dataset.renderedAt || "0") || Date.now() / 1000;
  const seenRows = new Set();

  function refreshRow(conversationId, { moveToTop } = {}) {
    const list = document.getElementById("list-rows");
    if (!list) return Promise.resolve();
    const selected = openConversationId();
    const url = "/c/" + conversationId + "/row/" + (selected ? "?selected=" + selected : "");
    return fetchFragment(url)
      .then((html) => {
        const frag = parse(html);
        const row = frag.querySelector("li.row");
        if (!row) return;
        const existing = document.getElementById(row.id);
        const filtered = (list.dataset.filter && list.dataset.filter !== "all") || list.dataset.q;
        if (existing) {
          if (moveToTop) {
            existing.remove();
            list.prepend(row);
          } else existing.replaceWith(row);
        } else if (!filtered) {
          list.prepend(row);
          const empty = document.querySelector(".list__empty");
          if (empty) empty.remove();
          notifyNew(row);
        } else return;
        if (window.htmx) htmx.process(row);
      })
      .catch((err) => {
        if (err.status === 404) {
          const gone = document.getElementById("row-" + conversationId);
          if (gone) gone.remove();
        }
      });
  }

  function notifyNew(row) {
    if (seenRows.has(row.id)) return;
    seenRows.add(row.id);
    if (!("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
    const name = row.querySelector(".row__name");
    const snippet = row.querySelector(".row__snippet");
    try {
      new Notification("New conversation: " + (name ? name.textContent.trim() : ""), {
        body: snippet ? snippet.textContent.trim() : "",
        tag: row.id,
      });
    } catch (e) {
      /* notifications are optional */
    }
  }

  function refreshMessage(conversationId, messageId) {
    if (openConversationId() !== conversationId) return Promise.resolve();
    const read = document.hidden ? "" : "?read=1";
    return fetchFragment("/c/" + conversationId + "/m/" + messageId + "/" + read)
      .then((html) => bzm.upsert(parse(html)))
      .catch(() => {});
  }

  function refreshConversation(conversationId) {
    if (openConversationId() !== conversationId) return Promise.resolve();
    return fetch("/c/" + conversationId + "/", {
      headers: { "HX-Request": "true", "HX-Target": "conversation" },
      credentials: "same-origin",
    })
      .then((r) => {
        if (r.status === 404) {
          bzm.toast("This conversation is no longer available to you.", "error");
          return null;
        }
        return r.ok ? r.text() : null;
      })
      .then((html) => {
        if (!html) return;
        const frag = parse(html);
        const fresh = frag.getElementById("convo");
        const current = document.getElementById("convo");
        if (!fresh || !current) return;
        const thread = document.getElementById("thread");
        const stick = thread && nearBottom(thread);
        const swap = (selector) => {
          const a = current.querySelector(selector);
          const b = fresh.querySelector(selector);
          if (a && b) {
            a.replaceWith(b);
            if (window.htmx) htmx.process(b);
          }
        };
        swap(".convo__head");
        swap("#thread");
        swap("#panel");
        current.dataset.assignee = fresh.dataset.assignee;
        // Keep what the person is typing unless the composer itself must change (window, opt-out).
        const oldComposer = current.querySelector("#composer form[data-composer]");
        const newComposer = fresh.querySelector("#composer form[data-composer]");
        const textarea = oldComposer && oldComposer.querySelector("textarea");
        if (!oldComposer || !newComposer || oldComposer.getAttribute("hx-post") !== newComposer.getAttribute("hx-post")) {
          swap("#composer-slot");
        } else {
          // Same composer; the guard field must follow the new assignee.
          const guard = oldComposer.querySelector('input[name="expected_assignee"]');
          const freshGuard = newComposer.querySelector('input[name="expected_assignee"]');
          if (guard && freshGuard && !(textarea && textarea.value.trim())) guard.value = freshGuard.value;
        }
        if (stick) scrollThreadToEnd(true);
        setupComposer();
        updateCountdowns();
      })
      .catch(() => {});
  }

  const arrivals = [];
  function handleEvent(event) {
    if (typeof event.at === "number") lastAt = Math.max(lastAt, event.at);
    // Wall-clock arrival of the last events, for bench/dashboard.py's latency breakdown.
    arrivals.push({ event: event.event, conversation_id: event.conversation_id, t: performance.timeOrigin + performance.now() });
    if (arrivals.length > 50) arrivals.shift();
    if (isSimulator) {
      if (event.conversation_id) refreshPhone();
      return;
    }
    const cid = event.conversation_id;
    if (!cid) return;
    if (event.event === "message.received" || event.event === "message.queued") {
      refreshRow(cid, { moveToTop: true });
      if (event.message_id) refreshMessage(cid, event.message_id);
    } else if (event.event === "message.status") {
      refreshRow(cid);
      if (event.message_id) refreshMessage(cid, event.message_id);
    } else if (event.event === "conversation.updated") {
      refreshRow(cid);
      if (!event.read) refreshConversation(cid);
    }
  }

  function catchUp() {
    const since = Math.max(0, lastAt - 5); // re-rendering is idempotent: a margin costs nothing
    const c = openConversationId();
    const url = root.dataset.catchupUrl || "/inbox/catchup/";
    return fetch(url + "?since=" + since + (c ? "&c=" + c : ""), { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        if (!data) return;
        if (data.reload) {
          window.location.reload();
          return;
        }
        if (typeof data.now === "number") lastAt = Math.max(lastAt, data.now);
        if (typeof data.unread_total === "number") setUnread(data.unread_total);
        if (isSimulator) {
          refreshPhone();
          return;
        }
        (data.conversations || []).forEach((id) => refreshRow(id, { moveToTop: true }));
        if (c && (data.thread_changed || []).length) refreshConversation(c);
        else if (c) (data.messages || []).forEach((id) => refreshMessage(c, id));
      })
      .catch(() => {});
  }

  const conn = document.getElementById("conn-state");
  let socket = null;
  let attempts = 0;
  let everConnected = false;
  function showConn(text) {
    if (!conn) return;
    conn.textContent = text;
    conn.hidden = !text;
  }
  function connect() {
    const url = root.dataset.wsUrl;
    if (!url || !("WebSocket" in window)) return;
    try {
      socket = new WebSocket(url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    socket.onopen = () => {
      attempts = 0;
      showConn("");
      root.dataset.live = "connected";
      if (everConnected) catchUp();
      everConnected = true;
    };
    socket.onmessage = (e) => {
      let event;
      try {
        event = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      if (event.event === "hello") {
        if (typeof event.now === "number" && !everConnected) lastAt = Math.min(lastAt, event.now);
        return;
      }
      handleEvent(event);
    };
    socket.onclose = (e) => {
      root.dataset.live = "disconnected";
      if (e.code === 4401) {
        showConn("Signed out — reload to sign in again.");
        return;
      }
      scheduleReconnect();
    };
  }
  function scheduleReconnect() {
    attempts += 1;
    const delay = Math.min(5000, 500 * Math.pow(2, Math.min(attempts, 4)));
    if (attempts > 1) showConn("Reconnecting…");
    setTimeout(connect, delay);
  }
  bzm.live = {
    // For tests and debugging: drop the socket as a network blip would.
    drop: () => socket && socket.close(),
    lastAt: () => lastAt,
    arrivals: () => arrivals.slice(),
  };
  connect();
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && socket && socket.readyState === WebSocket.OPEN) {
      const c = openConversationId();
      if (c) catchUp();
    }
  });

  // ---------- simulator ----------
  let phoneTimer = null;
  function refreshPhone() {
    clearTimeout(phoneTimer);
    phoneTimer = setTimeout(() => {
      const screen = document.getElementById("phone-screen");
      if (!screen) return;
      fetchFragment(root.dataset.phoneUrl)
        .then((html) => {
          screen.innerHTML = html;
          if (window.htmx) htmx.process(screen);
          screen.scrollTop = screen.scrollHeight;
        })
        .catch(() => {});
    }, 60);
  }
  if (isSimulator) {
    const screen = document.getElementById("phone-screen");
    if (screen) screen.scrollTop = screen.scrollHeight;
    document.addEventListener("click", (e) => {
      const chip = e.target.closest("[data-sim-try]");
      if (!chip) return;
      const input = document.getElementById("sim-text");
      if (!input) return;
      input.value = chip.dataset.simTry;
      input.form.requestSubmit();
    });
    document.body.addEventListener("htmx:afterSwap", (e) => {
      if (e.detail.target && e.detail.target.id === "phone-screen") {
        e.detail.target.scrollTop = e.detail.target.scrollHeight;
        const form = document.querySelector("[data-sim-form]");
        if (form && e.detail.requestConfig && e.detail.requestConfig.elt === form) {
          form.reset();
          form.querySelector("#sim-text").focus();
        }
      }
    });
    return;
  }

  // ---------- composer ----------
  function setupComposer() {
    const form = document.querySelector("form[data-composer]");
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    const textarea = form.querySelector("textarea");
    const counter = form.querySelector("[data-count]");
    const max = parseInt(form.dataset.textMax || "4096", 10);
    const replyBtn = form.querySelector("[data-submit-reply]");
    const noteBtn = form.querySelector("[data-submit-note]");
    const canned = form.querySelector(".canned");

    function update() {
      const n = textarea.value.length;
      if (counter) {
        counter.textContent = n.toLocaleString() + " / " + max.toLocaleString();
        counter.classList.toggle("composer__count--over", n > max);
      }
      const over = n > max && form.dataset.mode === "reply";
      if (replyBtn) replyBtn.disabled = over;
      updateCanned();
    }
    function setMode(mode) {
      form.dataset.mode = mode;
      form.querySelectorAll("[data-mode-tab]").forEach((tab) => {
        tab.setAttribute("aria-selected", String(tab.dataset.modeTab === mode));
      });
      if (replyBtn) replyBtn.hidden = mode !== "reply";
      if (noteBtn) noteBtn.hidden = mode !== "note";
      textarea.placeholder =
        mode === "note" ? "Add a private note for your team…" : "Type a reply… (Enter to send, Shift+Enter for a new line, / for saved replies)";
      textarea.focus();
      update();
    }
    form.querySelectorAll("[data-mode-tab]").forEach((tab) => tab.addEventListener("click", () => setMode(tab.dataset.modeTab)));

    function cannedItems() {
      return canned ? Array.from(canned.querySelectorAll("li")) : [];
    }
    function updateCanned() {
      if (!canned) return;
      const m = /^\/([\w-]*)$/.exec(textarea.value);
      let any = false;
      cannedItems().forEach((li, i) => {
        const show = !!m && li.dataset.shortcut.startsWith(m[1].toLowerCase());
        li.hidden = !show;
        if (show && !any) li.setAttribute("aria-selected", "true");
        else li.removeAttribute("aria-selected");
        any = any || show;
      });
      canned.hidden = !any;
    }
    function insertCanned(li) {
      textarea.value = li.dataset.body;
      canned.hidden = true;
      textarea.focus();
      update();
    }
    if (canned) canned.addEventListener("mousedown", (e) => {
      const li = e.target.closest("li");
      if (li) {
        e.preventDefault();
        insertCanned(li);
      }
    });

    textarea.addEventListener("input", update);
    textarea.addEventListener("keydown", (e) => {
      if (canned && !canned.hidden && (e.key === "Enter" || e.key === "Tab")) {
        const li = canned.querySelector('li[aria-selected="true"]');
        if (li) {
          e.preventDefault();
          insertCanned(li);
          return;
        }
      }
      if (canned && !canned.hidden && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
        const visible = cannedItems().filter((li) => !li.hidden);
        const i = visible.findIndex((li) => li.getAttribute("aria-selected") === "true");
        const next = visible[(i + (e.key === "ArrowDown" ? 1 : visible.length - 1)) % visible.length];
        visible.forEach((li) => li.removeAttribute("aria-selected"));
        if (next) next.setAttribute("aria-selected", "true");
        e.preventDefault();
        return;
      }
      if (e.key === "Escape" && canned) canned.hidden = true;
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        if (!textarea.value.trim()) return;
        const btn = form.dataset.mode === "note" ? noteBtn || form.querySelector('button[type="submit"]') : replyBtn;
        if (btn && !btn.disabled) btn.click();
      }
    });
    form.querySelectorAll("[data-emoji]").forEach((b) =>
      b.addEventListener("click", () => {
        const start = textarea.selectionStart || textarea.value.length;
        textarea.value = textarea.value.slice(0, start) + b.dataset.emoji + textarea.value.slice(textarea.selectionEnd || start);
        b.closest("details").open = false;
        textarea.focus();
        update();
      })
    );
    update();
  }

  document.addEventListener("click", (e) => {
    const attach = e.target.closest("[data-attach-toggle]");
    if (attach) {
      const panel = document.querySelector("form[data-attach]");
      if (panel) {
        panel.hidden = !panel.hidden;
        document.querySelectorAll("[data-attach-toggle]").forEach((b) => b.setAttribute("aria-expanded", String(!panel.hidden)));
        if (!panel.hidden) panel.querySelector('input[type="file"]').focus();
      }
    }
    const toggle = e.target.closest("[data-toggle-panel]");
    if (toggle) {
      const convo = document.getElementById("convo");
      if (convo) convo.classList.toggle("convo--panel-open");
      const menu = toggle.closest("details");
      if (menu) menu.open = false;
    }
    // One open menu at a time; a click outside closes it.
    document.querySelectorAll("details.menu[open], details.emoji[open]").forEach((d) => {
      if (!d.contains(e.target)) d.open = false;
    });
  });

  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && !e.target.closest("input, textarea, select, [contenteditable]")) {
      const search = document.getElementById("search-q");
      if (search) {
        e.preventDefault();
        search.focus();
      }
    }
  });

  // ---------- htmx glue ----------
  document.body.addEventListener("htmx:afterSwap", (e) => {
    const target = e.detail.target;
    if (!target) return;
    // Fragments that carry finished sends/notes: move them into the thread (idempotent).
    target.querySelectorAll("template[data-upsert]").forEach((t) => {
      bzm.upsert(t.content.cloneNode(true));
      t.remove();
    });
    if (target.id === "conversation") {
      root.classList.add("inbox--selected");
      document.querySelectorAll(".row--selected").forEach((r) => r.classList.remove("row--selected"));
      const id = openConversationId();
      const row = id && document.getElementById("row-" + id);
      if (row) {
        row.classList.add("row--selected");
        row.classList.remove("row--unread");
        const count = row.querySelector(".count");
        if (count) count.remove();
      }
      const name = target.querySelector(".convo__name");
      document.title = (name ? name.textContent.trim() + " · " : "") + baseTitle.replace(/^.*?Inbox/, "Inbox");
      scrollThreadToEnd(true);
      updateCountdowns();
    }
    if (target.id === "composer-slot" || target.id === "conversation") {
      setupComposer();
      const ta = target.querySelector("form[data-composer] textarea");
      if (ta && target.id === "composer-slot" && e.detail.xhr && e.detail.xhr.status < 300) ta.focus();
    }
  });
  document.body.addEventListener("htmx:beforeRequest", () => {
    if ("Notification" in window && Notification.permission === "default" && !bzm.askedNotify) {
      bzm.askedNotify = true;
      // Asked once, on the first interaction (browsers refuse prompts without one).
      try {
        Notification.requestPermission();
      } catch (err) {
        /* optional */
      }
    }
  });

  // ---------- window countdown ----------
  function updateCountdowns() {
    const now = Date.now() / 1000;
    document.querySelectorAll(".window-countdown").forEach((el) => {
      const left = parseFloat(el.dataset.closesAt) - now;
      const text = el.querySelector(".window-countdown__text");
      if (!text) return;
      if (left <= 0) {
        text.textContent = "Window closed";
        el.classList.replace("badge--window", "badge--closed");
        return;
      }
      const h = Math.floor(left / 3600);
      const m = Math.floor((left % 3600) / 60);
      text.textContent = "Window closes in " + (h ? h + "h " : "") + m + "m";
    });
  }
  setInterval(updateCountdowns, 30000);
  updateCountdowns();
  setupComposer();
  scrollThreadToEnd(true);
})();
