//! A plain static HTTP server whose document root is `OUT/current` (Python's
//! `http.server`) serves each publish and rollback as it happens, without a restart, and
//! every database it serves verifies against the signature it serves.

use std::io::{Read, Write};
use std::net::TcpStream;

use lumina_core::fs::Fs;
use lumina_e2e::http::StaticServer;
use lumina_repo::publish::rollback;

use crate::publish::{Gpg, Tree};

/// The served tree, read over HTTP.
struct Server(StaticServer);

impl Server {
    fn start(root: &std::path::Path) -> Self {
        Self(StaticServer::start(root))
    }

    /// `GET path`: the body of a 200 response.
    fn get(&self, path: &str) -> Vec<u8> {
        let mut c = TcpStream::connect(("127.0.0.1", self.0.port)).unwrap();
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
