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


def start_server(model, extra):
    p = subprocess.Popen([MEDENC, "serve", "--model", model, "--port", "0", *extra], stderr=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, text=True)
    port = None
    for line in p.stderr:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
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
        lat = []
        for _ in range(30):
            t0 = time.perf_counter()
            requests.post(url + "/classify", json={"inputs": probe}).raise_for_status()
            lat.append(time.perf_counter() - t0)
        report["lone_request"] = {"tokens": ntok, "median_ms": 1000 * statistics.median(lat)}
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
        report["lone_request"]["over_bare_forward_ms"] = (report["lone_request"]["median_ms"] -
                                                          report["bare_forward_1x128_ms"])
    except (json.JSONDecodeError, KeyError, IndexError):
        report["bare_forward_1x128_ms"] = b.stdout.strip()[-500:]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
