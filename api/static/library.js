// The article library: search, filter, page through, tick to ask only those, add (a dialog), remove with Undo.
// Plain DOM code over the helpers app.js exposes as window.NewsQA; server text goes in as text, never HTML.
"use strict";

(() => {
  const qa = window.NewsQA;
  const { el, formatDate, plural, articlePath, getJSON, sendJSON, ApiError } = qa;
  const $ = (id) => document.getElementById(id);
  const ui = {
    list: $("articles"),
    count: $("article-count"),
    empty: $("articles-empty"),
    pickHint: $("pick-hint"),
    more: $("more-articles"),
    search: $("library-search"),
    q: $("library-q"),
    source: $("library-source"),
    since: $("library-since"),
    until: $("library-until"),
    error: $("library-error"),
    toast: $("library-toast"),
    addOpen: $("add-open"),
    dialog: $("add-dialog"),
    form: $("add-article"),
    submit: $("add-submit"),
    cancel: $("add-cancel"),
    status: $("add-status"),
    duplicate: $("add-duplicate"),
    duplicateText: $("add-duplicate-text"),
    duplicateList: $("add-duplicate-list"),
    replace: $("add-replace"),
    keepBoth: $("add-keep-both"),
  };

  const PAGE = 50; // rows a page of the list brings, newest first
  const SEARCH_DELAY_MS = 250; // typing in the search box waits this long for the next key before asking
  let listRequest = 0;
  let shown = [];
  let nextCursor = null;
  let total = 0;
  let searchTimer = 0;
  let toasts = 0; // numbers the messages' ids

  // ---- the list ---------------------------------------------------------------------------------------------

  /** The query of the list as the fields say (empty ones left out). */
  function listQuery(cursor) {
    const query = new URLSearchParams({ order: "newest", limit: String(PAGE) });
    const q = ui.q.value.trim();
    if (q) query.set("q", q);
    if (ui.source.value) query.set("source", ui.source.value);
    if (ui.since.value) query.set("since", ui.since.value);
    if (ui.until.value) query.set("until", ui.until.value); // a bare date: the server includes that day
    if (cursor) query.set("cursor", cursor);
    return query;
  }

  const searching = () => Boolean(ui.q.value.trim() || ui.source.value || ui.since.value || ui.until.value);

  /** Load the first page again (`more`: the next page, added below). */
  async function refresh(more = false) {
    const token = ++listRequest;
    ui.list.setAttribute("aria-busy", "true");
    ui.more.disabled = true;
    try {
      const page = await getJSON(`/api/articles?${listQuery(more ? nextCursor : null)}`);
      if (token !== listRequest) return;
      ui.error.hidden = true;
      shown = more ? shown.concat(page.articles) : page.articles;
      nextCursor = page.next_cursor;
      total = page.total;
      render(more ? page.articles : null);
    } catch (err) {
      if (token !== listRequest) return;
      // a filter the server refuses (a "to" date before the "from" date) is said here, beside the fields
      ui.error.textContent = err instanceof ApiError && err.status === 422
        ? err.message
        : `The article list could not be loaded: ${err.message}`;
      ui.error.hidden = false;
    } finally {
      if (token === listRequest) {
        ui.list.setAttribute("aria-busy", "false");
        ui.more.disabled = false;
      }
    }
  }

  /** Show the rows (`added`: only these are new, below the others: keep the rest and the reader's place). */
  function render(added) {
    ui.count.textContent = total || searching() ? String(total) : "";
    ui.count.title = searching() ? "Articles matching the search" : "Articles indexed";
    ui.empty.hidden = total > 0 || searching();
    ui.empty.textContent = "No articles are indexed yet. Add one with the button above.";
    if (!total && searching()) {
      ui.empty.textContent = "No article matches the search.";
      ui.empty.hidden = false;
    }
    ui.pickHint.hidden = !total;
    ui.more.hidden = !nextCursor;
    ui.more.textContent = `Show more (${Math.max(total - shown.length, 0)} left)`;
    if (added) ui.list.append(...added.map(row));
    else ui.list.replaceChildren(...shown.map(row));
  }

  /** One article: its tick box, its title (opens it), when and where from, other outlets of its story, Remove. */
  function row(article) {
    const open = el("button", {
      className: "open-article",
      text: article.title,
      attrs: { type: "button", title: "Read the article" },
    });
    open.addEventListener("click", () => qa.openArticle(article.id, open));
    const meta = [formatDate(article.published), article.source, plural(article.chunks, "passage", "passages")]
      .filter(Boolean)
      .join(" · ");
    const info = el("div", { className: "article-info" }, open, el("span", { className: "article-meta", text: meta }));
    const others = article.story_outlets || [];
    if (others.length) {
      info.append(el("span", { className: "also-in", text: `Also in ${others.join(", ")}` }));
    }
    const remove = el("button", {
      className: "remove",
      text: "Remove",
      attrs: { type: "button", "aria-label": `Remove “${article.title}”` },
    });
    remove.addEventListener("click", () => removeArticle(article, remove));
    return el("li", { className: "article-item", attrs: { "data-id": article.id } }, pickBox(article), info, remove);
  }

  /** The tick box of a row: ask only the ticked articles (the choice is app.js's: it sends it with a question). */
  function pickBox(article) {
    const box = el("input", {
      className: "pick",
      attrs: { type: "checkbox", "aria-label": `Select “${article.title}”` },
    });
    box.checked = qa.isPicked(article.id);
    box.addEventListener("change", () => qa.pick(article.id, box.checked));
    return box;
  }

  // ---- confirmations where the reader is looking -----------------------------------------------------------------

  /** A short message (and an action) in `place`, replacing the one before: the reader sees it where they acted. */
  function toast(place, message, action) {
    const close = el("button", {
      className: "icon-button",
      text: "×",
      attrs: { type: "button", "aria-label": "Dismiss the message" },
    });
    const textId = `toast-${++toasts}`;
    const note = el("div", { className: "toast", attrs: { "data-testid": "toast" } },
      el("span", { className: "toast-text", text: message, attrs: { id: textId } }));
    if (action) {
      // the focus lands on the action: it says what it undoes
      const button = el("button", {
        className: "link-button toast-action",
        text: action.label,
        attrs: { type: "button", "aria-describedby": textId },
      });
      button.addEventListener("click", () => action.run(button));
      note.append(button);
    }
    note.append(close);
    close.addEventListener("click", () => {
      const row = place.closest("li.toast-row");
      const next = row?.nextElementSibling?.querySelector("button") || ui.addOpen;
      if (row) row.remove();
      else note.remove();
      next.focus();
    });
    place.replaceChildren(note);
    return note;
  }

  // ---- remove, with Undo (no dialog first: Undo, where the row was, is the way back) ------------------------------

  async function removeArticle(article, button) {
    button.disabled = true;
    let saved;
    try {
      saved = await getJSON(articlePath(article.id)); // its text, to put it back on Undo
      await sendJSON("DELETE", articlePath(article.id));
    } catch (err) {
      button.disabled = false;
      toast(ui.toast, `Could not remove “${article.title}”: ${err.message}`);
      return;
    }
    // the confirmation takes the row's place, where the reader is looking, with Undo under the keyboard focus
    const item = button.closest("li");
    shown = shown.filter((a) => a.id !== article.id);
    total = Math.max(total - 1, 0);
    render([]);
    const place = el("li", { className: "toast-row", attrs: { "data-removed": article.id } });
    item.replaceWith(place);
    const note = toast(place, `Removed “${article.title}”.`, {
      label: "Undo",
      run: (undo) => restore(saved, undo, place),
    });
    note.querySelector(".toast-action").focus();
    await written(article.id);
  }

  /** Put a removed article back as it was (same id, title, text, outlet, URL and, unless inferred, date), in the
   *  place its row had. */
  async function restore(saved, button, place) {
    button.disabled = true;
    const body = { id: saved.id, title: saved.title, text: saved.text };
    for (const name of ["source", "url"]) if (saved[name]) body[name] = saved[name];
    if (saved.published && !saved.published_inferred) body.published = saved.published;
    try {
      const result = await sendJSON("POST", "/api/articles", body);
      const back = row(result.article);
      place.replaceWith(back);
      shown.push(result.article);
      total += 1;
      render([]);
      back.querySelector(".open-article").focus();
      toast(ui.toast, `Restored “${saved.title}”.`);
      await written();
    } catch (err) {
      button.disabled = false;
      toast(place, `Could not restore “${saved.title}”: ${err.message}`, {
        label: "Try again",
        run: (again) => restore(saved, again, place),
      });
    }
  }

  // ---- add: a dialog; a title already indexed offers "replace" or "keep both" ----------------------------------

  const SAME_TITLE_SHOWN = 20; // articles of the same title named in the prompt (more are counted)
  let duplicates = []; // the articles the draft's title matches, while the reader chooses

  function openAdd() {
    ui.status.textContent = "";
    hideDuplicate();
    ui.dialog.showModal();
    ui.form.elements.title.focus();
  }

  function closeAdd() {
    if (ui.dialog.open) ui.dialog.close();
  }

  function hideDuplicate() {
    duplicates = [];
    ui.duplicate.hidden = true;
  }

  /** Where and when an article with the draft's title comes from, for the reader to tell copies apart. */
  const origin = (article) => [article.source, formatDate(article.published)].filter(Boolean).join(", ");

  /** The prompt for a title already indexed: the one article, or each of several (copies kept before), to choose
   *  which one "Replace" replaces. */
  function showDuplicates(page) {
    duplicates = page.articles;
    const found = duplicates[0];
    const several = page.total > 1;
    ui.replace.textContent = several ? "Replace the one chosen" : "Replace it";
    ui.keepBoth.textContent = several ? "Keep them all" : "Keep both";
    ui.duplicateList.hidden = !several;
    ui.duplicateList.replaceChildren(ui.duplicateList.querySelector("legend"));
    if (!several) {
      const where = origin(found);
      ui.duplicateText.textContent =
        `An article titled “${found.title}”${where ? ` (${where})` : ""} is already indexed. Replace it with this ` +
        "one, or keep both?";
      return;
    }
    const unnamed = page.total - duplicates.length;
    ui.duplicateText.textContent = `${page.total} articles titled “${found.title}” are already indexed` +
      `${unnamed ? ` (the first ${duplicates.length} are listed)` : ""}. Replace one of them with this one, or keep ` +
      "them all?";
    duplicates.forEach((article, i) => {
      const choice = el("input", { attrs: { type: "radio", name: "replace-which", value: article.id } });
      choice.checked = i === 0;
      ui.duplicateList.append(el("label", {}, choice, `“${article.title}” — ${origin(article) || "no outlet or date"}`));
    });
  }

  /** The draft as the API takes it, or null (and the field to fix focused) when it lacks a title or text. */
  function draft() {
    const form = ui.form;
    const value = (name) => form.elements[name].value.trim();
    const body = { title: value("title"), text: form.elements.text.value };
    if (!body.title || !body.text.trim()) {
      ui.status.textContent = "An article needs a title and some text.";
      ui.status.dataset.kind = "error";
      (body.title ? form.elements.text : form.elements.title).focus();
      return null;
    }
    for (const name of ["published", "source", "url"]) if (value(name)) body[name] = value(name);
    return body;
  }

  async function submitAdd(event) {
    event.preventDefault();
    const body = draft();
    if (!body) return;
    busy(true, "Checking the title…");
    try {
      const query = new URLSearchParams({ title: body.title, limit: String(SAME_TITLE_SHOWN) });
      const same = await getJSON(`/api/articles?${query}`);
      if (same.articles.length) {
        offer(same);
        return;
      }
      await save(body);
    } catch (err) {
      // a title that differs from another only in signs, case or accents gives the same id: the server names
      // that article, and the reader gets the same choice as for the same title
      if (err instanceof ApiError && err.status === 409 && err.articleId) {
        try {
          offer({ articles: [await getJSON(articlePath(err.articleId))], total: 1 });
          return;
        } catch {
          // gone meanwhile: say what the server said
        }
      }
      failed(err);
    } finally {
      busy(false);
    }
  }

  /** Offer to replace the articles the draft's title clashes with, or to keep both. */
  function offer(page) {
    showDuplicates(page);
    ui.duplicate.hidden = false;
    ui.status.textContent = "";
    busy(false); // a disabled button cannot take the focus
    ui.replace.focus();
  }

  /** Index the draft; close the dialog and confirm beside the button that opened it. */
  async function save(body) {
    busy(true, "Indexing…");
    const sent = await sendJSON("POST", "/api/articles", body);
    if (sent.state) {
      // a big article is added in the background (202 and a job): the dialog closes, the toast follows the job
      ui.form.reset();
      closeAdd();
      const result = await followJob(sent, body.title);
      if (result) await afterSave(result);
      return;
    }
    ui.form.reset();
    closeAdd();
    await afterSave(sent);
  }

  const JOB_POLL_MS = 1000;

  /** Follow a background addition until it ends; its result (ArticleWrite), or null when it failed. */
  async function followJob(job, title) {
    for (;;) {
      if (job.state === "done") return job.result;
      if (job.state === "failed" || job.state === "cancelled") {
        toast(ui.toast, `Could not add “${title}”: ${job.error?.message || job.state}`);
        return null;
      }
      const progress = job.chunks_total ? ` (${job.chunks_done} of ${job.chunks_total} passages)` : "";
      toast(ui.toast, `Adding “${title}” in the background${progress}…`);
      await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
      job = await getJSON(`/api/jobs/${encodeURIComponent(job.id)}`);
    }
  }

  /** Confirm an addition beside the button that opened the dialog, and show the list as it is now. */
  async function afterSave(result) {
    const title = result.article.title;
    const passages = plural(result.chunks_embedded, "passage", "passages");
    const messages = {
      added: `Added “${title}” (${passages} indexed).`,
      updated: `Replaced “${title}” (${passages} indexed).`,
      unchanged: `“${title}” was already indexed; nothing changed.`,
    };
    toast(ui.toast, messages[result.status] || `Saved “${title}”.`);
    await refresh();
    await written();
  }

  function failed(err) {
    const problem = draftProblem(err);
    ui.status.textContent = problem ? problem.words : `Could not add the article: ${err.message}`;
    ui.status.dataset.kind = "error";
    if (problem?.field) ui.form.elements[problem.field].focus(); // where the fix is to be made
  }

  // The dialog's fields as a reader calls them (the API's names never reach the page).
  const FIELD_WORDS = { title: "title", text: "text", source: "source", url: "link", published: "date" };

  /** What is wrong with the draft, in a reader's words, from the server's refusal of it ({words, field}: the field
   *  to fix, when the refusal names one), or null when the error is not such a refusal. A 422 names the field
   *  first ("title: String should have at most 500 characters"; "query.title" from the duplicate check). */
  function draftProblem(err) {
    if (!(err instanceof ApiError)) return null;
    if (err.status === 409) {
      // the title differs from the other article's only in case, signs or accents, or after its 80th character:
      // both would have the same address
      return { words: "An article with a title very like this one is already indexed. Change the title a little.",
        field: "title" };
    }
    if (err.status !== 422) return null;
    const [, named = "", why = err.detail] = /^(?:query\.)?(\w+): ([\s\S]*)$/.exec(err.detail) || [];
    const field = FIELD_WORDS[named] ? named : null;
    const name = FIELD_WORDS[field];
    const longest = /at most ([\d,]+) characters?/.exec(why)?.[1];
    let words;
    if (field && longest) words = `The ${name} is too long: shorten it to ${longest} characters or fewer.`;
    else if (field === "title" && /at least|blank/.test(why)) words = "Give the article a title.";
    else if ((field === "text" && /at least|blank/.test(why)) || /\bno text\b/.test(why)) {
      return { words: "The text is empty: paste the article's text.", field: "text" };
    } else if (field && /surrogate|unicode|not text/i.test(why)) {
      words = `The ${name} holds a broken character. Type or paste it again.`;
    } else if (!field && /\btitle\b/.test(why)) {
      // no id could be made of the title: the server makes them of its letters and digits
      return { words: "Give the title at least one letter or digit.", field: "title" };
    } else if (/no letters or digits/.test(why)) {
      return { words: "The text has no words: paste the article's text.", field: "text" };
    } else {
      words = field
        ? `The ${name} was not accepted. Check it, then try again.`
        : "The article was not accepted as it is. Check its title and text, then try again.";
    }
    return { words, field };
  }

  function busy(on, message) {
    ui.submit.disabled = on;
    ui.replace.disabled = on;
    ui.keepBoth.disabled = on;
    ui.form.setAttribute("aria-busy", String(on));
    if (on) {
      ui.status.textContent = message;
      ui.status.dataset.kind = "busy";
    }
  }

  /** The draft under the duplicate's id: it takes that article's place. */
  async function replaceDuplicate() {
    const body = draft();
    if (!body || !duplicates.length) return;
    body.id = ui.form.elements["replace-which"]?.value || duplicates[0].id; // one article: no choice to make
    try {
      await save(body);
    } catch (err) {
      failed(err);
    } finally {
      busy(false);
    }
  }

  /** The draft beside the duplicate, under the first free id "ID-2", "ID-3"… */
  async function keepBoth() {
    const body = draft();
    if (!body || !duplicates.length) return;
    try {
      busy(true, "Indexing…");
      body.id = await freeId(duplicates[0].id);
      await save(body);
    } catch (err) {
      failed(err);
    } finally {
      busy(false);
    }
  }

  async function freeId(base) {
    for (let n = 2; n < 100; n++) {
      const id = `${base}-${n}`;
      try {
        await getJSON(articlePath(id));
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return id;
        throw err;
      }
    }
    return `${base}-${Date.now()}`;
  }

  // ---- the outlet choice -------------------------------------------------------------------------------------

  /** After a write: the question filter's outlets (app.js), then the library's. In turn, not at once: the server
   *  brings its view up to date on the first request after a write, and one sent alongside can be answered from
   *  the view before. */
  async function written(removedId) {
    await qa.articlesChanged(removedId);
    await refreshOutlets();
  }

  async function refreshOutlets() {
    try {
      const names = await getJSON("/api/sources");
      const chosen = ui.source.value;
      ui.source.replaceChildren(new Option("Any outlet", ""), ...names.map((name) => new Option(name, name)));
      ui.source.value = names.includes(chosen) ? chosen : "";
      if (ui.source.value !== chosen) refresh();
    } catch (err) {
      ui.error.textContent = `The list of outlets could not be loaded: ${err.message}`;
      ui.error.hidden = false;
    }
  }

  // ---- wiring ----------------------------------------------------------------------------------------------------

  ui.search.addEventListener("submit", (event) => {
    event.preventDefault(); // Enter searches at once
    clearTimeout(searchTimer);
    refresh();
  });
  ui.q.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(refresh, SEARCH_DELAY_MS);
  });
  for (const field of [ui.source, ui.since, ui.until]) field.addEventListener("change", () => refresh());
  ui.more.addEventListener("click", () => refresh(true));
  ui.addOpen.addEventListener("click", openAdd);
  ui.cancel.addEventListener("click", closeAdd);
  ui.dialog.addEventListener("close", () => {
    hideDuplicate();
    ui.addOpen.focus(); // Escape closes it too: focus goes back where it came from
  });
  ui.form.addEventListener("submit", submitAdd);
  ui.form.addEventListener("input", (event) => {
    if (!ui.duplicate.contains(event.target)) hideDuplicate(); // an edited draft is checked again
  });
  ui.replace.addEventListener("click", replaceDuplicate);
  ui.keepBoth.addEventListener("click", keepBoth);

  refresh().then(refreshOutlets);
})();
