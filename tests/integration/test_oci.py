"""HDAG artifacts from a real OCI registry (Debian's docker-registry,
Distribution 2.8) on 127.0.0.1, pushed here with the distribution API and
deployed through smod's REST API with {"artifact": "oci://..."}.

Covers: tag, digest and http:// references; a tampered blob; a missing
tag; Bearer-token and Basic auth through a small proxy that speaks the
registry's challenge flow (token endpoint with service and scope); hostile
tarballs (absolute path, "..", symlink escape, too many files, gzip bomb,
ambiguous descriptors); and source_hdarctl with a fake hdarctl. Every wait
is bounded; the registry and proxies are stopped in tearDown."""
import base64
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import secrets
import subprocess
import sys
import tarfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import smolib  # noqa: E402
from apilib import Smo, free_port  # noqa: E402

REGISTRY_BIN = "/usr/bin/docker-registry"
FIX = os.path.join(smolib.SOURCE, "tests", "fixtures", "oci")
with open(os.path.join(FIX, "hdag.yaml"), "rb") as _f:
    HDAG = _f.read()
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
USER, PASSWORD = "smo", "pw-" + secrets.token_hex(8)


# ------------------------------------------------------------ registry --

class Registry:
    """docker-registry on a free 127.0.0.1 port, storage in `root`."""

    def __init__(self, root):
        self.root = root
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        self.data = os.path.join(root, "data")
        conf = os.path.join(root, "config.yml")
        smolib.write(conf, "version: 0.1\nlog:\n  level: warn\n"
                     "  accesslog:\n    disabled: true\n"
                     "storage:\n  filesystem:\n    rootdirectory: %s\n"
                     "  delete:\n    enabled: true\n"
                     "  maintenance:\n    uploadpurging:\n"
                     "      enabled: false\n"
                     "http:\n  addr: %s\n" % (self.data, self.host))
        self.log = open(os.path.join(root, "registry.log"), "w")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", conf],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                if self.request("GET", "/v2/")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError("docker-registry did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        c.close()
        return out

    def upload_blob(self, repo, data):
        """POST then PUT ?digest= (2.8 ignores a monolithic POST body)."""
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        st, h, _ = self.request("POST", "/v2/%s/blobs/uploads/" % repo)
        assert st == 202, st
        loc = urllib.parse.urlsplit(h["location"])
        q = loc.query + ("&" if loc.query else "") + "digest=" + d
        st, _, b = self.request("PUT", loc.path + "?" + q, body=data,
                                headers={"Content-Type":
                                         "application/octet-stream"})
        assert st == 201, (st, b)
        return d

    def push(self, repo, tag, layer, title="artifact.tar.gz"):
        """An HDAR-style OCI artifact: config blob + one layer. Returns the
        manifest digest and the layer digest."""
        config = b'{"name":"%s"}' % repo.encode()
        cd = self.upload_blob(repo, config)
        ld = self.upload_blob(repo, layer)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.hdag.package.v1",
            "config": {"mediaType":
                       "application/vnd.hdag.package.config.v1+json",
                       "digest": cd, "size": len(config)},
            "layers": [{"mediaType":
                        "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": ld, "size": len(layer),
                        "annotations": {
                            "org.opencontainers.image.title": title}}],
        }, sort_keys=True).encode()
        st, h, b = self.request("PUT", "/v2/%s/manifests/%s" % (repo, tag),
                                body=manifest,
                                headers={"Content-Type": OCI_MANIFEST})
        assert st == 201, (st, b)
        md = "sha256:" + hashlib.sha256(manifest).hexdigest()
        assert h.get("docker-content-digest") == md
        return md, ld

    def blob_path(self, digest):
        hx = digest.split(":", 1)[1]
        return os.path.join(self.data, "docker", "registry", "v2", "blobs",
                            "sha256", hx[:2], hx, "data")


def targz(members):
    """members: (name, kind, data) with kind 'file', 'dir' or 'sym'."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w",
                      format=tarfile.USTAR_FORMAT) as t:
        for name, kind, data in members:
            ti = tarfile.TarInfo(name)
            ti.mtime = 0
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                t.addfile(ti, io.BytesIO(data))
    return gzip.compress(bio.getvalue(), mtime=0)


def good_layer(graph_id=None):
    text = HDAG if not graph_id else HDAG.replace(
        b"oci-demo-graph", graph_id.encode())
    return targz([("demo-app", "dir", None),
                  ("demo-app/hdag.yaml", "file", text),
                  ("demo-app/charts", "dir", None),
                  ("demo-app/charts/values.yaml", "file", b"replicas: 1\n")])


# --------------------------------------------------------- auth proxy --

class AuthProxy:
    """A registry front that requires authentication, as Harbor or a
    token-auth Distribution does. mode 'bearer': 401 with
    `WWW-Authenticate: Bearer realm=...,service=...,scope=...`; the realm
    (/token) checks Basic credentials, the service and the scope and issues
    a token valid for that repository only. mode 'basic': 401 with a Basic
    challenge. Reads are forwarded to the registry."""

    def __init__(self, registry, mode):
        proxy = self
        self.registry, self.mode = registry, mode
        self.tokens = {}  # token -> repository
        self.token_requests = []
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        self.service = "smo-test-registry"

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def creds_ok(self):
                a = self.headers.get("Authorization", "")
                want = "Basic " + base64.b64encode(
                    ("%s:%s" % (USER, PASSWORD)).encode()).decode()
                return a == want

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                if u.path == "/token":
                    q = urllib.parse.parse_qs(u.query)
                    proxy.token_requests.append(q)
                    scope = q.get("scope", [""])[0]
                    if (q.get("service") != [proxy.service]
                            or not scope.startswith("repository:")
                            or not scope.endswith(":pull")):
                        return self.reply(400, b'{"errors":[{"code":'
                                          b'"UNSUPPORTED"}]}')
                    if not self.creds_ok():
                        return self.reply(401, b'{"details":"bad creds"}')
                    tok = secrets.token_hex(16)
                    proxy.tokens[tok] = scope[len("repository:"):-len(":pull")]
                    body = json.dumps({"token": tok, "expires_in": 300})
                    return self.reply(200, body.encode(),
                                      [("Content-Type", "application/json")])
                parts = u.path.split("/")
                if u.path.startswith("/v2/") and len(parts) > 4:
                    repo = "/".join(parts[2:-2])
                else:
                    repo = ""
                if not self.authorized(repo):
                    if proxy.mode == "bearer":
                        ch = ('Bearer realm="http://%s/token",service="%s"'
                              % (proxy.host, proxy.service))
                        if repo:
                            ch += ',scope="repository:%s:pull"' % repo
                    else:
                        ch = 'Basic realm="smo-test"'
                    return self.reply(
                        401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                        [("WWW-Authenticate", ch),
                         ("Content-Type", "application/json")])
                h = {k: v for k, v in self.headers.items()
                     if k.lower() == "accept"}
                st, hs, body = proxy.registry.request("GET", self.path,
                                                      headers=h)
                keep = [(k, v) for k, v in hs.items()
                        if k in ("content-type", "docker-content-digest")]
                return self.reply(st, body, keep)

            do_HEAD = do_GET

            def authorized(self, repo):
                a = self.headers.get("Authorization", "")
                if proxy.mode == "basic":
                    return self.creds_ok()
                if not a.startswith("Bearer "):
                    return False
                granted = proxy.tokens.get(a[7:])
                return granted is not None and (not repo or granted == repo)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port),
                                                      H)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


# --------------------------------------------------------------- tests --

def sources_conf(text):
    return "instances:\n  - kind: source\n    plugin: file\n" \
           "    name: files\n" + text


class OciBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(REGISTRY_BIN, os.X_OK):
            raise unittest.SkipTest("docker-registry is not installed")
        cls.root = smolib.tmpdir()
        cls.reg = Registry(cls.root)
        cls.proxies = []
        try:
            cls.push_all()
        except Exception:
            cls.reg.stop()
            raise

    @classmethod
    def push_all(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        for p in cls.proxies:
            p.stop()
        cls.reg.stop()
        smolib.rmtree(cls.root)

    def start_smo(self, sources):
        self.smo = Smo(self)
        smolib.write(os.path.join(self.smo.conf, "10-sources.yaml"),
                     sources_conf(sources))
        self.smo.start()
        return self.smo

    def tearDown(self):
        if getattr(self, "smo", None):
            logs = self.smo.daemon.logs() if self.smo.daemon else ""
            self.assertNotIn(PASSWORD, logs)
            self.smo.cleanup()

    def deploy(self, ref, project="oci"):
        return self.smo.post("/project/%s/graphs?wait=30" % project,
                             {"artifact": ref})

    def problem(self, r, status, *needles):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.ctype.startswith("application/problem+json"), r)
        p = r.json()
        for n in needles:
            self.assertIn(n, p["detail"])
        return p


class Registry_(OciBase):
    """source_oci against the registry, directly and behind auth."""

    @classmethod
    def push_all(cls):
        r = cls.reg
        cls.digest, _ = r.push("project/graph", "1.0.0", good_layer())
        r.push("project/graph", "latest", good_layer())
        # Tampered: its own content (blobs are shared by digest), then the
        # stored bytes are changed, keeping the length.
        _, ld = r.push("project/tampered", "1.0.0",
                       good_layer("tampered-graph"))
        p = r.blob_path(ld)
        with open(p, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0xff
        with open(p, "wb") as f:
            f.write(bytes(data))
        many = [("m/f%03d.txt" % i, "file", b"x") for i in range(150)]
        bomb_tar = io.BytesIO()
        with tarfile.open(fileobj=bomb_tar, mode="w") as t:
            t.addfile(tarfile.TarInfo("demo-app/hdag.yaml"))
            ti = tarfile.TarInfo("demo-app/zeros.bin")
            ti.size = 64 << 20
            t.addfile(ti, io.BytesIO(bytes(ti.size)))
        hostile = {
            "absolute": targz([("/etc/cron.d/hdag.yaml", "file", HDAG)]),
            "dotdot": targz([("demo-app/../../hdag.yaml", "file", HDAG)]),
            "symlink": targz([("demo-app", "dir", None),
                              ("demo-app/hdag.yaml", "sym",
                               "/etc/passwd")]),
            "manyfiles": targz([("hdag.yaml", "file", HDAG)] + many),
            "bomb": gzip.compress(bomb_tar.getvalue(), 9, mtime=0),
            "ambiguous": targz([("a/one.yaml", "file", HDAG),
                                ("b/two.yml", "file", HDAG)]),
            "nodescriptor": targz([("a/values.yaml", "file", b"x: 1\n")]),
        }
        for tag, layer in hostile.items():
            r.push("project/hostile", tag, layer)
        cls.bearer = AuthProxy(r, "bearer")
        cls.anon = AuthProxy(r, "bearer")
        cls.basic = AuthProxy(r, "basic")
        cls.proxies = [cls.bearer, cls.anon, cls.basic]

    def setUp(self):
        pw = os.path.join(self.root, "password")
        smolib.write(pw, PASSWORD + "\n")
        self.start_smo(
            "  - kind: source\n    plugin: oci\n    name: oci\n"
            "    config:\n      timeout: 10s\n      max_files: 100\n"
            "      registries:\n"
            "        \"%s\": {plain_http: true}\n"
            "        \"%s\": {plain_http: true, username: %s,"
            " password_file: %s}\n"
            "        \"%s\": {plain_http: true}\n"
            "        \"%s\": {plain_http: true, username: %s,"
            " password_file: %s}\n"
            % (self.reg.host, self.bearer.host, USER, pw, self.anon.host,
               self.basic.host, USER, pw))

    def running(self, graph, project="oci"):
        g = self.smo.graph(graph, project)
        self.assertEqual(g["status"], "Running", g)
        return g

    def test_deploy_by_tag_digest_and_http_url(self):
        ref = "oci://%s/project/graph:1.0.0" % self.reg.host
        r = self.deploy(ref)
        self.assertEqual(r.status, 200, r)
        self.running("oci-demo-graph")
        # By manifest digest, and the original's http:// form (latest).
        r = self.deploy("oci://%s/project/graph@%s"
                        % (self.reg.host, self.digest), project="bydigest")
        self.assertEqual(r.status, 200, r)
        self.running("oci-demo-graph", "bydigest")
        r = self.deploy("http://%s/project/graph" % self.reg.host,
                        project="httpurl")
        self.assertEqual(r.status, 200, r)
        self.running("oci-demo-graph", "httpurl")
        # smoctl goes through the same path.
        out = self.smo.smoctl("graph", "deploy", "-p", "cli", ref, "--wait")
        self.assertEqual(out.returncode, 0, out.stderr + out.stdout)

    def test_missing_tag_and_repository(self):
        r = self.deploy("oci://%s/project/graph:9.9.9" % self.reg.host)
        self.problem(r, 400, "tag 9.9.9 not found in", "MANIFEST_UNKNOWN")
        r = self.deploy("oci://%s/project/none:1" % self.reg.host)
        self.problem(r, 400, "not found")
        # A digest that does not exist.
        r = self.deploy("oci://%s/project/graph@sha256:%s"
                        % (self.reg.host, "0" * 64))
        self.problem(r, 400, "not found")

    def test_tampered_blob(self):
        r = self.deploy("oci://%s/project/tampered:1.0.0" % self.reg.host)
        self.problem(r, 400, "does not match its digest", "altered content")
        self.assertEqual(self.smo.get("/graphs/tampered-graph?project=oci")
                         .status, 404)

    def test_bad_references(self):
        r = self.deploy("oci://%s/Project/graph" % self.reg.host)
        self.problem(r, 400, "invalid repository name")
        # Plain HTTP is per registry: this one is not enabled.
        r = self.deploy("http://127.0.0.1:1/project/graph")
        self.problem(r, 403, "plain HTTP to 127.0.0.1:1 is not enabled")
        # Nothing listens there (https by default).
        r = self.deploy("oci://127.0.0.1:1/project/graph")
        self.assertEqual(r.status, 503, r)

    def test_bearer_token_flow(self):
        r = self.deploy("oci://%s/project/graph:1.0.0" % self.bearer.host)
        self.assertEqual(r.status, 200, r)
        self.running("oci-demo-graph")
        q = self.bearer.token_requests[-1]
        self.assertEqual(q["service"], [self.bearer.service])
        self.assertEqual(q["scope"], ["repository:project/graph:pull"])
        # Without credentials the token endpoint refuses: a clear 502 (the
        # registry refused SMO, the client's own token was fine).
        r = self.deploy("oci://%s/project/graph:1.0.0" % self.anon.host,
                        project="anon")
        self.problem(r, 502, "token endpoint refused anonymous access",
                     "configure a username")

    def test_basic_auth(self):
        r = self.deploy("oci://%s/project/graph:1.0.0" % self.basic.host)
        self.assertEqual(r.status, 200, r)
        self.running("oci-demo-graph")
        # The registry password went to the registry only.
        answers = r.body + self.smo.get("/graphs").body + \
            self.smo.get("/operations").body + \
            self.smo.get("/events?limit=1000").body
        self.assertNotIn(PASSWORD, answers)
        self.assertNotIn(PASSWORD, self.smo.daemon.logs())

    def test_hostile_tarballs(self):
        h = self.reg.host
        cases = [
            ("absolute", 400, "absolute paths are not allowed"),
            ("dotdot", 400, "\"..\" is not allowed"),
            ("symlink", 400, "links are not allowed"),
            ("manyfiles", 413, "more than 100 files"),
            ("bomb", 413, "gzip bomb"),
            ("ambiguous", 400, "several YAML files hold an hdaGraph key"),
            ("nodescriptor", 400, "no HDAG descriptor"),
        ]
        for tag, status, needle in cases:
            with self.subTest(tag=tag):
                r = self.deploy("oci://%s/project/hostile:%s" % (h, tag))
                p = self.problem(r, status, needle)
                if tag == "ambiguous":
                    self.assertIn("a/one.yaml", p["detail"])
                    self.assertIn("b/two.yml", p["detail"])
        # The daemon is still fine.
        r = self.deploy("oci://%s/project/graph:1.0.0" % h)
        self.assertEqual(r.status, 200, r)


class Hdarctl(OciBase):
    """source_hdarctl spawning tests/fixtures/oci/fake-hdarctl."""

    @classmethod
    def push_all(cls):
        cls.reg.push("project/graph", "1.0.0", good_layer())
        cls.reg.push("project/hostile", "dotdot",
                     targz([("demo-app/../../hdag.yaml", "file", HDAG)]))

    def start_hdarctl(self, untar):
        self.start_smo(
            "  - kind: source\n    plugin: hdarctl\n    name: hdarctl\n"
            "    config:\n      binary: %s\n      args: [--plain-http]\n"
            "      untar: %s\n      timeout: 20s\n"
            % (json.dumps(os.path.join(FIX, "fake-hdarctl")),
               "true" if untar else "false"))

    def workdir_empty(self):
        d = os.path.join(self.smo.data, "hdarctl")
        return not os.path.isdir(d) or os.listdir(d) == []

    def test_pull_archive(self):
        self.start_hdarctl(False)
        ref = "oci://%s/project/graph:1.0.0" % self.reg.host
        r = self.deploy(ref)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.smo.graph("oci-demo-graph", "oci")["status"],
                         "Running")
        # The tool's failure, in its own words.
        r = self.deploy("oci://%s/project/graph:9.9.9" % self.reg.host,
                        project="missing")
        self.assertEqual(r.status, 502, r)
        self.assertIn("hdarctl pull failed: Error:", r.json()["detail"])
        self.assertIn("manifest unknown", r.json()["detail"])
        # A hostile archive is refused by SMO's own reader.
        r = self.deploy("oci://%s/project/hostile:dotdot" % self.reg.host,
                        project="hostile")
        self.problem(r, 400, "\"..\" is not allowed")
        self.assertTrue(self.workdir_empty())

    def test_pull_untarred(self):
        self.start_hdarctl(True)
        r = self.deploy("oci://%s/project/graph:1.0.0" % self.reg.host)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(self.workdir_empty())


if __name__ == "__main__":
    unittest.main(verbosity=2)
