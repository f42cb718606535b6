// Simple Markdown for answers, built as DOM nodes (never HTML): a model's answer may hold **bold**, *italic*,
// `code`, lists, quotes, headings and links. Written by hand because the page has no build step and loads nothing
// from outside, and the Markdown libraries that exist produce an HTML string, which the page never inserts.
// What it does not know stays as the text it is.
"use strict";

(() => {
  // inline syntax, tried left to right; a backslash escapes the next punctuation character
  const INLINE = new RegExp(
    [
      String.raw`\\([\\\x60*_\[\]()#>+\-.!])`, // 1: an escaped character
      String.raw`\x60([^\x60\n]+)\x60`, // 2: `code`
      String.raw`\*\*(?=\S)([\s\S]*?\S)\*\*`, // 3: **bold**
      String.raw`__(?=\S)([\s\S]*?\S)__`, // 4: __bold__
      String.raw`\*(?=[^\s*])([^*\n]*?[^\s*])\*`, // 5: *italic* (not "a * b * c")
      String.raw`\[([^\]\n]+)\]\(([^()\s]+)\)`, // 6, 7: [text](url)
      String.raw`\[(\d+)\]`, // 8: a citation marker [n]
    ].join("|"),
    "g",
  );
  const SAFE_URL = /^(https?:\/\/|mailto:)/i;

  /** Inline Markdown of `text` appended to `parent`; `marker(n)` makes the node of a citation marker [n] (or
   *  null to keep it as text). Links only to http(s) and mailto addresses; any other stays text. */
  function inline(parent, text, marker, inLink = false) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      let node = null;
      if (m[1] !== undefined) node = document.createTextNode(m[1]);
      else if (m[2] !== undefined) node = span("code", m[2]);
      else if (m[3] !== undefined || m[4] !== undefined) node = wrap("strong", m[3] ?? m[4], marker, inLink);
      else if (m[5] !== undefined) node = wrap("em", m[5], marker, inLink);
      else if (m[6] !== undefined && !inLink && SAFE_URL.test(m[7])) {
        node = wrap("a", m[6], marker, true);
        node.href = m[7];
        node.target = "_blank";
        node.rel = "noopener noreferrer nofollow";
      } else if (m[8] !== undefined && !inLink) node = marker(Number(m[8]));
      if (!node) continue; // not ours: it stays in the text around it
      if (m.index > last) parent.append(text.slice(last, m.index));
      parent.append(node);
      last = m.index + m[0].length;
    }
    if (last < text.length) parent.append(text.slice(last));
    return parent;
  }

  function span(tag, text) {
    const node = document.createElement(tag);
    node.textContent = text;
    return node;
  }

  function wrap(tag, text, marker, inLink) {
    return inline(document.createElement(tag), text, marker, inLink);
  }

  const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
  const NUMBERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
  const HEADING = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/;
  const QUOTE = /^\s{0,3}>\s?(.*)$/;

  /** The block kind of one line, and its content. */
  function lineKind(line) {
    let m;
    if (!line.trim()) return { kind: "blank" };
    if ((m = HEADING.exec(line))) return { kind: "heading", text: m[1] };
    if ((m = BULLET.exec(line))) return { kind: "ul", text: m[1] };
    if ((m = NUMBERED.exec(line))) return { kind: "ol", text: m[2], start: Number(m[1]) };
    if ((m = QUOTE.exec(line))) return { kind: "quote", text: m[1] };
    return { kind: "text", text: line };
  }

  /** `text` as block nodes (paragraphs, lists, quotes; a heading is a bold paragraph, so an answer never adds to the
   *  page's outline) in a fragment. */
  function render(text, marker) {
    const out = document.createDocumentFragment();
    let block = null; // {kind, node, lines?}
    const close = () => {
      if (block && block.lines) inline(block.node, block.lines.join("\n"), marker);
      block = null;
    };
    for (const line of String(text).split(/\r\n|\r|\n/)) {
      const item = lineKind(line);
      if (item.kind === "blank") {
        close();
        continue;
      }
      if (item.kind === "ul" || item.kind === "ol") {
        if (!block || block.kind !== item.kind) {
          close();
          const list = document.createElement(item.kind);
          if (item.kind === "ol" && item.start !== 1) list.start = item.start;
          out.append(list);
          block = { kind: item.kind, node: list, item: null };
        }
        const li = inline(document.createElement("li"), item.text, marker);
        block.node.append(li);
        block.item = li;
        continue;
      }
      if (item.kind === "text" && block && (block.kind === "ul" || block.kind === "ol") && /^\s/.test(line)) {
        block.item.append("\n", ...inline(document.createDocumentFragment(), item.text.trim(), marker).childNodes);
        continue; // an indented line continues the list item
      }
      if (item.kind === "heading") {
        close();
        const p = document.createElement("p");
        p.className = "md-heading";
        p.append(inline(document.createElement("strong"), item.text, marker));
        out.append(p);
        continue;
      }
      const kind = item.kind === "quote" ? "quote" : "p";
      if (!block || block.kind !== kind) {
        close();
        const node = document.createElement(kind === "quote" ? "blockquote" : "p");
        out.append(node);
        block = { kind, node, lines: [] };
      }
      block.lines.push(item.text);
    }
    close();
    return out;
  }

  window.NewsQAMarkdown = { render, inline };
})();
