// harken web workspace: keyboard shortcuts and "select all". Everything works without it.
(function () {
  "use strict";
  function typing(event) {
    var t = event.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var all = document.getElementById("select-all");
    if (all) {
      all.addEventListener("change", function () {
        document.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = all.checked; });
      });
    }
    // Empty filters stay out of the address (a link to a view is then short to share).
    var filters = document.getElementById("filters");
    if (filters) {
      filters.addEventListener("submit", function () {
        filters.querySelectorAll("input, select").forEach(function (field) {
          if (field.value === "" && field.type !== "checkbox") { field.disabled = true; }
        });
      });
    }
    var rows = Array.prototype.slice.call(document.querySelectorAll("tr.item"));
    var current = -1;
    document.addEventListener("harken:refreshed", function () {  // live updates swapped rows
      rows = Array.prototype.slice.call(document.querySelectorAll("tr.item"));
      current = -1;
    });
    function focusRow(i) {
      if (!rows.length) { return; }
      if (current >= 0) { rows[current].classList.remove("current"); }
      current = Math.max(0, Math.min(rows.length - 1, i));
      rows[current].classList.add("current");
      rows[current].scrollIntoView({ block: "nearest" });
    }
    document.addEventListener("keydown", function (event) {
      if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) { return; }
      var key = event.key;
      if (rows.length) {
        if (key === "j") { focusRow(current + 1); return; }
        if (key === "k") { focusRow(current - 1); return; }
        if ((key === "o" || key === "Enter") && current >= 0) { window.location = rows[current].dataset.href; return; }
        if (key === "x" && current >= 0) {
          var box = rows[current].querySelector("input[name=ids]");
          if (box) { box.checked = !box.checked; }
          return;
        }
      }
      if (key === "/") {
        var first = document.querySelector("#filters select, #filters input");
        if (first) { event.preventDefault(); first.focus(); }
        return;
      }
      if (key === "u" && !rows.length) { window.location = "/inbox"; return; }
      if (key === "n") {
        var note = document.querySelector("form[data-action=note] textarea");
        if (note) { event.preventDefault(); note.focus(); }
        return;
      }
      var button = document.querySelector("button[data-key='" + key + "']");
      if (button && (key === "c" || key === "r" || key === "d")) { button.form.requestSubmit(button); }
    });
  });

  // Live updates: the server says what changed (GET /events); the parts of this page that
  // show it are fetched again and swapped in, keeping what the person selected or typed.
  function swap(ids, html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    ids.forEach(function (id) {
      var here = document.getElementById(id), there = fresh.getElementById(id);
      if (here && there) { here.replaceWith(there); }
    });
  }
  function refreshInbox(changed) {
    var checked = {};
    document.querySelectorAll("input[name=ids]:checked").forEach(function (box) { checked[box.value] = true; });
    return fetch(window.location.href, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (!html) { return; }
      swap(["rows", "count"], html);
      document.querySelectorAll("tr.item").forEach(function (row) {
        var box = row.querySelector("input[name=ids]");
        if (box && checked[box.value]) { box.checked = true; }
        if (changed[row.dataset.id]) { row.classList.add("fresh"); }
      });
      document.dispatchEvent(new CustomEvent("harken:refreshed"));
    });
  }
  function refreshItem() {
    return fetch(window.location.href, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (html) { swap(["title", "history"], html); document.dispatchEvent(new CustomEvent("harken:refreshed")); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var inbox = document.getElementById("rows"), item = document.querySelector("[data-item]");
    if (!window.EventSource || (!inbox && !item)) { return; }
    var source = new EventSource("/events"), pending = null, changed = {};
    var live = document.getElementById("live");
    source.onopen = function () { if (live) { live.hidden = false; } };
    source.onerror = function () { if (live) { live.hidden = true; } };
    source.addEventListener("queue", function (message) {
      JSON.parse(message.data).forEach(function (e) { changed[e.item_id] = true; });
      if (item && !changed[item.dataset.item]) { return; }
      clearTimeout(pending);
      pending = setTimeout(function () {
        var these = changed; changed = {};
        (inbox ? refreshInbox(these) : refreshItem());
      }, 300);
    });
  });

  // The dashboard's panels, one after another (each is a report; the server counts one at a
  // time best), each swapped in as it comes.
  document.addEventListener("DOMContentLoaded", function () {
    var pending = Array.prototype.slice.call(document.querySelectorAll("[data-panel]"));
    function next() {
      var slot = pending.shift();
      if (!slot) { document.dispatchEvent(new CustomEvent("harken:panels")); return; }
      fetch(slot.dataset.panel, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
        var made = new DOMParser().parseFromString(html, "text/html").querySelector("section.board");
        if (made) { slot.replaceWith(made); }
        next();
      }, next);
    }
    next();
  });
})();
