/// The style sheet and the script, served by the binary itself: the page fetches nothing from
/// anywhere else, and the Content-Security-Policy allows nothing else.
enum Assets {
    static let css = #"""
    :root {
      --bg: #f6f7f9; --panel: #fff; --text: #1b1f24; --muted: #5c6775; --line: #dde1e6; --link: #0b5cad;
      --pending: #9a6700; --processing: #0969da; --completed: #1a7f37; --failed: #8250df; --dead: #cf222e;
      --ok: #2da44e; --bad: #cf222e;
    }
    @media (prefers-color-scheme: dark) {
      :root {
        --bg: #0d1117; --panel: #161b22; --text: #e6edf3; --muted: #8d96a0; --line: #30363d; --link: #58a6ff;
        --pending: #d29922; --processing: #58a6ff; --completed: #3fb950; --failed: #bc8cff; --dead: #f85149;
        --ok: #3fb950; --bad: #f85149;
      }
    }
    * { box-sizing: border-box; }
    body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; background: var(--bg); color: var(--text); }
    a { color: var(--link); }
    code, pre, .id { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: .88em; }
    header.top { display: flex; flex-wrap: wrap; align-items: baseline; gap: .25rem 1rem; padding: .7rem 1rem;
      background: var(--panel); border-bottom: 1px solid var(--line); }
    .brand { font-weight: 700; font-size: 1.1rem; color: var(--text); text-decoration: none; }
    .home { flex: 1 1 12rem; color: var(--muted); font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .8rem; overflow-wrap: anywhere; }
    nav { display: flex; gap: 1rem; }
    nav a { text-decoration: none; }
    nav a[aria-current] { font-weight: 600; color: var(--text); }
    .badge { display: inline-block; min-width: 1.6em; padding: 0 .4em; border-radius: 1em; background: var(--line); color: var(--text);
      text-align: center; font-size: .8em; font-variant-numeric: tabular-nums; }
    .badge.hot { background: var(--dead); color: #fff; }
    main { max-width: 72rem; margin: 0 auto; padding: 1rem; display: grid; gap: 1rem; }
    h1 { font-size: 1.3rem; margin: .2rem 0; overflow-wrap: anywhere; }
    h2 { font-size: 1rem; margin: 0 0 .5rem; }
    small { color: var(--muted); font-weight: normal; font-size: .8rem; }
    .counts { display: grid; grid-template-columns: repeat(auto-fit, minmax(6.5rem, 1fr)); gap: .5rem; }
    .count { display: flex; flex-direction: column; padding: .45rem .75rem; background: var(--panel); color: inherit; text-decoration: none;
      border: 1px solid var(--line); border-left: 4px solid var(--c, var(--muted)); border-radius: 6px; }
    .count .n { font-size: 1.6rem; font-weight: 650; font-variant-numeric: tabular-nums; line-height: 1.2; }
    .count .l { color: var(--muted); font-size: .85rem; }
    .s-pending { --c: var(--pending); } .s-processing { --c: var(--processing); } .s-completed { --c: var(--completed); }
    .s-failed { --c: var(--failed); } .s-dead { --c: var(--dead); }
    .panel { min-width: 0; padding: .75rem 1rem; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
    .table { overflow-x: auto; }
    table { border-collapse: collapse; width: 100%; }
    th, td { padding: .3rem .8rem .3rem 0; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; white-space: nowrap; }
    tr:last-child td { border-bottom: 0; }
    th { color: var(--muted); font-size: .72rem; font-weight: 600; letter-spacing: .04em; }
    td.wrap { min-width: 10rem; white-space: normal; overflow-wrap: anywhere; }
    .state { display: inline-block; padding: 0 .45em; border: 1px solid var(--c); border-radius: 4px; color: var(--c); font-size: .8rem; font-weight: 600; }
    .chart { display: block; width: 100%; height: 7.5rem; }
    .chart .base { stroke: var(--line); stroke-width: 1; }
    .chart .ok { fill: var(--ok); }
    .chart .bad { fill: var(--bad); }
    .axis { display: flex; justify-content: space-between; color: var(--muted); font-size: .75rem; }
    .legend { margin: .3rem 0 0; font-size: .85rem; }
    .key { display: inline-block; width: .8em; height: .8em; margin: 0 .3em 0 .8em; border-radius: 2px; }
    .legend .key:first-child { margin-left: 0; }
    .key.ok { background: var(--ok); } .key.bad { background: var(--bad); }
    .banner { margin: 0; padding: .5rem 1rem; border: 1px solid var(--pending); border-radius: 6px; background: var(--panel); }
    .muted, .empty { color: var(--muted); }
    .empty { margin: .2rem 0; }
    .error, .err { color: var(--dead); }
    .why { margin: 0; }
    .fields { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .25rem 1rem; margin: 0; }
    dt { color: var(--muted); }
    dd { margin: 0; overflow-wrap: anywhere; }
    pre.log { margin: 0; max-height: 28rem; overflow: auto; padding: .5rem .6rem; background: var(--bg); border: 1px solid var(--line);
      border-radius: 4px; white-space: pre-wrap; overflow-wrap: anywhere; font-size: .8rem; }
    .following { color: var(--ok); }
    .actions { display: flex; flex-wrap: wrap; gap: .5rem; }
    button { padding: .2rem .75rem; font: inherit; font-size: .85rem; color: var(--text); background: var(--panel);
      border: 1px solid var(--muted); border-radius: 4px; cursor: pointer; }
    button:disabled { opacity: .5; cursor: default; }
    button.danger { color: var(--dead); border-color: var(--dead); }
    details.group { padding: .5rem 1rem; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
    summary { cursor: pointer; overflow-wrap: anywhere; }
    .foot { max-width: 72rem; margin: 0 auto; padding: 0 1rem 1rem; color: var(--muted); font-size: .8rem; }
    .conn::before { content: "\25CF"; margin-right: .3em; }
    .conn.live::before { color: var(--ok); }
    .conn.offline::before { color: var(--dead); }
    .notice { position: fixed; right: 1rem; bottom: 1rem; max-width: calc(100vw - 2rem); margin: 0; padding: .5rem 1rem;
      background: var(--panel); border: 1px solid var(--ok); border-radius: 6px; box-shadow: 0 2px 10px rgba(0, 0, 0, .25); }
    .notice.bad { border-color: var(--dead); }
    @media (min-width: 70rem) {
      main.overview { grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); }
      main.overview > * { grid-column: 1 / -1; }
      main.overview > .half { grid-column: auto; }
    }
    @media (max-width: 40rem) {
      main { padding: .5rem; gap: .6rem; }
      .panel { padding: .5rem .6rem; }
      .wide { display: none; }
      td.wrap { min-width: 7rem; }
      .count .n { font-size: 1.3rem; }
      .fields { grid-template-columns: minmax(0, 1fr); gap: 0; }
      dd { margin-bottom: .35rem; }
    }

    """#

    /// Keeps the page live: the view's live part comes as `view` events from `/api/events`; after
    /// three failed tries in a row it is fetched every two seconds instead. Buttons send their
    /// action as a POST carrying the token from the page.
    static let script = #"""
    "use strict";
    (function () {
      var live = document.getElementById("live");
      var conn = document.getElementById("conn");
      var notice = document.getElementById("notice");
      var view = document.body.getAttribute("data-view");
      var token = document.querySelector('meta[name="queuectl-token"]');
      var last = null;
      var hideNotice = null;

      function status(text, kind) {
        conn.textContent = text;
        conn.className = "conn " + kind;
      }

      function atBottom(element) {
        return element.scrollHeight - element.scrollTop - element.clientHeight < 8;
      }

      // The new live part, keeping what the reader set: closed groups stay closed, and a log read at
      // its end follows its new end.
      function swap(html) {
        if (html === last) return;
        last = html;
        var closed = {};
        live.querySelectorAll("details[data-key]").forEach(function (d) {
          if (!d.open) closed[d.getAttribute("data-key")] = true;
        });
        var log = live.querySelector("pre.log");
        var follow = !log || atBottom(log);
        var scroll = log ? log.scrollTop : 0;
        live.innerHTML = html;
        live.querySelectorAll("details[data-key]").forEach(function (d) {
          if (closed[d.getAttribute("data-key")]) d.open = false;
        });
        log = live.querySelector("pre.log");
        if (log) log.scrollTop = follow ? log.scrollHeight : scroll;
      }

      function poll() {
        fetch(view + "?fragment=live", { cache: "no-store", credentials: "same-origin" })
          .then(function (response) {
            if (!response.ok && response.status !== 404) throw new Error(String(response.status));
            return response.text();
          })
          .then(function (html) { swap(html); status("polling", "live"); },
                function () { status("offline", "offline"); })
          .then(function () { setTimeout(poll, 2000); });
      }

      function stream() {
        var source = new EventSource("/api/events?view=" + encodeURIComponent(view));
        var failures = 0;
        status("connecting", "offline");
        source.addEventListener("view", function (event) {
          failures = 0;
          swap(event.data);
          status("live", "live");
        });
        source.onerror = function () {
          failures += 1;
          if (failures >= 3) {
            source.close();
            status("polling", "offline");
            poll();
          } else {
            status("reconnecting", "offline");
          }
        };
      }

      function say(text, bad) {
        notice.textContent = text;
        notice.className = bad ? "notice bad" : "notice";
        notice.hidden = false;
        clearTimeout(hideNotice);
        hideNotice = setTimeout(function () { notice.hidden = true; }, 6000);
      }

      document.addEventListener("click", function (event) {
        var button = event.target.closest ? event.target.closest("button[data-action]") : null;
        if (!button || !token) return;
        var question = button.getAttribute("data-confirm");
        if (question && !window.confirm(question)) return;
        var action = button.getAttribute("data-action");
        button.disabled = true;
        fetch(action, { method: "POST", headers: { "X-Queuectl-Token": token.getAttribute("content") }, credentials: "same-origin" })
          .then(function (response) {
            return response.json().then(function (body) { return { ok: response.ok, body: body }; });
          })
          .then(function (result) {
            if (result.ok) say((/\/delete$/.test(action) ? "Deleted " : "Sent back to run: ") + result.body.id, false);
            else say(result.body.error || "Refused.", true);
          }, function () { say("The dashboard did not answer.", true); })
          .then(function () { button.disabled = false; });
      });

      if (window.EventSource) stream(); else poll();
    })();

    """#
}
