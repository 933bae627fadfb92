/**
 * The dashboard's only assets, served by the handler itself (no CDN, no build step): a small
 * stylesheet and a script for confirmations and the live parts. The script writes task data
 * with textContent only, never as HTML.
 */

export const CSS = `
:root{--fg:#1d232a;--muted:#6b7580;--line:#dde2e7;--bg:#fff;--head:#14324a;--bad:#b3261e;--ok:#1e7a3a;--warn:#8a5a00}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1.2rem;background:var(--head);color:#fff}
header a{color:#fff;text-decoration:none}header nav{display:flex;gap:1rem;flex:1}.brand{font-weight:600}
#live.on{color:#7ee2a0}main{padding:1rem 1.2rem;max-width:1200px}h1{font-size:1.4rem;margin:.2rem 0 1rem}h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted)}td.num{text-align:right;font-variant-numeric:tabular-nums}td.preview{max-width:28rem;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;color:var(--muted)}
.paused{color:var(--warn);font-weight:600}.muted{color:var(--muted)}.error{color:var(--bad)}.warn{color:var(--warn)}
.note{background:#f4f6f8;border-left:3px solid var(--muted);padding:.4rem .7rem}.flash{background:#e8f5ec;border-left:3px solid var(--ok);padding:.4rem .7rem}
.status{padding:.05rem .45rem;border-radius:.6rem;background:#eef1f4;font-size:.85em}.s-success{background:#dff3e5}.s-error,.s-dead{background:#fbe3e1}.s-process{background:#e2ecfb}.s-cancel{background:#f3eadb}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;max-height:24rem;white-space:pre-wrap;word-break:break-word}
form.inline{display:inline;margin-right:.3rem}form.row{display:flex;gap:.8rem;align-items:center;margin:.4rem 0}
button{font:inherit;padding:.15rem .6rem;border:1px solid #9aa5b1;border-radius:4px;background:#fff;cursor:pointer}button.danger{border-color:var(--bad);color:var(--bad)}
ul.plain{list-style:none;margin:0;padding:0}code{font-family:ui-monospace,monospace;font-size:.9em}.when{font-weight:600}
.tabs a{margin-right:.8rem}.tabs a.on{font-weight:700;text-decoration:none}.bars{font-family:ui-monospace,monospace;letter-spacing:1px;color:var(--ok)}.bars.bad{color:var(--bad)}
`;

export const JS = `'use strict';
(function () {
  var body = document.body, base = body.dataset.base || '';
  document.addEventListener('submit', function (e) {
    var q = e.target.getAttribute('data-confirm');
    if (q && !window.confirm(q)) e.preventDefault();
  });
  if (!window.EventSource) return;
  var live = document.getElementById('live'), task = body.dataset.task;
  var es = new EventSource(base + '/events');
  es.addEventListener('hello', function (e) {
    if (JSON.parse(e.data).live) { live.textContent = '●'; live.className = 'on'; live.title = 'live'; }
    // The task may have moved between the page's rendering and this stream's start.
    if (task) fetch(base + '/tasks/' + encodeURIComponent(task) + '/state', { headers: { accept: 'application/json' } })
      .then(function (r) { return r.json(); })
      .then(function (s) { if (s.status && (s.status !== body.dataset.status || String(s.attempts) !== body.dataset.attempts)) { es.close(); window.location.reload(); } })
      .catch(function () {});
  });
  es.onerror = function () { live.textContent = '○'; live.className = 'muted'; };
  var BARS = '▁▂▃▄▅▆▇█';
  function spark(xs) {
    var max = Math.max.apply(null, [1].concat(xs));
    return xs.map(function (v) { return v === 0 ? '·' : BARS[Math.min(7, Math.floor(v / max * 7.999))]; }).join('');
  }
  function set(id, text) { var el = document.getElementById(id); if (el) el.textContent = text; }
  es.addEventListener('stats', function (e) {
    var d = JSON.parse(e.data);
    if (d.counts) {
      var cells = document.querySelectorAll('[data-q][data-k]');
      d.counts.forEach(function (c) {
        for (var i = 0; i < cells.length; i++) {
          var cell = cells[i];
          if (cell.dataset.q !== c.queue) continue;
          var k = cell.dataset.k;
          if (k === 'paused') { cell.textContent = c.paused ? 'paused' : 'active'; cell.className = c.paused ? 'paused' : ''; }
          else if (k in c) cell.textContent = String(c[k]);
        }
      });
    }
    if (d.minutes) {
      var done = d.minutes.map(function (m) { return m.completed; }), failed = d.minutes.map(function (m) { return m.failed; });
      var sum = function (xs) { return xs.reduce(function (a, x) { return a + x; }, 0); };
      set('spark-done', spark(done)); set('sum-done', String(sum(done)));
      set('spark-failed', spark(failed)); set('sum-failed', String(sum(failed)));
    }
  });
  es.addEventListener('task', function (e) {
    var ev = JSON.parse(e.data);
    if (!task || ev.id !== task) return;
    if (ev.type === 'progress') { set('progress', typeof ev.progress === 'string' ? ev.progress : JSON.stringify(ev.progress)); return; }
    var list = document.getElementById('timeline');
    if (list) {
      var li = document.createElement('li');
      li.textContent = new Date(ev.at).toISOString().replace('T', ' ').replace(/\\.\\d+Z$/, 'Z') + ' ' + ev.type + (ev.message ? ': ' + ev.message : '');
      list.appendChild(li);
    }
    // Any change of state: read the record again (result, error, actions) from the server.
    es.close();
    window.location.reload();
  });
})();
`;
