//! PostgreSQL for the tests: a schema of its own on the shared test server
//! (`CUSTODIA_TEST_POSTGRES`, started by `.ci/run` or
//! `scripts/pg-test-server`), or a whole throwaway cluster for tests that
//! stop and start the server.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The test server's URL; `None` (skip) outside CI when it is not set.
pub fn base_url() -> Option<String> {
    match std::env::var("CUSTODIA_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CUSTODIA_TEST_POSTGRES is not set: .ci/run starts PostgreSQL with scripts/pg-test-server")
        }
        _ => {
            eprintln!(
                "skipped: set CUSTODIA_TEST_POSTGRES (eval \"$(scripts/pg-test-server)\") to run PostgreSQL tests"
            );
            None
        }
    }
}

/// A schema of its own on the test server, dropped at the end.
pub struct Schema {
    pub url: String,
    base: String,
    name: String,
}

impl Schema {
    pub fn new() -> Option<Schema> {
        let base = base_url()?;
        let name = format!("it_{}", uuid::Uuid::now_v7().simple());
        Some(Schema {
            url: custodia_store::pg::url_with_schema(&base, &name),
            base,
            name,
        })
    }

    /// One integer from SQL, run in this schema.
    pub fn query_i64(&self, sql: &str) -> i64 {
        let (url, sql) = (self.url.clone(), sql.to_owned());
        // The synchronous client may not run on an async test's thread.
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.query_one(sql.as_str(), &[]).unwrap().get(0)
        })
        .join()
        .unwrap()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(mut c) = postgres::Client::connect(&base, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
            }
        })
        .join();
    }
}

fn pg_bin() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("CUSTODIA_TEST_PG_BIN") {
        return Some(PathBuf::from(b));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Run a PostgreSQL program as the `postgres` user when we are root
/// (the server refuses to run as root).
fn as_pg(program: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = if is_root() {
        let mut line = shell_quote(&program.display().to_string());
        for a in args {
            line.push(' ');
            line.push_str(&shell_quote(a));
        }
        let mut c = Command::new("su");
        c.args(["postgres", "-s", "/bin/sh", "-c", &line]);
        c
    } else {
        let mut c = Command::new(program);
        c.args(args);
        c
    };
    cmd.output().expect("PostgreSQL program runs")
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A PostgreSQL cluster of this test's own, which it may stop and start.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl Cluster {
    /// `None` (skip) outside CI when PostgreSQL is not installed.
    pub fn start() -> Option<Cluster> {
        let Some(bin) = pg_bin() else {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL is not installed: .ci/run installs it with scripts/pg-test-server");
            }
            eprintln!("skipped: PostgreSQL is not installed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let st = Command::new("chown").arg("postgres").arg(dir.path()).status().unwrap();
            assert!(st.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data = dir.path().join("pgdata");
        let out = as_pg(
            &bin.join("initdb"),
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nfsync = off\n",
            dir.path().display()
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .unwrap();
        std::io::Write::write_all(&mut f, conf.as_bytes()).unwrap();
        let c = Cluster { dir, bin, port };
        c.up();
        Some(c)
    }

    fn data(&self) -> String {
        self.dir.path().join("pgdata").display().to_string()
    }

    /// `postgres://` URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Serve TLS with a fresh self-signed certificate for localhost /
    /// 127.0.0.1 (restarts the server); returns the certificate's path.
    pub fn enable_tls(&self) -> PathBuf {
        let (cert, key) = (self.dir.path().join("server.crt"), self.dir.path().join("server.key"));
        custodia_server::tls::ensure_self_signed(&cert, &key).unwrap();
        if is_root() {
            for f in [&cert, &key] {
                assert!(Command::new("chown").arg("postgres").arg(f).status().unwrap().success());
            }
        }
        let conf = format!(
            "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\nssl_min_protocol_version = 'TLSv1.2'\n",
            cert.display(),
            key.display()
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("pgdata/postgresql.conf"))
            .unwrap();
        std::io::Write::write_all(&mut f, conf.as_bytes()).unwrap();
        self.down();
        self.up();
        cert
    }

    /// Start (again).
    pub fn up(&self) {
        let log = self.dir.path().join("server.log").display().to_string();
        let out = as_pg(
            &self.bin.join("pg_ctl"),
            &["-D", &self.data(), "-l", &log, "-w", "start"],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stop at once (connections are cut).
    pub fn down(&self) {
        let out = as_pg(
            &self.bin.join("pg_ctl"),
            &["-D", &self.data(), "-m", "fast", "-w", "stop"],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_pg(
            &self.bin.join("pg_ctl"),
            &["-D", &self.data(), "-m", "immediate", "stop"],
        );
    }
}
