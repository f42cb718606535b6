// The conversation list: the stored conversations, newest first; open, rename, export (Markdown), delete.
// Plain DOM code over the helpers app.js exposes as window.NewsQA; server text goes in as text, never HTML.
"use strict";

(() => {
  const qa = window.NewsQA;
  const { el, formatMoment, plural, request, getJSON, sendJSON, ApiError } = qa;
  const $ = (id) => document.getElementById(id);
  const ui = {
    list: $("conversations"),
    count: $("conversation-count"),
    empty: $("conversations-empty"),
    status: $("conversations-status"),
  };
  const chatPath = (id) => `/api/chat/${encodeURIComponent(id)}`;
  let listRequest = 0;

  function say(message, kind = "ok") {
    ui.status.textContent = message;
    ui.status.dataset.kind = kind;
  }

  async function refresh() {
    const token = ++listRequest;
    ui.list.setAttribute("aria-busy", "true");
    try {
      const conversations = await getJSON("/api/chat");
      if (token !== listRequest) return;
      render(conversations);
    } catch (err) {
      if (token === listRequest) say(`The conversations could not be loaded: ${err.message}`, "error");
    } finally {
      if (token === listRequest) ui.list.setAttribute("aria-busy", "false");
    }
  }

  function render(conversations) {
    ui.count.textContent = conversations.length ? String(conversations.length) : "";
    ui.empty.hidden = conversations.length > 0;
    const focused = document.activeElement?.closest?.("#conversations li")?.dataset.id;
    ui.list.replaceChildren(...conversations.map(row));
    // a refresh (after an answer) must not drop the reader's place in the list
    if (focused) ui.list.querySelector(`li[data-id="${CSS.escape(focused)}"] .open-conversation`)?.focus();
  }

  /** One conversation: its title (opens it), when and how long, and its actions. */
  function row(c) {
    const current = c.session_id === qa.currentConversation();
    const open = el("button", {
      className: "open-conversation",
      text: c.title,
      attrs: { type: "button", "aria-current": current ? "true" : null, title: "Show this conversation" },
    });
    open.addEventListener("click", () => qa.loadConversation(c.session_id));
    const meta = [formatMoment(c.updated_at), plural(c.questions, "question", "questions")].join(" · ");
    const action = (label, name, run) => {
      const button = el("button", {
        className: "conversation-action",
        text: label,
        attrs: { type: "button", "aria-label": `${name} “${c.title}”` },
      });
      button.addEventListener("click", () => run(button));
      return button;
    };
    const item = el("li", { className: current ? "conversation-item current" : "conversation-item", attrs: { "data-id": c.session_id } });
    const actions = el("div", { className: "conversation-actions" },
      action("Rename", "Rename", () => startRename(item, c)),
      action("Export", "Export", (b) => exportConversation(c, b)),
      action("Delete", "Delete", (b) => deleteConversation(c, b)));
    item.append(el("div", { className: "conversation-info" }, open,
      el("span", { className: "conversation-meta", text: meta })), actions);
    return item;
  }

  /** The title becomes a field (Enter saves, Escape cancels); the server says what a name may be. */
  function startRename(item, c) {
    const id = `rename-${c.session_id}`;
    const input = el("input", { attrs: { id, type: "text", maxlength: 200, autocomplete: "off" } });
    input.value = c.title;
    const error = el("p", { className: "rename-error small", attrs: { role: "alert" } });
    const save = el("button", { className: "button", text: "Save", attrs: { type: "submit" } });
    const cancel = el("button", { className: "button secondary", text: "Cancel", attrs: { type: "button" } });
    const form = el("form", { className: "rename-form" },
      el("label", { text: "Name of the conversation", attrs: { for: id } }), input, error,
      el("div", { className: "dialog-actions" }, save, cancel));
    const before = [...item.childNodes];
    const back = () => {
      item.replaceChildren(...before);
      item.querySelector(".open-conversation")?.focus();
    };
    cancel.addEventListener("click", back);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation(); // not the article panel's Escape
        back();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      save.disabled = true;
      try {
        const renamed = await sendJSON("PATCH", chatPath(c.session_id), { name: input.value });
        say(`Renamed to “${renamed.title}”.`);
        await refresh();
        ui.list.querySelector(`li[data-id="${CSS.escape(c.session_id)}"] .open-conversation`)?.focus();
      } catch (err) {
        error.textContent = err.message;
        save.disabled = false;
        input.focus();
      }
    });
    item.replaceChildren(form);
    input.focus();
    input.select();
  }

  async function deleteConversation(c, button) {
    if (!window.confirm(`Delete the conversation “${c.title}”?\nIts questions and answers cannot be brought back.`)) return;
    button.disabled = true;
    try {
      await sendJSON("DELETE", chatPath(c.session_id));
      if (c.session_id === qa.currentConversation()) qa.newConversation();
      say(`Deleted “${c.title}”.`);
      await refresh();
      ui.list.querySelector(".open-conversation")?.focus();
    } catch (err) {
      button.disabled = false;
      say(`Could not delete “${c.title}”: ${err.message}`, "error");
    }
  }

  /** Download the conversation as a Markdown file (through the page's own request: it carries the API key). */
  async function exportConversation(c, button) {
    button.disabled = true;
    try {
      const response = await request(`${chatPath(c.session_id)}/export`, { accept: "text/markdown" });
      const blob = await response.blob();
      const disposition = response.headers.get("Content-Disposition") || "";
      const name = /filename="([^"]+)"/.exec(disposition)?.[1] || "conversation.md";
      const url = URL.createObjectURL(blob);
      const link = el("a", { attrs: { href: url, download: name, hidden: true } });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 0);
      say(`Exported “${c.title}” as ${name}.`);
    } catch (err) {
      const gone = err instanceof ApiError && err.status === 404;
      say(gone ? "This conversation is no longer on the server." : `Could not export: ${err.message}`, "error");
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("newsqa:conversation", refresh);
  refresh();
})();
