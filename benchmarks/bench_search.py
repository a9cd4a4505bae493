"""Search benchmark: sitegen's index against 0.9.1's idea (SQLite `LIKE '%q%'`), served alike.

    python benchmarks/bench_search.py [--sizes 2000,20000] [--requests 2000] [--clients 4]

For each N: synthetic repositories (benchmarks/synth.py, the in-memory model:
the v1 crawler is not used), then
- index build time and size (Whoosh directory; SQLite file for the baseline);
- the static client index: build time, total size, files, and bytes a browser
  fetches for one query (max and mean over the query mix, first page of 20);
- served `/v1/search?q=` over loopback HTTP: each backend runs in its own
  process behind the *same* `wsgiref` server code (single-threaded, one
  connection per request); latency p50/p99 from one client in sequence,
  throughput from `--clients` concurrent clients (closed loop: bounded load),
  and the server process's CPU time per request. Both answer the same query
  mix (`synth.sample_queries`), taking turns on slices of it so that other
  load on the machine hits both alike.

The baseline is 0.9.1's backend: one `repository(name, description)` table
queried with `name LIKE ? OR description LIKE ?`, encoded by the same
`encode()`. Targets (issue 3): p50 <= 3 ms at 20,000; throughput >= baseline.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import synth  # noqa: E402

from generator.emit.search_shards import ClientIndex, client_index_files  # noqa: E402
from generator.emit.v1_json import encode  # noqa: E402
from generator.index import SearchIndex, build_index  # noqa: E402

# --- the two backends, behind identical server code ------------------------------------------


def sqlite_search(db: sqlite3.Connection) -> Callable[[str], bytes]:
    """0.9.1's `SQLAlchemyIndex.results` + `toolkit.response`, on the same table shape."""

    def search(q: str) -> bytes:
        if q:
            rows = db.execute(
                "SELECT name, description FROM repository WHERE name LIKE ? OR description LIKE ?",
                (f"%{q}%", f"%{q}%"),
            ).fetchall()
        else:
            rows = db.execute("SELECT name, description FROM repository").fetchall()
        results = [{"description": d, "name": n} for n, d in rows]
        return encode({"num_results": len(results), "query": q, "results": results})

    return search


def wsgi_app(search: Callable[[str], bytes]) -> Callable:
    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        args = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if environ.get("PATH_INFO") != "/v1/search":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        body = search(args.get("q", [""])[0])
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve(kind: str, data: Path) -> None:
    """Child process: open one backend, serve it on a free port, print the port."""
    if kind == "sitegen":
        index = SearchIndex.open(data)
        search = index.search
    else:
        search = sqlite_search(sqlite3.connect(data))
    server = make_server("127.0.0.1", 0, wsgi_app(search), WSGIServer, _QuietHandler)
    print(server.server_port, flush=True)
    server.serve_forever()


# --- load ------------------------------------------------------------------------------------


def request(port: int, q: str) -> float:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/v1/search?" + urllib.parse.urlencode({"q": q}))
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 200 and body.startswith(b'{"num_results": ')
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def closed_loop(port: int, queries: list[str], clients: int) -> float:
    """Seconds for `clients` concurrent clients to send `queries` (each one request at a time)."""
    work = iter(queries)
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                q = next(work, None)
            if q is None:
                return
            request(port, q)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def measure(ports: dict[str, int], queries: list[str], clients: int, rounds: int = 8) -> dict:
    """Per backend: p50/p99 ms (one client in sequence) and req/s (`clients`, closed loop).

    The backends take turns on slices of the query list, in alternating
    order, so that load from elsewhere on the machine hits both alike; req/s
    is the median of the rounds' rates (robust to a burst of outside load).
    """
    for port in ports.values():
        for q in queries[:50]:
            request(port, q)  # warm up
    latencies: dict[str, list[float]] = {kind: [] for kind in ports}
    rates: dict[str, list[float]] = {kind: [] for kind in ports}
    rates_same: dict[str, list[float]] = {kind: [] for kind in ports}
    same = [q for q in queries if same_answer_set(q)]
    kinds = list(ports)
    for r in range(rounds):
        part = queries[r::rounds]
        for kind in kinds if r % 2 == 0 else kinds[::-1]:
            latencies[kind] += (request(ports[kind], q) for q in part)
            rates[kind].append(len(part) / closed_loop(ports[kind], part, clients))
            part_same = same[r::rounds]
            rates_same[kind].append(len(part_same) / closed_loop(ports[kind], part_same, clients))
    out = {}
    for kind, lat in latencies.items():
        lat.sort()
        out[kind] = (lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000,
                     statistics.median(rates[kind]), statistics.median(rates_same[kind]))
    return out


def same_answer_set(q: str) -> bool:
    """One plain word: both backends answer 0.9.1's set (sitegen only ranks it)."""
    return len(q.split()) <= 1 and not q.lower().startswith(("tag:", "label:"))


def run_server(kind: str, data: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--data", str(data)],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


# --- one size --------------------------------------------------------------------------------


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
        else path.stat().st_size


def bench(n: int, work: Path, requests: int, clients: int) -> list[dict]:
    registry = synth.synth_registry(n, seed=1)
    repos = [r for r in registry.repositories if not r.private]
    queries = synth.sample_queries(registry, requests, seed=2)
    queries = (queries * (requests // len(queries) + 1))[:requests]

    index_dir = work / f"index-{n}"
    started = time.perf_counter()
    build_index(repos, registry, index_dir)
    index_build = time.perf_counter() - started

    db_path = work / f"baseline-{n}.db"
    started = time.perf_counter()
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE repository (id INTEGER PRIMARY KEY, name VARCHAR(95) NOT NULL "
               "UNIQUE, description VARCHAR(100))")
    db.executemany("INSERT INTO repository (name, description) VALUES (?, ?)",
                   [(r.full_name, r.description) for r in
                    sorted(repos, key=lambda r: (r.namespace, r.name))])
    db.commit()
    db.close()
    db_build = time.perf_counter() - started

    started = time.perf_counter()
    files = client_index_files(repos, registry)
    client_build = time.perf_counter() - started
    client = ClientIndex(files)
    fetched = [client.search(q).bytes for q in dict.fromkeys(queries)]

    backends = {"sitegen": (index_dir, index_build), "sqlite": (db_path, db_build)}
    procs = {kind: run_server(kind, data) for kind, (data, _) in backends.items()}
    try:
        cpu = {kind: cpu_seconds(proc.pid) for kind, (proc, _) in procs.items()}
        figures = measure({kind: port for kind, (_, port) in procs.items()}, queries, clients)
        for kind, (proc, _) in procs.items():
            requests = 2 * len(queries) + 50 + sum(map(same_answer_set, queries))
            cpu[kind] = (cpu_seconds(proc.pid) - cpu[kind]) / requests
    finally:
        for proc, _ in procs.values():
            proc.terminate()
            proc.wait()
    rows = []
    for kind, (data, build) in backends.items():
        p50, p99, rps, rps_same = figures[kind]
        rows.append({"n": n, "backend": kind, "build_s": build, "size_mb": du(data) / 1e6,
                     "p50_ms": p50, "p99_ms": p99, "rps": rps, "rps_same": rps_same,
                     "cpu_ms": cpu[kind] * 1000})
    rows[0]["client"] = {
        "build_s": client_build,
        "files": len(files),
        "total_mb": sum(map(len, files.values())) / 1e6,
        "manifest_kb": len(files["manifest.json"]) / 1e3,
        "max_kb": max(fetched) / 1e3,
        "mean_kb": statistics.mean(fetched) / 1e3,
        "queries": len(fetched),
    }
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,20000")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--serve", choices=("sitegen", "sqlite"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.data)
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            rows += bench(n, Path(tmp), args.requests, args.clients)
    print(f"served /v1/search, {args.requests} requests of a mixed query set; latency: 1 client "
          f"in sequence; req/s: {args.clients} clients, closed loop; wsgiref, loopback, "
          f"{os.cpu_count()} CPUs; CPU: server process time per request")
    print(f"{'repos':>7} {'backend':<8} {'build s':>8} {'size MB':>8} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'req/s':>7} {'req/s 1-word':>13} {'CPU ms/req':>11}")
    for r in rows:
        print(f"{r['n']:>7} {r['backend']:<8} {r['build_s']:>8.2f} {r['size_mb']:>8.2f} "
              f"{r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['rps']:>7.0f} {r['rps_same']:>13.0f} "
              f"{r['cpu_ms']:>11.2f}")
    print("(req/s 1-word: the plain one-word queries, where both answer the same set; "
          "elsewhere sitegen\n also answers tag:/label: and word matches, which the "
          "baseline does not: bigger bodies)")
    print("\nstatic client index (search-index/): bytes fetched per query, first page of 20")
    print(f"{'repos':>7} {'build s':>8} {'files':>6} {'total MB':>9} {'manifest KB':>12} "
          f"{'max KB':>7} {'mean KB':>8} {'queries':>8}")
    for r in rows:
        if c := r.get("client"):
            print(f"{r['n']:>7} {c['build_s']:>8.2f} {c['files']:>6} {c['total_mb']:>9.2f} "
                  f"{c['manifest_kb']:>12.1f} {c['max_kb']:>7.1f} {c['mean_kb']:>8.1f} "
                  f"{c['queries']:>8}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
