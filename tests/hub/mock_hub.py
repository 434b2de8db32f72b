"""A Hugging Face Hub stand-in for the download tests (Python standard library only).

Two servers on 127.0.0.1 (port 0): "hub" (API and /resolve) and "cdn" (LFS payloads by sha256),
so a redirect to the CDN changes origin as on the real Hub. Routes, headers and error codes follow
/work/shared/reference/hf-hub.md §5.1 (huggingface_hub's protocol): etags are computed here from
the content (git blob sha1 for plain files, sha256 for LFS files), never taken from medenc.

The test owns a MockHub object in-process: it edits `repos` and `scenario` directly and reads
`log`. Every request is logged; servers stop in close().
"""
import hashlib
import json
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Repo:
    def __init__(self, commits, branches, tags=None, prs=None, gated=False, private=False, lfs_suffixes=(".safetensors", ".bin")):
        self.commits = commits  # commit -> {path: bytes}
        self.branches = branches  # name -> commit
        self.tags = tags or {}
        self.prs = prs or {}  # "refs/pr/1" -> commit
        self.gated = gated
        self.private = private
        self.lfs_suffixes = lfs_suffixes

    def resolve(self, rev):
        if rev in self.commits:
            return rev
        for table in (self.branches, self.tags, self.prs):
            if rev in table:
                return table[rev]
        return None

    def is_lfs(self, path):
        return path.endswith(self.lfs_suffixes)

    def etag(self, path, data):
        return sha256(data) if self.is_lfs(path) else git_sha1(data)


class MockHub:
    GOOD_TOKEN = "hf_goodtokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    OTHER_TOKEN = "hf_othertokenBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"  # valid, but not admitted to gated repos

    def __init__(self):
        self.repos = {}  # "org/name" -> Repo
        self.renames = {}  # "old/name" -> "org/name" (307 to the canonical path)
        self.scenario = {}
        self.log = []
        self.lock = threading.Lock()
        self.payloads = {}  # sha256 -> bytes, served by the CDN
        self.hub = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("hub"))
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("cdn"))
        self.hub.daemon_threads = self.cdn.daemon_threads = True
        self.threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (self.hub, self.cdn)]
        for t in self.threads:
            t.start()
        self.hub_port = self.hub.server_address[1]
        self.cdn_port = self.cdn.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.hub_port

    def close(self):
        for s in (self.hub, self.cdn):
            s.shutdown()
            s.server_close()

    def add_repo(self, repo_id, repo):
        self.repos[repo_id] = repo
        for files in repo.commits.values():
            for path, data in files.items():
                if repo.is_lfs(path):
                    self.payloads[sha256(data)] = data

    def requests(self, server=None, method=None):
        with self.lock:
            return [r for r in self.log if (server is None or r["server"] == server) and (method is None or r["method"] == method)]

    def clear_log(self):
        with self.lock:
            self.log.clear()

    # ---- request handling ----

    def _handler(self, server_name):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                self._dispatch("HEAD")

            def do_GET(self):
                self._dispatch("GET")

            def _dispatch(self, method):
                url = urllib.parse.urlsplit(self.path)
                entry = {
                    "server": server_name, "method": method, "path": url.path, "raw_path": self.path,
                    "query": url.query, "authorization": self.headers.get("Authorization"),
                    "range": self.headers.get("Range"), "user_agent": self.headers.get("User-Agent"),
                    "accept_encoding": self.headers.get("Accept-Encoding"),
                }
                with hub.lock:
                    hub.log.append(entry)
                    seq = hub.scenario.get("status_sequence")
                    forced = seq.pop(0) if seq else None
                if forced:
                    headers = {}
                    if forced == 429:
                        headers["Retry-After"] = str(hub.scenario.get("retry_after", 1))
                    return self._send(forced, b'{"error":"busy"}', headers, method)
                try:
                    if server_name == "cdn":
                        return self._cdn(method, url)
                    return self._hub(method, url)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, status, body=b"", headers=None, method="GET", length=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                if method != "HEAD" and body:
                    self.wfile.write(body)

            def _error(self, status, code, message, method, extra=None):
                headers = {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}
                headers.update(extra or {})
                self._send(status, json.dumps({"error": message}).encode(), headers, method)

            # Who may see a repo: None when allowed, else the error to answer.
            def _access(self, repo_id, repo):
                auth = self.headers.get("Authorization") or ""
                token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
                if token is not None and token not in (MockHub.GOOD_TOKEN, MockHub.OTHER_TOKEN):
                    return (401, "", "Invalid credentials in Authorization header")
                if repo is None or (repo.private and token != MockHub.GOOD_TOKEN):
                    if token is None:
                        return (401, "RepoNotFound", "Repository Not Found for url. Please make sure you are authenticated.")
                    return (404, "RepoNotFound", "Repository Not Found")
                if repo.gated:
                    if token is None:
                        return (401, "GatedRepo", "Access to model %s is restricted. You must have access to it and be "
                                "authenticated to access it. Please log in." % repo_id)
                    if token != MockHub.GOOD_TOKEN:
                        return (403, "GatedRepo", "Access to model %s is restricted and you are not in the authorized "
                                "list. Visit https://huggingface.co/%s to ask for access." % (repo_id, repo_id))
                return None

            def _hub(self, method, url):
                parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
                raw = url.path.split("/")[1:]
                if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
                    repo_id = parts[2] + "/" + parts[3]
                    rev = urllib.parse.unquote("/".join(raw[5:]))
                    return self._revision(method, repo_id, rev, url.query)
                if parts[:3] == ["api", "resolve-cache", "models"] and len(parts) >= 7:
                    repo_id = parts[3] + "/" + parts[4]
                    return self._file(method, repo_id, parts[5], "/".join(parts[6:]), cache_hop=True)
                if len(parts) >= 5 and parts[2] == "resolve":
                    repo_id = parts[0] + "/" + parts[1]
                    if repo_id in hub.renames:
                        return self._send(307, b"", {"Location": "/" + hub.renames[repo_id] + "/" + "/".join(raw[2:])}, method)
                    if hub.scenario.get("redirect_loop"):
                        return self._send(307, b"", {"Location": url.path}, method)
                    return self._file(method, repo_id, urllib.parse.unquote(raw[3]), "/".join(parts[4:]))
                self._send(404, b"no route", {}, method)

            def _revision(self, method, repo_id, rev, query):
                repo = hub.repos.get(repo_id)
                denied = self._access(repo_id, repo)
                if denied:
                    return self._error(denied[0], denied[1], denied[2], method)
                commit = repo.resolve(rev)
                if commit is None:
                    return self._error(404, "RevisionNotFound", "Invalid rev id: %s" % rev, method)
                siblings = []
                for path, data in sorted(repo.commits[commit].items()):
                    s = {"rfilename": path}
                    if "blobs=true" in query:
                        s["size"] = len(data)
                        s["blobId"] = git_sha1(data)
                        if repo.is_lfs(path):
                            s["lfs"] = {"sha256": sha256(data), "size": len(data), "pointerSize": 134}
                    siblings.append(s)
                for extra in hub.scenario.get("extra_siblings", []):
                    siblings.append({"rfilename": extra, "size": 1})
                body = {"id": repo_id, "modelId": repo_id, "sha": commit, "private": repo.private,
                        "gated": "auto" if repo.gated else False, "siblings": siblings}
                self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, method)

            def _file(self, method, repo_id, rev, path, cache_hop=False):
                repo = hub.repos.get(repo_id)
                denied = self._access(repo_id, repo)
                if denied:
                    return self._error(denied[0], denied[1], denied[2], method)
                commit = repo.resolve(rev)
                if commit is None:
                    return self._error(404, "RevisionNotFound", "Invalid rev id: %s" % rev, method)
                files = repo.commits[commit]
                if path not in files or path in hub.scenario.get("missing", ()):
                    return self._error(404, "EntryNotFound", "Entry not found", method, {"X-Repo-Commit": commit})
                data = files[path]
                if repo.is_lfs(path):
                    digest = sha256(data)
                    loc = "http://127.0.0.1:%d/%s?Expires=%d&Signature=abc" % (hub.cdn_port, digest, int(time.time()) + 3600)
                    body = b"Found. Redirecting to " + loc.encode()
                    return self._send(302, body, {
                        "Location": loc, "X-Linked-Etag": '"%s"' % digest, "X-Linked-Size": str(len(data)),
                        "X-Repo-Commit": commit, "ETag": '"%s"' % git_sha1(b"pointer " + data[:16]),
                        "Content-Type": "text/plain"}, method)
                etag = git_sha1(data)
                if hub.scenario.get("resolve_cache") and not cache_hop:
                    loc = "/api/resolve-cache/models/%s/%s/%s?etag=%%22%s%%22" % (repo_id, commit, urllib.parse.quote(path), etag)
                    return self._send(307, b"", {"Location": loc}, method)
                self._send(200, data, {"ETag": '"%s"' % etag, "X-Repo-Commit": commit, "Accept-Ranges": "bytes",
                                       "Content-Type": "application/octet-stream"}, method)

            def _cdn(self, method, url):
                if self.headers.get("Authorization"):  # a leaked token fails loudly
                    return self._send(403, b"Authorization sent to the CDN", {}, method)
                digest = url.path.lstrip("/")
                data = hub.payloads.get(digest)
                if data is None:
                    return self._send(404, b"no such object", {}, method)
                sc = hub.scenario
                if digest in sc.get("corrupt", ()):
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])
                if digest in sc.get("short", ()):
                    data = data[: len(data) // 2]
                start = 0
                status, headers = 200, {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes=") and digest not in sc.get("ignore_range", ()):
                    start = int(rng[len("bytes="):].split("-")[0])
                    if start >= len(data):
                        return self._send(416, b"", {"Content-Range": "bytes */%d" % len(data)}, method)
                    status = 206
                    headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
                body = data[start:]
                if method == "HEAD":
                    return self._send(status, b"", headers, method, length=len(body))
                stall = sc.get("stall", 0)
                if stall:
                    time.sleep(stall)
                cut = sc.get("interrupt_after", {}).get(digest)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if cut is not None:
                    n, times = cut
                    if times > 0:
                        with hub.lock:
                            sc["interrupt_after"][digest] = (n, times - 1)
                        self.wfile.write(body[:n])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                delay = sc.get("slow", {}).get(digest)
                chunk = 16384
                for i in range(0, len(body), chunk):
                    self.wfile.write(body[i:i + chunk])
                    if delay:
                        self.wfile.flush()
                        time.sleep(delay)

        return Handler
