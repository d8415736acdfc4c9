//! A static HTTP server on 127.0.0.1 (Python's `http.server`): the plainest web server that
//! can serve a published tree or a mirror, as any CDN would. The child is stopped by its pid
//! on drop.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `python3 -m http.server --bind 127.0.0.1 --directory ROOT PORT`.
#[derive(Debug)]
pub struct StaticServer {
    child: Child,
    /// The port it listens on.
    pub port: u16,
}

impl StaticServer {
    /// Serve `root` on a free port; returns once the server accepts connections.
    ///
    /// # Panics
    /// When python3 cannot be started or does not listen within 10 s.
    pub fn start(root: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
            .arg(root)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3 -m http.server: {e}"));
        let server = Self { child, port };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the HTTP server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The port a test server wrote to `portfile` once it listens (a scripted server that
/// binds port 0 and reports it); waits up to 20 s.
///
/// # Panics
/// When no port appears in time.
#[must_use]
pub fn port_from_file(portfile: &Path) -> u16 {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(portfile)
            && let Ok(port) = text.trim().parse()
        {
            return port;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the test server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
