//! A real SMTP server on loopback: Debian's `python3-aiosmtpd`, started as
//! `/usr/bin/python3 -m aiosmtpd` (the default `python3` on these machines
//! is another interpreter), delivering into a Maildir the tests read.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const PYTHON: &str = "/usr/bin/python3";

/// A running SMTP server.
pub struct Smtp {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
    /// The CA file that verifies its certificate, when it speaks STARTTLS.
    pub ca: Option<PathBuf>,
}

/// One received message, decoded.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub body: String,
    /// The message exactly as received.
    pub raw: Vec<u8>,
}

fn available() -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("python3-aiosmtpd is missing: .ci/run installs it");
        }
        eprintln!("skipped: install Debian's python3-aiosmtpd to run the mail tests");
    }
    ok
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Smtp {
    /// A plain SMTP server (for `security = "none"` to loopback), or `None`
    /// when aiosmtpd is not installed outside CI.
    pub fn start() -> Option<Smtp> {
        Smtp::spawn(false)
    }

    /// An SMTP server that requires STARTTLS, with a certificate for
    /// `localhost` from a CA of its own (`ca`).
    pub fn start_tls() -> Option<Smtp> {
        Smtp::spawn(true)
    }

    fn spawn(tls: bool) -> Option<Smtp> {
        if !available() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("Maildir");
        let port = free_port();
        let mut cmd = Command::new(PYTHON);
        cmd.args(["-u", "-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"));
        let mut ca = None;
        if tls {
            let (cert, key) = self_signed(dir.path());
            cmd.arg("--tlscert").arg(&cert).arg("--tlskey").arg(&key);
            ca = Some(cert);
        }
        cmd.args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("aiosmtpd starts");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        Some(Smtp {
            child,
            port,
            maildir,
            _dir: dir,
            ca,
        })
    }

    /// The `[mail]` section that sends through this server.
    pub fn config(&self) -> String {
        match &self.ca {
            None => format!(
                "[mail]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Privacy <privacy@example.com>\"\ntimeout_seconds = 5\n",
                self.port
            ),
            Some(ca) => format!(
                "[mail]\nhost = \"localhost\"\nport = {}\nsecurity = \"starttls\"\nfrom = \"Privacy <privacy@example.com>\"\nca_file = \"{}\"\ntimeout_seconds = 5\n",
                self.port,
                ca.display()
            ),
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        let mut files: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .filter_map(|d| std::fs::read_dir(self.maildir.join(d)).ok())
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files
            .iter()
            .map(|p| {
                let raw = std::fs::read(p).unwrap();
                let m = mail_parser::MessageParser::default()
                    .parse(&raw)
                    .expect("a mail message");
                let addr = |a: Option<&mail_parser::Address>| {
                    a.and_then(|a| a.first())
                        .and_then(|x| x.address())
                        .unwrap_or_default()
                        .to_owned()
                };
                Mail {
                    to: addr(m.to()),
                    from: addr(m.from()),
                    subject: m.subject().unwrap_or_default().to_owned(),
                    body: m.body_text(0).map(|b| b.into_owned()).unwrap_or_default(),
                    raw: raw.clone(),
                }
            })
            .collect()
    }

    /// Wait until `n` messages arrived.
    /// The secret of the newest account link (`/account/link?t=…`) sent to
    /// `to`, once `n` messages have arrived.
    pub fn link_to(&self, n: usize, to: &str) -> String {
        let mail = self.wait_for(n);
        let m = mail
            .iter()
            .rev()
            .find(|m| m.to == to)
            .unwrap_or_else(|| panic!("no mail to {to}"));
        let start = m
            .body
            .find("/account/link?t=")
            .unwrap_or_else(|| panic!("no link in {}", m.body));
        let rest = &m.body[start + "/account/link?t=".len()..];
        rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect()
    }

    pub fn wait_for(&self, n: usize) -> Vec<Mail> {
        for _ in 0..200 {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("{n} messages did not arrive ({} did)", self.messages().len());
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A certificate for `localhost` (its own CA) and its key, as PEM files.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (dir.join("smtp-cert.pem"), dir.join("smtp-key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}
