//! A plain static HTTP server whose document root is `OUT/current` (Python's
//! `http.server`) serves each publish and rollback as it happens, without a restart, and
//! every database it serves verifies against the signature it serves.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lumina_core::fs::Fs;
use lumina_repo::publish::rollback;

use crate::publish::{Gpg, Tree};

/// `python3 -m http.server` on 127.0.0.1; the child is killed (by its pid) on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(root: &std::path::Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
            .arg(root)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s = Self { child, port };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    /// `GET path`: the body of a 200 response.
    fn get(&self, path: &str) -> Vec<u8> {
        let mut c = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(c, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut resp = Vec::new();
        c.read_to_end(&mut resp).unwrap();
        let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&resp[..split]).into_owned();
        assert!(head.starts_with("HTTP/1.0 200"), "GET {path}: {head}");
        resp[split + 4..].to_vec()
    }

    /// The served `core.db` and `extra.files`, each verified against its served `.sig`;
    /// returns the text of `core.db`.
    fn fetch(&self, gpg: &mut Gpg) -> String {
        for (repo, kind) in [("core", "db"), ("extra", "files")] {
            let base = format!("/{repo}/os/x86_64/{repo}.{kind}");
            let data = self.get(&base);
            let sig = self.get(&format!("{base}.sig"));
            gpg.verify(data, sig, &base);
        }
        String::from_utf8(self.get("/core/os/x86_64/core.db")).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_static_http_server_rooted_at_current_serves_each_switch_consistently() {
    let mut gpg = Gpg::new();
    let t = Tree::new();
    t.publish(&mut gpg, 1);
    let server = Server::start(&t.out.join("current"));
    assert_eq!(server.fetch(&mut gpg), "core db v1");
    assert_eq!(server.get("/lastupdate"), b"2001\n");
    t.publish(&mut gpg, 2);
    assert_eq!(server.fetch(&mut gpg), "core db v2");
    assert_eq!(
        server.get("/extra/os/x86_64/baz-1-x86_64.pkg.tar.zst"),
        b"package baz-1-x86_64.pkg.tar.zst"
    );
    let lock = t.lock();
    rollback(&lock, &Fs::new(), None, 3000).unwrap();
    drop(lock);
    assert_eq!(server.fetch(&mut gpg), "core db v1");
    assert_eq!(server.get("/lastupdate"), b"2001\n");
}
