// aiml-mock dashboard. Plain JS, no build step. Everything a client sent is put in the page with
// textContent (never innerHTML): prompts are attacker-controlled text.
"use strict";

(function () {
  const root = document.body.dataset.root;
  const page = document.body.dataset.page;
  const POLL_MS = 1000;

  function messageOf(data) {
    if (!data) return "";
    if (data.error && data.error.message) return data.error.message;
    return data.message || "";
  }

  async function call(method, path, body) {
    const options = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body || {});
    }
    const response = await fetch(root + path, options);
    if (response.status === 401) {
      location.assign(root + "/login?next=" + encodeURIComponent(location.pathname));
      throw new Error("the admin token is required");
    }
    const data = await response.json().catch(function () { return null; });
    if (!response.ok) throw new Error(messageOf(data) || "HTTP " + response.status);
    return data;
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function statusClass(status) {
    return status === 0 || status === 499 ? "s0" : "s" + Math.floor(status / 100);
  }

  function clock(seconds) {
    const date = new Date(seconds * 1000);
    const pad = function (n, w) { return String(n).padStart(w || 2, "0"); };
    return pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) + "." +
      pad(date.getMilliseconds(), 3);
  }

  // -- the request list ------------------------------------------------------------------------

  function requestsPage() {
    const form = document.getElementById("filters");
    const rows = document.getElementById("rows");
    const live = document.getElementById("live");
    const summary = document.getElementById("summary");
    const empty = document.getElementById("empty");
    const newer = document.getElementById("newer");
    const older = document.getElementById("older");
    const position = document.getElementById("position");
    const models = document.getElementById("models");
    const problem = document.getElementById("problem");
    let offset = 0, limit = 50, version = null, newest = null, timer = null, busy = false, took = 0;

    const initial = new URLSearchParams(location.search);
    for (const field of form.elements) {
      if (field.name && initial.has(field.name)) field.value = initial.get(field.name);
    }
    offset = parseInt(initial.get("offset") || "0", 10) || 0;

    function filters() {
      const params = new URLSearchParams();
      for (const field of form.elements) {
        if (field.name && field.value.trim()) params.set(field.name, field.value.trim());
      }
      return params;
    }

    function cell(row, text, className) {
      const td = el("td", text, className);
      row.appendChild(td);
      return td;
    }

    function render(data) {
      const shownNewest = newest;
      rows.replaceChildren();
      for (const item of data.rows) {
        const tr = el("tr");
        tr.dataset.id = item.id;
        if (shownNewest !== null && item.id > shownNewest) tr.className = "fresh";
        const link = el("a", item.id);
        link.href = root + "/requests/" + item.id;
        cell(tr, null, "num").appendChild(link);
        cell(tr, clock(item.time), "muted");
        cell(tr, item.method);
        cell(tr, item.path, "path").title = item.path;
        cell(tr, item.model || "-");
        const prompt = cell(tr, item.prompt === null ? "" : item.prompt, "prompt");
        if (item.prompt) prompt.title = item.prompt;
        cell(tr, null, "num").appendChild(el("span", item.status || "none", "status " + statusClass(item.status)));
        cell(tr, item.ms.toFixed(1) + " ms", "num");
        const fault = cell(tr, null);
        fault.appendChild(item.fault ? el("span", item.fault, "tag fault") : el("span", "-", "muted"));
        const verdict = cell(tr, null);
        verdict.appendChild(item.valid ? el("span", "valid", "tag ok")
          : el("span", item.violations + (item.violations === 1 ? " violation" : " violations"), "tag bad"));
        cell(tr, item.cost || "-", "num");
        rows.appendChild(tr);
      }
      if (offset === 0 && data.rows.length) newest = data.rows[0].id;
      else if (offset === 0) newest = 0;
      empty.hidden = data.rows.length > 0;
      // a filtered scan stops counting a while after its page is full: then the count is a lower bound
      const counted = data.matching + (data.complete ? "" : "+");
      const filtered = data.matching !== data.total || !data.complete;
      summary.textContent = data.total + (data.total === 1 ? " request" : " requests") +
        (filtered ? " · " + counted + " matching" : "");
      position.textContent = data.matching ? (offset + 1) + "–" + (offset + data.rows.length) + " of " + counted : "";
      newer.disabled = offset === 0;
      older.disabled = data.complete && offset + limit >= data.matching;
      const seen = new Set(Array.from(models.options, function (o) { return o.value; }));
      for (const model of data.models) {
        if (!seen.has(model)) { const option = el("option"); option.value = model; models.appendChild(option); }
      }
    }

    async function load(force) {
      if (busy) return;
      busy = true;
      try {
        const params = filters();
        params.set("offset", String(offset));
        params.set("limit", String(limit));
        if (!force && version) params.set("since", version);
        const started = performance.now();
        const data = await call("GET", "/api/requests?" + params.toString());
        took = performance.now() - started;
        version = data.version;
        problem.hidden = true;
        if (!data.unchanged) render(data);
        if (!window.dashboardReady) window.dashboardReady = performance.now();  // bench/bench_dashboard.py
        document.body.dataset.loaded = "true";
      } catch (error) {
        summary.textContent = "could not load";
        problem.textContent = "Could not load the requests: " + error.message;  // e.g. the state store is away
        problem.hidden = false;
        version = null;
      } finally {
        busy = false;
      }
    }

    function schedule() {
      clearTimeout(timer);
      if (live.checked) {
        timer = setTimeout(async function () {
          if (!document.hidden) await load(false);
          schedule();
        }, Math.max(POLL_MS, 4 * took));  // a filtered scan of a big journal is not repeated back to back
      }
    }

    function refilter() {
      offset = 0;
      const params = filters();
      history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params.toString() : ""));
      load(true);
    }

    let typing = null;
    form.addEventListener("input", function () { clearTimeout(typing); typing = setTimeout(refilter, 250); });
    form.addEventListener("change", refilter);
    form.addEventListener("submit", function (event) { event.preventDefault(); refilter(); });
    form.addEventListener("reset", function () { setTimeout(refilter, 0); });
    live.addEventListener("change", schedule);
    newer.addEventListener("click", function () { offset = Math.max(0, offset - limit); load(true); });
    older.addEventListener("click", function () { offset += limit; load(true); });
    rows.addEventListener("click", function (event) {
      const tr = event.target.closest("tr");
      if (tr && event.target.tagName !== "A") location.assign(root + "/requests/" + tr.dataset.id);
    });
    load(true).then(schedule);
  }

  // -- controls --------------------------------------------------------------------------------

  function controlsPage() {
    const notice = document.getElementById("notice");
    const ruleRows = document.getElementById("rule-rows");
    const noRules = document.getElementById("no-rules");

    function say(text, failed) {
      notice.textContent = text;
      notice.className = failed ? "error" : "";
    }

    async function act(method, path, body, done) {
      let message, failed = false;
      try {
        message = done(await call(method, path, body));
      } catch (error) {
        message = error.message;
        failed = true;
      }
      await refresh();
      say(message, failed);  // once the page shows the change
    }

    function describe(rule) {
      const parts = [rule.kind === "error" ? String(rule.status) : rule.kind];
      if (rule.latency) parts.push("after " + rule.latency);
      if (rule.retry_after !== null) parts.push("retry after " + rule.retry_after + " s");
      if (rule.message) parts.push("\u201c" + rule.message + "\u201d");
      return parts.join(", ");
    }

    function scope(rule) {
      const parts = [];
      if (rule.model) parts.push("model " + rule.model);
      if (rule.prompt) parts.push("prompt \u2287 " + rule.prompt);
      if (rule.key) parts.push("key " + rule.key);
      return parts.join(", ") || "every generation";
    }

    async function refresh() {
      let state;
      try {
        state = await call("GET", "/api/state");
      } catch (error) {
        say(error.message, true);
        return;
      }
      ruleRows.replaceChildren();
      for (const rule of state.rules) {
        const tr = el("tr");
        tr.appendChild(el("td", rule.id));
        tr.appendChild(el("td", describe(rule)));
        tr.appendChild(el("td", rule.times === null ? "every" : rule.times));
        tr.appendChild(el("td", rule.hits));
        tr.appendChild(el("td", scope(rule), "muted"));
        const remove = el("button", "Remove", "danger");
        remove.type = "button";
        remove.addEventListener("click", function () {
          act("DELETE", "/api/faults/" + rule.id, {}, function () { return "Rule " + rule.id + " removed"; });
        });
        const td = el("td");
        td.appendChild(remove);
        tr.appendChild(td);
        ruleRows.appendChild(tr);
      }
      noRules.hidden = state.rules.length > 0;
      document.getElementById("latency").placeholder = state.latency || "none";
      document.getElementById("random").textContent = state.random.rate
        ? (state.random.rate * 100) + "% of requests get one of " + state.random.kinds.join(", ") + " (seed " + state.random.seed + ")"
        : "off";
      document.getElementById("journal-count").textContent = state.journal.entries;
      document.getElementById("journal-capacity").textContent = state.journal.capacity;
      document.getElementById("image-count").textContent = state.images;
      const spend = document.getElementById("spend-card");
      spend.hidden = state.usage === null;
      if (state.spend_usd !== null) document.getElementById("spend").textContent = "$" + state.spend_usd.toFixed(4);
      if (state.usage && state.usage.total) {
        const total = state.usage.total;
        document.getElementById("spend-detail").textContent = total.requests + " requests, " + total.images +
          " images, " + total.credits + " credits" + (state.usage.budget_usd !== null ? "; budget $" + state.usage.budget_usd + " per key" : "");
      }
      document.body.dataset.loaded = "true";
    }

    document.getElementById("fault-form").addEventListener("submit", function (event) {
      event.preventDefault();
      const data = new FormData(event.target);
      const rule = {};
      const fault = String(data.get("fault"));
      if (/^\d+$/.test(fault)) rule.status = parseInt(fault, 10); else rule.kind = fault;
      const times = String(data.get("times") || "").trim();
      rule.times = times ? parseInt(times, 10) : null;
      for (const name of ["model", "prompt", "message", "latency"]) {
        const value = String(data.get(name) || "").trim();
        if (value) rule[name] = value;
      }
      const retry = String(data.get("retry_after") || "").trim();
      if (retry) rule.retry_after = /^\d+(\.\d+)?$/.test(retry) ? parseFloat(retry) : retry;
      act("POST", "/api/faults", rule, function (made) { return "Rule " + made.id + " added: " + describe(made); });
    });
    document.getElementById("clear-faults").addEventListener("click", function () {
      act("DELETE", "/api/faults", {}, function (data) { return data.cleared + " rule(s) cleared"; });
    });
    document.getElementById("latency-form").addEventListener("submit", function (event) {
      event.preventDefault();
      const input = document.getElementById("latency");
      const value = input.value.trim();
      act("PUT", "/api/latency", { latency: value || null }, function (data) {
        input.value = "";
        return data.latency ? "Latency set to " + data.latency : "No added latency";
      });
    });
    document.getElementById("clear-latency").addEventListener("click", function () {
      act("PUT", "/api/latency", { latency: null }, function () { return "No added latency"; });
    });
    const clear = document.getElementById("clear-journal");
    let armed = null;
    clear.addEventListener("click", function () {
      if (!armed) {
        clear.textContent = "Click again to clear";
        armed = setTimeout(function () { armed = null; clear.textContent = "Clear the journal"; }, 4000);
        return;
      }
      clearTimeout(armed);
      armed = null;
      clear.textContent = "Clear the journal";
      act("DELETE", "/api/requests", {}, function (data) { return data.cleared + " request(s) cleared"; });
    });
    refresh();
  }

  if (page === "requests" && document.getElementById("rows")) requestsPage();
  else if (page === "controls") controlsPage();
  else document.body.dataset.loaded = "true";
})();
