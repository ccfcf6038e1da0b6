/* newswatch console: progressive enhancement, no framework, no build step.
 *
 * Every page works without this file: forms POST and the server answers 303 back to the page.
 * With it:
 * - forms marked data-enhance are sent with fetch; the page the server redirects to is parsed
 *   and only the elements named in the form's data-swap replace their old selves (an element
 *   the new page no longer has, such as a row the filters now hide, is removed);
 * - the rule editor previews the edit 300 ms after the last keystroke, cancelling a preview
 *   still under way, and keeps Save disabled while the watch topic has problems;
 * - keyboard triage: j/k move, a acknowledges, + / - vote, o or Enter opens, ? shows help;
 * - results are announced in the page's live region (role=status, aria-live=polite).
 * Text from the server is never inserted as markup built here: the swapped elements come from
 * the server's own escaped HTML, parsed inert by DOMParser; messages are set as textContent.
 */
(function () {
  "use strict";

  var FRAGMENT_HEADER = "X-Console-Fragment";
  var live = document.getElementById("live");
  var liveTimer = null;

  // -- live region ---------------------------------------------------------------------------
  function announce(text, isError) {
    if (!live) return;
    if (live.classList.contains("visually-hidden")) {
      live.classList.replace("visually-hidden", "toast");
    }
    live.classList.toggle("is-error", Boolean(isError));
    // Emptied first so that the same message twice is announced twice.
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 30);
    window.clearTimeout(liveTimer);
    liveTimer = window.setTimeout(function () { live.textContent = ""; }, isError ? 9000 : 4000);
  }

  function parse(html) {
    return new DOMParser().parseFromString(html, "text/html");
  }

  function problemOf(status, html) {
    var doc = parse(html);
    var node = doc.getElementById("problem");
    var text = (node ? node.textContent : doc.body ? doc.body.textContent : html) || "";
    text = text.trim().replace(/\s+/g, " ");
    return text.slice(0, 300) || "the server answered " + status;
  }

  function formBody(form, submitter) {
    var data = new FormData(form);
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    return new URLSearchParams(data);
  }

  // -- enhanced forms: fetch, then swap what changed -----------------------------------------
  function swap(doc, ids) {
    ids.forEach(function (id) {
      var old = document.getElementById(id);
      if (!old) return;
      var fresh = doc.getElementById(id);
      if (fresh) {
        old.replaceWith(document.importNode(fresh, true));
      } else {
        old.remove();
      }
    });
  }

  function refocus(ids, key) {
    for (var i = 0; i < ids.length; i++) {
      var box = document.getElementById(ids[i]);
      var target = box && key ? box.querySelector('[data-key="' + key + '"]') : null;
      if (target) { target.focus(); return; }
    }
  }

  function sendEnhanced(form, submitter) {
    var ids = (form.getAttribute("data-swap") || "").split(/\s+/).filter(Boolean);
    var key = submitter ? submitter.getAttribute("data-key") : null;
    var hadFocus = document.activeElement && form.contains(document.activeElement);
    var done = (submitter && submitter.getAttribute("data-done")) || "Done";
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.setAttribute("aria-busy", "true"); b.disabled = true; });
    fetch(form.action, {
      method: "POST",
      body: formBody(form, submitter),
      headers: (function () { var h = {}; h[FRAGMENT_HEADER] = "swap"; return h; })(),
      credentials: "same-origin",
    }).then(function (response) {
      return response.text().then(function (html) {
        if (!response.ok) {
          buttons.forEach(function (b) { b.removeAttribute("aria-busy"); b.disabled = false; });
          announce("Not recorded: " + problemOf(response.status, html), true);
          return;
        }
        swap(parse(html), ids);
        triage.refresh();
        if (hadFocus) refocus(ids, key);
        // Focus that was on a swapped element (a selected row's link) is now on nothing.
        if (!document.activeElement || document.activeElement === document.body) {
          triage.focusSelected();
        }
        announce(done, false);
      });
    }).catch(function (error) {
      buttons.forEach(function (b) { b.removeAttribute("aria-busy"); b.disabled = false; });
      announce("Not recorded: the console did not answer (" + error.message + ")", true);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-enhance")) return;
    if (!window.fetch || !window.DOMParser) return;
    event.preventDefault();
    sendEnhanced(form, event.submitter || null);
  });

  // Filters apply as soon as one changes (the Filter button stays for keyboards and no-JS).
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    form.addEventListener("change", function () { form.requestSubmit(); });
  });

  // -- keyboard triage -----------------------------------------------------------------------
  var triage = (function () {
    var container = document.querySelector("[data-triage]");
    var selectedId = null;

    function items() {
      return container ? Array.prototype.slice.call(container.querySelectorAll("[data-item]")) : [];
    }

    function current() {
      var node = selectedId ? document.getElementById(selectedId) : null;
      return node && container && container.contains(node) ? node : null;
    }

    function focus(node) {
      var link = node.querySelector(".open");
      if (container.getAttribute("data-triage") === "rows" && link) {
        link.focus({ preventScroll: true });
      } else {
        if (!node.hasAttribute("tabindex")) node.setAttribute("tabindex", "-1");
        node.focus({ preventScroll: true });
      }
    }

    function select(node) {
      items().forEach(function (n) { n.classList.remove("is-selected"); });
      if (!node) { selectedId = null; return; }
      selectedId = node.id;
      node.classList.add("is-selected");
      focus(node);
      node.scrollIntoView({ block: "nearest" });
    }

    function focusSelected() {
      var node = current();
      if (node) focus(node);
    }

    function move(step) {
      var list = items();
      if (!list.length) return;
      var at = list.indexOf(current());
      var next = at < 0 ? (step > 0 ? 0 : list.length - 1)
        : Math.max(0, Math.min(list.length - 1, at + step));
      select(list[next]);
    }

    function refresh() {
      // After a swap the selected element is a new node with the same id (or gone).
      var node = current();
      if (node) node.classList.add("is-selected");
      else if (selectedId) selectedId = null;
    }

    function press(scopeNode, key) {
      var storyState = document.getElementById("story-state");
      var scopes = [scopeNode, storyState].filter(Boolean);
      if (key === "ack") scopes = [container && container.getAttribute("data-triage") === "rows"
        ? scopeNode : storyState];
      for (var i = 0; i < scopes.length; i++) {
        var button = scopes[i] && scopes[i].querySelector('button[data-key="' + key + '"]');
        if (button && !button.disabled) {
          button.form.requestSubmit(button);
          return true;
        }
      }
      return false;
    }

    function open(node) {
      var link = node && node.querySelector("a.open");
      if (!link) return;
      if (link.target === "_blank") window.open(link.href, "_blank", "noopener,noreferrer");
      else window.location.assign(link.href);
    }

    return { move: move, refresh: refresh, press: press, open: open, current: current,
             focusSelected: focusSelected, active: Boolean(container) };
  })();

  var help = document.getElementById("help");
  document.querySelectorAll("[data-help]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { if (help && help.showModal) help.showModal(); });
  });

  function typing(target) {
    if (!target || !(target instanceof Element)) return false;
    return Boolean(target.closest("input, textarea, select, [contenteditable], dialog"));
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key;
    if (key === "?") {
      if (help && help.showModal) { help.showModal(); event.preventDefault(); }
      return;
    }
    if (!triage.active) return;
    var node = triage.current();
    if (key === "j") { triage.move(1); event.preventDefault(); }
    else if (key === "k") { triage.move(-1); event.preventDefault(); }
    else if (key === "a") { if (triage.press(node, "ack")) event.preventDefault(); }
    else if (key === "+" || key === "=") { if (triage.press(node, "up")) event.preventDefault(); }
    else if (key === "-") { if (triage.press(node, "down")) event.preventDefault(); }
    else if (key === "o" || key === "Enter") {
      // Enter on a link or button already does what it says.
      if (key === "Enter" && event.target.closest && event.target.closest("a, button")) return;
      if (node) { triage.open(node); event.preventDefault(); }
    }
  });

  // -- rule editor ---------------------------------------------------------------------------
  var editor = document.querySelector("form[data-editor]");
  if (editor && window.fetch) {
    var preview = document.getElementById("preview");
    var save = document.getElementById("save");
    var yaml = document.getElementById("yaml");
    var article = document.getElementById("article");
    var previewUrl = editor.getAttribute("action");
    var original = yaml.value;
    var timer = null;
    var controller = null;
    var sequence = 0;
    var lastSummary = "";
    var saving = false;

    var runPreview = function () {
      window.clearTimeout(timer);
      if (controller) controller.abort();
      controller = window.AbortController ? new AbortController() : null;
      var mine = ++sequence;
      preview.setAttribute("aria-busy", "true");
      var headers = {};
      headers[FRAGMENT_HEADER] = "preview";
      fetch(previewUrl, {
        method: "POST",
        body: formBody(editor, null),
        headers: headers,
        credentials: "same-origin",
        signal: controller ? controller.signal : undefined,
      }).then(function (response) {
        return response.text().then(function (html) {
          if (mine !== sequence) return;
          if (!response.ok) {
            announce("Preview failed: " + problemOf(response.status, html), true);
            return;
          }
          var doc = parse(html);
          var nodes = Array.prototype.map.call(doc.body.childNodes, function (n) {
            return document.importNode(n, true);
          });
          preview.replaceChildren.apply(preview, nodes);
          var root = preview.querySelector(".preview");
          var problems = root ? Number(root.getAttribute("data-problems") || "0") : 0;
          save.disabled = problems > 0;
          var summary = root ? root.getAttribute("data-summary") || "" : "";
          if (summary && summary !== lastSummary) {
            lastSummary = summary;
            announce(summary, problems > 0);
          }
        });
      }).catch(function (error) {
        if (error.name !== "AbortError" && mine === sequence) {
          announce("Preview failed: " + error.message, true);
        }
      }).finally(function () {
        if (mine === sequence) preview.setAttribute("aria-busy", "false");
      });
    };

    var schedule = function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(runPreview, 300);
    };

    yaml.addEventListener("input", schedule);
    article.addEventListener("input", schedule);
    editor.querySelector("#days").addEventListener("change", runPreview);

    // Tab indents in the YAML (two spaces) instead of leaving it; Escape then Tab leaves.
    var escaped = false;
    yaml.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { escaped = true; return; }
      if (event.key === "Tab" && !event.shiftKey && !escaped) {
        event.preventDefault();
        var start = yaml.selectionStart;
        yaml.setRangeText("  ", start, yaml.selectionEnd, "end");
        schedule();
      }
      escaped = false;
    });

    editor.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      if (submitter && submitter.id === "save") {
        if (save.disabled) { event.preventDefault(); return; }
        saving = true;
        return; // a plain POST: the server checks again, then redirects or explains
      }
      event.preventDefault();
      if (submitter && submitter.hasAttribute("data-explain")) {
        article.value = submitter.value;
        article.focus();
      }
      runPreview();
    });

    window.addEventListener("beforeunload", function (event) {
      if (!saving && yaml.value !== original) {
        event.preventDefault();
        event.returnValue = "";
      }
    });

    runPreview();
  }
})();
