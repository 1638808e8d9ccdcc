"""The status page a person opens on the observability port (``/`` or ``/status``), and its
figures as JSON (``/status.json``).

    Monitor: latest Snapshot, Counters, RecentDeadLetters, verdicts ──> figures() ──> render()

Everything comes from the process's own figures, the ones /metrics exports: the engine's
latest sampled status, its counters, and its tally of the dead letters it wrote. Nothing is
read from Kafka or Gameball to answer a request, and nothing of a record is shown (no value,
key or customer id): the port is usually open to the whole cluster.

The page is static HTML with a little inline script that fetches it again every
`REFRESH_S` seconds and swaps the new figures in; it works without the script too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

from bridge.observability.dead_letters import WINDOW_S, DeadLetterRow
from bridge.observability.health import Snapshot, Verdict

REFRESH_S = 5

# Counters shown under "since start", in this order (the rest follow).
_COUNTERS = ("received", "delivered", "skipped", "dead_lettered", "retried", "requests")


def figures(
    *,
    snapshot: Snapshot | None,
    counters: Mapping[str, int],
    dead_letters: list[DeadLetterRow],
    health: Verdict,
    readiness: Verdict,
    now: float,
    wall: float | None = None,
    started: float | None = None,
) -> dict[str, Any]:
    """What the page shows, as plain data. `now`: `time.monotonic()` (the clock of the
    snapshot); `wall`: epoch seconds; `started`: when the process started, epoch seconds."""
    wall = time.time() if wall is None else wall
    doc: dict[str, Any] = {
        "generated_at": _iso(wall),
        "uptime_s": None if started is None else round(wall - started),
        "refresh_s": REFRESH_S,
        "health": health.as_dict(),
        "readiness": readiness.as_dict(),
        "counters": dict(counters),
        "dead_letters": {
            "window_s": WINDOW_S,
            "total": sum(row.count for row in dead_letters),
            "rows": [
                {
                    "kind": row.kind,
                    "http_status": row.http_status,
                    "gameball_code": row.gameball_code,
                    "topic": row.topic,
                    "count": row.count,
                    "last_s_ago": max(0, round(wall - row.last_at)),
                }
                for row in dead_letters
            ],
        },
        "engine": None,
    }
    if snapshot is None:
        return doc
    engine = snapshot.engine
    sender = engine.sender
    stalled = snapshot.stalled_since
    doc["engine"] = {
        "sampled_s_ago": round(max(0.0, now - engine.at), 1),
        "stopping": snapshot.stopping,
        "in_flight": engine.in_flight,
        "in_flight_bytes": engine.in_flight_bytes,
        "held_for_schema": engine.held_for_schema,
        "lanes": engine.lanes,
        "gameball_open": engine.gameball_open,
        "gameball_failure_streak": snapshot.gameball_failures,
        "rate_limit_share": sender.share,
        "batch_jobs_pending": sender.batches.get("jobs_pending", 0),
        "modes": {
            resource: {
                "mode": sender.modes.get(resource),
                "waiting": sender.waiting.get(resource, 0),
            }
            for resource in sorted({*sender.modes, *sender.waiting})
        },
        "partitions": [
            {
                "topic": topic,
                "partition": partition,
                "committed": part.committed,
                "lag": part.lag,
                "pending": part.pending,
                "stalled_s": round(now - stalled[topic, partition])
                if (topic, partition) in stalled
                else None,
            }
            for (topic, partition), part in sorted(engine.partitions.items())
        ],
    }
    return doc


def render(doc: Mapping[str, Any]) -> bytes:
    """The page for `doc` (what `figures` returns)."""
    ready = doc["readiness"]["status"] == "ok"
    engine = doc["engine"]
    dead = doc["dead_letters"]
    parts = [
        _HEAD,
        '<div id="page">',
        "<header><h1>gameball-kafka-bridge</h1>",
        f'<span id="readiness" class="badge {"ok" if ready else "bad"}">'
        f"{'ready' if ready else 'not ready'}</span>",
        f'<span id="updated">updated {escape(doc["generated_at"][11:19])} UTC'
        f"{_uptime(doc['uptime_s'])}</span></header>",
        "<main>",
    ]
    reasons = doc["readiness"]["reasons"] + [
        r for r in doc["health"]["reasons"] if r not in doc["readiness"]["reasons"]
    ]
    if reasons:
        parts.append('<section id="reasons"><ul>')
        parts += [f"<li>{escape(str(reason))}</li>" for reason in reasons]
        parts.append("</ul></section>")
    if engine is None:
        parts.append('<p class="note">starting: the engine has not reported its status yet</p>')
    else:
        parts += _tiles(engine, dead["total"])
        parts += _partitions(engine["partitions"])
        parts += _modes(engine["modes"])
    parts += _dead_letters(dead)
    parts += _counters(doc["counters"])
    parts += [
        "</main>",
        f"<footer>refreshes every {doc['refresh_s']} s &middot; this process's own figures "
        "(the same as /metrics) &middot; no record contents, keys or customer ids</footer>",
        "</div>",
        '<div id="stale">cannot reach the bridge: the figures below may be old</div>',
        _SCRIPT.replace("REFRESH_MS", str(int(doc["refresh_s"]) * 1000)),
        "</body></html>\n",
    ]
    return "\n".join(parts).encode()


def _tiles(engine: Mapping[str, Any], dead_letters: int) -> list[str]:
    tiles = [
        ("in_flight", "in flight", f"{engine['in_flight']:,}"),
        ("held_for_schema", "held for schema", f"{engine['held_for_schema']:,}"),
        ("lanes", "lanes", f"{engine['lanes']:,}"),
        ("rate_limit_share", "rate-limit share", f"{engine['rate_limit_share']:g}"),
        ("batch_jobs_pending", "batch jobs pending", f"{engine['batch_jobs_pending']:,}"),
        ("gameball_open", "Gameball access", "open" if engine["gameball_open"] else "denied"),
        ("dead_letters_last_hour", "dead letters, last hour", f"{dead_letters:,}"),
    ]
    out = ['<section id="figures" class="tiles">']
    for name, label, value in tiles:
        warn = (name == "dead_letters_last_hour" and dead_letters) or (
            name == "gameball_open" and not engine["gameball_open"]
        )
        out.append(
            f'<div class="tile{" warn" if warn else ""}"><div class="value" data-figure="{name}">'
            f'{escape(value)}</div><div class="label">{escape(label)}</div></div>'
        )
    out.append("</section>")
    return out


def _partitions(rows: list[Mapping[str, Any]]) -> list[str]:
    out = [
        '<section id="partitions"><h2>Partitions</h2>',
        "<table><thead><tr><th>topic</th><th>partition</th><th>committed offset</th>"
        "<th>lag</th><th>pending</th><th>no progress for</th></tr></thead><tbody>",
    ]
    if not rows:
        out.append('<tr><td colspan="6" class="note">no partition assigned</td></tr>')
    for row in rows:
        name = f"{row['topic']}[{row['partition']}]"
        out.append(
            f'<tr data-partition="{escape(name)}"><td>{escape(row["topic"])}</td>'
            f'<td class="num">{row["partition"]}</td>'
            f'<td class="num" data-figure="committed">{_plain(row["committed"])}</td>'
            f'<td class="num" data-figure="lag">{_n(row["lag"])}</td>'
            f'<td class="num" data-figure="pending">{_n(row["pending"])}</td>'
            f'<td class="num">{_seconds(row["stalled_s"])}</td>'
            "</tr>"
        )
    out.append("</tbody></table></section>")
    return out


def _modes(modes: Mapping[str, Mapping[str, Any]]) -> list[str]:
    out = [
        '<section id="modes"><h2>Delivery per resource</h2>',
        "<table><thead><tr><th>resource</th><th>mode</th><th>operations waiting</th></tr>"
        "</thead><tbody>",
    ]
    if not modes:
        out.append('<tr><td colspan="3" class="note">nothing sent yet</td></tr>')
    for resource, row in modes.items():
        out.append(
            f'<tr data-resource="{escape(resource)}"><td>{escape(resource)}</td>'
            f'<td data-figure="mode">{escape(str(row["mode"] or "single"))}</td>'
            f'<td class="num" data-figure="waiting">{_n(row["waiting"])}</td></tr>'
        )
    out.append("</tbody></table></section>")
    return out


def _dead_letters(dead: Mapping[str, Any]) -> list[str]:
    total = dead["total"]
    out = [
        '<section id="dead-letters"><h2>Dead letters, last hour '
        f'<span class="badge {"warn" if total else "quiet"}" data-figure="dead_letters_total">'
        f"{total:,}</span></h2>",
        "<table><thead><tr><th>kind</th><th>HTTP status</th><th>Gameball code</th>"
        "<th>source topic</th><th>count</th><th>last</th></tr></thead><tbody>",
    ]
    if not dead["rows"]:
        out.append('<tr><td colspan="6" class="note">none written by this process</td></tr>')
    for row in dead["rows"]:
        out.append(
            f'<tr data-kind="{escape(row["kind"])}"><td>{escape(row["kind"])}</td>'
            f'<td class="num">{_plain(row["http_status"])}</td>'
            f'<td class="num">{_plain(row["gameball_code"])}</td>'
            f"<td>{escape(row['topic'])}</td>"
            f'<td class="num" data-figure="count">{row["count"]:,}</td>'
            f'<td class="num">{_ago(row["last_s_ago"])}</td></tr>'
        )
    out.append(
        '</tbody></table><p class="note">what went wrong, by kind and Gameball\'s answer: '
        "<code>bridge dlq show</code> has the reasons and masked samples</p></section>"
    )
    return out


def _counters(counters: Mapping[str, int]) -> list[str]:
    names = [n for n in _COUNTERS if n in counters] + sorted(set(counters) - set(_COUNTERS))
    return [
        '<section id="counters"><h2>Since start</h2><table><tbody>',
        *(
            f"<tr><th>{escape(name.replace('_', ' '))}</th>"
            f'<td class="num" data-figure="{escape(name)}">{counters[name]:,}</td></tr>'
            for name in names
        ),
        "</tbody></table></section>",
    ]


def _n(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _plain(value: int | None) -> str:
    """Offsets and codes as they are typed elsewhere (kcat, the retry table): no separators."""
    return "" if value is None else str(value)


def _seconds(value: int | None) -> str:
    return "" if value is None else f"{value} s"


def _ago(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s ago"
    return f"{seconds // 60} min ago"


def _uptime(seconds: int | None) -> str:
    if seconds is None:
        return ""
    hours, rest = divmod(seconds, 3600)
    return f" &middot; up {hours} h {rest // 60} min" if hours else f" &middot; up {rest // 60} min"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gameball-kafka-bridge status</title>
<style>
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #0f172a; background: #f8fafc; }
header { display: flex; align-items: center; gap: 16px; padding: 10px 20px;
  background: #0f172a; color: #f8fafc; }
header h1 { font-size: 18px; margin: 0; flex: 1; }
#updated { color: #cbd5e1; }
main { padding: 8px 20px 20px; }
h2 { font-size: 15px; margin: 20px 0 6px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 10px; font-weight: 600;
  color: #ffffff; }
.badge.ok { background: #15803d; } .badge.bad { background: #b91c1c; }
.badge.warn { background: #b45309; } .badge.quiet { background: #64748b; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; margin-top: 12px; }
.tile { background: #ffffff; border: 1px solid #e2e8f0; border-radius: 6px; padding: 8px 14px;
  min-width: 120px; }
.tile.warn { border-left: 6px solid #b45309; }
.tile .value { font-size: 22px; font-weight: 600; }
.tile .label { color: #475569; font-size: 12px; }
table { border-collapse: collapse; background: #ffffff; border: 1px solid #e2e8f0; }
th, td { padding: 4px 12px; border-bottom: 1px solid #e2e8f0; text-align: left; }
thead th { background: #e2e8f0; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
#reasons { background: #fee2e2; border-left: 6px solid #b91c1c; margin-top: 12px; }
#reasons ul { margin: 0; padding: 8px 28px; }
.note { color: #64748b; }
footer { padding: 0 20px 20px; color: #64748b; font-size: 12px; }
#stale { display: none; position: fixed; bottom: 0; left: 0; right: 0; padding: 6px 20px;
  background: #b91c1c; color: #ffffff; }
body.stale #stale { display: block; }
</style></head><body>"""

# Fetch the page again and swap in its figures; on failure, say the figures may be old.
# `data-refreshes` counts the swaps (a browser test reads it).
_SCRIPT = """<script>
(function () {
  var every = REFRESH_MS, refreshes = 0;
  function refresh() {
    fetch(location.pathname, {cache: "no-store"})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("page");
        if (fresh) { document.getElementById("page").replaceWith(fresh); }
        document.body.classList.remove("stale");
        document.body.dataset.refreshes = String(++refreshes);
      })
      .catch(function () { document.body.classList.add("stale"); })
      .finally(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();
</script>"""
