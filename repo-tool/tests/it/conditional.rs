//! An HTTP server on 127.0.0.1 for conditional requests (Python's `http.server`), in three
//! behaviours, that logs each request's conditional headers and the status it answered:
//!
//! - [`Mode::Stock`]: `SimpleHTTPRequestHandler` as it ships: `Last-Modified` and a `304`
//!   for an `If-Modified-Since` not older than the file, and no `ETag`;
//! - [`Mode::ETag`]: a strong `ETag` (a hash of the content) and `Last-Modified`; a `304`
//!   when `If-None-Match` names the `ETag` or, without it, `If-Modified-Since` is exactly
//!   `Last-Modified` (nginx's default);
//! - [`Mode::Ignore`]: the same headers, and always `200`: a server that ignores validators.

use std::path::Path;
use std::process::{Child, Command, Stdio};

const SERVER: &str = r#"
import hashlib, http.server, io, json, os, sys, threading
root, mode, log, portfile = sys.argv[1:5]
lock = threading.Lock()

class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=root, **kwargs)

    def log_message(self, *args):
        pass

    def log_request(self, code="-", size="-"):
        entry = {
            "path": self.path,
            "status": int(code),
            "if_none_match": self.headers.get("If-None-Match"),
            "if_modified_since": self.headers.get("If-Modified-Since"),
        }
        with lock, open(log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def send_head(self):
        if mode == "stock":
            return super().send_head()
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404)
            return None
        with open(path, "rb") as f:
            data = f.read()
        etag = '"%s"' % hashlib.sha256(data).hexdigest()[:32]
        last_modified = self.date_time_string(os.stat(path).st_mtime)
        if mode == "etag":
            inm = self.headers.get("If-None-Match")
            if inm is not None:
                fresh = inm.strip() == "*" or etag in [t.strip() for t in inm.split(",")]
            else:
                fresh = self.headers.get("If-Modified-Since") == last_modified
            if fresh:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return None
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", last_modified)
        self.end_headers()
        return io.BytesIO(data)

http.server.ThreadingHTTPServer.daemon_threads = True
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(portfile + ".tmp", portfile)
server.serve_forever()
"#;

/// How the server answers conditional requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Python's `SimpleHTTPRequestHandler`: `Last-Modified` only.
    Stock,
    /// `ETag` and `Last-Modified`, both honoured.
    ETag,
    /// `ETag` and `Last-Modified` sent, never honoured.
    Ignore,
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub path: String,
    pub status: u16,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
}

impl Answered {
    /// Whether the request carried a validator.
    pub fn conditional(&self) -> bool {
        self.if_none_match.is_some() || self.if_modified_since.is_some()
    }
}

/// The server; killed by its pid on drop.
pub struct CondServer {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl CondServer {
    pub fn start(root: &Path, mode: Mode) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("server.py");
        std::fs::write(&script, SERVER).unwrap();
        let portfile = dir.path().join("port");
        let mode = match mode {
            Mode::Stock => "stock",
            Mode::ETag => "etag",
            Mode::Ignore => "ignore",
        };
        let child = Command::new("python3")
            .arg(&script)
            .arg(root)
            .arg(mode)
            .arg(dir.path().join("log.jsonl"))
            .arg(&portfile)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut s = Self {
            child,
            dir,
            port: 0,
        };
        s.port = lumina_e2e::http::port_from_file(&portfile);
        s
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far, oldest first.
    pub fn log(&self) -> Vec<Answered> {
        let text = std::fs::read_to_string(self.dir.path().join("log.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let header = |k: &str| v[k].as_str().map(str::to_owned);
                Answered {
                    path: v["path"].as_str().unwrap().to_owned(),
                    status: u16::try_from(v["status"].as_u64().unwrap()).unwrap(),
                    if_none_match: header("if_none_match"),
                    if_modified_since: header("if_modified_since"),
                }
            })
            .collect()
    }

    /// The requests for paths ending in `suffix`.
    pub fn requests_for(&self, suffix: &str) -> Vec<Answered> {
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

impl Drop for CondServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
