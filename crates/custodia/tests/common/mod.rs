//! Test kit: run the real `custodia` binary, start a real server, talk to
//! it over real HTTPS.
#![allow(dead_code)]

use custodia::client::{tls_config, Conn, Resp};
use hyper::Method;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_custodia"))
}

/// Run `custodia --data-dir DIR ARGS…`.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("CUSTODIA_DATA_DIR")
        .output()
        .expect("custodia runs")
}

/// `custodia user add NAME --role ROLE` with the password in the environment.
pub fn add_staff(dir: &Path, name: &str, role: &str, password: &str) -> Output {
    Command::new(bin())
        .arg("--data-dir")
        .arg(dir)
        .args(["user", "add", name, "--role", role])
        .env_remove("CUSTODIA_DATA_DIR")
        .env("CUSTODIA_NEW_PASSWORD", password)
        .output()
        .expect("custodia runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A running `custodia serve`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub token: Option<String>,
    pub dir: PathBuf,
}

impl Server {
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(bin())
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("server starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("a line").expect("utf-8");
        let addr = first
            .rsplit("://")
            .next()
            .expect("address")
            .parse()
            .unwrap_or_else(|_| panic!("no address in {first:?}"));
        let second = lines.next().expect("token line").expect("utf-8");
        let token = second
            .split_whitespace()
            .find(|w| w.starts_with("cst_"))
            .map(str::to_owned);
        Server {
            child,
            addr,
            token,
            dir: dir.to_owned(),
        }
    }

    pub async fn conn(&self) -> Conn {
        let cfg = tls_config(
            &self.dir.join("tls/cert.pem"),
            &[&rustls::version::TLS13, &rustls::version::TLS12],
        )
        .unwrap();
        Conn::connect(self.addr, cfg).await.unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Shorthand for authenticated requests.
pub async fn call(c: &mut Conn, token: &str, method: Method, path: &str, body: Option<serde_json::Value>) -> Resp {
    let auth = format!("Bearer {token}");
    c.send(
        method,
        path,
        &[("authorization", &auth)],
        body.map(|b| serde_json::to_vec(&b).unwrap()),
    )
    .await
    .unwrap()
}

/// Every file under `dir`.
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else if let Ok(b) = std::fs::read(&p) {
            out.push((p, b));
        }
    }
    out
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
