/* The listing page's actions with JavaScript: uploads as WebDAV PUTs with
   progress (also of dropped files), new folder (MKCOL), rename (MOVE) and
   delete (DELETE), each sent with the page's CSRF token; a refusal shows the
   server's reason (a lock: who holds it).  Without this script the page's
   forms do the same through POST. */
(function () {
  "use strict";
  var tools = document.getElementById("tools");
  if (!tools) { return; }
  var token = tools.getAttribute("data-csrf");
  var notice = document.getElementById("notice");
  var progress = document.getElementById("progress");
  var folder = tools.getAttribute("data-folder");
  var busy = 0;
  tools.classList.add("js");

  function say(kind, text) {
    notice.textContent = text;
    notice.className = "notice " + kind;
    notice.setAttribute("role", kind === "error" ? "alert" : "status");
    notice.hidden = false;
  }

  function urlOf(name, dir) {
    return folder + encodeURIComponent(name) + (dir ? "/" : "");
  }

  function when(text) {
    var d = new Date(text);
    return isNaN(d) ? text : d.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
  }

  /* The refusal as a sentence: problem details (RFC 9457) from the server. */
  function explain(status, text, name) {
    var p = null;
    try { p = JSON.parse(text); } catch (e) { p = null; }
    if (p && status === 423 && p.locks && p.locks.length && p.locks[0].scope) {
      var lock = p.locks[0];
      var who = lock.owner || lock.principal || "an unnamed client";
      var until = lock.expires_at ? "until " + when(lock.expires_at) : "until it is unlocked";
      return name + " is locked by " + who + " (" + lock.scope + ", " + until + ")";
    }
    if (p && p.detail) { return name + ": " + p.detail; }
    return name + ": the server answered " + status;
  }

  function send(method, url, headers, body, onProgress) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("X-Davserver-Csrf", token);
      xhr.setRequestHeader("Accept", "application/json");
      Object.keys(headers).forEach(function (k) { xhr.setRequestHeader(k, headers[k]); });
      if (onProgress) {
        xhr.upload.onprogress = function (e) { if (e.lengthComputable) { onProgress(e.loaded, e.total); } };
      }
      xhr.onload = function () { resolve({status: xhr.status, text: xhr.responseText}); };
      xhr.onerror = function () { resolve({status: 0, text: ""}); };
      xhr.send(body === undefined ? null : body);
    });
  }

  function ok(status) { return status >= 200 && status < 300; }

  function progressRow(name) {
    var li = document.createElement("li");
    var label = document.createElement("span");
    var bar = document.createElement("progress");
    var pct = document.createElement("span");
    label.className = "pname"; label.textContent = name; label.title = name;
    bar.max = 100; bar.value = 0; pct.className = "pct"; pct.textContent = "0%";
    li.appendChild(label); li.appendChild(bar); li.appendChild(pct);
    progress.appendChild(li);
    progress.hidden = false;
    return {
      step: function (loaded, total) {
        var v = total ? Math.round(100 * loaded / total) : 100;
        bar.value = v; pct.textContent = v + "%";
      },
      end: function (good) {
        if (good) { bar.value = 100; pct.textContent = "done"; li.className = "done"; }
        else { pct.textContent = "failed"; li.className = "failed"; }
      }
    };
  }

  /* Names the folder lists now: an upload would replace them, so ask first. */
  function existing() {
    var names = {};
    document.querySelectorAll("tbody tr.file").forEach(function (tr) { names[rowName(tr)] = true; });
    return names;
  }

  function upload(files) {
    var present = existing();
    var list = Array.prototype.slice.call(files || []).filter(function (file) {
      return !present[file.name] ||
        window.confirm("\u201c" + file.name + "\u201d is already here. Replace it?");
    });
    if (!list.length) { return Promise.resolve(); }
    progress.textContent = "";
    busy += 1;
    var done = [], failed = [];
    return list.reduce(function (chain, file) {
      return chain.then(function () {
        var row = progressRow(file.name);
        return send("PUT", urlOf(file.name), {}, file, row.step).then(function (r) {
          row.end(ok(r.status));
          if (ok(r.status)) { done.push(file.name); } else { failed.push(explain(r.status, r.text, file.name)); }
        });
      });
    }, Promise.resolve()).then(function () {
      busy -= 1;
      report(done.length ? "Uploaded " + done.join(", ") : "", failed);
      return refresh();
    });
  }

  function report(good, failed) {
    var parts = (good ? [good] : []).concat(failed);
    if (parts.length) { say(failed.length ? "error" : "ok", parts.join("; ") + "."); }
  }

  /* The rows (and counts) as the server lists them now. */
  function refresh() {
    return fetch(location.href, {credentials: "same-origin", headers: {Accept: "text/html"}})
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        ["table tbody", ".meta"].forEach(function (sel) {
          var now = document.querySelector(sel), fresh = page.querySelector(sel);
          if (now && fresh) { now.innerHTML = fresh.innerHTML; }
        });
        decorate();
      });
  }

  function localTimes() {
    document.querySelectorAll("time[datetime]").forEach(function (t) {
      if (t.title) { return; }
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) { return; }
      t.title = t.textContent;
      t.textContent = when(t.getAttribute("datetime"));
    });
  }

  function button(text, cls, action) {
    var b = document.createElement("button");
    b.type = "button"; b.className = "btn small " + cls; b.textContent = text;
    b.addEventListener("click", action);
    return b;
  }

  function rowName(tr) {
    var href = tr.querySelector("td.name a").getAttribute("href");
    var parts = href.replace(/\/$/, "").split("/");
    return decodeURIComponent(parts[parts.length - 1]);
  }

  function decorate() {
    localTimes();
    document.querySelectorAll("tbody tr.file, tbody tr.dir").forEach(function (tr) {
      var cell = tr.querySelector("td.act");
      if (!cell || cell.firstChild) { return; }
      var name = rowName(tr), dir = tr.classList.contains("dir");
      var rename = button("Rename", "", function () { renameEntry(name, dir); });
      var del = button("Delete", "danger", function () { deleteEntry(name, dir); });
      rename.setAttribute("aria-label", "Rename " + name);
      del.setAttribute("aria-label", "Delete " + name);
      cell.appendChild(rename); cell.appendChild(del);
    });
  }

  function act(method, name, dir, headers, success) {
    return send(method, urlOf(name, dir), headers).then(function (r) {
      if (ok(r.status)) { say("ok", success); return refresh().then(function () { return r; }); }
      if (!(r.status === 412 && headers.Overwrite === "F")) { say("error", explain(r.status, r.text, name) + "."); }
      return r;
    });
  }

  function renameEntry(name, dir) {
    var to = window.prompt("Rename \u201c" + name + "\u201d to:", name);
    if (to === null || !to.trim() || to === name) { return; }
    to = to.trim();
    var headers = {Destination: urlOf(to, dir), Overwrite: "F"};
    act("MOVE", name, dir, headers, "Renamed " + name + " to " + to + ".").then(function (r) {
      if (r.status === 412 && window.confirm("\u201c" + to + "\u201d already exists. Replace it?")) {
        headers.Overwrite = "T";
        act("MOVE", name, dir, headers, "Renamed " + name + " to " + to + ".");
      }
    });
  }

  function deleteEntry(name, dir) {
    var what = dir ? "the folder \u201c" + name + "\u201d and everything in it" : "\u201c" + name + "\u201d";
    if (!window.confirm("Delete " + what + "?")) { return; }
    act("DELETE", name, dir, {}, "Deleted " + name + ".");
  }

  var input = document.getElementById("upload-files");
  input.required = false;
  input.addEventListener("change", function () {
    var files = Array.prototype.slice.call(input.files);
    input.value = "";
    upload(files);
  });
  document.getElementById("upload-form").addEventListener("submit", function (e) {
    e.preventDefault();
    upload(input.files);
  });
  var mkdir = document.getElementById("mkdir-form");
  mkdir.addEventListener("submit", function (e) {
    e.preventDefault();
    var field = mkdir.querySelector("input[name=name]");
    var name = field.value.trim();
    if (!name) { return; }
    act("MKCOL", name, true, {}, "Created the folder " + name + ".").then(function (r) {
      if (ok(r.status)) { field.value = ""; }
    });
  });

  var depth = 0;
  function hasFiles(e) {
    return e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types || [], "Files") >= 0;
  }
  document.addEventListener("dragenter", function (e) {
    if (!hasFiles(e)) { return; }
    depth += 1; document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", function () {
    depth = Math.max(0, depth - 1);
    if (!depth) { document.body.classList.remove("dragging"); }
  });
  document.addEventListener("dragover", function (e) {
    if (hasFiles(e)) { e.preventDefault(); e.dataTransfer.dropEffect = "copy"; }
  });
  document.addEventListener("drop", function (e) {
    depth = 0; document.body.classList.remove("dragging");
    if (!e.dataTransfer || !e.dataTransfer.files.length) { return; }
    e.preventDefault();
    upload(e.dataTransfer.files);
  });
  decorate();
}());
