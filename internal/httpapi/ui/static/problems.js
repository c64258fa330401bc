// Refreshes the Problems table every 2 s from /problems.json, with the
// page's filter. Without JavaScript the server-rendered table stays.
(function () {
  "use strict";
  var body = document.getElementById("problems");
  var note = document.getElementById("refresh");
  if (!body || !note) return;
  var query = note.getAttribute("data-query") || "";
  note.textContent = "(refreshing every 2 s)";
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text == null ? "" : String(text);
    tr.appendChild(td);
    return td;
  }
  function render(data) {
    var rows = data.rows || [];
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.className = "sev-" + r.severity;
      tr.setAttribute("data-id", r.id);
      cell(tr, r.severity);
      var a = document.createElement("a");
      a.href = "/alarm/" + encodeURIComponent(r.id);
      a.textContent = r.rule;
      cell(tr, "").appendChild(a);
      cell(tr, r.target);
      cell(tr, r.labels, "labels");
      cell(tr, r.value);
      cell(tr, r.summary);
      cell(tr, r.state);
      cell(tr, r.age).title = r.since;
      cell(tr, r.ack, "ack");
      var held = [r.silenced, r.held].filter(Boolean).join("; ");
      cell(tr, held, "held");
      frag.appendChild(tr);
    });
    body.replaceChildren(frag);
    document.getElementById("shown").textContent = rows.length;
    document.getElementById("total").textContent = data.total;
    note.textContent = "(refreshed " + new Date().toLocaleTimeString() + ")";
  }
  function poll() {
    fetch("/problems.json" + (query ? "?" + query : ""), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(render)
      .catch(function (e) { note.textContent = "(refresh failed: " + e.message + ")"; })
      .finally(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
})();
