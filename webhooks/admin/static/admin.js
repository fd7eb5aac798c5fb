// The console's few behaviours, in plain JavaScript: selection, confirmations, and live statuses.
// Every page works without it; it only saves clicks and refreshes.
(function () {
  "use strict";

  var FINAL = ["delivered", "read", "undelivered", "failed"];
  var REPLAYABLE = ["failed", "undelivered"];
  var POLL_MS = 2000;
  var POLL_LIMIT_MS = 5 * 60 * 1000; // stop watching after five minutes: a reload starts again
  var SIDS_PER_REQUEST = 40; // keeps the request line far below servers' 4 KB limits

  // -- selection -----------------------------------------------------------------------------------------------
  function selectionChanged(form) {
    var boxes = form.querySelectorAll('input[name="selected"]');
    var checked = form.querySelectorAll('input[name="selected"]:checked').length;
    var counter = form.querySelector("[data-selection-count]");
    if (counter) counter.textContent = checked + " selected";
    form.querySelectorAll("[data-needs-selection]").forEach(function (button) {
      button.disabled = checked === 0;
      button.textContent = checked ? "Replay selected (" + checked + ")" : "Replay selected";
    });
    var all = form.querySelector("[data-select-all]");
    if (all) {
      var enabled = Array.prototype.filter.call(boxes, function (box) { return !box.disabled; });
      all.checked = enabled.length > 0 && checked === enabled.length;
      all.indeterminate = checked > 0 && checked < enabled.length;
    }
  }

  document.querySelectorAll("form").forEach(function (form) {
    if (!form.querySelector('input[name="selected"]')) return;
    form.addEventListener("change", function (event) {
      if (event.target.matches("[data-select-all]")) {
        form.querySelectorAll('input[name="selected"]').forEach(function (box) {
          if (!box.disabled) box.checked = event.target.checked;
        });
      }
      selectionChanged(form);
    });
    selectionChanged(form);
  });

  // -- confirmations -------------------------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
  });

  // -- live statuses in the deliveries and webhook calls lists ------------------------------------------------
  function tone(status) {
    return {
      pending: "waiting", sending: "waiting", sent: "progress", delivered: "good", read: "good",
      undelivered: "warn", failed: "bad"
    }[status] || "waiting";
  }

  function renderError(cell, row) {
    cell.textContent = "";
    if (!("error_code" in row)) { // a webhook call: its error is text ("HTTP 500", "no answer within 5 s")
      var said = document.createElement("span");
      said.className = row.error ? "error-text" : "muted";
      said.textContent = row.error || "—";
      cell.appendChild(said);
      return;
    }
    if (!row.error_code) {
      var dash = document.createElement("span");
      dash.className = "muted";
      dash.textContent = "—";
      cell.appendChild(dash);
      return;
    }
    var code = document.createElement("a");
    code.className = "code";
    code.href = "https://www.twilio.com/docs/errors/" + row.error_code;
    code.target = "_blank";
    code.rel = "noopener noreferrer";
    code.textContent = row.error_code;
    cell.appendChild(code);
    if (row.error_message) {
      var text = document.createElement("span");
      text.className = "error-text";
      text.textContent = row.error_message;
      cell.appendChild(text);
    }
  }

  function applyRow(tr, row) {
    if (tr.getAttribute("data-status") === row.status) return;
    tr.setAttribute("data-status", row.status);
    var badge = tr.querySelector(".status .badge");
    if (badge) {
      badge.className = "badge tone-" + tone(row.status);
      badge.setAttribute("data-status", row.status);
      badge.textContent = row.status;
    }
    var error = tr.querySelector("td.error");
    if (error) renderError(error, row);
    var attempts = tr.querySelector("td.attempts");
    if (attempts) attempts.textContent = row.attempts;
    var updated = tr.querySelector("td.updated time");
    if (updated) { updated.textContent = "just now"; updated.setAttribute("datetime", row.date_updated); }
    var replayable = REPLAYABLE.indexOf(row.status) >= 0;
    var box = tr.querySelector('input[name="selected"]');
    if (box) { box.disabled = !replayable; if (!replayable) box.checked = false; }
    var button = tr.querySelector('button[name="one"]');
    if (button) button.hidden = !replayable;
    tr.classList.add("changed");
  }

  function watchRows(table) {
    var url = table.getAttribute("data-poll");
    var key = table.getAttribute("data-key") || "deliveries"; // where the JSON API lists the rows
    var live = document.querySelector("[data-live]");
    var started = Date.now();

    function unfinished() {
      return Array.prototype.filter.call(table.querySelectorAll("tr[data-sid]"), function (tr) {
        return FINAL.indexOf(tr.getAttribute("data-status")) < 0;
      });
    }

    function poll() {
      var rows = unfinished();
      if (!rows.length || Date.now() - started > POLL_LIMIT_MS) {
        if (live) live.hidden = true;
        var form = table.closest("form");
        if (form) selectionChanged(form);
        return;
      }
      if (live) live.hidden = false;
      var batches = [];
      for (var i = 0; i < rows.length; i += SIDS_PER_REQUEST) batches.push(rows.slice(i, i + SIDS_PER_REQUEST));
      Promise.all(batches.map(function (batch) {
        var query = new URLSearchParams([["status", "all"], ["PageSize", String(SIDS_PER_REQUEST)]]);
        batch.forEach(function (tr) { query.append("sid", tr.getAttribute("data-sid")); });
        return fetch(url + "?" + query.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (response) { return response.ok ? response.json() : {}; })
          .then(function (body) {
            (body[key] || []).forEach(function (row) {
              var tr = table.querySelector('tr[data-sid="' + row.sid + '"]');
              if (tr) applyRow(tr, row);
            });
          });
      })).catch(function () { /* the next tick tries again */ }).then(function () {
        window.setTimeout(poll, POLL_MS);
      });
    }
    poll();
  }

  document.querySelectorAll("table[data-poll]").forEach(watchRows);

  // -- a message's timeline, a webhook call: reload while something is still on its way -----------------------
  var refreshing = document.querySelector("[data-refresh-while-unfinished]");
  if (refreshing) {
    var since = Number(sessionStorage.getItem("timeline-refresh-since:" + location.pathname) || Date.now());
    sessionStorage.setItem("timeline-refresh-since:" + location.pathname, String(since));
    if (Date.now() - since < POLL_LIMIT_MS) window.setTimeout(function () { location.reload(); }, POLL_MS);
  } else {
    sessionStorage.removeItem("timeline-refresh-since:" + location.pathname);
  }
})();
