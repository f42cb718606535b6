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
    suggestions: $("suggestions"),
    noArticles: $("no-articles"),
    noArticlesAdd: $("no-articles-add"),
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
    panelStatus: $("panel-status"),
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
    filters: $("filters"),
    filtersToggle: $("filters-toggle"),
    filtersCount: $("filters-count"),
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

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const pad = (n) => String(n).padStart(2, "0");

  /** The page's one date format, "20 Oct 2022" (as the server writes "as of 20 Oct 2022"), for an ISO date or
   *  date-time: its day as written, the outlet's own day whatever the reader's time zone. Not the reader's locale:
   *  the server's dates beside it would read differently. Anything else as it is. */
  function formatDate(value) {
    if (!value) return "";
    const day = isoDay(value);
    const [year, month, date] = (day || "").split("-").map(Number);
    if (!day || !(month >= 1 && month <= 12 && date >= 1 && date <= 31)) return String(value);
    return `${date} ${MONTHS[month - 1]} ${year}`;
  }

  /** A moment of the reader's own activity (a conversation's last question), where the time matters too: in the
   *  reader's time zone, "20 Oct 2022, 14:05". */
  function formatMoment(value) {
    const moment = new Date(value);
    if (!value || Number.isNaN(moment.getTime())) return formatDate(value);
    const day = `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}`;
    return `${formatDate(day)}, ${pad(moment.getHours())}:${pad(moment.getMinutes())}`;
  }

  /** The ISO dates in a server message ("starts at 2025-06-01") in the page's format; a time with one is kept. */
  const readableDates = (message) =>
    message.replace(/\b\d{4}-\d{2}-\d{2}(?:T(\d{2}:\d{2})(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?\b/g,
      (stamp, time) => (time ? `${formatDate(stamp)} ${time}` : formatDate(stamp)));

  /** An article id as one path segment (ids may contain "/"; the server decodes %2F back). */
  const articlePath = (id) => `/api/articles/${encodeURIComponent(id)}`;

  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

  // ---- talking to the server -----------------------------------------------------------------------------

  /** A failed request: `message` in a reader's words; `type` and `detail`, the server's own (for a page that turns
   *  a refusal of its form into advice on the field at fault). */
  class ApiError extends Error {
    constructor(message, status = 0, { type = "", detail = "", articleId = null } = {}) {
      super(message);
      this.status = status;
      this.type = type;
      this.detail = detail;
      this.articleId = articleId; // the article the refusal is about (the one a new title clashes with)
    }
  }

  const UNREACHABLE = "Cannot reach the server. Check your connection, then try again.";

  // What a reader is told when the server fails on its side: its own message is for the operator (it names
  // settings and commands), so the page says what happened in a reader's words instead.
  const SERVER_TROUBLE = {
    429: "Too many questions at once. Wait a moment, then try again.",
    413: "That is too long to send. Shorten it and try again.",
    500: "Something went wrong on the server. Try again in a moment.",
    502: "The answering service failed to answer. Try again in a moment.",
    503: "The answering service is not available right now. Try again in a moment.",
    504: "The answer took too long. Try again in a moment.",
  };

  // the status each kind of failure has before a stream starts, for the same failure once it has
  const STREAM_ERROR_STATUS = { ModelError: 502, ModelUnavailable: 503, StoreUnavailable: 503, RateLimited: 429,
    InvalidInput: 422 };

  /** A message fit for a reader: server-side failures in plain words; a refusal of the reader's own input keeps
   *  the server's explanation, less any sentence that names a setting or a command. */
  function readerMessage(status, message) {
    if (SERVER_TROUBLE[status]) return SERVER_TROUBLE[status];
    if (status >= 500) return SERVER_TROUBLE[500];
    // a setting, a command, a field or a route: what a program sends, not what a reader does
    const operator = /\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b|\bqa [a-z]+\b|`|--[a-z]|\b(GET|POST|PUT|DELETE) \/|\{"|\bThe field "/;
    const kept = String(message || "")
      .replace(/\s*\([^()]*\)/g, (aside) => (operator.test(aside) ? "" : aside)) // "(QA_MAX_QUESTION_CHARS)"
      .split(/(?<=[.!?])\s+/)
      .filter((sentence) => !operator.test(sentence))
      .join(" ")
      .trim();
    return readableDates(kept) || "The server could not do that. Try again in a moment.";
  }

  async function errorFrom(response) {
    let message = "";
    let type = "";
    let articleId = null;
    try {
      const body = await response.json();
      if (body && body.error && typeof body.error.message === "string") message = body.error.message;
      else if (body && typeof body.detail === "string") message = body.detail;
      if (body && body.error && typeof body.error.type === "string") type = body.error.type;
      if (body && body.error && typeof body.error.article_id === "string") articleId = body.error.article_id;
    } catch {
      // not JSON: the status says enough
    }
    return new ApiError(readerMessage(response.status, message), response.status,
      { type, detail: message, articleId });
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
      // several requests go out at once: one refused with an old key may come back after the reader entered a
      // new one, which it must neither forget nor ask for again
      if (storedKey() && storedKey() !== key) continue;
      if (key) forgetKey(); // the stored key was refused: do not send it again
      // the server's reason names the header to send: the dialog says it in a reader's words
      const reason = key
        ? "That API key is not valid or was revoked. Enter another one."
        : "This server needs an API key. Ask its operator for one, then enter it here.";
      if (!(await askForKey(reason))) throw error;
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

  /** An error banner, newest first. The same message again does not stack a second banner: the one shown moves to
   *  the top and counts the times. `retry`, when given, is offered as a Retry button. */
  function showError(message, retry) {
    const same = [...ui.alerts.children].find((node) => node.dataset.message === message);
    if (same) same.remove();
    const times = same ? Number(same.dataset.times) + 1 : 1;
    const close = el("button", { className: "icon-button", text: "×", attrs: { type: "button", "aria-label": "Dismiss" } });
    const item = el("div", { className: "alert", attrs: { "data-message": message, "data-times": times } },
      el("span", { className: "alert-text", text: message }),
      times > 1 ? el("span", { className: "alert-count", text: `(${times} times)` }) : null);
    if (retry) {
      const again = el("button", { className: "button secondary alert-retry", text: "Retry", attrs: { type: "button" } });
      again.addEventListener("click", () => {
        item.remove();
        retry();
      });
      item.append(again);
    }
    item.append(close);
    close.addEventListener("click", () => item.remove());
    ui.alerts.prepend(item);
    while (ui.alerts.children.length > 3) ui.alerts.lastElementChild.remove();
  }

  function clearErrors() {
    ui.alerts.replaceChildren();
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
  const shortOf = new WeakMap(); // each assistant bubble's short answer (with its citation), when it has one
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
    let verbatim = false; // an extractive answer: quotes shown exactly as the articles have them, not as Markdown
    const view = {
      bubble,
      append(piece) {
        answer += piece;
        view.render(answer, citationsOf.get(bubble), true);
      },
      render(value, citations, streaming = false) {
        answer = value;
        const stick = nearBottom();
        hidePreview();
        renderAnswer(text, value, citations, streaming, shortOf.get(bubble), verbatim);
        if (stick) scrollToEnd(true);
      },
      setCitations(citations) {
        citationsOf.set(bubble, citations);
        view.render(answer, citations, true);
      },
      finish(reply, filters = {}) {
        const stick = nearBottom();
        citationsOf.set(bubble, reply.citations || []);
        bubble.classList.remove("typing");
        typing.remove();
        typingLabel.remove();
        if (reply.abstained) {
          bubble.classList.add("abstained");
          bubble.prepend(el("p", { className: "abstain-label", text: "No answer in the articles" }));
        } else {
          supportLabel(bubble, reply.support_label, reply.support);
        }
        const short = reply.abstained ? null : shortAnswerOf(reply);
        shortOf.set(bubble, short);
        if (short) text.before(shortAnswerLine(short));
        // "extractive (fallback: …)" too: the model failed and the quotes answered
        verbatim = String(reply.backend || "").startsWith("extractive");
        view.render(reply.answer, reply.citations || []);
        if (reply.abstained && reply.admitted === 0) {
          // not the articles but the filters are why: the reader can change them
          text.replaceChildren(el("p", { className: "nothing-admitted", text: nothingAdmitted(filters, reply.time) }));
        }
        const when = whenLine(reply);
        if (when) text.after(when);
        const unchecked = (reply.sentences || []).filter((s) => !s.supported).length;
        if (unchecked) {
          // a generative answer: what the model wrote but its passages do not bear out is left out, and said so
          const note = `${unchecked} sentence${unchecked > 1 ? "s" : ""} the model wrote ${unchecked > 1 ? "were" : "was"} left out: the cited passages do not support ${unchecked > 1 ? "them" : "it"}.`;
          bubble.append(el("p", { className: "unsupported-note", text: note }));
        }
        renderSources(bubble, reply.citations || [], reply.abstained, reply.answer);
        if (stick) scrollToEnd(true);
      },
      fail(message, retry) {
        bubble.classList.remove("typing");
        bubble.classList.add("failed");
        typing.remove();
        typingLabel.remove();
        const label = el("p", { className: "failed-label", text: message });
        if (retry) {
          const again = el("button", { className: "button secondary retry", text: "Retry", attrs: { type: "button" } });
          again.addEventListener("click", retry);
          label.append(" ", again);
        }
        bubble.append(label);
      },
    };
    return view;
  }

  /** Why an answer had no article to read from (its `admitted` is 0), and what to do, in the words of the filters
   *  it was asked with and of the dates its question names. */
  function nothingAdmitted(filters, time) {
    const phrase = time?.phrase ? `“${time.phrase}”` : "";
    const parts = filterParts(filters);
    if (!parts.length) {
      return `No article was published in the dates the question names${phrase ? ` (${phrase})` : ""}. Ask about another time.`;
    }
    const also = phrase ? ` and ${phrase} in the question` : "";
    if (Object.keys(filters).every((name) => name === "since" || name === "until")) {
      return `No article was published in the dates you chose (${datesIn(filters)})${also}. Widen the dates or clear the filter.`;
    }
    return `No article matches all your filters (${parts.join(" · ")})${also}. Widen them or clear the filters.`;
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

  /** The answer text as simple Markdown (built as nodes, never HTML) with its [n] markers as buttons (disabled
   *  until the citations are known); the short answer, when there is one, in bold inside its quote. */
  function renderAnswer(container, value, citations, streaming, short, verbatim = false) {
    const byN = new Map((citations || []).map((c) => [c.n, c]));
    const marker = (n) => {
      const citation = byN.get(n);
      if (!citation && !streaming) return null; // an unmatched "[n]" stays plain text
      return el("button", {
        className: "cite",
        text: `[${n}]`,
        attrs: {
          type: "button",
          "data-n": n,
          "aria-label": citation ? `Source ${n}: ${citation.title}` : `Source ${n}`,
          "aria-expanded": citation ? "false" : null,
          "aria-controls": citation ? "cite-preview" : null,
          disabled: !citation,
        },
      });
    };
    container.replaceChildren(verbatim ? plainText(value, marker) : window.NewsQAMarkdown.render(value, marker));
    if (short && !streaming) boldInAnswer(container, short);
  }

  /** Text as it is, in a paragraph, with its [n] markers made by `marker` (a quote's "*" or "#" is the article's). */
  function plainText(value, marker) {
    const p = el("p");
    let last = 0;
    for (const match of value.matchAll(MARKER)) {
      const node = marker(Number(match[1]));
      if (!node) continue;
      p.append(value.slice(last, match.index), node);
      last = match.index + match[0].length;
    }
    p.append(value.slice(last));
    return p;
  }

  /** The short answer of a reply when it holds together: its citation is there and its text is inside the quote. */
  function shortAnswerOf(reply) {
    const short = reply.short_answer;
    if (!short || typeof short.text !== "string" || !short.text) return null;
    const citation = (reply.citations || []).find((c) => c.n === short.citation);
    if (!citation || !citation.quote.includes(short.text)) return null;
    return { ...short, quote: citation };
  }

  /** The short answer, first and bold, with the marker of its source. */
  function shortAnswerLine(short) {
    const cite = el("button", {
      className: "cite",
      text: `[${short.citation}]`,
      attrs: {
        type: "button",
        "data-n": short.citation,
        "aria-label": `Source ${short.citation}: ${short.quote.title}`,
        "aria-expanded": "false",
        "aria-controls": "cite-preview",
      },
    });
    return el("p", { className: "short-answer", attrs: { "data-testid": "short-answer" } },
      el("span", { className: "visually-hidden", text: "Short answer: " }),
      el("strong", { text: short.text }), " ", cite);
  }

  /** Bold the short answer where the answer quotes it: in the text just before its first [n] marker. */
  function boldInAnswer(container, short) {
    const button = container.querySelector(`button.cite[data-n="${short.citation}"]`);
    if (!button) return;
    const texts = [];
    const walker = document.createTreeWalker(container, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (button.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_FOLLOWING) break;
      texts.push(node);
    }
    for (const node of texts.reverse()) {
      const at = node.data.lastIndexOf(short.text);
      if (at < 0) continue;
      const middle = node.splitText(at);
      middle.splitText(short.text.length);
      middle.replaceWith(el("strong", { className: "short-in-quote", text: short.text }));
      return;
    }
  }

  /** How well the answer is supported, shown on the bubble: a weak one asks the reader to check the sources. */
  function supportLabel(bubble, label, support) {
    if (label !== "weak" && label !== "strong") return;
    bubble.classList.add(label);
    bubble.dataset.support = label;
    const percent = Number.isFinite(support) ? ` (${Math.round(support * 100)}%)` : "";
    const words = label === "weak" ? "Weak match – check the sources" : "Strong match";
    bubble.prepend(el("p", {
      className: `support-label ${label}`,
      text: words,
      attrs: { title: `How well the quoted passages support this answer${percent}` },
    }));
  }

  /** A date as a <time> element (machine-readable day, readable text), or null when there is none. */
  function timeElement(value, className) {
    const day = isoDay(value);
    return day ? el("time", { className, text: formatDate(day), attrs: { datetime: day } }) : null;
  }

  /** The words of a quote the answer already shows, squeezed of spacing (the answer may wrap lines). */
  const squeeze = (value) => String(value).replace(/\s+/g, " ").trim();

  /** The opening words of a quote ("According to Liz Truss, Russia must…"): how a card points at a quote the
   *  answer already shows in full, so the card does not repeat it. */
  function opening(quote, words = 8) {
    const all = squeeze(quote).split(" ");
    return all.length <= words ? all.join(" ") : `${all.slice(0, words).join(" ")}…`;
  }

  /** One quote of a source card: its [n], then the quote (in full unless the answer shows it word for word),
   *  the short answer in bold inside it. */
  function quoteButton(c, answerText, short) {
    const shown = answerText.includes(squeeze(c.quote));
    const quote = el("q", { className: shown ? "citation-quote in-answer" : "citation-quote" });
    if (shown) {
      quote.textContent = opening(c.quote);
    } else if (short && short.citation === c.n) {
      const at = c.quote.indexOf(short.text);
      quote.append(c.quote.slice(0, at), el("strong", { className: "short-in-quote", text: short.text }),
        c.quote.slice(at + short.text.length));
    } else {
      quote.textContent = c.quote;
    }
    return el("button", {
      className: "citation-open",
      attrs: {
        type: "button",
        "data-n": c.n,
        "aria-label": shown ? `Source ${c.n}, quoted in the answer: show it in its article` : null,
        title: "Show this passage in its article",
      },
    },
    el("span", { className: "citation-n", text: `[${c.n}]` }),
    quote,
    shown ? el("span", { className: "in-answer-note", text: "quoted above" }) : null);
  }

  /** A source card's "Copy quote with citation" for one of its quotes (as the [n] preview has): the article is
   *  fetched for its link, and the quote is copied without it when the article cannot be had. */
  function cardCopy(c, status) {
    const copy = el("button", {
      className: "link-button card-copy",
      text: "Copy quote with citation",
      attrs: { type: "button", "aria-label": `Copy quote with citation [${c.n}]` },
    });
    copy.addEventListener("click", async () => {
      const article = await loadArticle(c.article_id).catch(() => null);
      await copyQuote(c, article, status);
    });
    return copy;
  }

  /** The citations grouped by article, in the order of their first [n]. */
  function byArticle(citations) {
    const groups = new Map();
    for (const c of citations) {
      if (!groups.has(c.article_id)) groups.set(c.article_id, []);
      groups.get(c.article_id).push(c);
    }
    return [...groups.values()];
  }

  /** The sources under an answer: a card per article (outlet, date, title once, then its quotes). */
  function renderSources(bubble, citations, abstained, answerText) {
    bubble.querySelector(".sources")?.remove();
    if (!citations.length) return;
    const answered = squeeze(String(answerText || "").replace(MARKER, " "));
    const short = shortOf.get(bubble);
    const list = el("ol", { className: "citations" });
    for (const group of byArticle(citations)) {
      const first = group[0];
      // an older article's account, shown beside the newest one's: say so, or it reads as the current state
      const earlier = group.some((c) => c.earlier);
      const head = el("p", { className: "citation-from" });
      if (first.source) head.append(el("span", { className: "citation-source", text: first.source }));
      const when = timeElement(first.published, "citation-date");
      if (when) head.append(when);
      if (earlier) head.append(el("span", { className: "earlier-label", text: "Earlier reporting" }));
      const copies = [...new Set(group.flatMap((c) => (c.copies || []).map((copy) => copy.source)).filter(Boolean))]
        .filter((name) => name !== first.source);
      const status = el("p", { className: "preview-status card-status", attrs: { role: "status" } });
      const quotes = el("ul", { className: "card-quotes" },
        ...group.map((c) => el("li", { attrs: { "data-n": c.n } }, quoteButton(c, answered, short), cardCopy(c, status))));
      list.append(el("li", { className: earlier ? "source-card earlier" : "source-card", attrs: { "data-article": first.article_id } },
        head,
        el("p", { className: "citation-title", text: first.title }),
        quotes,
        copies.length ? el("p", { className: "copies-label", text: `Also carried by ${copies.join(", ")}` }) : null,
        status));
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
          // the errors shown stay until the server takes the question: the same one again counts, not stacks
          if (!started) clearErrors();
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
          answer.finish(payload, filters);
          conversationChanged(); // the conversation list shows the new turn
          // not awaited: the next question need not wait for the timeline; none under "no answer" (what the
          // articles do not answer, a timeline would only fill with whatever comes closest)
          if (payload.timeline && !payload.abstained) showTimeline(answer.bubble, payload.query || message, filters);
        } else if (event === "error") {
          const status = STREAM_ERROR_STATUS[payload.error?.type] || 500;
          throw new ApiError(readerMessage(status, payload.error?.message), status);
        }
      }
      if (!reply) throw new ApiError("The answer was cut off before it was complete.");
    } catch (err) {
      if (err && err.name === "AbortError") {
        answer.fail("Stopped.");
      } else {
        const lost = "The connection to the server was lost while answering.";
        // a refusal of the question itself (4xx but a rate limit) will not go better the same way: no Retry
        const refused = err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429;
        const again = () => {
          userBubble.remove();
          answer.bubble.remove();
          if (ui.question.value === message) ui.question.value = "";
          ask(message);
        };
        if (!started) {
          // nothing was recorded: give the question back to edit (or Retry it as it was)
          showError(err instanceof ApiError ? err.message : UNREACHABLE, refused ? null : again);
          userBubble.remove();
          answer.bubble.remove();
          if (!ui.question.value) ui.question.value = message;
          ui.emptyState.hidden = ui.messages.querySelector(".message") !== null;
        } else {
          showError(err instanceof ApiError ? err.message : lost);
          answer.fail("The answer could not be completed.", again);
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
    const outlets = [...new Set((c.copies || []).map((copy) => copy.source).filter(Boolean))];
    if (!outlets.length) return open;
    const also = el("p", { className: "copies-label", text: `Also carried by ${outlets.join(", ")}` });
    const entry = document.createDocumentFragment();
    entry.append(open, also);
    return entry;
  }

  /** The filters a stored question was asked with, in the API's field names (as activeFilters gives them). */
  function storedFilters(turn) {
    const filters = {};
    for (const [name, value] of Object.entries(turn?.within || {})) if (value !== null) filters[name] = value;
    if (turn?.as_of) filters.as_of = turn.as_of;
    return filters;
  }

  // A stored turn keeps what the reader saw: the short answer, the support label, the dates, and whether the
  // question asked how something developed (its timeline is fetched again, under the filters it was asked with).
  function renderTurn(turn, asked) {
    if (turn.role === "user") {
      const bubble = addUserMessage(turn.content);
      showUnderstood(bubble, turn.content, turn.query);
    } else {
      const view = addAssistantMessage();
      view.finish({ ...turn, answer: turn.content, citations: turn.citations || [] }, storedFilters(asked));
      if (turn.timeline && !turn.abstained && asked) showTimeline(view.bubble, asked.query || asked.content, storedFilters(asked));
    }
  }

  function renderTurns(turns) {
    let asked = null;
    for (const turn of turns || []) {
      renderTurn(turn, asked);
      asked = turn.role === "user" ? turn : null;
    }
  }

  async function restoreConversation() {
    const id = session.id;
    if (!id) return;
    setBusy(true);
    try {
      const history = await getJSON(`/api/chat/${encodeURIComponent(id)}`);
      renderTurns(history.turns);
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
    ui.panelStatus.textContent = "";
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
      // the title takes focus; a screen reader hears the highlighted passage too
      ui.panelStatus.textContent = `Highlighted passage: ${mark.textContent}`;
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

  // ---- the preview of a [n] marker ------------------------------------------------------------------------------
  // Shown on hover and on keyboard focus: the quote with a sentence either side, outlet, date, links, and "copy quote
  // with citation". One preview at a time, placed right after its marker so Tab moves from the marker into it.

  const preview = el("span", {
    className: "cite-preview",
    attrs: { id: "cite-preview", role: "group", "data-testid": "cite-preview" },
  });
  preview.hidden = true;
  let previewFor = null; // the marker whose preview is shown
  let previewTimer = 0;
  let previewToken = 0;

  // the end of a sentence: its stop (and a closing quote or bracket), then space; or a line break (a title line)
  const SENTENCE_END = /[.!?…]['"”’)\]]*\s+|\n\s*/g;

  /** The sentence before and after the quote (each at most ~240 characters), from the article's text. */
  function around(before, after) {
    const prior = before.replace(/\s+$/, "");
    let from = 0;
    for (const m of prior.matchAll(SENTENCE_END)) if (m.index + m[0].length < prior.length) from = m.index + m[0].length;
    SENTENCE_END.lastIndex = 0;
    const next = SENTENCE_END.exec(after.replace(/^\s+/, "") + " ");
    const tail = after.replace(/^\s+/, "");
    const clip = (value, end) => (value.length > 240 ? (end ? `${value.slice(0, 240)}…` : `…${value.slice(-240)}`) : value);
    return {
      before: clip(prior.slice(from), false),
      after: clip(next ? tail.slice(0, next.index + next[0].length).trim() : tail, true),
    };
  }

  /** "“quote” — Outlet, “Title”, 11 Feb 2022. https://…": what "copy quote with citation" puts on the clipboard. */
  function quoteWithCitation(c, article) {
    const parts = [article?.source || c.source, `“${article?.title || c.title}”`, formatDate(article?.published || c.published)]
      .filter(Boolean);
    const url = article?.url && /^https?:\/\//i.test(article.url) ? ` ${article.url}` : "";
    return `“${squeeze(c.quote)}” — ${parts.join(", ")}.${url}`;
  }

  async function copyQuote(c, article, status) {
    const text = quoteWithCitation(c, article);
    try {
      await navigator.clipboard.writeText(text);
      status.textContent = "Copied the quote with its citation.";
      status.dataset.kind = "ok";
    } catch {
      status.textContent = "Your browser did not allow copying. Select the quote and copy it instead.";
      status.dataset.kind = "error";
    }
  }

  let dismissed = null; // the marker whose preview Escape closed: focus going back to it does not reopen it

  function showPreview(button, focused = false) {
    clearTimeout(previewTimer);
    if (button.disabled || previewFor === button || (focused && dismissed === button)) return;
    dismissed = null;
    const bubble = button.closest(".message.assistant");
    const c = (citationsOf.get(bubble) || []).find((x) => x.n === Number(button.dataset.n));
    if (!c) return;
    hidePreview();
    previewFor = button;
    button.setAttribute("aria-expanded", "true");
    const token = ++previewToken;
    const passage = el("span", { className: "preview-passage" }, el("mark", { className: "preview-quote", text: c.quote }));
    const meta = el("span", { className: "preview-meta" });
    if (c.source) meta.append(el("span", { className: "preview-source", text: c.source }));
    const when = timeElement(c.published);
    if (when) meta.append(c.source ? " · " : "", when);
    const status = el("span", { className: "preview-status", attrs: { role: "status" } });
    const read = el("button", { className: "link-button", text: "Read in the article", attrs: { type: "button" } });
    read.addEventListener("click", () => {
      hidePreview();
      openArticle(c.article_id, c, button);
    });
    const copy = el("button", { className: "button secondary preview-copy", text: "Copy quote with citation", attrs: { type: "button" } });
    let article = null;
    copy.addEventListener("click", () => copyQuote(c, article, status));
    const actions = el("span", { className: "preview-actions" }, read, copy);
    preview.replaceChildren(
      el("span", { className: "preview-title", text: `[${c.n}] ${c.title}` }), meta, passage, actions, status);
    preview.setAttribute("aria-label", `Source ${c.n} preview`);
    button.after(preview);
    preview.hidden = false;
    placePreview(button, bubble);
    loadArticle(c.article_id).then((loaded) => {
      if (token !== previewToken) return;
      article = loaded;
      const points = Array.from(loaded.text);
      const spot = locate(points, c);
      if (spot) {
        const context = around(points.slice(0, spot.start).join(""), points.slice(spot.end).join(""));
        passage.replaceChildren(
          context.before ? el("span", { className: "preview-context", text: `${context.before} ` }) : "",
          el("mark", { className: "preview-quote", text: points.slice(spot.start, spot.end).join("") }),
          context.after ? el("span", { className: "preview-context", text: ` ${context.after}` }) : "");
      }
      if (loaded.url && /^https?:\/\//i.test(loaded.url)) {
        actions.insertBefore(el("a", {
          className: "preview-link",
          text: "Original article",
          attrs: { href: loaded.url, target: "_blank", rel: "noopener noreferrer" },
        }), copy);
      }
      placePreview(button, bubble);
    }).catch(() => {
      // the quote alone: the citation carries it, and the panel says why the article is missing when opened
    });
  }

  /** Below the answer's text (never over it: the other markers stay in reach of a pointer), as near the marker as
   *  the bubble's width allows (the bubble is the positioned ancestor). */
  function placePreview(button, bubble) {
    const box = bubble.getBoundingClientRect();
    const at = button.getBoundingClientRect();
    const text = bubble.querySelector(".message-text")?.getBoundingClientRect() || at;
    const width = preview.offsetWidth;
    const left = Math.max(8, Math.min(at.left - box.left - 16, box.width - width - 8));
    preview.style.left = `${left}px`;
    preview.style.top = `${Math.max(at.bottom, text.bottom) - box.top + 6}px`;
  }

  function hidePreview() {
    clearTimeout(previewTimer);
    previewToken++;
    if (!previewFor) return;
    previewFor.setAttribute("aria-expanded", "false");
    previewFor = null;
    preview.hidden = true;
    preview.remove();
  }

  /** Hide a little later, so the pointer can travel from the marker into the preview. */
  function hidePreviewSoon() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(hidePreview, 300);
  }

  ui.messages.addEventListener("mouseover", (event) => {
    const cite = event.target.closest("button.cite");
    if (cite) showPreview(cite);
    else if (event.target.closest(".cite-preview")) clearTimeout(previewTimer);
  });
  ui.messages.addEventListener("mouseout", (event) => {
    const from = event.target.closest("button.cite, .cite-preview");
    const to = event.relatedTarget && event.relatedTarget.closest?.("button.cite, .cite-preview");
    if (from && previewFor && !(to === previewFor || to === preview) && preview !== document.activeElement
        && !preview.contains(document.activeElement) && previewFor !== document.activeElement) hidePreviewSoon();
  });
  ui.messages.addEventListener("focusin", (event) => {
    const cite = event.target.closest("button.cite");
    if (cite) showPreview(cite, true);
    else if (event.target.closest(".cite-preview")) clearTimeout(previewTimer);
  });
  ui.messages.addEventListener("focusout", (event) => {
    if (event.target === dismissed) dismissed = null;
    const to = event.relatedTarget;
    if (previewFor && !(to && (to === previewFor || preview.contains(to)))) hidePreviewSoon();
  });

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
    return filterParts(filters).join(" · ");
  }

  /** The active filters in words, one part each. */
  function filterParts(filters) {
    const parts = [];
    if (filters.sources) parts.push(filters.sources.join(", "));
    const dates = datesIn(filters);
    if (dates) parts.push(`published ${dates}`);
    if (filters.article_ids) {
      parts.push(`only ${plural(filters.article_ids.length, "selected article", "selected articles")}`);
    }
    if (filters.as_of) parts.push(`as of ${formatDate(filters.as_of)}`);
    return parts;
  }

  /** The publication dates of the filters: "1 May 2025 – 31 May 2025", "from 1 May 2025", "up to …", or "". A
   *  stored question's end is the moment after its last day (midnight): that day is shown. */
  function datesIn(filters) {
    const since = formatDate(filters.since);
    let until = isoDay(filters.until);
    if (until && /T00:00(:00(\.0+)?)?(Z|[+-]00:?00)?$/.test(filters.until)) until = dayBefore(until);
    until = formatDate(until);
    if (since && until) return `${since} – ${until}`;
    return since ? `from ${since}` : until ? `up to ${until}` : "";
  }

  function filtersChanged() {
    const filters = activeFilters();
    const active = filterParts(filters).length;
    ui.filtersCount.textContent = active ? `${active} active` : "none active";
    const words = describeFilters(filters);
    ui.filterSummaryText.textContent = words ? `Questions use: ${words}` : "";
    ui.filterSummary.hidden = !words;
    ui.selection.hidden = picked.size === 0;
    ui.selectionCount.textContent = `${plural(picked.size, "article", "articles")} selected`;
  }

  /** A phone's "Filters" button: show or fold away the fields (the summary line under it stays). */
  function toggleFilters() {
    const open = !ui.filters.classList.contains("open");
    ui.filters.classList.toggle("open", open);
    ui.filtersToggle.setAttribute("aria-expanded", String(open));
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

  // ---- example questions, about the newest articles indexed -------------------------------------------------------

  // A title naming a time ("on February 15", "to 2029", "this week") would be read as a window of dates that the
  // article itself may lie outside: such a question can find nothing. Left out, as anything with a digit is.
  const TIMELY = /\d|\b(jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sept?(ember)?|oct(ober)?|nov(ember)?|dec(ember)?|(mon|tues|wednes|thurs|fri|satur|sun)day|today|yesterday|tomorrow|tonight|week(end)?|month|year)\b/i;
  const EXAMPLES = 3;
  let examplesRequest = 0;

  /** Up to three questions about the newest articles (one a story: copies are one), each answerable from its
   *  article; with no article indexed, none, and a pointer to adding one. */
  async function refreshExamples() {
    const token = ++examplesRequest;
    let page;
    try {
      page = await getJSON("/api/articles?order=newest&limit=50");
    } catch {
      return; // the library says why the articles cannot be had; the examples stay as they were
    }
    if (token !== examplesRequest) return;
    const stories = new Set();
    const questions = [];
    for (const article of page.articles) {
      const story = article.story_id || article.id;
      if (questions.length === EXAMPLES || stories.has(story) || TIMELY.test(article.title)) continue;
      stories.add(story);
      questions.push(`What does “${article.title}” report?`);
    }
    ui.suggestions.replaceChildren(...questions.map((text) =>
      el("button", { className: "suggestion", text, attrs: { type: "button" } })));
    ui.suggestions.hidden = !questions.length;
    ui.noArticles.hidden = page.total > 0;
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
    hidePreview(); // the article opens beside it: the panel shows the passage
    const bubble = target.closest(".message.assistant");
    const n = Number(target.dataset.n);
    const citation = (citationsOf.get(bubble) || []).find((c) => c.n === n);
    if (citation) openArticle(citation.article_id, citation, target);
  });

  ui.noArticlesAdd.addEventListener("click", () => $("add-open").click()); // the library's dialog
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
    if (event.key !== "Escape") return;
    const active = document.activeElement;
    if (previewFor && (active === previewFor || preview.contains(active))) {
      const marker = previewFor;
      hidePreview();
      dismissed = marker;
      marker.focus({ preventScroll: true });
    } else {
      hidePreview();
      if (!ui.panel.hidden) closePanel();
    }
  });
  for (const field of [ui.filterSince, ui.filterUntil, ui.filterSource, ui.filterAsOf]) {
    field.addEventListener("input", filtersChanged);
    field.addEventListener("change", filtersChanged);
  }
  ui.filtersToggle.addEventListener("click", toggleFilters);
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
    el, formatDate, formatMoment, plural, articlePath, request, getJSON, sendJSON, ApiError, showError,
    openArticle: (id, opener) => openArticle(id, null, opener, "Article"),
    /** "Ask only these articles": whether an article is ticked, and ticking it. */
    isPicked: (id) => picked.has(id),
    pick(id, on) {
      if (on) picked.add(id);
      else picked.delete(id);
      filtersChanged();
    },
    /** After articles came or went: the outlets may have changed; a removed article cannot answer or stay open. */
    async articlesChanged(removedId) {
      if (removedId === undefined) articleCache.clear(); // an article may have been replaced: read it again
      else {
        articleCache.delete(removedId);
        if (panelArticleId === removedId) closePanel();
        if (picked.delete(removedId)) filtersChanged();
      }
      // in turn, not at once (see library.js: written)
      await refreshOutlets();
      await refreshExamples();
    },
    currentConversation: () => session.id,
    loadConversation,
    newConversation,
  });

  filtersChanged(); // the browser may have restored the fields' values (a reload): show what questions will carry
  refreshOutlets();
  refreshExamples();
  restoreConversation();
})();
