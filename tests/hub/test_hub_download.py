#!/usr/bin/python3
"""`medenc download` and `--model ORG/NAME` against a mock Hub (mock_hub.py), offline.

Run by ctest (tests/CMakeLists.txt):  python3 test_hub_download.py MEDENC_BINARY DATA_DIR [unittest args]
Each test gets a fresh temporary cache; the mock's servers listen on 127.0.0.1 only and stop at the
end of each test. Cache contents are checked by an independent reader written here (the layout of
huggingface_hub: /work/shared/reference/hf-hub.md §1), never by medenc itself.
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mock_hub  # noqa: E402
from mock_hub import MockHub, Repo, git_sha1, sha256  # noqa: E402

MEDENC = None
DATA = None
C1 = "1111111111111111111111111111111111111111"  # commits that look real: 40 lowercase hex
C2 = "2222222222222222222222222222222222222222"
C3 = "3333333333333333333333333333333333333333"
CPR = "4444444444444444444444444444444444444444"

# Real Hub blob ids of google-bert/bert-base-uncased (reference §2.5; byte-identical staged files).
REAL_OIDS = {
    "config.json": "45a2321a7ecfdaaf60a6c1fd7f5463994cc8907d",
    "vocab.txt": "fb140275c155a9c7c5a3b3e0e77a9e839594a938",
    "tokenizer.json": "949a6f013d67eb8a5b4b5b46026217b888021b88",
}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def split_safetensors(data):
    """Two shards and an index from one safetensors file (tensors split in half by name)."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    names = sorted(k for k in header if k != "__metadata__")
    parts = [names[: len(names) // 2], names[len(names) // 2:]]
    shards, weight_map = {}, {}
    for i, part in enumerate(parts):
        fname = "model-%05d-of-00002.safetensors" % (i + 1)
        h, chunks, off = {"__metadata__": {"format": "pt"}}, [], 0
        for k in part:
            b, e = header[k]["data_offsets"]
            h[k] = {"dtype": header[k]["dtype"], "shape": header[k]["shape"], "data_offsets": [off, off + e - b]}
            chunks.append(body[b:e])
            off += e - b
        hb = json.dumps(h).encode()
        hb += b" " * ((8 - len(hb) % 8) % 8)
        shards[fname] = struct.pack("<Q", len(hb)) + hb + b"".join(chunks)
        weight_map.update({k: fname for k in part})
    index = json.dumps({"metadata": {"total_size": len(body)}, "weight_map": weight_map}).encode()
    return shards, index


# ---- an independent reader of the huggingface_hub cache layout ----

def cache_snapshot(root, repo_id, rev="main"):
    repo = os.path.join(root, "models--" + repo_id.replace("/", "--"))
    commit = rev if len(rev) == 40 and all(c in "0123456789abcdef" for c in rev) else read(os.path.join(repo, "refs", rev)).decode()
    return os.path.join(repo, "snapshots", commit)


def scan_problems(root):
    """The invariants huggingface_hub's cache scanner enforces (reference §1.4), as a list of faults."""
    faults = []
    for name in os.listdir(root):
        if name in (".locks", "CACHEDIR.TAG", "blobs") or name.startswith("."):
            continue
        repo = os.path.join(root, name)
        if "--" not in name or name.split("--")[0] not in ("models", "datasets", "spaces"):
            faults.append("bad repo folder " + name)
            continue
        snaps = os.path.join(repo, "snapshots")
        if not os.path.isdir(snaps):
            faults.append(name + ": no snapshots/")
            continue
        for s in os.listdir(snaps):
            p = os.path.join(snaps, s)
            if not os.path.isdir(p):
                faults.append(name + ": plain file in snapshots/: " + s)
                continue
            for dirpath, _, files in os.walk(p):
                for f in files:
                    fp = os.path.join(dirpath, f)
                    if os.path.islink(fp) and not os.path.exists(fp):
                        faults.append(name + ": broken symlink " + fp)
        refs = os.path.join(repo, "refs")
        for dirpath, _, files in os.walk(refs):
            for f in files:
                raw = read(os.path.join(dirpath, f)).decode()  # raw: a newline would corrupt it
                if not os.path.isdir(os.path.join(snaps, raw)):
                    faults.append(name + ": ref %s -> %r names no snapshot" % (f, raw))
    return faults


class HubTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="medenc_hub_")
        self.cache = os.path.join(self.tmp, "hub")
        self.hub = MockHub()
        self.fixture = os.path.join(DATA, "fixtures", "bert_base_smallvocab")
        self.tok = os.path.join(DATA, "tokenizers", "bert-base-uncased")
        self.model_bytes = read(os.path.join(self.fixture, "model.safetensors"))
        self.enc_files = {
            "config.json": read(os.path.join(self.fixture, "config.json")),
            "model.safetensors": self.model_bytes,
            "vocab.txt": read(os.path.join(self.tok, "vocab.txt")),
            "tokenizer_config.json": read(os.path.join(self.tok, "tokenizer_config.json")),
            "modules.json": b'[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]',
            "1_Pooling/config.json": b'{"word_embedding_dimension": 64, "pooling_mode_mean_tokens": true}',
            "README.md": b"# enc\n",
            "pytorch_model.bin": b"not fetched when safetensors exist" * 10,
            "onnx/model.onnx": b"onnx" * 100,
            ".gitattributes": b"*.safetensors filter=lfs\n",
        }
        self.hub.add_repo("org/enc", Repo({C1: dict(self.enc_files)}, {"main": C1}, tags={"v1.0": C1}))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "TRANSFORMERS_"))}
        self.env.update({"HF_ENDPOINT": self.hub.endpoint, "HF_HUB_CACHE": self.cache, "HOME": self.tmp,
                         "HF_HOME": os.path.join(self.tmp, "hfhome"), "NO_PROXY": "127.0.0.1,localhost",
                         "no_proxy": "127.0.0.1,localhost", "OMP_NUM_THREADS": "1"})
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
            self.env.pop(k, None)

    def tearDown(self):
        self.hub.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def medenc(self, *args, env=None, timeout=60, fast=True):
        cmd = [MEDENC] + list(args)
        if fast and args and args[0] == "download":
            cmd += ["--retry-base", "0.01", "--timeout", "3"]
        e = dict(self.env)
        e.update(env or {})
        p = subprocess.run(cmd, env=e, capture_output=True, timeout=timeout)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def download(self, *args, **kw):
        return self.medenc("download", *args, **kw)

    def repo_dir(self, repo_id="org/enc"):
        return os.path.join(self.cache, "models--" + repo_id.replace("/", "--"))

    def cdn_gets(self):
        return [r for r in self.hub.requests("cdn") if r["method"] == "GET"]


class DownloadBasics(HubTestCase):
    def test_fresh_download_layout_and_model_by_name(self):
        rc, out, err = self.download("org/enc")
        self.assertEqual(rc, 0, err)
        repo = self.repo_dir()
        snap = os.path.join(repo, "snapshots", C1)
        self.assertEqual(out.strip(), snap)
        ref = read(os.path.join(repo, "refs", "main"))
        self.assertEqual(ref, C1.encode())  # 40 bytes, no newline
        expected = ["1_Pooling/config.json", "config.json", "model.safetensors", "modules.json", "tokenizer_config.json", "vocab.txt"]
        got = sorted(os.path.relpath(os.path.join(d, f), snap) for d, _, fs in os.walk(snap) for f in fs)
        self.assertEqual(got, expected)
        for path in expected:
            pointer = os.path.join(snap, path)
            self.assertTrue(os.path.islink(pointer), path)
            target = os.readlink(pointer)
            self.assertFalse(os.path.isabs(target))
            depth = path.count("/")
            data = self.enc_files[path]
            etag = sha256(data) if path.endswith(".safetensors") else git_sha1(data)
            self.assertEqual(target, "../" * (2 + depth) + "blobs/" + etag)
            self.assertEqual(read(pointer), data)
        blobs = os.listdir(os.path.join(repo, "blobs"))
        self.assertFalse([b for b in blobs if b.endswith(".incomplete")])
        self.assertTrue(read(os.path.join(self.cache, "CACHEDIR.TAG")).startswith(b"Signature: 8a477f597d28d172789f06886806bc55\n"))
        self.assertTrue(os.path.exists(os.path.join(self.cache, ".locks", "models--org--enc", sha256(self.model_bytes) + ".lock")))
        self.assertEqual(scan_problems(self.cache), [])
        self.assertEqual(cache_snapshot(self.cache, "org/enc"), snap)
        # Only what an encoder needs was requested.
        fetched = {r["path"] for r in self.hub.requests("hub", "HEAD")}
        for never in ("README.md", "pytorch_model.bin", "onnx/model.onnx", ".gitattributes"):
            self.assertFalse([p for p in fetched if p.endswith(never)], never)
        # Headers: identity encoding on HEADs, medenc's user agent.
        for r in self.hub.requests():
            self.assertTrue(r["user_agent"].startswith("medenc/"), r)
        for r in self.hub.requests("hub", "HEAD"):
            self.assertEqual(r["accept_encoding"], "identity")
        # --model ORG/NAME runs from the cache, with no request, and equals the folder itself.
        self.hub.clear_log()
        outs = []
        for model in ("org/enc", self.fixture):
            o = os.path.join(self.tmp, "out%d.safetensors" % len(outs))
            rc, _, err = self.medenc("forward", "--model", model, "--inputs", os.path.join(self.fixture, "inputs.json"), "--out", o)
            self.assertEqual(rc, 0, err)
            outs.append(read(o))
        self.assertEqual(outs[0], outs[1])
        self.assertEqual(self.hub.requests(), [])

    def test_task_command_by_hub_id(self):
        # A classifier with the real bert-base-uncased vocabulary (random weights, from `medenc init`).
        model = os.path.join(self.tmp, "cls")
        rc, _, err = self.medenc("init", "--arch", "BertForSequenceClassification", "--config", "tiny", "--out", model,
                                 "--num-labels", "3", "--tokenizer", self.tok)
        self.assertEqual(rc, 0, err)
        files = {}
        for d, _, fs in os.walk(model):
            for f in fs:
                files[os.path.relpath(os.path.join(d, f), model)] = read(os.path.join(d, f))
        self.hub.add_repo("org/cls", Repo({C1: files}, {"main": C1}))
        rc, _, err = self.download("org/cls")
        self.assertEqual(rc, 0, err)
        text = '{"id": 1, "text": "No acute cardiopulmonary process."}\n'
        outs = []
        for m in ("org/cls", model):
            p = subprocess.run([MEDENC, "classify", "--model", m], input=text.encode(), env=self.env,
                               capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            outs.append(p.stdout)
        self.assertEqual(outs[0], outs[1])
        self.assertIn(b'"label"', outs[0])

    def test_real_bert_base_uncased_blob_ids(self):
        files = {name: read(os.path.join(self.tok, name)) for name in ("config.json", "vocab.txt", "tokenizer.json")}
        files["model.safetensors"] = self.model_bytes
        self.hub.add_repo("google-bert/bert-base-uncased", Repo({C1: files}, {"main": C1}))
        rc, out, err = self.download("google-bert/bert-base-uncased")
        self.assertEqual(rc, 0, err)
        blobs = set(os.listdir(os.path.join(self.repo_dir("google-bert/bert-base-uncased"), "blobs")))
        for name, oid in REAL_OIDS.items():
            self.assertIn(oid, blobs, name)  # the blob name is the Hub's own git oid

    def test_auth_goes_to_the_hub_only(self):
        rc, _, err = self.download("org/enc", env={"HF_TOKEN": MockHub.GOOD_TOKEN})
        self.assertEqual(rc, 0, err)
        for r in self.hub.requests("hub"):
            self.assertEqual(r["authorization"], "Bearer " + MockHub.GOOD_TOKEN, r)
        self.assertTrue(self.cdn_gets())
        for r in self.hub.requests("cdn"):
            self.assertIsNone(r["authorization"], r)
        # The token file works the same; without any token nothing carries one.
        shutil.rmtree(self.cache)
        self.hub.clear_log()
        rc, _, err = self.download("org/enc")
        self.assertEqual(rc, 0, err)
        self.assertTrue(all(r["authorization"] is None for r in self.hub.requests()))

    def test_sharded_fetches_only_the_index_shards(self):
        shards, index = split_safetensors(self.model_bytes)
        files = {"config.json": self.enc_files["config.json"], "model.safetensors.index.json": index,
                 "vocab.txt": self.enc_files["vocab.txt"], "pytorch_model.bin": b"x" * 100,
                 "onnx/model.onnx": b"y" * 10, "README.md": b"z", "model-00009-of-00009.safetensors": b"unlisted"}
        files.update(shards)
        self.hub.add_repo("org/sharded", Repo({C1: files}, {"main": C1}))
        rc, out, err = self.download("org/sharded")
        self.assertEqual(rc, 0, err)
        requested = {r["path"].split("/resolve/" + C1 + "/")[-1] for r in self.hub.requests("hub", "HEAD")}
        self.assertEqual(requested, {"config.json", "model.safetensors.index.json", "vocab.txt"} | set(shards))
        o1, o2 = os.path.join(self.tmp, "a.safetensors"), os.path.join(self.tmp, "b.safetensors")
        inputs = os.path.join(self.fixture, "inputs.json")
        self.assertEqual(self.medenc("forward", "--model", "org/sharded", "--inputs", inputs, "--out", o1)[0], 0)
        self.assertEqual(self.medenc("forward", "--model", self.fixture, "--inputs", inputs, "--out", o2)[0], 0)
        self.assertEqual(read(o1), read(o2))

    def test_bin_only_repo_fetches_the_bin(self):
        binary = read(os.path.join(DATA, "torch_bin", "bert_seqcls_zip", "pytorch_model.bin"))
        files = {"config.json": read(os.path.join(DATA, "torch_bin", "bert_seqcls_zip", "config.json")),
                 "pytorch_model.bin": binary, "vocab.txt": self.enc_files["vocab.txt"]}
        self.hub.add_repo("org/old", Repo({C1: files}, {"main": C1}))
        rc, out, err = self.download("org/old")
        self.assertEqual(rc, 0, err)
        self.assertEqual(read(os.path.join(out.strip(), "pytorch_model.bin")), binary)
        o = os.path.join(self.tmp, "conv")
        rc, _, err = self.medenc("convert", "--model", "org/old", "--out", o)
        self.assertEqual(rc, 0, err)
        self.assertTrue(os.path.isfile(os.path.join(o, "model.safetensors")))
        self.assertFalse(os.path.islink(os.path.join(o, "config.json")))

    def test_second_run_fetches_nothing(self):
        self.assertEqual(self.download("org/enc")[0], 0)
        before = {os.path.join(d, f): os.lstat(os.path.join(d, f)).st_mtime_ns for d, _, fs in os.walk(self.cache) for f in fs}
        self.hub.clear_log()
        rc, _, err = self.download("org/enc")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.cdn_gets(), [])
        self.assertEqual([r for r in self.hub.requests("hub") if r["method"] == "GET" and "/resolve/" in r["path"]], [])
        after = {os.path.join(d, f): os.lstat(os.path.join(d, f)).st_mtime_ns for d, _, fs in os.walk(self.cache) for f in fs}
        self.assertEqual(before, after)

    def test_new_commit_on_main_reuses_blobs(self):
        self.assertEqual(self.download("org/enc")[0], 0)
        repo = self.hub.repos["org/enc"]
        files2 = dict(self.enc_files)
        files2["config.json"] = self.enc_files["config.json"].replace(b"{", b'{\n  "medenc_test": 2,', 1)
        repo.commits[C2] = files2
        repo.branches["main"] = C2
        self.hub.clear_log()
        rc, out, err = self.download("org/enc")
        self.assertEqual(rc, 0, err)
        self.assertEqual(read(os.path.join(self.repo_dir(), "refs", "main")), C2.encode())
        self.assertEqual(self.cdn_gets(), [])  # the safetensors blob is shared with the old commit
        gets = [r["path"] for r in self.hub.requests("hub", "GET") if "/resolve/" in r["path"]]
        self.assertEqual(gets, ["/org/enc/resolve/%s/config.json" % C2])
        self.assertEqual(read(os.path.join(self.repo_dir(), "snapshots", C1, "config.json")), self.enc_files["config.json"])
        self.assertEqual(read(os.path.join(self.repo_dir(), "snapshots", C2, "config.json")), files2["config.json"])
        self.assertEqual(scan_problems(self.cache), [])

    def test_revisions(self):
        repo = self.hub.repos["org/enc"]
        repo.commits[CPR] = dict(self.enc_files)
        repo.prs["refs/pr/1"] = CPR
        self.assertEqual(self.download("org/enc@v1.0")[0], 0)
        self.assertEqual(read(os.path.join(self.repo_dir(), "refs", "v1.0")), C1.encode())
        self.assertEqual(self.download("org/enc@" + C1)[0], 0)
        self.assertFalse(os.path.exists(os.path.join(self.repo_dir(), "refs", C1)))
        self.hub.clear_log()
        rc, out, err = self.download("org/enc@refs/pr/1")
        self.assertEqual(rc, 0, err)
        self.assertIn("refs%2Fpr%2F1", self.hub.requests("hub")[0]["raw_path"])
        self.assertEqual(read(os.path.join(self.repo_dir(), "refs", "refs", "pr", "1")), CPR.encode())
        self.assertEqual(out.strip(), os.path.join(self.repo_dir(), "snapshots", CPR))
        rc, _, err = self.download("org/enc@nope")
        self.assertEqual(rc, 5, err)
        self.assertIn("revision 'nope'", err)
        self.assertEqual(scan_problems(self.cache), [])
        # Resolution by name of each revision, offline.
        for spec, commit in (("org/enc@v1.0", C1), ("org/enc@refs/pr/1", CPR), ("org/enc@" + C1, C1)):
            o = os.path.join(self.tmp, "o.safetensors")
            rc, _, err = self.medenc("forward", "--model", spec, "--inputs", os.path.join(self.fixture, "inputs.json"), "--out", o)
            self.assertEqual(rc, 0, spec + err)
        rc, _, err = self.medenc("forward", "--model", "org/enc@v9", "--inputs", os.path.join(self.fixture, "inputs.json"),
                                 "--out", os.path.join(self.tmp, "o9"))
        self.assertNotEqual(rc, 0)
        self.assertIn("medenc download org/enc@v9", err)

    def test_include_exclude_all_and_dry_run(self):
        rc, out, err = self.download("org/enc", "--dry-run")
        self.assertEqual(rc, 0, err)
        self.assertIn("model.safetensors", out)
        self.assertIn("to download", out)
        self.assertFalse(os.path.exists(self.cache))  # nothing written
        rc, out, err = self.download("org/enc", "--include", "*.json")
        self.assertEqual(rc, 0, err)
        snap = out.strip()
        got = sorted(os.path.relpath(os.path.join(d, f), snap) for d, _, fs in os.walk(snap) for f in fs)
        self.assertEqual(got, ["1_Pooling/config.json", "config.json", "modules.json", "tokenizer_config.json"])
        rc, out, err = self.download("org/enc", "--include", "*.json", "--exclude", "1_Pooling/*")
        self.assertEqual(rc, 0, err)
        rc, out, err = self.download("org/enc", "--all", "--exclude", "*.bin")
        self.assertEqual(rc, 0, err)
        got = sorted(os.path.relpath(os.path.join(d, f), snap) for d, _, fs in os.walk(snap) for f in fs)
        self.assertEqual(got, sorted(p for p in self.enc_files if not p.endswith(".bin")))

    def test_redirects_resolve_cache_and_rename(self):
        self.hub.scenario["resolve_cache"] = True
        self.hub.renames["old/enc"] = "org/enc"
        rc, out, err = self.download("org/enc", env={"HF_TOKEN": MockHub.GOOD_TOKEN})
        self.assertEqual(rc, 0, err)
        hops = [r for r in self.hub.requests("hub") if r["path"].startswith("/api/resolve-cache/")]
        self.assertTrue(hops)
        for r in hops:  # same origin: the token follows the relative redirect
            self.assertEqual(r["authorization"], "Bearer " + MockHub.GOOD_TOKEN)
        self.assertEqual(scan_problems(self.cache), [])

    def test_redirect_loop_is_bounded(self):
        self.hub.scenario["redirect_loop"] = True
        rc, _, err = self.download("org/enc", timeout=30)
        self.assertEqual(rc, 6, err)
        self.assertIn("redirects", err)

    def test_no_symlinks_mode(self):
        rc, out, err = self.download("org/enc", env={"HF_HUB_DISABLE_SYMLINKS": "1"})
        self.assertEqual(rc, 0, err)
        cfg = os.path.join(out.strip(), "config.json")
        self.assertFalse(os.path.islink(cfg))
        self.assertEqual(read(cfg), self.enc_files["config.json"])
        o = os.path.join(self.tmp, "o.safetensors")
        rc, _, err = self.medenc("forward", "--model", "org/enc", "--inputs", os.path.join(self.fixture, "inputs.json"), "--out", o)
        self.assertEqual(rc, 0, err)


class DownloadFailures(HubTestCase):
    def lfs_digest(self):
        return sha256(self.model_bytes)

    def assert_nothing_published(self):
        blobs = os.path.join(self.repo_dir(), "blobs")
        names = os.listdir(blobs) if os.path.isdir(blobs) else []
        self.assertNotIn(self.lfs_digest(), names)
        self.assertFalse([n for n in names if n.endswith(".incomplete")], names)
        self.assertFalse(os.path.lexists(os.path.join(self.repo_dir(), "snapshots", C1, "model.safetensors")))

    def test_resume_in_process(self):
        n = 100000
        self.hub.scenario["interrupt_after"] = {self.lfs_digest(): (n, 1)}
        rc, out, err = self.download("org/enc")
        self.assertEqual(rc, 0, err)
        ranges = [r["range"] for r in self.cdn_gets()]
        self.assertEqual(ranges, [None, "bytes=%d-" % n])
        self.assertEqual(read(os.path.join(out.strip(), "model.safetensors")), self.model_bytes)

    def test_resume_across_runs(self):
        n = 120000
        self.hub.scenario["interrupt_after"] = {self.lfs_digest(): (n, 1)}
        rc, _, err = self.download("org/enc", "--max-retries", "0")
        self.assertEqual(rc, 6, err)
        part = os.path.join(self.repo_dir(), "blobs", self.lfs_digest() + ".incomplete")
        self.assertEqual(os.path.getsize(part), n)
        self.hub.clear_log()
        rc, out, err = self.download("org/enc")
        self.assertEqual(rc, 0, err)
        self.assertEqual([r["range"] for r in self.cdn_gets()], ["bytes=%d-" % n])
        self.assertFalse(os.path.exists(part))
        self.assertEqual(read(os.path.join(out.strip(), "model.safetensors")), self.model_bytes)

    def test_server_ignoring_range_restarts(self):
        n = 50000
        self.hub.scenario["interrupt_after"] = {self.lfs_digest(): (n, 1)}
        self.hub.scenario["ignore_range"] = {self.lfs_digest()}
        rc, out, err = self.download("org/enc")
        self.assertEqual(rc, 0, err)
        self.assertEqual(read(os.path.join(out.strip(), "model.safetensors")), self.model_bytes)

    def test_leftover_partial_files(self):
        os.makedirs(os.path.join(self.repo_dir(), "blobs"))
        part = os.path.join(self.repo_dir(), "blobs", self.lfs_digest() + ".incomplete")
        # Complete already (416 or skip -> verify), then longer than the file (discarded).
        for content in (self.model_bytes, self.model_bytes + b"junk"):
            with open(part, "wb") as f:
                f.write(content)
            rc, out, err = self.download("org/enc")
            self.assertEqual(rc, 0, err)
            self.assertEqual(read(os.path.join(out.strip(), "model.safetensors")), self.model_bytes)
            shutil.rmtree(self.cache)
            os.makedirs(os.path.join(self.repo_dir(), "blobs"))

    def test_corrupt_body_is_not_published(self):
        self.hub.scenario["corrupt"] = {self.lfs_digest()}
        rc, _, err = self.download("org/enc")
        self.assertEqual(rc, 7, err)
        self.assertIn("hash", err)
        self.assert_nothing_published()

    def test_short_body_is_not_published(self):
        self.hub.scenario["short"] = {self.lfs_digest()}
        rc, _, err = self.download("org/enc", "--max-retries", "1")
        self.assertIn(rc, (6, 7), err)
        self.assert_nothing_published()

    def test_gated_repo(self):
        self.hub.repos["org/enc"].gated = True
        rc, _, err = self.download("org/enc")
        self.assertEqual(rc, 4, err)
        self.assertIn("gated", err)
        self.assertIn("HF_TOKEN", err)
        self.assertIn("accept its terms", err)
        rc, _, err = self.download("org/enc", env={"HF_TOKEN": MockHub.OTHER_TOKEN})
        self.assertEqual(rc, 4, err)
        os.makedirs(os.path.join(self.tmp, "hfhome"), exist_ok=True)
        with open(os.path.join(self.tmp, "hfhome", "token"), "w") as f:
            f.write(MockHub.GOOD_TOKEN + "\r\n")  # the token file (HF_HOME/token); CR/LF trimmed
        rc, _, err = self.download("org/enc")
        self.assertEqual(rc, 0, err)

    def test_private_missing_and_bad_token(self):
        rc, _, err = self.download("org/missing")
        self.assertEqual(rc, 4, err)  # 401: missing or private, the Hub will not say
        self.assertIn("HF_TOKEN", err)
        rc, _, err = self.download("org/missing", env={"HF_TOKEN": MockHub.GOOD_TOKEN})
        self.assertEqual(rc, 5, err)
        self.assertIn("not found", err)
        rc, _, err = self.download("org/enc", env={"HF_TOKEN": "hf_wrong"})
        self.assertEqual(rc, 4, err)
        self.assertIn("rejected", err)
        self.hub.repos["org/enc"].private = True
        self.assertEqual(self.download("org/enc", env={"HF_TOKEN": MockHub.GOOD_TOKEN})[0], 0)

    def test_missing_files(self):
        self.hub.scenario["missing"] = {"tokenizer_config.json"}
        rc, _, err = self.download("org/enc")
        self.assertEqual(rc, 0, err)
        self.assertTrue(os.path.exists(os.path.join(self.repo_dir(), ".no_exist", C1, "tokenizer_config.json")))
        self.hub.clear_log()
        rc, _, err = self.download("org/enc")  # the marker spares the second run the probe
        self.assertEqual(rc, 0, err)
        self.assertEqual([r for r in self.hub.requests() if r["path"].endswith("tokenizer_config.json")], [])
        self.hub.scenario["missing"] = {"config.json"}
        shutil.rmtree(self.cache)
        rc, _, err = self.download("org/enc")
        self.assertEqual(rc, 5, err)
        self.assertIn("config.json", err)
        # A repository without config.json at all.
        self.hub.add_repo("org/noconfig", Repo({C1: {"model.safetensors": self.model_bytes}}, {"main": C1}))
        rc, _, err = self.download("org/noconfig")
        self.assertEqual(rc, 5, err)

    def test_retries(self):
        self.hub.scenario["status_sequence"] = [503, 503]
        rc, _, err = self.download("org/enc")
        self.assertEqual(rc, 0, err)
        shutil.rmtree(self.cache)
        self.hub.scenario["status_sequence"] = [429]
        self.hub.scenario["retry_after"] = 1
        t = time.time()
        rc, _, err = self.download("org/enc")
        self.assertEqual(rc, 0, err)
        self.assertGreaterEqual(time.time() - t, 1.0)
        self.hub.scenario["status_sequence"] = [503] * 50
        self.hub.clear_log()
        rc, _, err = self.download("org/enc", "--max-retries", "3")
        self.assertEqual(rc, 6, err)
        self.assertEqual(len(self.hub.requests()), 4)

    def test_offline(self):
        rc, _, err = self.download("org/enc", env={"HF_HUB_OFFLINE": "1"})
        self.assertEqual(rc, 3, err)
        self.assertEqual(self.hub.requests(), [])
        rc, _, err = self.download("org/enc", env={"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"})
        self.assertEqual(rc, 0, err)  # a set HF_HUB_OFFLINE decides
        self.hub.clear_log()
        o = os.path.join(self.tmp, "o.safetensors")
        rc, _, err = self.medenc("forward", "--model", "org/enc", "--inputs", os.path.join(self.fixture, "inputs.json"),
                                 "--out", o, env={"HF_HUB_OFFLINE": "1"})
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.hub.requests(), [])

    def test_unreachable_hub(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        rc, _, err = self.download("org/enc", "--max-retries", "1", env={"HF_ENDPOINT": "http://127.0.0.1:%d" % port})
        self.assertEqual(rc, 6, err)
        self.assertIn("cannot reach", err)

    def test_stalled_server_times_out(self):
        self.hub.scenario["stall"] = 5
        t = time.time()
        rc, _, err = self.download("org/enc", "--max-retries", "0", "--timeout", "1", fast=False)
        self.assertEqual(rc, 6, err)
        self.assertLess(time.time() - t, 5)
        self.assert_nothing_published()

    def test_concurrent_downloads_share_one_transfer(self):
        self.hub.scenario["slow"] = {self.lfs_digest(): 0.02}
        procs = []
        for _ in range(2):
            procs.append(subprocess.Popen([MEDENC, "download", "org/enc", "--retry-base", "0.01"], env=self.env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            time.sleep(0.2)
        try:
            for p in procs:
                out, err = p.communicate(timeout=60)
                self.assertEqual(p.returncode, 0, err)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        full = [r for r in self.cdn_gets() if r["range"] is None]
        self.assertEqual(len(full), 1)
        self.assertEqual(read(os.path.join(self.repo_dir(), "blobs", self.lfs_digest())), self.model_bytes)

    def test_hostile_listing_and_index(self):
        self.hub.scenario["extra_siblings"] = ["../../evil"]
        rc, _, err = self.download("org/enc")
        self.assertEqual(rc, 7, err)
        self.assertIn("../../evil", err)
        self.assertFalse(os.path.exists(self.cache))
        self.hub.scenario.clear()
        index = json.dumps({"weight_map": {"a": "/etc/passwd"}}).encode()
        self.hub.add_repo("org/evil", Repo({C1: {"config.json": b"{}", "model.safetensors.index.json": index}}, {"main": C1}))
        rc, _, err = self.download("org/evil")
        self.assertEqual(rc, 7, err)
        self.assertIn("/etc/passwd", err)
        self.assertFalse(os.path.exists("/etc/passwd.incomplete"))


class CacheInterop(HubTestCase):
    """A cache laid out as huggingface_hub writes it (not by medenc) resolves in medenc."""

    def build_py_cache(self, ref_text, shared_store=True):
        repo = self.repo_dir()
        snap = os.path.join(repo, "snapshots", C3)
        os.makedirs(os.path.join(repo, "blobs"))
        os.makedirs(os.path.join(repo, "refs"))
        store = os.path.join(self.cache, "blobs")
        os.makedirs(store, exist_ok=True)
        with open(os.path.join(store, ".huggingface-shared-blobs"), "w") as f:
            f.write("1\n")
        for path in ("config.json", "model.safetensors", "vocab.txt", "1_Pooling/config.json"):
            data = self.enc_files[path]
            etag = sha256(data) if path.endswith(".safetensors") else git_sha1(data)
            blob = os.path.join(repo, "blobs", etag)
            if shared_store and path.endswith(".safetensors"):
                # PY-new: the repo blob is itself a link into <root>/blobs/<2hex>/<hash>.
                os.makedirs(os.path.join(store, etag[:2]), exist_ok=True)
                with open(os.path.join(store, etag[:2], etag), "wb") as f:
                    f.write(data)
                os.symlink(os.path.join("..", "..", "blobs", etag[:2], etag), blob)
            else:
                with open(blob, "wb") as f:
                    f.write(data)
            pointer = os.path.join(snap, path)
            os.makedirs(os.path.dirname(pointer), exist_ok=True)
            os.symlink(os.path.relpath(blob, os.path.dirname(pointer)), pointer)
        with open(os.path.join(repo, "refs", "main"), "w") as f:
            f.write(ref_text)
        os.makedirs(os.path.join(repo, ".no_exist", C3))
        open(os.path.join(repo, ".no_exist", C3, "tokenizer.json"), "w").close()
        os.makedirs(os.path.join(repo, "trees"))
        with open(os.path.join(repo, "trees", C3 + ".json"), "w") as f:
            json.dump({"format_version": 1, "files": {}}, f)
        with open(os.path.join(repo, "blobs", "abc.0123abcd.incomplete"), "wb") as f:
            f.write(b"leftover of another process")
        return snap

    def forward(self, model, env=None):
        o = os.path.join(self.tmp, "o.safetensors")
        rc, _, err = self.medenc("forward", "--model", model, "--inputs", os.path.join(self.fixture, "inputs.json"), "--out", o, env=env)
        return rc, err, (read(o) if rc == 0 else None)

    def test_python_layout_resolves(self):
        self.build_py_cache(C3)  # no newline, as huggingface_hub writes it
        rc, err, a = self.forward("org/enc")
        self.assertEqual(rc, 0, err)
        rc, err, b = self.forward(self.fixture)
        self.assertEqual(a, b)
        self.assertEqual(self.hub.requests(), [])

    def test_ref_with_newline_and_hf_home(self):
        self.build_py_cache(C3 + "\n")
        env = {"HF_HUB_CACHE": "", "HF_HOME": self.tmp + "/hh"}
        os.makedirs(self.tmp + "/hh")
        os.rename(self.cache, self.tmp + "/hh/hub")
        rc, err, _ = self.forward("org/enc", env=env)
        self.assertEqual(rc, 0, err)

    def test_misses_name_the_download_command(self):
        rc, err, _ = self.forward("org/absent")
        self.assertNotEqual(rc, 0)
        self.assertIn("medenc download org/absent", err)
        snap = self.build_py_cache(C3)
        os.unlink(os.path.join(snap, "model.safetensors"))
        rc, err, _ = self.forward("org/enc")
        self.assertIn("lacks model.safetensors", err)
        self.assertIn("medenc download org/enc", err)
        # A dangling pointer is not cached either.
        shutil.rmtree(self.cache)
        snap = self.build_py_cache(C3)
        os.unlink(os.path.realpath(os.path.join(snap, "model.safetensors")))
        rc, err, _ = self.forward("org/enc")
        self.assertIn("lacks model.safetensors", err)

    def test_read_only_cache(self):
        self.build_py_cache(C3)
        os.chmod(self.cache, 0o555)
        try:
            before = sorted(os.walk(self.cache))
            rc, err, _ = self.forward("org/enc")
            self.assertEqual(rc, 0, err)
            self.assertEqual(sorted(os.walk(self.cache)), before)
        finally:
            os.chmod(self.cache, 0o755)


if __name__ == "__main__":
    MEDENC, DATA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
