#!/usr/bin/python3
"""Benchmark of `medenc serve` (a script, not a test).

  bench/serve/bench_serve.py --model /tmp/mb-base [--texts FILE.csv.gz] [--requests 512]

Reports, on one machine and in one run:
  * throughput (texts/s) and p50/p99 latency at 1, 8, 64 and 256 concurrent clients, each posting one
    text per request to /classify (an asyncio + aiohttp load generator, keep-alive connections);
  * `medenc classify` on the same texts in one process (model load excluded: a one-text run is
    subtracted), and the 64-client throughput as a fraction of it (target >= 85%);
  * a lone ~128-token request's latency against the bare forward time of 1x128 (`medenc bench`);
  * the resident memory that 1,000 idle keep-alive connections add (target < 100 MB).
Texts: the IU X-ray reports' findings + impression (/work/shared/data, not in the repository), or
--texts (CSV with a `findings`/`impression`/`transcription`/`text` column, or one text per line)."""
import argparse
import asyncio
import csv
import gzip
import http.client
import io
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import aiohttp
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEDENC = os.path.join(ROOT, "build", "medenc")
DEFAULT_TEXTS = "/work/shared/data/radiology_reports/iu_xray_indiana_reports.csv.gz"


def load_texts(path, n):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        data = f.read()
    texts = []
    if ".csv" in path:
        for row in csv.DictReader(io.StringIO(data)):
            parts = [row.get(k) or "" for k in ("findings", "impression", "transcription", "text")]
            t = " ".join(p.strip() for p in parts if p and p.strip())
            if t:
                texts.append(t)
    else:
        texts = [l.strip() for l in data.splitlines() if l.strip()]
    return (texts * (n // max(1, len(texts)) + 1))[:n]


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


LOG = []  # the server's JSON log lines (request lines carry its own phase timings)


def start_server(model, extra):
    p = subprocess.Popen([MEDENC, "serve", "--model", model, "--port", "0", "--json-logs", *extra],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    port = None
    for line in p.stderr:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break

    def keep():
        for line in p.stderr:
            try:
                LOG.append(json.loads(line))
            except ValueError:
                pass

    threading.Thread(target=keep, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return p, url
        except requests.RequestException:
            pass
        time.sleep(0.1)


async def load(url, texts, clients):
    latencies = []
    queue = list(enumerate(texts))
    conn = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=600)) as session:
        async def worker():
            while queue:
                _, text = queue.pop()
                t0 = time.perf_counter()
                async with session.post(url + "/classify", json={"inputs": text}) as r:
                    await r.read()
                    assert r.status == 200, r.status
                latencies.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    latencies.sort()
    return {"clients": clients, "texts_per_s": len(texts) / wall,
            "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


def cli_throughput(model, texts, threads):
    def run(ts):
        data = "".join(json.dumps({"text": t}) + "\n" for t in ts)
        t0 = time.perf_counter()
        subprocess.run([MEDENC, "classify", "--model", model, *threads], input=data, text=True, check=True,
                       capture_output=True)
        return time.perf_counter() - t0
    one = min(run(texts[:1]) for _ in range(2))  # load + one text
    full = run(texts)
    return len(texts) / max(1e-9, full - one)


def idle_connections(url, pid, n):
    host, port = url.rsplit(":", 1)
    before = rss_kib(pid)
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", int(port)))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(s)
    for s in socks:
        s.settimeout(30)
        s.recv(4096)
    time.sleep(1)
    after = rss_kib(pid)
    for s in socks:
        s.close()
    return (after - before) / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", default=DEFAULT_TEXTS)
    ap.add_argument("--requests", type=int, default=512)
    ap.add_argument("--clients", default="1,8,64,256")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    texts = load_texts(args.texts, args.requests)
    threads = ["--threads", str(args.threads)] if args.threads else []
    report = {"texts": len(texts), "source": os.path.basename(args.texts)}

    server, url = start_server(args.model, threads)
    try:
        asyncio.run(load(url, texts[:32], 8))  # warm
        report["serve"] = []
        for c in [int(x) for x in args.clients.split(",")]:
            r = asyncio.run(load(url, texts, c))
            report["serve"].append(r)
            print(json.dumps(r), flush=True)
        # A lone ~128-token request, one at a time.
        words = " ".join(texts).split()
        n = 120
        while n > 1:  # the longest prefix of at most 128 tokens
            probe = " ".join(words[:n])
            ntok = len(requests.post(url + "/tokenize", json={"inputs": probe}).json()[0])
            if ntok <= 128:
                break
            n -= 1
        # Where a lone request's time goes: the client's latency (a new connection per request, as
        # before, and a keep-alive session), the server's own time from the first byte read to
        # the reply written (its access log), and the phases inside (tokenization worker, queue =
        # hand-offs to the batcher thread, inference = run_jobs), medians over 30 requests.
        def lone(post):
            lat, mark = [], len(LOG)
            for _ in range(30):
                t0 = time.perf_counter()
                post(url + "/classify", json={"inputs": probe}).raise_for_status()
                lat.append(time.perf_counter() - t0)
            time.sleep(0.2)
            lines = [l for l in LOG[mark:] if l.get("path") == "/classify" and "inference_ms" in l]
            r = {"median_ms": 1000 * statistics.median(lat)}
            for k in ("ms", "tokenization_ms", "queue_ms", "inference_ms"):
                if lines:
                    r["server_" + k if k == "ms" else k] = statistics.median(l[k] for l in lines)
            if lines:
                # What the server spends outside the three phases: HTTP parsing, routing, the hop to
                # the tokenizer worker, the hop back to the I/O thread, JSON rendering, the write.
                r["server_other_ms"] = statistics.median(
                    l["ms"] - l["tokenization_ms"] - l["queue_ms"] - l["inference_ms"] for l in lines)
                r["client_and_tcp_ms"] = r["median_ms"] - r["server_ms"]
            return r

        report["lone_request"] = {"tokens": ntok, **lone(requests.post)}
        with requests.Session() as session:
            report["lone_request_keep_alive"] = lone(session.post)
        # The same with the standard library's keep-alive client (far less client time than
        # requests'), and that client's floor: a GET /health round trip (no inference).
        host, port = url.rsplit("/", 1)[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=60)

        class Reply:
            def __init__(self, r):
                self.status = r.status
                r.read()

            def raise_for_status(self):
                assert self.status == 200, self.status

        def post_light(u, json=None):
            body = globals()["json"].dumps(json)
            conn.request("POST", "/" + u.split("/", 3)[3], body, {"Content-Type": "application/json"})
            return Reply(conn.getresponse())

        report["lone_request_http_client"] = lone(post_light)
        floor = []
        for _ in range(30):
            t0 = time.perf_counter()
            conn.request("GET", "/health")
            conn.getresponse().read()
            floor.append(time.perf_counter() - t0)
        report["lone_request_http_client"]["health_round_trip_ms"] = 1000 * statistics.median(floor)
        conn.close()
        report["idle_1000_connections_mb"] = idle_connections(url, server.pid, 1000)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)

    report["cli_texts_per_s"] = cli_throughput(args.model, texts, threads)
    for r in report["serve"]:
        r["vs_cli"] = r["texts_per_s"] / report["cli_texts_per_s"]
    b = subprocess.run([MEDENC, "bench", "--model", args.model, "--cases", "1x128", "--json", *threads],
                       capture_output=True, text=True)
    try:
        case = json.loads(b.stdout)["runs"][0]["cases"][0]
        report["bare_forward_1x128_ms"] = 1000 * case["seconds"]
        for k in ("lone_request", "lone_request_keep_alive", "lone_request_http_client"):
            report[k]["over_bare_forward_ms"] = report[k]["median_ms"] - report["bare_forward_1x128_ms"]
    except (json.JSONDecodeError, KeyError, IndexError):
        report["bare_forward_1x128_ms"] = b.stdout.strip()[-500:]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
