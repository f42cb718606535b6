// News QA chat page: plain DOM code, no build step, no external resources.
// Server data is only ever inserted with textContent / text nodes, never as HTML.
"use strict";

(() => {
  const SESSION_KEY = "newsqa.session_id";
  const MARKER = /\[(\d+)\]/g;

  const $ = (id) => document.getElementById(id);
  const ui = {
    alerts: $("alerts"),
    messages: $("messages"),
    emptyState: $("empty-state"),
    askForm: $("ask-form"),
    question: $("question"),
    ask: $("ask"),
    newConversation: $("new-conversation"),
    panel: $("article-panel"),
    panelPassage: $("panel-passage"),
    panelTitle: $("panel-title"),
    panelMeta: $("panel-meta"),
    panelWarning: $("panel-warning"),
    panelBody: $("panel-body"),
    panelClose: $("panel-close"),
    apiKey: $("api-key"),
    keyDialog: $("key-dialog"),
    keyForm: $("key-form"),
    keyReason: $("key-reason"),
    keyInput: $("key-input"),
    keyRemember: $("key-remember"),
    keyForget: $("key-forget"),
    keyCancel: $("key-cancel"),
    filterSince: $("filter-since"),
    filterUntil: $("filter-until"),
    filterSource: $("filter-source"),
    filterAsOf: $("filter-as-of"),
    filterSummary: $("filter-summary"),
    filterSummaryText: $("filter-summary-text"),
    clearFilters: $("clear-filters"),
    selection: $("selection"),
    selectionCount: $("selection-count"),
    clearSelection: $("clear-selection"),
  };

  // ---- small helpers -------------------------------------------------------------------------------------

  /** An element with a class, text and children; attributes as an object. Text goes in as text, never HTML. */
  function el(tag, { className, text, attrs } = {}, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  /** The calendar day ("2025-09-08") of an ISO date or date-time, as written: "2025-09-08T23:30:00+02:00" is the
   *  8th, the day the outlet dated it, whatever the reader's time zone (the server's timelines group days the same
   *  way). Null for anything else. */
  function isoDay(value) {
    const match = /^(\d{4}-\d{2}-\d{2})(?:$|[T ])/.exec(String(value || "").trim());
    return match ? match[1] : null;
  }

  /** The day before an ISO day ("2025-06-01" -> "2025-05-31"). */
  function dayBefore(day) {
    const date = new Date(`${day}T00:00:00Z`);
    date.setUTCDate(date.getUTCDate() - 1);
    return date.toISOString().slice(0, 10);
  }

  /** "2022-02-11" (or an ISO date-time: its day) as a readable date in the reader's locale; anything else as it is. */
  function formatDate(value) {
    if (!value) return "";
    const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(isoDay(value) || "");
    if (!match) return String(value);
    const date = new Date(Date.UTC(+match[1], +match[2] - 1, +match[3]));
    if (Number.isNaN(date.getTime())) return String(value);
    return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" }).format(date);
  }

  /** An article id as one path segment (ids may contain "/"; the server decodes %2F back). */
  const articlePath = (id) => `/api/articles/${encodeURIComponent(id)}`;

  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

  // ---- talking to the server -----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status = 0) {
      super(message);
      this.status = status;
    }
  }

  const UNREACHABLE = "Cannot reach the server. Check that it is running (qa serve), then try again.";

  async function errorFrom(response) {
    let message = `The server answered ${response.status} ${response.statusText}`.trim() + ".";
    try {
      const body = await response.json();
      if (body && body.error && typeof body.error.message === "string") message = body.error.message;
      else if (body && typeof body.detail === "string") message = body.detail;
    } catch {
      // not JSON: keep the status line
    }
    return new ApiError(message, response.status);
  }

  // ---- the API key, when the server needs one ----------------------------------------------------------
  // Kept for the tab (sessionStorage) unless the reader asks to remember it on this device (localStorage).

  const KEY_SLOT = "newsqa.api_key";
  const storedKey = () => sessionStorage.getItem(KEY_SLOT) || localStorage.getItem(KEY_SLOT) || "";
  let keyPrompt = null; // one dialog however many requests were refused at once

  function forgetKey() {
    sessionStorage.removeItem(KEY_SLOT);
    localStorage.removeItem(KEY_SLOT);
  }

  /** Ask the reader for a key (why: the server's message); resolves to the key, or "" if they cancel. */
  function askForKey(reason) {
    if (keyPrompt) return keyPrompt;
    keyPrompt = new Promise((resolve) => {
      ui.keyReason.textContent = reason;
      ui.keyInput.value = "";
      ui.keyRemember.checked = Boolean(localStorage.getItem(KEY_SLOT));
      const done = (key) => {
        ui.keyForm.removeEventListener("submit", submit);
        ui.keyDialog.removeEventListener("cancel", cancel);
        ui.keyCancel.removeEventListener("click", cancel);
        if (ui.keyDialog.open) ui.keyDialog.close();
        keyPrompt = null;
        resolve(key);
      };
      const submit = (event) => {
        event.preventDefault();
        const key = ui.keyInput.value.trim();
        if (!key) return;
        forgetKey();
        (ui.keyRemember.checked ? localStorage : sessionStorage).setItem(KEY_SLOT, key);
        ui.apiKey.hidden = false;
        done(key);
      };
      const cancel = (event) => {
        event.preventDefault();
        done("");
      };
      ui.keyForm.addEventListener("submit", submit);
      ui.keyDialog.addEventListener("cancel", cancel);
      ui.keyCancel.addEventListener("click", cancel);
      ui.keyDialog.showModal();
      ui.keyInput.focus();
    });
    return keyPrompt;
  }

  /** fetch that turns network failures and error statuses into ApiError with a readable message; a 401 asks the
   *  reader for a key and tries again with it. */
  async function request(path, { method = "GET", body, signal, accept = "application/json" } = {}) {
    for (;;) {
      const options = { method, signal, headers: { Accept: accept } };
      const key = storedKey();
      if (key) options.headers.Authorization = `Bearer ${key}`;
      if (body !== undefined) {
        options.headers["Content-Type"] = "application/json";
        options.body = JSON.stringify(body);
      }
      let response;
      try {
        response = await fetch(path, options);
      } catch (err) {
        if (err && err.name === "AbortError") throw err;
        throw new ApiError(UNREACHABLE);
      }
      if (response.ok) return response;
      const error = await errorFrom(response);
      if (response.status !== 401) throw error;
      if (key) forgetKey(); // the stored key was refused: do not send it again
      if (!(await askForKey(error.message))) throw error;
    }
  }

  async function getJSON(path) {
    const response = await request(path);
    return response.json();
  }

  async function sendJSON(method, path, body) {
    const response = await request(path, { method, body });
    return response.json();
  }

  /** Server-Sent Events from a fetch response body: yields {event, data} (data lines joined by "\n"). */
  async function* readEvents(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let event = "";
    let data = [];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
        // a trailing "\r" may be the first half of "\r\n": keep it until the next chunk
        const held = !done && buffer.endsWith("\r") ? "\r" : "";
        const lines = (held ? buffer.slice(0, -1) : buffer).split(/\r\n|\r|\n/);
        buffer = lines.pop() + held;
        for (const line of lines) {
          if (line === "") {
            if (data.length) yield { event: event || "message", data: data.join("\n") };
            event = "";
            data = [];
          } else if (!line.startsWith(":")) {
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            let val = colon < 0 ? "" : line.slice(colon + 1);
            if (val.startsWith(" ")) val = val.slice(1);
            if (field === "event") event = val;
            else if (field === "data") data.push(val);
          }
        }
        if (done) break;
      }
    } finally {
      reader.cancel().catch(() => {}); // a no-op when the stream ended; stops it when the reader gave up early
    }
  }

  // ---- alerts and status -----------------------------------------------------------------------------------

  function showError(message) {
    const close = el("button", { className: "icon-button", text: "×", attrs: { type: "button", "aria-label": "Dismiss" } });
    const item = el("div", { className: "alert" }, el("span", { className: "alert-text", text: message }), close);
    close.addEventListener("click", () => item.remove());
    // the newest error first; keep a few
    ui.alerts.prepend(item);
    while (ui.alerts.children.length > 3) ui.alerts.lastElementChild.remove();
  }

  function clearErrors() {
    ui.alerts.replaceChildren();
  }

  function setStatus(node, message, kind = "ok") {
    node.textContent = message;
    node.dataset.kind = kind;
  }

  // ---- the conversation -------------------------------------------------------------------------------------

  const session = {
    get id() {
      try {
        return sessionStorage.getItem(SESSION_KEY);
      } catch {
        return null;
      }
    },
    set id(value) {
      try {
        if (value) sessionStorage.setItem(SESSION_KEY, value);
        else sessionStorage.removeItem(SESSION_KEY);
      } catch {
        // storage unavailable (privacy mode): the conversation lasts as long as the page
      }
    },
  };

  /** The citations of each assistant bubble, for its [n] markers and its source list. */
  const citationsOf = new WeakMap();
  let current = null; // {controller} while an answer streams

  function nearBottom() {
    const m = ui.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function scrollToEnd(force = false) {
    if (force || nearBottom()) ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function addUserMessage(text) {
    ui.emptyState.hidden = true;
    const bubble = el("div", { className: "message user", attrs: { "data-testid": "user-message" } },
      el("div", { className: "message-label visually-hidden", text: "You asked:" }),
      el("p", { className: "message-text", text }));
    ui.messages.append(bubble);
    scrollToEnd(true);
    return bubble;
  }

  /** Whether two questions differ only in case, punctuation, spacing or a leading "and"/"so"/…. */
  function sameQuestion(a, b) {
    const norm = (q) => q.toLowerCase().replace(/^\s*(and|also|so|but|then)\b/, "").replace(/[^\p{L}\p{N}]+/gu, " ").trim();
    return norm(a) === norm(b);
  }

  function showUnderstood(userBubble, typed, query) {
    if (!query || sameQuestion(query, typed)) return;
    userBubble.querySelector(".understood")?.remove();
    userBubble.append(el("p", { className: "understood", text: `Understood as: ${query}` }));
  }

  /** An assistant bubble; `render` may be called again and again while the text streams in. */
  function addAssistantMessage() {
    const text = el("div", { className: "message-text" });
    const typing = el("span", { className: "typing-dots", attrs: { "aria-hidden": "true" } },
      el("span"), el("span"), el("span"));
    const typingLabel = el("span", { className: "visually-hidden", text: "Answering…" });
    const bubble = el("div", { className: "message assistant typing", attrs: { "data-testid": "assistant-message" } },
      el("div", { className: "message-label visually-hidden", text: "Answer:" }), text, typing, typingLabel);
    ui.messages.append(bubble);
    scrollToEnd(true);
    let answer = "";
    const view = {
      bubble,
      append(piece) {
        answer += piece;
        view.render(answer, citationsOf.get(bubble), true);
      },
      render(value, citations, streaming = false) {
        answer = value;
        const stick = nearBottom();
        renderAnswer(text, value, citations, streaming);
        if (stick) scrollToEnd(true);
      },
      setCitations(citations) {
        citationsOf.set(bubble, citations);
        view.render(answer, citations, true);
      },
      finish(reply) {
        const stick = nearBottom();
        citationsOf.set(bubble, reply.citations || []);
        bubble.classList.remove("typing");
        typing.remove();
        typingLabel.remove();
        if (reply.abstained) {
          bubble.classList.add("abstained");
          bubble.prepend(el("p", { className: "abstain-label", text: "No answer in the articles" }));
        }
        view.render(reply.answer, reply.citations || []);
        const when = whenLine(reply);
        if (when) text.after(when);
        const unchecked = (reply.sentences || []).filter((s) => !s.supported).length;
        if (unchecked) {
          // a generative answer: what the model wrote but its passages do not bear out is left out, and said so
          const note = `${unchecked} sentence${unchecked > 1 ? "s" : ""} the model wrote ${unchecked > 1 ? "were" : "was"} left out: the cited passages do not support ${unchecked > 1 ? "them" : "it"}.`;
          bubble.append(el("p", { className: "unsupported-note", text: note }));
        }
        renderSources(bubble, reply.citations || [], reply.abstained);
        if (stick) scrollToEnd(true);
      },
      fail(message) {
        bubble.classList.remove("typing");
        bubble.classList.add("failed");
        typing.remove();
        typingLabel.remove();
        bubble.append(el("p", { className: "failed-label", text: message }));
      },
    };
    return view;
  }

  /** A muted line under an answer: how recent its reports are, and how a relative date in the question was read
   *  ('"last month" read as 1 May 2025 – 31 May 2025'); null when there is nothing to say. */
  function whenLine(reply) {
    const parts = [];
    if (reply.reported) parts.push(document.createTextNode(`Reported ${reply.reported}`));
    const read = reply.time?.phrase ? readAs(reply.time) : null;
    if (read) parts.push(read);
    if (!parts.length) return null;
    const line = el("p", { className: "answer-when" });
    parts.forEach((part, i) => line.append(...(i ? [" · ", part] : [part])));
    return line;
  }

  /** How the question's time phrase was read, as a window of days. `until` is exclusive (the first moment left
   *  out), so a window ending at midnight is shown up to the day before. */
  function readAs(time) {
    const since = isoDay(time.since);
    let until = isoDay(time.until);
    if (until && /T00:00(:00(\.0+)?)?(Z|[+-]00:?00)?$/.test(time.until)) until = dayBefore(until);
    const span = el("span", { className: "read-as" }, `“${time.phrase}” read as `);
    if (since && until) span.append(timeElement(since), " – ", timeElement(until));
    else if (since) span.append("from ", timeElement(since));
    else if (until) span.append("up to ", timeElement(until));
    else return null;
    return span;
  }

  /** The answer text with its [n] markers as buttons (disabled until the citations are known). */
  function renderAnswer(container, value, citations, streaming) {
    const byN = new Map((citations || []).map((c) => [c.n, c]));
    const parts = [];
    let last = 0;
    for (const match of value.matchAll(MARKER)) {
      const n = Number(match[1]);
      const citation = byN.get(n);
      if (!citation && !streaming) continue; // an unmatched "[n]" stays plain text
      if (match.index > last) parts.push(document.createTextNode(value.slice(last, match.index)));
      const button = el("button", {
        className: "cite",
        text: `[${n}]`,
        attrs: {
          type: "button",
          "data-n": n,
          "aria-label": citation ? `Source ${n}: ${citation.title}` : `Source ${n}`,
          title: citation ? citation.title : null,
          disabled: !citation,
        },
      });
      parts.push(button);
      last = match.index + match[0].length;
    }
    if (last < value.length) parts.push(document.createTextNode(value.slice(last)));
    container.replaceChildren(...parts);
  }

  /** A date as a <time> element (machine-readable day, readable text), or null when there is none. */
  function timeElement(value, className) {
    const day = isoDay(value);
    return day ? el("time", { className, text: formatDate(day), attrs: { datetime: day } }) : null;
  }

  /** Where a quote comes from: its title, outlet and date, on one line. */
  function citedFrom(c) {
    const line = el("span", { className: "citation-from" }, el("span", { className: "citation-title", text: c.title }));
    if (c.source) line.append(el("span", { className: "citation-source", text: c.source }));
    const when = timeElement(c.published, "citation-date");
    if (when) line.append(when);
    return line;
  }

  function renderSources(bubble, citations, abstained) {
    bubble.querySelector(".sources")?.remove();
    if (!citations.length) return;
    const list = el("ol", { className: "citations" });
    for (const c of citations) {
      // an older article's account, shown beside the newest one's: say so, or it reads as the current state
      const label = c.earlier ? el("span", { className: "earlier-label", text: "Earlier reporting" }) : null;
      const open = el("button", {
        className: "citation-open",
        attrs: { type: "button", "data-n": c.n, title: "Show this passage in its article" },
      },
      el("span", { className: "citation-n", text: `[${c.n}]` }),
      label,
      el("q", { className: "citation-quote", text: c.quote }),
      citedFrom(c));
      list.append(el("li", { className: c.earlier ? "earlier" : "", attrs: { "data-n": c.n } }, open));
    }
    const heading = abstained ? "Closest passages (they do not answer the question)" : "Sources";
    bubble.append(el("section", { className: "sources" }, el("h3", { text: heading }), list));
  }

  function setBusy(busy) {
    ui.ask.disabled = busy;
    ui.askForm.classList.toggle("busy", busy);
    ui.messages.setAttribute("aria-busy", String(busy));
  }

  async function openStream(message, filters, signal, before) {
    const sessionId = session.id;
    try {
      return await request("/api/chat/stream", {
        method: "POST",
        body: sessionId ? { ...filters, session_id: sessionId, message } : { ...filters, message },
        accept: "text/event-stream",
        signal,
      });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && sessionId) {
        // the server no longer knows this conversation (a new data directory): start a fresh one
        session.id = null;
        const notice = "The previous conversation is no longer on the server; this question starts a new one.";
        ui.messages.insertBefore(el("p", { className: "notice", text: notice }), before);
        return openStream(message, filters, signal, before);
      }
      throw err;
    }
  }

  async function ask(message) {
    if (current) return;
    clearErrors();
    const controller = new AbortController();
    const mine = { controller };
    current = mine;
    setBusy(true);
    const userBubble = addUserMessage(message);
    const answer = addAssistantMessage();
    const filters = activeFilters(); // as they are now: the timeline must follow the same ones
    let started = false;
    let reply = null;
    try {
      const response = await openStream(message, filters, controller.signal, userBubble);
      for await (const { event, data } of readEvents(response)) {
        controller.signal.throwIfAborted(); // events already received must not land in a new conversation
        let payload;
        try {
          payload = JSON.parse(data);
        } catch {
          continue;
        }
        if (event === "session") {
          started = true;
          session.id = payload.session_id;
          showUnderstood(userBubble, message, payload.query);
        } else if (event === "delta") {
          answer.append(payload.text || "");
        } else if (event === "citations") {
          answer.setCitations(payload.citations || []);
        } else if (event === "done") {
          reply = payload;
          if (payload.session_id) session.id = payload.session_id;
          answer.finish(payload);
          conversationChanged(); // the conversation list shows the new turn
          // not awaited: the next question need not wait for the timeline
          if (payload.timeline) showTimeline(answer.bubble, payload.query || message, filters);
        } else if (event === "error") {
          throw new ApiError(payload.error?.message || "The server failed while answering.");
        }
      }
      if (!reply) throw new ApiError("The answer was cut off before it was complete. Please ask again.");
    } catch (err) {
      if (err && err.name === "AbortError") {
        answer.fail("Stopped.");
      } else {
        const lost = "The connection to the server was lost while answering. Please ask again.";
        showError(err instanceof ApiError ? err.message : started ? lost : UNREACHABLE);
        if (!started) {
          // the server refused the question: nothing was recorded, so give it back to edit
          userBubble.remove();
          answer.bubble.remove();
          if (!ui.question.value) ui.question.value = message;
          ui.emptyState.hidden = ui.messages.querySelector(".message") !== null;
        } else {
          answer.fail("The answer could not be completed.");
        }
      }
    } finally {
      if (current === mine) {
        current = null;
        setBusy(false);
        autoGrow();
        ui.question.focus();
      }
    }
  }

  // ---- the timeline under an answer that asks how something developed ---------------------------------------

  /** Fetch the timeline of `query` under the question's filters and show it in the answer's bubble. A failure is
   *  a note in the bubble, not a page error: the answer itself stands. */
  async function showTimeline(bubble, query, filters) {
    const status = el("p", { className: "timeline-note", text: "Loading the timeline…" });
    const section = el("section", { className: "timeline", attrs: { "aria-busy": "true", "data-testid": "timeline" } },
      el("h3", { text: "Timeline" }), status);
    const stick = nearBottom();
    bubble.append(section);
    if (stick) scrollToEnd(true);
    try {
      // POST: the body carries the question's filters as they are (lists included), the same fields as a question
      const timeline = await sendJSON("POST", "/api/timeline", { query, ...filters });
      if (!timeline.days?.length) status.textContent = "No dated reports match this question.";
      else status.replaceWith(timelineList(timeline.days));
    } catch (err) {
      status.textContent = `The timeline could not be loaded: ${err.message}`;
      status.classList.add("failed");
    } finally {
      section.setAttribute("aria-busy", "false");
      if (stick && bubble.isConnected) scrollToEnd(true);
    }
  }

  /** One entry per day, oldest first (sorted here too, so the order never depends on the server's). */
  function timelineList(days) {
    const sorted = [...days].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
    return el("ol", { className: "timeline-days" }, ...sorted.map((day) => {
      const heading = el("h4", { className: "timeline-day" }, timeElement(day.day) || day.day);
      const reports = el("ul", { className: "timeline-reports" },
        ...day.citations.map((c) => el("li", {}, timelineEntry(c, day.day))));
      return el("li", {}, heading, reports);
    }));
  }

  /** A quote of the timeline as a button that opens its article at the passage. */
  function timelineEntry(c, day) {
    const from = el("span", { className: "timeline-from" });
    if (c.source) from.append(el("span", { className: "timeline-source", text: c.source }), " · ");
    from.append(el("span", { className: "timeline-title", text: c.title }));
    const open = el("button", {
      className: "timeline-open",
      attrs: { type: "button", title: "Show this passage in its article" },
    }, el("q", { className: "timeline-quote", text: c.quote }), from);
    open.addEventListener("click", () => openArticle(c.article_id, c, open, `Timeline · ${formatDate(day)}`));
    return open;
  }

  // A restored turn has no timeline: the stored conversation does not record whether its question asked how
  // something developed, nor the filters it was asked with.
  function renderTurn(turn) {
    if (turn.role === "user") {
      const bubble = addUserMessage(turn.content);
      showUnderstood(bubble, turn.content, turn.query);
    } else {
      const view = addAssistantMessage();
      view.finish({ answer: turn.content, citations: turn.citations || [], abstained: turn.abstained });
    }
  }

  async function restoreConversation() {
    const id = session.id;
    if (!id) return;
    setBusy(true);
    try {
      const history = await getJSON(`/api/chat/${encodeURIComponent(id)}`);
      for (const turn of history.turns || []) renderTurn(turn);
      scrollToEnd(true);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) session.id = null;
      else showError(`Could not load the conversation: ${err.message}`);
    } finally {
      if (!current) setBusy(false);
    }
  }

  function newConversation() {
    current?.controller.abort();
    current = null;
    setBusy(false);
    session.id = null;
    for (const node of [...ui.messages.children]) if (node !== ui.emptyState) node.remove();
    ui.emptyState.hidden = false;
    closePanel();
    clearErrors();
    ui.question.value = "";
    autoGrow();
    ui.question.focus();
    conversationChanged();
  }

  function autoGrow() {
    const q = ui.question;
    q.style.height = "auto";
    q.style.height = `${Math.min(q.scrollHeight, 180)}px`;
  }

  // ---- the article panel -------------------------------------------------------------------------------------

  const articleCache = new Map(); // id -> Promise<article>
  let panelRequest = 0;
  let panelOpener = null;
  let panelArticleId = null;

  function loadArticle(id) {
    if (!articleCache.has(id)) {
      const promise = getJSON(articlePath(id));
      promise.catch(() => articleCache.delete(id));
      articleCache.set(id, promise);
    }
    return articleCache.get(id);
  }

  function metaLine(article) {
    return [formatDate(article.published), article.source].filter(Boolean).join(" · ");
  }

  /** Where the citation is in the text, in code points (the server's offsets), or null. */
  function locate(points, citation) {
    const { start, end, quote } = citation;
    if (Number.isInteger(start) && Number.isInteger(end) && points.slice(start, end).join("") === quote) {
      return { start, end, moved: false };
    }
    // the article changed since the answer was given: look for the quote itself
    const text = points.join("");
    const at = quote ? text.indexOf(quote) : -1;
    if (at < 0) return null;
    const from = Array.from(text.slice(0, at)).length;
    return { start: from, end: from + Array.from(quote).length, moved: true };
  }

  /** Open an article in the panel, with the citation's passage marked; `eyebrow` names where it was opened from
   *  (default "Source [n]"). */
  async function openArticle(articleId, citation, opener, eyebrow) {
    const token = ++panelRequest;
    panelOpener = opener || null;
    panelArticleId = articleId;
    ui.panel.hidden = false;
    document.body.classList.add("panel-open");
    ui.panel.setAttribute("aria-busy", "true");
    ui.panelPassage.textContent = eyebrow || (citation ? `Source [${citation.n}]` : "Article");
    ui.panelTitle.textContent = citation ? citation.title : "Loading…";
    ui.panelMeta.textContent = "Loading the article…";
    ui.panelWarning.hidden = true;
    ui.panelBody.replaceChildren();
    markActive(opener);
    try {
      const article = await loadArticle(articleId);
      if (token !== panelRequest) return;
      ui.panelTitle.textContent = article.title;
      const meta = metaLine(article);
      ui.panelMeta.replaceChildren(meta);
      if (article.url && /^https?:\/\//i.test(article.url)) {
        if (meta) ui.panelMeta.append(" · ");
        ui.panelMeta.append(el("a", {
          text: "original",
          attrs: { href: article.url, target: "_blank", rel: "noopener noreferrer" },
        }));
      }
      const points = Array.from(article.text);
      const spot = citation ? locate(points, citation) : null;
      if (citation && !spot) {
        ui.panelWarning.textContent = "The article changed since this answer; the quoted passage is no longer in it.";
        ui.panelWarning.hidden = false;
      } else if (spot && spot.moved) {
        ui.panelWarning.textContent = "The article changed since this answer; the passage was found at a new place.";
        ui.panelWarning.hidden = false;
      }
      if (!spot) {
        ui.panelBody.replaceChildren(article.text);
        ui.panelBody.scrollTop = 0;
        ui.panelTitle.focus({ preventScroll: true });
        return;
      }
      const mark = el("mark", {
        text: points.slice(spot.start, spot.end).join(""),
        attrs: { id: "cited-passage", "data-testid": "cited-passage" },
      });
      ui.panelBody.replaceChildren(
        points.slice(0, spot.start).join(""),
        mark,
        points.slice(spot.end).join(""),
      );
      ui.panelTitle.focus({ preventScroll: true });
      mark.scrollIntoView({ block: "center" });
    } catch (err) {
      if (token !== panelRequest) return;
      ui.panelMeta.textContent = "";
      const gone = err instanceof ApiError && err.status === 404;
      ui.panelWarning.textContent = gone
        ? "This article is no longer indexed."
        : `The article could not be loaded: ${err.message}`;
      ui.panelWarning.hidden = false;
      if (!gone) showError(err.message);
    } finally {
      if (token === panelRequest) ui.panel.setAttribute("aria-busy", "false");
    }
  }

  function markActive(button) {
    const openers = ".cite.active, .citation-open.active, .open-article.active, .timeline-open.active";
    for (const node of document.querySelectorAll(openers)) {
      node.classList.remove("active");
    }
    button?.classList.add("active");
  }

  function closePanel() {
    if (ui.panel.hidden) return;
    panelRequest++;
    panelArticleId = null;
    ui.panel.hidden = true;
    document.body.classList.remove("panel-open");
    markActive(null);
    if (panelOpener && panelOpener.isConnected) panelOpener.focus();
    panelOpener = null;
  }

  // ---- filters for the questions ---------------------------------------------------------------------------
  // Read from the fields when a question is sent; they are not part of a conversation, so they survive a new one.

  const picked = new Set(); // "only the selected articles": their ids (kept across pages of the list)

  /** The filters every question carries, in the API's field names; empty ones are left out. */
  function activeFilters() {
    const filters = {};
    if (ui.filterSince.value) filters.since = ui.filterSince.value;
    if (ui.filterUntil.value) filters.until = ui.filterUntil.value; // a bare date: the server includes that day
    if (ui.filterSource.value) filters.sources = [ui.filterSource.value];
    if (picked.size) filters.article_ids = [...picked];
    if (ui.filterAsOf.value) filters.as_of = ui.filterAsOf.value;
    return filters;
  }

  /** The active filters in words, e.g. "Harbor Wire · published 1 May 2025 – 31 May 2025 · as of 1 Feb 2025". */
  function describeFilters(filters) {
    const parts = [];
    if (filters.sources) parts.push(filters.sources.join(", "));
    const since = formatDate(filters.since);
    const until = formatDate(filters.until);
    if (since && until) parts.push(`published ${since} – ${until}`);
    else if (since) parts.push(`published from ${since}`);
    else if (until) parts.push(`published up to ${until}`);
    if (filters.article_ids) {
      parts.push(`only ${plural(filters.article_ids.length, "selected article", "selected articles")}`);
    }
    if (filters.as_of) parts.push(`as of ${formatDate(filters.as_of)}`);
    return parts.join(" · ");
  }

  function filtersChanged() {
    const words = describeFilters(activeFilters());
    ui.filterSummaryText.textContent = words ? `Questions use: ${words}` : "";
    ui.filterSummary.hidden = !words;
    ui.selection.hidden = picked.size === 0;
    ui.selectionCount.textContent = `${plural(picked.size, "article", "articles")} selected`;
  }

  function clearSelection() {
    picked.clear();
    for (const box of document.querySelectorAll("#articles input.pick")) box.checked = false;
    filtersChanged();
  }

  function clearFilters() {
    for (const field of [ui.filterSince, ui.filterUntil, ui.filterSource, ui.filterAsOf]) field.value = "";
    clearSelection();
  }

  let outletRequest = 0;

  /** Fill the outlet choice from the server (again after articles come or go). */
  async function refreshOutlets() {
    const token = ++outletRequest;
    try {
      const names = await getJSON("/api/sources");
      if (token === outletRequest) renderOutlets(names);
    } catch (err) {
      if (token === outletRequest) showError(`Could not load the list of outlets: ${err.message}`);
    }
  }

  function renderOutlets(names) {
    const chosen = ui.filterSource.value;
    ui.filterSource.replaceChildren(new Option("Any outlet", ""), ...names.map((name) => new Option(name, name)));
    // the server refuses an outlet whose last article went: fall back to any outlet (the summary shows the change)
    ui.filterSource.value = names.includes(chosen) ? chosen : "";
    if (ui.filterSource.value !== chosen) filtersChanged();
  }

  // ---- wiring ---------------------------------------------------------------------------------------------------

  ui.askForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const message = ui.question.value;
    if (!message.trim() || current || ui.ask.disabled) {
      ui.question.focus();
      return;
    }
    ui.question.value = "";
    autoGrow();
    ask(message);
  });

  ui.question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.askForm.requestSubmit();
    }
  });
  ui.question.addEventListener("input", autoGrow);

  ui.messages.addEventListener("click", (event) => {
    const target = event.target.closest("button.cite, button.citation-open, button.suggestion");
    if (!target) return;
    if (target.classList.contains("suggestion")) {
      if (current) return;
      ui.question.value = target.textContent;
      ui.askForm.requestSubmit();
      return;
    }
    const bubble = target.closest(".message.assistant");
    const n = Number(target.dataset.n);
    const citation = (citationsOf.get(bubble) || []).find((c) => c.n === n);
    if (citation) openArticle(citation.article_id, citation, target);
  });

  ui.newConversation.addEventListener("click", newConversation);
  ui.apiKey.hidden = !storedKey();
  ui.apiKey.addEventListener("click", () => askForKey("Enter the API key to use from now on."));
  ui.keyForget.addEventListener("click", () => {
    forgetKey();
    ui.apiKey.hidden = true;
    ui.keyInput.value = "";
  });
  ui.panelClose.addEventListener("click", closePanel);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !ui.panel.hidden) closePanel();
  });
  for (const field of [ui.filterSince, ui.filterUntil, ui.filterSource, ui.filterAsOf]) {
    field.addEventListener("input", filtersChanged);
    field.addEventListener("change", filtersChanged);
  }
  ui.clearFilters.addEventListener("click", () => {
    clearFilters();
    ui.question.focus();
  });
  ui.clearSelection.addEventListener("click", () => {
    clearSelection();
    document.querySelector("#articles input.pick")?.focus(); // the button hides itself: keep focus in the list
  });

  // ---- hooks for the article library (library.js) and the conversation list (conversations.js) ----------------
  // They load after this file. The page tells them a conversation changed with a "newsqa:conversation" event.

  const conversationChanged = () => document.dispatchEvent(new CustomEvent("newsqa:conversation"));

  /** Show a stored conversation in place of the current one (which stays stored). */
  async function loadConversation(id) {
    newConversation();
    session.id = id;
    await restoreConversation();
    conversationChanged();
  }

  window.NewsQA = Object.freeze({
    el, formatDate, plural, articlePath, request, getJSON, sendJSON, ApiError, showError,
    openArticle: (id, opener) => openArticle(id, null, opener, "Article"),
    /** "Ask only these articles": whether an article is ticked, and ticking it. */
    isPicked: (id) => picked.has(id),
    pick(id, on) {
      if (on) picked.add(id);
      else picked.delete(id);
      filtersChanged();
    },
    /** After articles came or went: the outlets may have changed; a removed article cannot answer or stay open. */
    articlesChanged(removedId) {
      if (removedId === undefined) articleCache.clear(); // an article may have been replaced: read it again
      else {
        articleCache.delete(removedId);
        if (panelArticleId === removedId) closePanel();
        if (picked.delete(removedId)) filtersChanged();
      }
      return refreshOutlets();
    },
    currentConversation: () => session.id,
    loadConversation,
    newConversation,
  });

  filtersChanged(); // the browser may have restored the fields' values (a reload): show what questions will carry
  refreshOutlets();
  restoreConversation();
})();
