/*
 * Inbox web chat widget. Embed with:
 *   <script src="https://<channel-ingest>/webchat/widget.js" data-widget-key="wk_..." async></script>
 * Plain JavaScript, no dependencies. The visitor token is kept in localStorage so the chat
 * survives reloads; messages carry an idempotency key so a resend is stored once.
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-widget-key]");
  if (!script || window.__inboxWebchatLoaded) return;
  window.__inboxWebchatLoaded = true;
  var key = script.getAttribute("data-widget-key") || "";
  function clip(text, max) {
    var chars = Array.from(text || "");
    return chars.length > max ? chars.slice(0, max).join("") : text || "";
  }
  var base = new URL(script.src, window.location.href);
  var api = base.origin + "/webchat/v1/widgets/" + encodeURIComponent(key);
  var socketUrl = api.replace(/^http/, "ws") + "/socket?ticket=";
  var storageKey = "inbox-webchat:" + key;

  var state = {
    token: read("token"),
    visitorId: null,
    name: "",
    email: "",
    socket: null,
    reconnectDelay: 1000,
    shown: {},
    typingTimer: null,
    widget: { name: "Chat", greeting: "", color: "#2563eb" }
  };

  function read(field) {
    try { return window.localStorage.getItem(storageKey + ":" + field); } catch (e) { return null; }
  }
  function write(field, value) {
    try { window.localStorage.setItem(storageKey + ":" + field, value); } catch (e) { /* private mode */ }
  }
  function randomId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return "m-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function page() {
    // Clipped by code point (slice() could split a surrogate pair into invalid JSON text); the
    // server clips too, so a long tracking URL never costs the visitor their message.
    return {
      url: clip(window.location.href, 2048),
      title: clip(document.title, 300),
      referrer: clip(document.referrer || "", 2048),
    };
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  function request(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    return fetch(api + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      mode: "cors"
    }).then(function (response) {
      return response.text().then(function (text) {
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        if (!response.ok) {
          var error = new Error((json && json.error && json.error.message) || ("HTTP " + response.status));
          error.status = response.status;
          throw error;
        }
        return json;
      });
    });
  }

  // ---- the DOM: a bubble and a panel, styles scoped by id ----
  var css =
    "#inbox-webchat{position:fixed;right:20px;bottom:20px;z-index:2147483000;font:14px/1.4 system-ui,sans-serif;color:#111}" +
    "#inbox-webchat *{box-sizing:border-box}" +
    "#inbox-webchat-bubble{position:relative;width:56px;height:56px;border-radius:50%;border:0;color:#fff;cursor:pointer;font-size:24px;box-shadow:0 4px 12px rgba(0,0,0,.2)}" +
    "#inbox-webchat.unread #inbox-webchat-bubble::after{content:'';position:absolute;top:4px;right:4px;width:12px;height:12px;border-radius:50%;background:#dc2626;border:2px solid #fff}" +
    "#inbox-webchat-panel{display:none;position:absolute;right:0;bottom:68px;width:320px;max-height:480px;background:#fff;border-radius:12px;box-shadow:0 8px 24px rgba(0,0,0,.2);overflow:hidden;flex-direction:column}" +
    "#inbox-webchat.open #inbox-webchat-panel{display:flex}" +
    "#inbox-webchat-header{padding:12px 14px;color:#fff;font-weight:600}" +
    "#inbox-webchat-messages{flex:1;overflow-y:auto;padding:10px;min-height:160px;max-height:300px;background:#f7f7f8}" +
    ".inbox-webchat-msg{margin:4px 0;padding:6px 10px;border-radius:10px;max-width:85%;white-space:pre-wrap;word-wrap:break-word}" +
    ".inbox-webchat-msg[data-sender=visitor]{margin-left:auto;background:#e0e7ff}" +
    ".inbox-webchat-msg[data-sender=agent],.inbox-webchat-msg[data-sender=greeting]{background:#fff;border:1px solid #e5e7eb}" +
    ".inbox-webchat-msg[data-state=pending]{opacity:.6}" +
    ".inbox-webchat-msg[data-state=failed]{border:1px solid #dc2626}" +
    "#inbox-webchat-typing{display:none;padding:2px 12px;font-size:12px;color:#6b7280}" +
    "#inbox-webchat.typing #inbox-webchat-typing{display:block}" +
    "#inbox-webchat-profile{display:flex;gap:6px;padding:8px 10px 0}" +
    "#inbox-webchat-profile input,#inbox-webchat-compose textarea{flex:1;min-width:0;border:1px solid #d1d5db;border-radius:6px;padding:6px;font:inherit}" +
    "#inbox-webchat.known #inbox-webchat-profile{display:none}" +
    "#inbox-webchat-compose{display:flex;gap:6px;padding:8px 10px 10px}" +
    "#inbox-webchat-send{border:0;border-radius:6px;color:#fff;padding:0 12px;cursor:pointer}";

  var root = el("div", { id: "inbox-webchat" });
  var style = el("style", {}, css);
  var bubble = el("button", { id: "inbox-webchat-bubble", type: "button", "aria-label": "Open chat" }, "\uD83D\uDCAC");
  var panel = el("div", { id: "inbox-webchat-panel", role: "dialog", "aria-label": "Chat" });
  var header = el("div", { id: "inbox-webchat-header" }, state.widget.name);
  var list = el("div", { id: "inbox-webchat-messages", "aria-live": "polite" });
  var typing = el("div", { id: "inbox-webchat-typing" }, "Agent is typing\u2026");
  var profile = el("div", { id: "inbox-webchat-profile" });
  var nameInput = el("input", { id: "inbox-webchat-name", type: "text", placeholder: "Your name", maxlength: "100" });
  var emailInput = el("input", { id: "inbox-webchat-email", type: "email", placeholder: "Email (optional)", maxlength: "254" });
  var compose = el("form", { id: "inbox-webchat-compose" });
  var input = el("textarea", { id: "inbox-webchat-input", rows: "2", placeholder: "Write a message\u2026", maxlength: "4000" });
  var send = el("button", { id: "inbox-webchat-send", type: "submit" }, "Send");
  profile.appendChild(nameInput);
  profile.appendChild(emailInput);
  compose.appendChild(input);
  compose.appendChild(send);
  panel.appendChild(header);
  panel.appendChild(list);
  panel.appendChild(typing);
  panel.appendChild(profile);
  panel.appendChild(compose);
  root.appendChild(style);
  root.appendChild(panel);
  root.appendChild(bubble);

  function paint() {
    var color = /^#[0-9a-fA-F]{6}$/.test(state.widget.color) ? state.widget.color : "#2563eb";
    bubble.style.background = color;
    header.style.background = color;
    send.style.background = color;
    header.textContent = state.widget.name;
  }

  function scrollDown() { list.scrollTop = list.scrollHeight; }

  function render(message, sender, stateAttr) {
    var node = message.id && state.shown[message.id];
    if (!node) {
      node = el("div", { "class": "inbox-webchat-msg", "data-sender": sender });
      node.textContent = message.text;
      list.appendChild(node);
      if (message.id) state.shown[message.id] = node;
    }
    if (message.id) node.setAttribute("data-id", message.id);
    if (stateAttr) node.setAttribute("data-state", stateAttr); else node.removeAttribute("data-state");
    scrollDown();
    return node;
  }

  // Read receipts: agent replies shown while the panel is open are reported once each. Ids
  // the server has not confirmed yet are kept in storage and sent again on the next page (a
  // reload or a navigation right after a reply appeared cuts the request; they were seen).
  var reported = {};
  function unconfirmedReads() {
    try { return JSON.parse(read("reads") || "[]").filter(function (id) { return typeof id === "string"; }); }
    catch (e) { return []; }
  }
  function sendReads(ids) {
    if (!ids.length) return;
    ids.forEach(function (id) { reported[id] = true; });
    var kept = unconfirmedReads().filter(function (id) { return ids.indexOf(id) < 0; });
    write("reads", JSON.stringify(ids.concat(kept).slice(0, 100)));
    request("POST", "/read", { message_ids: ids }).then(function () {
      write("reads", JSON.stringify(unconfirmedReads().filter(function (id) { return ids.indexOf(id) < 0; })));
    }, function () {
      ids.forEach(function (id) { delete reported[id]; });
    });
  }
  function reportRead() {
    if (!state.token || !root.classList.contains("open")) return;
    var ids = [];
    list.querySelectorAll('[data-sender="agent"][data-id]').forEach(function (node) {
      var id = node.getAttribute("data-id");
      if (!reported[id] && ids.length < 100) ids.push(id);
    });
    sendReads(ids);
  }
  function resendUnconfirmedReads() {
    if (state.token) sendReads(unconfirmedReads().filter(function (id) { return !reported[id]; }));
  }

  function showTyping(on) {
    clearTimeout(state.typingTimer);
    root.classList.toggle("typing", !!on);
    // A lost "stopped typing" must not leave the indicator on forever.
    if (on) state.typingTimer = setTimeout(function () { root.classList.remove("typing"); }, 10000);
  }

  function loadHistory() {
    return request("GET", "/messages").then(function (page) {
      (page.items || []).forEach(function (m) {
        // Our own messages are keyed by their idempotency key until the server names them.
        var pending = m.sender === "visitor" && state.shown[m.client_message_id];
        if (pending && !state.shown[m.id]) {
          state.shown[m.id] = pending;
        }
        render(m, m.sender);
      });
      root.setAttribute("data-history-loaded", "true");
      resendUnconfirmedReads();
      reportRead();
    });
  }

  function retryConnect() {
    setTimeout(connect, state.reconnectDelay);
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, 15000);
  }

  // The socket URL carries a one-minute, single-use ticket, never the visitor token (URLs end up
  // in proxies' logs).
  function connect() {
    if (!state.token) return;
    request("POST", "/socket-tickets", {}).then(function (issued) {
      openSocket(issued.ticket);
    }).catch(retryConnect);
  }

  function openSocket(ticket) {
    var socket = new WebSocket(socketUrl + encodeURIComponent(ticket));
    state.socket = socket;
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "ready") {
        state.reconnectDelay = 1000;
        root.setAttribute("data-connected", "true");
        loadHistory().catch(function () { /* shown on the next reconnect */ });
      } else if (frame.type === "message" && frame.message) {
        showTyping(false);
        var fresh = !state.shown[frame.message.id];
        render(frame.message, "agent");
        // A reply while the panel is closed: a dot on the bubble until it is opened.
        if (fresh && !root.classList.contains("open")) root.classList.add("unread");
        reportRead();
      } else if (frame.type === "typing") {
        showTyping(frame.typing);
      }
    };
    socket.onclose = function () {
      root.removeAttribute("data-connected");
      if (state.socket !== socket) return;
      retryConnect();
    };
  }

  function startSession(extra) {
    var body = { locale: (navigator.language || "").slice(0, 35) };
    // The page load is the page view; a later profile update is not another one.
    if (!extra) body.page = page();
    if (state.token) body.visitor_token = state.token;
    Object.keys(extra || {}).forEach(function (k) { body[k] = extra[k]; });
    return request("POST", "/sessions", body).then(function (session) {
      var fresh = session.visitor_token !== state.token;
      state.token = session.visitor_token;
      state.visitorId = session.visitor_id;
      state.name = session.name || "";
      state.email = session.email || "";
      write("token", state.token);
      root.setAttribute("data-visitor-id", state.visitorId);
      root.classList.toggle("known", !!state.name);
      if (session.widget) state.widget = session.widget;
      paint();
      if (fresh || !state.socket) {
        if (state.socket) { var old = state.socket; state.socket = null; old.close(); }
        connect();
      }
      return session;
    });
  }

  function greet() {
    if (state.widget.greeting && !state.shown.greeting) {
      state.shown.greeting = render({ text: state.widget.greeting }, "greeting");
    }
  }

  function postMessage(message, node, attempt) {
    return request("POST", "/messages", {
      client_message_id: message.client_message_id,
      text: message.text,
      page: page()
    }).then(function (answer) {
      var stored = answer.message;
      state.shown[stored.id] = node;
      node.setAttribute("data-id", stored.id);
      node.removeAttribute("data-state");
    }).catch(function (error) {
      // Same key on every attempt: the server stores the message once.
      var retryable = !error.status || error.status === 429 || error.status >= 500;
      if (retryable && attempt < 5) {
        return new Promise(function (resolve) { setTimeout(resolve, 1000 * Math.pow(2, attempt)); })
          .then(function () { return postMessage(message, node, attempt + 1); });
      }
      node.setAttribute("data-state", "failed");
    });
  }

  // Typing, told to the agents over the socket: at most one "typing" every 3 s while keys are
  // pressed, "stopped" after 5 s without a key or when the message is sent.
  var typing = { sentAt: 0, stopTimer: null };
  function sendTyping(on) {
    var socket = state.socket;
    if (!socket || socket.readyState !== 1) return;
    try { socket.send(JSON.stringify({ type: "typing", typing: on })); } catch (e) { /* the next key retries */ }
  }
  function stopTyping() {
    if (typing.stopTimer) { clearTimeout(typing.stopTimer); typing.stopTimer = null; }
    if (typing.sentAt) { typing.sentAt = 0; sendTyping(false); }
  }
  input.addEventListener("input", function () {
    if (!input.value.trim()) { stopTyping(); return; }
    var now = Date.now();
    if (now - typing.sentAt > 3000) { typing.sentAt = now; sendTyping(true); }
    if (typing.stopTimer) clearTimeout(typing.stopTimer);
    typing.stopTimer = setTimeout(stopTyping, 5000);
  });

  compose.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    stopTyping();
    var message = { client_message_id: randomId(), text: text };
    var node = render({ id: message.client_message_id, text: text }, "visitor", "pending");
    var name = nameInput.value.trim();
    var email = emailInput.value.trim();
    var ready = (name && name !== state.name) || (email && email !== state.email)
      ? startSession({ name: name, email: email })
      : Promise.resolve();
    ready.then(function () { return postMessage(message, node, 0); })
      .catch(function () { node.setAttribute("data-state", "failed"); });
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      compose.requestSubmit ? compose.requestSubmit() : send.click();
    }
  });
  bubble.addEventListener("click", function () {
    root.classList.toggle("open");
    if (root.classList.contains("open")) { root.classList.remove("unread"); greet(); scrollDown(); input.focus(); reportRead(); }
  });

  // Single-page sites change pages without loading: report those page views too, with the
  // page they came from as referrer.
  var lastUrl = window.location.href;
  function reportPageView() {
    if (window.location.href === lastUrl || !state.token) return;
    var view = page();
    view.referrer = lastUrl;
    lastUrl = window.location.href;
    request("POST", "/page-views", view).catch(function () { /* session history is best effort */ });
  }
  ["pushState", "replaceState"].forEach(function (name) {
    var original = window.history[name];
    if (typeof original !== "function") return;
    window.history[name] = function () {
      var result = original.apply(this, arguments);
      reportPageView();
      return result;
    };
  });
  window.addEventListener("popstate", reportPageView);

  function mount() {
    document.body.appendChild(root);
    paint();
    startSession().then(function () { root.setAttribute("data-ready", "true"); })
      .catch(function (error) { root.setAttribute("data-error", error.message); });
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
