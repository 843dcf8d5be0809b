//! The test kit: the real `custodia` binary, a real server over real
//! HTTPS, and callers bound to roles the way a company makes them — service
//! accounts with tokens, staff who sign in (with or without MFA and
//! training), the local operator, a customer in the portal — plus a real
//! SMTP server on loopback and a real browser.
#![allow(dead_code)]

pub mod pg;
pub mod smtp;
pub mod webdriver;

use custodia::client::{tls_config, Conn, Resp};
use hyper::Method;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The password every staff member of the tests has.
pub const PW: &str = "correct horse battery staple";

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_custodia"))
}

/// Run `custodia --data-dir DIR ARGS…` as this machine's operator.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    run_env(dir, args, &[])
}

/// [`run`] with extra environment variables.
pub fn run_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.arg("--data-dir").arg(dir).args(args).env_remove("CUSTODIA_DATA_DIR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("custodia runs")
}

/// Run and parse the JSON it prints; the command must succeed.
pub fn run_json(dir: &Path, args: &[&str]) -> Value {
    let o = run(dir, args);
    assert!(o.status.success(), "{args:?}: {}{}", stdout(&o), stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o)))
}

/// `custodia user add NAME --role ROLE` with the password in the environment.
pub fn add_staff(dir: &Path, name: &str, role: &str, password: &str) -> Output {
    run_env(
        dir,
        &["user", "add", name, "--role", role],
        &[("CUSTODIA_NEW_PASSWORD", password)],
    )
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh, initialized data directory.
pub fn init(dir: &Path) {
    let o = run(dir, &["init"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A service account with `role` and an API token for it.
pub fn service_token(dir: &Path, role: &str) -> String {
    service_token_named(dir, &format!("svc-{}", role.replace('_', "-")), role)
}

/// The second person who approves what the tests' operator asks for.
pub const APPROVER: &str = "second.approver";

/// Approve every pending change as [`APPROVER`], the way a company's
/// second administrator or privacy officer would.
pub fn approve_all(dir: &Path) {
    approve_matching(dir, None)
}

/// Approve the pending changes to one account.
pub fn approve_for(dir: &Path, account: &str) {
    approve_matching(dir, Some(account))
}

fn approve_matching(dir: &Path, account: Option<&str>) {
    let list = run_json(dir, &["user", "approvals", "--json"]);
    for a in list
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| account.is_none_or(|n| a["account"] == n))
    {
        let id = a["id"].as_str().unwrap().to_owned();
        // The command line takes the operator from the OS user; a second
        // person is a second operator name, run in this process (on a
        // thread of its own: the vault blocks, async tests must not).
        let d = dir.to_owned();
        let r = std::thread::spawn(move || run_as(&d, APPROVER, &["user", "approve", &id]))
            .join()
            .unwrap();
        assert_eq!(r, Ok(0), "approve {}", a["id"]);
    }
}

/// A service account `name` with `role` and an API token for it.
pub fn service_token_named(dir: &Path, name: &str, role: &str) -> String {
    let o = run(dir, &["user", "add", name, "--role", role, "--service"]);
    assert!(o.status.success(), "{}", stderr(&o));
    approve_for(dir, name);
    let j = run_json(dir, &["token", "issue", "--account", name, "--days", "1"]);
    j["token"].as_str().unwrap().to_owned()
}

/// A staff member as the company makes one: an account with `role`, MFA
/// enrolled when `mfa`, passed training recorded (by the operator, who is
/// someone else) when `trained`.
pub fn staff(dir: &Path, name: &str, role: &str, mfa: bool, trained: bool) -> Staff {
    let o = add_staff(dir, name, role, PW);
    assert!(o.status.success(), "{}", stderr(&o));
    approve_for(dir, name);
    let (key, recovery) = match mfa {
        true => {
            let (k, r) = enroll_mfa_with_codes(dir, name);
            (Some(k), r)
        }
        false => (None, Vec::new()),
    };
    if trained {
        let o = run(
            dir,
            &["training", "add", name, "--course", "privacy_basics", "--score", "95"],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    Staff {
        name: name.to_owned(),
        key,
        recovery,
        // The code used to confirm enrollment is spent; sign-ins use later ones.
        next_step: std::cell::Cell::new(1),
    }
}

/// Enroll MFA the way a staff member without an e-mail address on file
/// does: sign in with the password, open /mfa/enroll, confirm a code. Runs
/// its own short-lived server (and runtime, on a thread of its own, so it
/// works from sync and async tests alike). Returns the TOTP key.
pub fn enroll_mfa(dir: &Path, name: &str) -> Vec<u8> {
    enroll_mfa_with_codes(dir, name).0
}

/// [`enroll_mfa`], also returning the ten recovery codes the page showed.
pub fn enroll_mfa_with_codes(dir: &Path, name: &str) -> (Vec<u8>, Vec<String>) {
    let dir = dir.to_owned();
    let name = name.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = Server::start(&dir, &["--no-background-jobs"]);
            let mut c = server.conn().await;
            let s = sign_in(&mut c, &name, PW, "")
                .await
                .expect("signs in with the password");
            let cookie = format!("custodia_session={}", s.cookie);
            let page = c
                .send(Method::GET, "/mfa/enroll", &[("cookie", &cookie)], None)
                .await
                .unwrap();
            let html = String::from_utf8_lossy(&page.body).into_owned();
            let secret = html
                .split("id=\"secret\">")
                .nth(1)
                .and_then(|r| r.split('<').next())
                .unwrap_or_else(|| panic!("no secret on the enrollment page: {html}"))
                .to_owned();
            let key = custodia_crypto::totp::base32_decode(&secret).unwrap();
            let codes: Vec<String> = html
                .split("<li>")
                .skip(1)
                .filter_map(|x| x.split("</li>").next())
                .map(str::to_owned)
                .collect();
            let body = form_encode(&[("code", &totp(&key, 0)), ("csrf", &s.csrf)]);
            let r = c
                .send(
                    Method::POST,
                    "/mfa/enroll",
                    &[
                        ("cookie", &cookie),
                        ("content-type", "application/x-www-form-urlencoded"),
                    ],
                    Some(body),
                )
                .await
                .unwrap();
            assert_eq!(r.status, 303, "enrollment confirmed: {:?}", r.body);
            (key, codes)
        })
    })
    .join()
    .expect("enrollment")
}

/// The TOTP code `offset` steps from now.
pub fn totp(key: &[u8], offset: i64) -> String {
    let step = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30;
    format!(
        "{:06}",
        custodia_crypto::totp::hotp(
            custodia_crypto::totp::Algorithm::Sha1,
            key,
            (step as i64 + offset) as u64,
            6
        )
    )
}

/// A staff member of the tests.
pub struct Staff {
    pub name: String,
    pub key: Option<Vec<u8>>,
    /// The one-time recovery codes enrollment showed (each works once,
    /// whatever the clock: for a second code within one half-minute).
    pub recovery: Vec<String>,
    next_step: std::cell::Cell<i64>,
}

impl Staff {
    /// A fresh authenticator code (each is used once: replays are refused).
    pub fn code(&self) -> String {
        match &self.key {
            None => String::new(),
            Some(k) => {
                let s = self.next_step.get();
                self.next_step.set(s + 1);
                totp(k, s)
            }
        }
    }

    /// Sign in over HTTPS: the session cookie and its CSRF token.
    pub async fn sign_in(&self, c: &mut Conn) -> Session {
        sign_in(c, &self.name, PW, &self.code())
            .await
            .unwrap_or_else(|| panic!("{} signs in", self.name))
    }
}

/// A signed-in staff session.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    /// Send with the session cookie (and the CSRF header on changes).
    /// Post a page's form (the session's anti-CSRF token added).
    pub async fn form(&self, c: &mut Conn, path: &str, fields: &[(&str, &str)]) -> Resp {
        let cookie = format!("custodia_session={}", self.cookie);
        let mut f = fields.to_vec();
        f.push(("csrf", &self.csrf));
        c.send(
            Method::POST,
            path,
            &[
                ("cookie", &cookie),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some(form_encode(&f)),
        )
        .await
        .unwrap()
    }

    pub async fn send(&self, c: &mut Conn, method: Method, path: &str, body: Option<Value>) -> Resp {
        let cookie = format!("custodia_session={}", self.cookie);
        let mut h: Vec<(&str, &str)> = vec![("cookie", &cookie)];
        if method != Method::GET {
            h.push(("x-csrf-token", &self.csrf));
        }
        c.send(method, path, &h, body.map(|b| serde_json::to_vec(&b).unwrap()))
            .await
            .unwrap()
    }
}

pub fn form_encode(pairs: &[(&str, &str)]) -> Vec<u8> {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| {
                s.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect::<String>()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

pub fn cookie_value(r: &Resp, name: &str) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap().to_owned())
        })
}

/// Sign in through the login form; the session cookie and CSRF token.
pub async fn sign_in(c: &mut Conn, name: &str, pw: &str, code: &str) -> Option<Session> {
    let page = c.send(Method::GET, "/login", &[], None).await.unwrap();
    let csrf = cookie_value(&page, "custodia_csrf").unwrap();
    let cookie = format!("custodia_csrf={csrf}");
    let body = form_encode(&[("name", name), ("password", pw), ("code", code), ("csrf", &csrf)]);
    let r = c
        .send(
            Method::POST,
            "/login",
            &[
                ("cookie", &cookie),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some(body),
        )
        .await
        .unwrap();
    let session = cookie_value(&r, "custodia_session").filter(|v| !v.is_empty())?;
    let who = c
        .send(
            Method::GET,
            "/v1/session",
            &[("cookie", &format!("custodia_session={session}"))],
            None,
        )
        .await
        .unwrap()
        .json();
    Some(Session {
        cookie: session,
        csrf: who["csrf_token"].as_str().unwrap_or_default().to_owned(),
    })
}

/// A running `custodia serve`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// The bootstrap token, when this start issued one.
    pub token: Option<String>,
    pub dir: PathBuf,
}

impl Server {
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        Server::start_env(dir, extra, &[])
    }

    pub fn start_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(bin());
        cmd.arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("CUSTODIA_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("server starts");
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

/// Shorthand for requests with a bearer token.
pub async fn call(c: &mut Conn, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
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

/// Append a section to the data directory's config.toml.
pub fn add_config(dir: &Path, toml: &str) {
    let p = dir.join("config.toml");
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push('\n');
    text.push_str(toml);
    std::fs::write(&p, text).unwrap();
}

/// Set `[table] key = value` in the data directory's config.toml.
pub fn set_config(dir: &Path, table: &str, key: &str, value: toml::Value) {
    let p = dir.join("config.toml");
    let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    doc.entry(table)
        .or_insert_with(|| toml::Value::Table(Default::default()))
        .as_table_mut()
        .unwrap()
        .insert(key.into(), value);
    std::fs::write(&p, toml::to_string_pretty(&doc).unwrap()).unwrap();
}

/// Give the command line's operators these roles (`[operator] roles`).
pub fn set_operator_roles(dir: &Path, roles: &[&str]) {
    let p = dir.join("config.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut table: toml::Table = toml::from_str(&text).unwrap();
    let op = table
        .entry("operator")
        .or_insert_with(|| toml::Value::Table(Default::default()));
    op.as_table_mut().unwrap().insert(
        "roles".into(),
        toml::Value::Array(roles.iter().map(|r| toml::Value::String(r.to_string())).collect()),
    );
    std::fs::write(&p, toml::to_string_pretty(&table).unwrap()).unwrap();
}

/// Every role of the default policy, for tests of notice and consent rules
/// run from the command line.
pub const ALL_ROLES: &[&str] = &[
    "cs_agent",
    "risk_analyst",
    "marketing_specialist",
    "data_steward",
    "privacy_officer",
    "administrator",
];

/// Add roles (TOML `[[roles]]` tables) to the data directory's policy.
pub fn add_roles(dir: &Path, toml: &str) {
    let p = dir.join("policy.toml");
    let text = std::fs::read_to_string(&p).unwrap() + "\n" + toml;
    std::fs::write(&p, text).unwrap();
}

/// An application of the tests that collects and reads under the consent
/// purpose marketing (the default policy has none).
pub const CAMPAIGN_APP_ROLE: &str = "[[roles]]\nid = \"campaign_app\"\n  [[roles.grants]]\n  actions = [\"write\", \"read_masked\", \"record_consent\"]\n  fields = [\"*\"]\n  purposes = [\"marketing\"]\n";

/// Run a command in this process as the local operator `operator` (a
/// second person on the same machine, for separation of duties); the exit
/// code, or the one-line error the binary would print.
pub fn run_as(dir: &Path, operator: &str, args: &[&str]) -> Result<i32, String> {
    use clap::Parser;
    let mut argv = vec!["custodia".to_owned(), "--data-dir".into(), dir.display().to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let cli = custodia::cli::Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    custodia::cli::run_as(cli, operator).map_err(|e| e.to_string())
}
