"""Helpers for the `medenc serve` tests: random-weight models made with `medenc init`, servers started on
127.0.0.1 with a free port (--port 0, the bound port read from the log), and the CLI run as a reference."""
import json
import os
import re
import signal
import subprocess
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MEDENC = os.environ.get("MEDENC_CLI", os.path.join(ROOT, "build", "medenc"))
TOKENIZERS = os.path.join(ROOT, "tests", "data", "tokenizers")

# MedMentions-style sentences (CC0) and short notes written for these tests.
TEXTS = [
    "Pseudomonas aeruginosa (Pa) infection in cystic fibrosis (CF) patients is associated with worse long-term "
    "pulmonary disease and shorter survival.",
    "Nonylphenol diethoxylate inhibits apoptosis induced in PC12 cells",
    "No acute cardiopulmonary abnormality.",
    "Pt c/o chest pain x3 days,  worse on exertion; denies SOB.",
    "Fi\u00e8vre \u00e0 39\u00b0C, toux s\u00e8che.",
    "BP 120/80, HR 72 bpm. Impression: stable.",
]


def make_model(out, arch, tokenizer="modernbert-base", num_labels=0, problem_type="", max_positions=None,
               labels=None, seed=7):
    cmd = [MEDENC, "init", "--arch", arch, "--config", "tiny", "--out", out, "--seed", str(seed),
           "--tokenizer", os.path.join(TOKENIZERS, tokenizer)]
    if num_labels:
        cmd += ["--num-labels", str(num_labels)]
    if problem_type:
        cmd += ["--problem-type", problem_type]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    path = os.path.join(out, "config.json")
    config = json.load(open(path))
    if max_positions:
        config["max_position_embeddings"] = max_positions
    if labels:
        config["id2label"] = {str(i): l for i, l in enumerate(labels)}
        config["label2id"] = {l: i for i, l in enumerate(labels)}
    json.dump(config, open(path, "w"), indent=2)
    tc = os.path.join(out, "tokenizer_config.json")
    if max_positions and os.path.exists(tc):
        t = json.load(open(tc))
        t["model_max_length"] = max_positions
        json.dump(t, open(tc, "w"))
    return out


def cli_lines(command, model, texts, *args, pairs=None):
    """`medenc COMMAND --model MODEL ARGS` on the texts as JSON Lines; its output lines without "id"."""
    rows = []
    for i, t in enumerate(texts):
        row = {"id": i, "text": t}
        if pairs:
            row["text_pair"] = pairs[i]
        rows.append(json.dumps(row))
    # One thread: results do not depend on the thread count, and the machine may be shared.
    p = subprocess.run([MEDENC, command, "--model", model, "--threads", "1", *args], input="\n".join(rows) + "\n",
                       capture_output=True, text=True, timeout=120, env=dict(os.environ, OMP_WAIT_POLICY="passive"))
    assert p.returncode in (0, 3), p.stderr
    out = []
    for line in p.stdout.splitlines():
        j = json.loads(line)
        j.pop("id", None)
        out.append(j)
    return out


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Server:
    """A `medenc serve` process on 127.0.0.1 and a free port; its log lines are kept in `log`."""

    def __init__(self, *args, ready=True):
        self.log = []
        self.proc = subprocess.Popen([MEDENC, "serve", "--host", "127.0.0.1", "--port", "0", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, OMP_WAIT_POLICY="passive"))
        self.port = None
        port_seen = threading.Event()

        def drain():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    port_seen.set()
            port_seen.set()

        self.reader = threading.Thread(target=drain, daemon=True)
        self.reader.start()
        if not port_seen.wait(30) or self.port is None:
            self.kill()
            raise RuntimeError("medenc serve did not start:\n" + "".join(self.log))
        self.url = f"http://127.0.0.1:{self.port}"
        if ready:
            self.wait_healthy()

    def wait_healthy(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("medenc serve exited:\n" + "".join(self.log))
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("medenc serve never became healthy:\n" + "".join(self.log))

    def post(self, path, body, **kw):
        return requests.post(self.url + path, json=body, timeout=kw.pop("timeout", 30), **kw)

    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def metric(self, name, labels=""):
        text = self.get("/metrics").text
        key = f"{name}{{{labels}}}" if labels else name
        for line in text.splitlines():
            if line.startswith(key + " "):
                return float(line.split()[-1])
        return 0.0

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.reader.join(5)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
