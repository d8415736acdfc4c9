//! An upstream Arch mirror for `sync` and `verify` tests: real packages (built as makepkg
//! builds them), signed by a throwaway upstream packager key that a pacman-shaped keyring
//! trusts, in databases made by the real `repo-add`; and an HTTP server on 127.0.0.1 that
//! serves it with `Range` support, injects failures on request (503 N times, a body cut in
//! the middle) and logs every request it gets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use lumina_e2e::pacman::{PkgSpec, build_package};

use crate::gnupg::{Key, Keyring, gpg};

pub const ARCH: &str = "x86_64";

/// A mirror tree `ROOT/$repo/os/x86_64/`, the packager's key and the keyring trusting it.
pub struct Upstream {
    dir: tempfile::TempDir,
    /// The mirror root.
    pub root: PathBuf,
    /// The upstream packager's signing key.
    pub packager: Key,
    /// A keyring like pacman's that trusts the packager (`upstream_keyring`).
    pub keyring: Keyring,
}

/// How a package is signed upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    /// `FILE.sig` on the mirror and `%PGPSIG%` in the entry.
    Both,
    /// `FILE.sig` only (signed after `repo-add`).
    FileOnly,
    /// `%PGPSIG%` only (the `.sig` removed from the mirror).
    EmbeddedOnly,
    /// Not at all.
    Unsigned,
}

impl Upstream {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("lumina-upstream-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("mirror");
        std::fs::create_dir_all(&root).unwrap();
        let packager = Key::new("Upstream Packager <packager@arch.invalid>");
        let keyring = Keyring::new();
        keyring.add(&packager);
        keyring.lsign(&packager);
        Self {
            dir,
            root,
            packager,
            keyring,
        }
    }

    /// `ROOT/REPO/os/x86_64`.
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        let d = self.root.join(repo).join("os").join(ARCH);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// The path of `FILE` in a repository directory.
    pub fn file(&self, repo: &str, name: &str) -> PathBuf {
        self.repo_dir(repo).join(name)
    }

    /// Build `name` `version` (with a file whose content is unique to it) outside the
    /// mirror.
    pub fn build(&self, name: &str, version: &str) -> PathBuf {
        let spec = PkgSpec::new(name, version).file(
            &format!("usr/share/{name}/version"),
            &format!("{name} {version}\n{}", "x".repeat(2000)),
        );
        build_package(&spec, &self.dir.path().join("build"))
    }

    /// A binary detached signature of `file` by `key`, written to `FILE.sig`.
    pub fn sign_with(key: &Key, file: &Path) -> PathBuf {
        let sig = PathBuf::from(format!("{}.sig", file.display()));
        let _ = std::fs::remove_file(&sig);
        let out = gpg(
            key.home.path(),
            &[
                "--local-user",
                &key.fpr,
                "--detach-sign",
                "--output",
                &sig.to_string_lossy(),
                &file.to_string_lossy(),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        sig
    }

    /// Build `name` `version`, put it into `repo` signed as `signed`, and `repo-add` it.
    /// Returns its path on the mirror.
    pub fn add(&self, repo: &str, name: &str, version: &str, signed: Signed) -> PathBuf {
        let built = self.build(name, version);
        let dest = self.file(repo, &built.file_name().unwrap().to_string_lossy());
        std::fs::copy(&built, &dest).unwrap();
        if matches!(signed, Signed::Both | Signed::EmbeddedOnly) {
            Self::sign_with(&self.packager, &dest);
        }
        self.repo_add(repo, &dest);
        match signed {
            Signed::FileOnly => {
                Self::sign_with(&self.packager, &dest);
            }
            Signed::EmbeddedOnly => std::fs::remove_file(sig_of(&dest)).unwrap(),
            Signed::Both | Signed::Unsigned => {}
        }
        dest
    }

    /// `repo-add REPO.db.tar.gz FILE` in the repository directory.
    pub fn repo_add(&self, repo: &str, file: &Path) {
        let out = Command::new("repo-add")
            .arg("--quiet")
            .arg(self.repo_dir(repo).join(format!("{repo}.db.tar.gz")))
            .arg(file)
            .env("LANG", "C")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "repo-add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The bytes pacman (and sync) fetches as `REPO.db`.
    pub fn db_bytes(&self, repo: &str) -> Vec<u8> {
        std::fs::read(self.file(repo, &format!("{repo}.db"))).unwrap()
    }

    /// Replace what the mirror serves as `REPO.db` with `bytes`.
    pub fn set_db(&self, repo: &str, bytes: &[u8]) {
        let p = self.file(repo, &format!("{repo}.db"));
        let _ = std::fs::remove_file(&p);
        std::fs::write(&p, bytes).unwrap();
    }

    /// A `.db` whose entry directories are the given `(dir, desc)` pairs,
    /// gzip'd with bsdtar (a database written by hand, e.g. a hostile one).
    pub fn craft_db(&self, entries: &[(&str, String)]) -> Vec<u8> {
        let stage = tempfile::tempdir().unwrap();
        for (dir, desc) in entries {
            std::fs::create_dir_all(stage.path().join(dir)).unwrap();
            std::fs::write(stage.path().join(dir).join("desc"), desc).unwrap();
        }
        // To a file, as repo-add does: bsdtar pads what it writes to a pipe to whole
        // 10 KiB blocks, after the end of the gzip stream.
        let db = stage.path().join("db.tar.gz");
        let out = Command::new("bsdtar")
            .current_dir(stage.path())
            .arg("-czf")
            .arg(&db)
            .args(entries.iter().map(|(d, _)| *d))
            .output()
            .unwrap();
        assert!(out.status.success());
        std::fs::read(&db).unwrap()
    }

    /// The `desc` of `dir` in the mirror's `REPO.db`.
    pub fn desc(&self, repo: &str, dir: &str) -> String {
        let out = Command::new("bsdtar")
            .arg("-xOf")
            .arg(self.file(repo, &format!("{repo}.db")))
            .arg(format!("{dir}/desc"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{dir}/desc");
        String::from_utf8(out.stdout).unwrap()
    }
}

/// `FILE.sig`.
pub fn sig_of(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}.sig", file.display()))
}

/// The file name of a path.
pub fn name_of(file: &Path) -> String {
    file.file_name().unwrap().to_string_lossy().into_owned()
}

const SERVER: &str = r#"
import http.server, json, os, socket, sys, threading, urllib.parse
root, ctl, log, portfile = sys.argv[1:5]
tls = sys.argv[5:7]
lock = threading.Lock()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def empty(self, status, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        path = urllib.parse.unquote(self.path.split("?", 1)[0])
        rng = self.headers.get("Range")
        with lock:
            try:
                with open(ctl) as f:
                    faults = json.load(f)
            except (FileNotFoundError, ValueError):
                faults = {}
            rule = faults.get(path, {})
            action = None
            for kind in ("fail", "cut"):
                if rule.get(kind, 0) > 0:
                    rule[kind] -= 1
                    action = kind
                    break
            if action:
                faults[path] = rule
                with open(ctl + ".tmp", "w") as f:
                    json.dump(faults, f)
                os.replace(ctl + ".tmp", ctl)
            with open(log, "a") as f:
                f.write(json.dumps({"path": path, "range": rng, "action": action}) + "\n")
        if action == "fail":
            return self.empty(rule.get("status", 503))
        full = os.path.join(root, path.lstrip("/"))
        if not os.path.isfile(full):
            return self.empty(404)
        with open(full, "rb") as f:
            data = f.read()
        start, status = 0, 200
        if rng and rng.startswith("bytes=") and not rule.get("no_ranges"):
            start = int(rng[6:].split("-", 1)[0])
            if start >= len(data):
                return self.empty(416, [("Content-Range", "bytes */%d" % len(data))])
            status = 206
        body = data[start:]
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if action == "cut":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

http.server.ThreadingHTTPServer.daemon_threads = True
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if tls:
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls[0], tls[1])
    server.socket = context.wrap_socket(server.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(portfile + ".tmp", portfile)
server.serve_forever()
"#;

/// One request the server got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub path: String,
    pub range: Option<String>,
    pub action: Option<String>,
}

/// The fault-injecting server (Python's `http.server`, extended); killed by its pid on
/// drop.
pub struct Server {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
    tls: bool,
}

/// A test certificate authority and a server certificate it issued for 127.0.0.1.
pub struct Tls {
    _dir: tempfile::TempDir,
    /// The CA certificate (PEM): what a client must trust.
    pub ca: PathBuf,
    /// The server's certificate and key (PEM).
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Tls {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .current_dir(d)
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=Lumina Test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "leaf.key",
                    "-out",
                    "leaf.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        Self {
            ca: d.join("ca.pem"),
            cert: d.join("leaf.pem"),
            key: d.join("leaf.key"),
            _dir: dir,
        }
    }
}

impl Server {
    pub fn start(root: &Path) -> Self {
        Self::spawn(root, None)
    }

    /// Serve over HTTPS with `tls`'s server certificate.
    pub fn start_tls(root: &Path, tls: &Tls) -> Self {
        Self::spawn(root, Some(tls))
    }

    fn spawn(root: &Path, tls: Option<&Tls>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("server.py");
        std::fs::write(&script, SERVER).unwrap();
        let portfile = dir.path().join("port");
        let child = Command::new("python3")
            .arg(&script)
            .arg(root)
            .arg(dir.path().join("faults.json"))
            .arg(dir.path().join("log.jsonl"))
            .arg(&portfile)
            .args(tls.iter().flat_map(|t| [&t.cert, &t.key]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut s = Self {
            child,
            dir,
            port: 0,
            tls: tls.is_some(),
        };
        s.port = lumina_e2e::http::port_from_file(&portfile);
        s
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    fn faults(&self) -> BTreeMap<String, serde_json::Value> {
        std::fs::read(self.dir.path().join("faults.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn set_rule(&self, path: &str, key: &str, value: serde_json::Value) {
        let mut faults = self.faults();
        let rule = faults
            .entry(path.to_owned())
            .or_insert_with(|| serde_json::json!({}));
        rule[key] = value;
        let tmp = self.dir.path().join("faults.json.new");
        std::fs::write(&tmp, serde_json::to_vec(&faults).unwrap()).unwrap();
        std::fs::rename(&tmp, self.dir.path().join("faults.json")).unwrap();
    }

    /// Answer the next `times` requests for `path` with HTTP `status`.
    pub fn fail(&self, path: &str, times: u32, status: u16) {
        self.set_rule(path, "fail", times.into());
        self.set_rule(path, "status", status.into());
    }

    /// Cut the body of the next `times` responses for `path` in the middle.
    pub fn cut(&self, path: &str, times: u32) {
        self.set_rule(path, "cut", times.into());
    }

    /// Ignore `Range` for `path` (answer 200 with the whole file).
    pub fn no_ranges(&self, path: &str) {
        self.set_rule(path, "no_ranges", true.into());
    }

    /// Forget every fault.
    pub fn clear_faults(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("faults.json"));
    }

    /// Every request so far, oldest first.
    pub fn log(&self) -> Vec<Logged> {
        let text = std::fs::read_to_string(self.dir.path().join("log.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                Logged {
                    path: v["path"].as_str().unwrap().to_owned(),
                    range: v["range"].as_str().map(str::to_owned),
                    action: v["action"].as_str().map(str::to_owned),
                }
            })
            .collect()
    }

    /// The requests for paths ending in `suffix`.
    pub fn requests_for(&self, suffix: &str) -> Vec<Logged> {
        self.log()
            .into_iter()
            .filter(|l| l.path.ends_with(suffix))
            .collect()
    }

    /// Forget the requests so far.
    pub fn clear_log(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("log.jsonl"));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
