//! A small W3C WebDriver client for tests: drives Debian's chromium through
//! chromedriver, headless, over plain HTTP on loopback.
#![allow(dead_code)]

use custodia::client::Conn;
use hyper::Method;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    /// Start chromedriver and a headless chromium, or `None` when they are
    /// not installed (the caller decides whether that is an error).
    pub async fn start() -> Option<Browser> {
        let driver_bin = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().ok()?;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--window-size=1000,1200", format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let mut b = Browser {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let r = b.raw(Method::POST, "/session", Some(caps)).await;
        b.session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_owned();
        Some(b)
    }

    async fn raw(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut c = Conn::connect_plain(self.addr).await.expect("chromedriver answers");
        let r = c
            .send(
                method,
                path,
                &[],
                Some(serde_json::to_vec(&body.unwrap_or(json!({}))).unwrap()),
            )
            .await
            .expect("WebDriver reply");
        r.json()
    }

    async fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let v = self
            .raw(method, &format!("/session/{}{path}", self.session), body)
            .await;
        if v["value"]["error"].is_string() {
            panic!("WebDriver {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.cmd(Method::GET, "/url", None).await.as_str().unwrap().to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    pub async fn exists(&self, css: &str) -> bool {
        let v = self
            .raw(
                Method::POST,
                &format!("/session/{}/element", self.session),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v["value"][ELEMENT].is_string()
    }

    /// Wait (up to 10 s) until an element matching `css` exists.
    pub async fn wait_for(&self, css: &str) {
        for _ in 0..200 {
            if self.exists(css).await {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{css} did not appear; page is {}", self.url().await);
    }

    /// Wait (up to 10 s) until the URL ends with `suffix`.
    pub async fn wait_url(&self, suffix: &str) {
        for _ in 0..200 {
            if self.url().await.ends_with(suffix) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("URL never ended with {suffix}: {}", self.url().await);
    }

    /// Wait (up to 10 s) until the first element matching `css` shows `text`.
    pub async fn wait_text(&self, css: &str, text: &str) {
        let mut last = String::new();
        for _ in 0..200 {
            // The page may be replaced between finding and reading: tolerate it.
            let found = self
                .raw(
                    Method::POST,
                    &format!("/session/{}/element", self.session),
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if let Some(e) = found["value"][ELEMENT].as_str() {
                let t = self
                    .raw(
                        Method::GET,
                        &format!("/session/{}/element/{e}/text", self.session),
                        None,
                    )
                    .await;
                if let Some(t) = t["value"].as_str() {
                    last = t.to_owned();
                    if last == text {
                        return;
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "{css} never showed {text:?} (last {last:?}); page is {}",
            self.url().await
        );
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd(Method::POST, &format!("/element/{e}/clear"), None).await;
        self.cmd(
            Method::POST,
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd(Method::POST, &format!("/element/{e}/click"), None).await;
    }

    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.cmd(Method::GET, &format!("/element/{e}/text"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// A computed CSS property of the first element matching `css`.
    pub async fn css_value(&self, css: &str, prop: &str) -> String {
        let e = self.find(css).await;
        self.cmd(Method::GET, &format!("/element/{e}/css/{prop}"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub async fn cookies(&self) -> Value {
        self.cmd(Method::GET, "/cookie", None).await
    }

    /// Set a cookie (an object as [`Browser::cookies`] lists them) on the
    /// current page's site.
    pub async fn set_cookie(&self, cookie: Value) {
        self.cmd(Method::POST, "/cookie", Some(json!({ "cookie": cookie })))
            .await;
    }

    /// Save a PNG screenshot (for people looking at test output).
    pub async fn screenshot(&self, path: &std::path::Path) {
        let v = self.cmd(Method::GET, "/screenshot", None).await;
        let b64 = v.as_str().unwrap_or("");
        std::fs::write(path, base64_decode(b64)).unwrap();
    }

    /// Run a script in the page; its return value.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.cmd(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Run an asynchronous script (it calls its last argument when done).
    pub async fn execute_async(&self, script: &str, args: Value) -> Value {
        self.cmd(
            Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Resize the window (e.g. 390 px wide, a phone).
    pub async fn set_size(&self, width: u32, height: u32) {
        self.cmd(
            Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Whether the page is wider than the window (it would scroll sideways).
    pub async fn scrolls_sideways(&self) -> bool {
        self.execute(
            "return document.documentElement.scrollWidth > document.documentElement.clientWidth",
            json!([]),
        )
        .await
        .as_bool()
        .unwrap_or(true)
    }

    /// The browser's Back button.
    pub async fn back(&self) {
        self.cmd(Method::POST, "/back", None).await;
    }

    /// Choose `value` in the `<select>` at `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]")).await;
    }

    /// axe-core's serious and critical violations on the current page
    /// (`CUSTODIA_AXE` names axe.min.js, installed by `.ci/run` from npm).
    /// Without it the check is skipped, or fails under `CUSTODIA_REQUIRE_TOOLS`.
    pub async fn axe_violations(&self) -> Vec<String> {
        let path = std::env::var("CUSTODIA_AXE")
            .unwrap_or_else(|_| "/tmp/custodia-axe/node_modules/axe-core/axe.min.js".into());
        let Ok(src) = std::fs::read_to_string(&path) else {
            if std::env::var_os("CUSTODIA_REQUIRE_TOOLS").is_some() {
                panic!("axe-core is required ({path}); .ci/run installs it from npm");
            }
            eprintln!("skipping the accessibility check: {path} not found");
            return Vec::new();
        };
        self.execute(&format!("{src}\n;return 1;"), json!([])).await;
        let v = self
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                   .then(r => done(r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                   .catch(e => done(['axe failed: ' + e]));",
                json!([]),
            )
            .await;
        v.as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    pub async fn quit(mut self) {
        let _ = self
            .raw(Method::DELETE, &format!("/session/{}", self.session), None)
            .await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()) {
        let Some(v) = A.iter().position(|&x| x == c) else {
            continue;
        };
        buf = (buf << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}
