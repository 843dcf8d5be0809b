//! The staff sign-in and MFA enrollment pages in a real headless browser
//! (Debian's chromium driven through chromedriver).

use crate::kit::webdriver;
use crate::kit::*;

/// One browser at a time: two headless chromiums starting together on two
/// cores make chromedriver drop connections.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Where the journeys leave their screenshots: `CUSTODIA_SCREENSHOTS`
/// (e.g. `docs/console`, to refresh the README's pictures), else the
/// target directory's scratch space.
fn shots_dir() -> std::path::PathBuf {
    match std::env::var_os("CUSTODIA_SCREENSHOTS") {
        Some(d) => {
            let d = std::path::PathBuf::from(d);
            std::fs::create_dir_all(&d).unwrap();
            d
        }
        None => std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
    }
}

/// A headless chromium, or `None` (and the test skipped) where it is not
/// installed; in CI its absence fails the test.
async fn browser() -> Option<webdriver::Browser> {
    let b = webdriver::Browser::start().await;
    if b.is_none() {
        if std::env::var("CI").is_ok() {
            panic!("chromium and chromedriver must be installed for this test (.ci/run installs them)");
        }
        eprintln!("skipping: chromium/chromedriver not installed");
    }
    b
}

fn totp_now(secret_b32: &str, offset_steps: i64) -> String {
    let key = custodia_crypto::totp::base32_decode(secret_b32).unwrap();
    let step = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30) as i64
        + offset_steps;
    format!(
        "{:06}",
        custodia_crypto::totp::hotp(custodia_crypto::totp::Algorithm::Sha1, &key, step as u64, 6)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_enroll_mfa_and_sign_in_again_in_chromium() {
    let _one = ONE_BROWSER.lock().await;
    let Some(browser) = browser().await else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let s = Server::start(&data, &[]);
    let pw = PW;
    let o = add_staff(&data, "li.na", "cs_agent", pw);
    assert!(o.status.success(), "{}", stderr(&o));
    approve_all(&data);
    let base = format!("https://localhost:{}", s.addr.port());
    let shots = shots_dir();
    let shots = shots.as_path();

    // Wrong password: a generic error, still on the login page.
    browser.goto(&format!("{base}/login?lang=en")).await;
    browser.type_into("#name", "li.na").await;
    browser.type_into("#password", "not the password").await;
    browser.click("#submit").await;
    browser.wait_for("#error").await;
    assert_eq!(browser.text("#error").await, "The name, password or code is wrong.");

    // Right password, no MFA yet: sent to enrollment.
    browser.type_into("#name", "li.na").await;
    browser.type_into("#password", pw).await;
    browser.click("#submit").await;
    browser.wait_url("/mfa/enroll").await;
    browser.wait_for("#secret").await;
    assert!(browser.exists("#qr svg").await, "QR code shown");
    // The stylesheet loads under the page's content security policy.
    assert_eq!(browser.css_value("main", "max-width").await, "544px");
    let secret = browser.text("#secret").await;
    assert_eq!(secret.len(), 32);
    let recovery = browser.text("#recovery").await;
    assert_eq!(recovery.lines().count(), 10, "{recovery}");
    browser.screenshot(&shots.join("mfa-enroll.png")).await;
    let v = browser.axe_violations().await;
    assert!(v.is_empty(), "enrollment: accessibility violations: {v:#?}");

    // The session cookie is HttpOnly, Secure, SameSite=Strict.
    let cookies = browser.cookies().await;
    let sess = cookies
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "custodia_session")
        .expect("session cookie");
    assert_eq!(
        (
            sess["httpOnly"].as_bool(),
            sess["secure"].as_bool(),
            sess["sameSite"].as_str()
        ),
        (Some(true), Some(true), Some("Strict"))
    );

    // A wrong code keeps the same secret; the right one enrolls.
    let wrong = if totp_now(&secret, 0) == "000000" {
        "000001"
    } else {
        "000000"
    };
    browser.type_into("#code", wrong).await;
    browser.click("#confirm").await;
    browser.wait_for("#error").await;
    assert_eq!(browser.text("#secret").await, secret, "same secret after a wrong code");
    browser.type_into("#code", &totp_now(&secret, 0)).await;
    browser.click("#confirm").await;
    browser.wait_url("/console").await;
    browser.wait_for("#link-search").await;
    browser.click("#link-account").await;
    browser.wait_for("#mfa-state").await;
    assert_eq!(browser.text("#mfa-state").await, "enrolled");
    browser.screenshot(&shots.join("account.png")).await;

    // Sign out; password alone no longer suffices; password + code does.
    browser.click("#sign-out").await;
    browser.wait_url("/login").await;
    browser.type_into("#name", "li.na").await;
    browser.type_into("#password", pw).await;
    browser.click("#submit").await;
    browser.wait_for("#error").await;
    browser.type_into("#name", "li.na").await;
    browser.type_into("#password", pw).await;
    browser.type_into("#code", &totp_now(&secret, 1)).await;
    browser.click("#submit").await;
    browser.wait_url("/console").await;

    // Chinese pages.
    browser.goto(&format!("{base}/account?lang=zh")).await;
    browser.wait_for("#mfa-state").await;
    assert_eq!(browser.text("#mfa-state").await, "已启用");
    browser.screenshot(&shots.join("account-zh.png")).await;
    let v = browser.axe_violations().await;
    assert!(v.is_empty(), "account: accessibility violations: {v:#?}");
    browser.quit().await;

    // All of it is in the audit log.
    let o = run(&data, &["audit", "tail", "-n", "100"]);
    let log = stdout(&o);
    for a in ["login", "mfa", "logout"] {
        assert!(log.contains(a), "{a} missing:\n{log}");
    }
    assert!(run(&data, &["audit", "verify"]).status.success());
}

/// A customer gets their portal code by e-mail (never through staff),
/// enters the portal, withdraws a consent, and the staff API refuses that
/// purpose on the next request.
#[tokio::test(flavor = "multi_thread")]
async fn customer_withdraws_consent_in_the_portal_and_the_api_obeys() {
    use hyper::{Method, StatusCode};
    let _one = ONE_BROWSER.lock().await;
    let Some(browser) = browser().await else {
        return;
    };
    let Some(smtp) = crate::kit::smtp::Smtp::start() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    add_roles(&data, CAMPAIGN_APP_ROLE);
    add_config(&data, &smtp.config());
    let app = service_token(&data, "campaign_app");
    let agent = service_token(&data, "cs_agent");
    let officer = service_token(&data, "privacy_officer");
    let marketing = service_token_named(&data, "svc-marketing", "marketing_specialist");
    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    let shots = shots_dir();
    let shots = shots.as_path();

    let r = call(
        &mut c,
        &app,
        Method::POST,
        "/v1/customers?purpose=marketing",
        Some(serde_json::json!({
            "name": "Emma Brown", "email": "emma.brown@example.org", "mobile": "+44 7911 123456",
            "locale": "en_US", "department": "sales",
            "consents": [{"purpose": "marketing", "channel": "app", "language": "en"}]
        })),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let staff_read = format!("/v1/customers/{id}?reveal=true&purpose=marketing&fields=email");
    let r = call(
        &mut c,
        &marketing,
        Method::GET,
        &format!("/v1/customers/{id}?purpose=marketing"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["fields"]["email"], "e***@example.org");
    let _ = staff_read;

    // The agent sends the code; the answer says where it went, never the code.
    let r = call(
        &mut c,
        &agent,
        Method::POST,
        &format!("/v1/customers/{id}/portal-links?purpose=customer_service"),
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["to"], "e***@example.org");
    assert_eq!(r.json()["channel"], "email");
    let mail = smtp.wait_for(1).remove(0);
    assert_eq!(mail.to, "emma.brown@example.org");
    let code = mail
        .body
        .split_whitespace()
        .find(|w| w.len() == 11 && w.as_bytes()[5] == b'-')
        .expect("the code is in the message")
        .to_owned();
    assert!(!String::from_utf8_lossy(&r.body).contains(&code), "never in a response");
    // The message carries the code and the portal's address, nothing personal.
    assert!(mail.body.contains("/portal/enter"), "{}", mail.body);
    for personal in ["Emma", "Brown", "7911"] {
        assert!(
            !mail.body.contains(personal),
            "{personal} in the message: {}",
            mail.body
        );
    }
    let url = format!("https://localhost:{}/portal/enter?code={code}", s.addr.port());
    // Open the link: the code is filled in; the customer presses the button.
    browser.goto(&format!("{url}&lang=en")).await;
    browser.wait_for("#enter").await;
    browser.click("#enter").await;
    browser.wait_url("/portal?lang=en").await;
    browser.wait_for("#state-marketing").await;
    assert_eq!(browser.text("#state-marketing").await, "given");
    assert_eq!(browser.text("#state-risk_control").await, "not given");
    assert!(browser.text("#notice-version").await.contains("version 1"));
    assert!(browser.text("#text-marketing").await.contains("Purpose: Marketing"));
    let cookies = browser.cookies().await;
    let portal = cookies
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "custodia_portal")
        .expect("portal cookie");
    assert_eq!(
        (
            portal["httpOnly"].as_bool(),
            portal["secure"].as_bool(),
            portal["sameSite"].as_str()
        ),
        (Some(true), Some(true), Some("Strict"))
    );
    browser.screenshot(&shots.join("portal-en.png")).await;

    // Withdraw marketing.
    browser.click("#toggle-marketing").await;
    browser.wait_text("#state-marketing", "withdrawn").await;
    assert!(browser.exists("#done").await);

    // The staff API refuses marketing on the very next request.
    let r = call(
        &mut c,
        &marketing,
        Method::GET,
        &format!("/v1/customers/{id}?purpose=marketing"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let p = r.json();
    assert_eq!(
        (p["code"].as_str(), p["consent_state"].as_str()),
        (Some("consent_required"), Some("withdrawn"))
    );
    let r = call(
        &mut c,
        &marketing,
        Method::GET,
        "/v1/customers?email=emma.brown@example.org&purpose=marketing",
        None,
    )
    .await;
    assert_eq!(r.json().as_array().unwrap().len(), 0);

    // Give risk control (a separate consent) from the portal, and ask for a correction.
    browser.click("#toggle-risk_control").await;
    browser.wait_text("#state-risk_control", "given").await;
    browser.click("#kind option[value='rectification']").await;
    browser
        .type_into("#note", "My mobile number is now +44 7911 654321")
        .await;
    browser.click("#send-request").await;
    browser.wait_for("#request-list").await;
    assert!(browser
        .text("#request-list")
        .await
        .contains("Correct my information — received, identity confirmed"));
    // Its deadline, and who is responsible (PIPL Art. 17; GDPR Art. 13).
    assert!(browser.text("#request-list").await.contains("we answer by 20"));
    assert!(browser.text("#controller").await.contains("Example Trading Co., Ltd."));
    assert!(browser.text("#controller").await.contains("privacy@example.com"));
    // A PIPL-only notice offers no CCPA request, and cites no GDPR article.
    assert!(!browser.exists("#kind option[value='limit_sensitive']").await);
    assert!(!browser.text("#notice").await.contains("GDPR"));
    let v = browser.axe_violations().await;
    assert!(v.is_empty(), "portal: accessibility violations: {v:#?}");

    // Chinese.
    browser
        .goto(&format!("https://localhost:{}/portal?lang=zh", s.addr.port()))
        .await;
    browser.wait_for("#state-marketing").await;
    assert_eq!(browser.text("#state-marketing").await, "已撤回");
    assert!(browser.text("#text-marketing").await.contains("处理目的：营销推广"));
    browser.screenshot(&shots.join("portal-zh.png")).await;

    // A material change shows up as "needs your consent again".
    let v2 = custodia_core::notice::DEFAULT_NOTICE_TOML
        .replace("version = 1\n", "version = 2\n")
        .replace(
            "retention = { years = 3, from = \"collection\" }\nnecessity_en = \"Checking",
            "retention = { years = 5, from = \"collection\" }\nnecessity_en = \"Checking",
        );
    let r = call(
        &mut c,
        &officer,
        Method::POST,
        "/v1/notices",
        Some(serde_json::json!({"toml": v2})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["renewal_needed"], serde_json::json!(["risk_control"]));
    // Other processes pick a new notice up within 2 s; this server published it itself.
    browser
        .goto(&format!("https://localhost:{}/portal?lang=en", s.addr.port()))
        .await;
    browser.wait_for("#changes").await;
    assert!(browser.text("#changes").await.contains("needs your consent again"));
    assert_eq!(
        browser.text("#state-risk_control").await,
        "needs renewal — the notice changed"
    );

    // Sign out; the link does not work a second time.
    browser.click("#sign-out").await;
    browser.wait_for("#code").await;
    browser.goto(&format!("{url}&lang=en")).await;
    browser.wait_for("#enter").await;
    browser.click("#enter").await;
    browser.wait_for("#error").await;
    assert!(browser.text("#error").await.contains("not valid"));

    // The privacy officer's consent report (password + TOTP sign-in).
    let pw = PW;
    assert!(add_staff(&data, "po", "privacy_officer", pw).status.success());
    approve_all(&data);
    let secret = custodia_crypto::totp::base32(&enroll_mfa(&data, "po"));
    browser
        .goto(&format!("https://localhost:{}/login?lang=en", s.addr.port()))
        .await;
    browser.type_into("#name", "po").await;
    browser.type_into("#password", pw).await;
    browser.type_into("#code", &totp_now(&secret, 1)).await;
    browser.click("#submit").await;
    browser.wait_url("/console").await;
    browser
        .goto(&format!("https://localhost:{}/reports/consents?lang=en", s.addr.port()))
        .await;
    browser.wait_for("#consent-chart").await;
    let v = browser.axe_violations().await;
    assert!(v.is_empty(), "consent report: accessibility violations: {v:#?}");
    assert!(browser.exists("#consent-chart rect.withdrawn").await);
    let table = browser.text("#consent-table").await;
    assert!(table.contains("Marketing 1 0 0 1"), "{table}");
    browser.screenshot(&shots.join("consent-report.png")).await;
    browser.quit().await;

    // Everything is on the record, by the portal's own actor.
    let log = stdout(&run(&data, &["audit", "tail", "-n", "200"]));
    assert!(log.contains("customer:portal"), "{log}");
    assert!(log.contains("withdrawn"), "{log}");
    assert!(run(&data, &["audit", "verify"]).status.success());
    drop(c);
    drop(s);
    for (path, bytes) in all_files(&data) {
        for needle in ["emma.brown@example.org", "7911 654321", "+447911123456", "Emma Brown"] {
            assert!(!contains(&bytes, needle.as_bytes()), "{needle} in {}", path.display());
        }
    }
}

/// The agent's journey in the console: sign in → /console → search by a
/// mobile number (sent in the form, never in the address) → the masked card
/// → reveal the mobile for a purpose with a reason → the value once, not
/// cached, gone after Back → a reveal the role lacks, explained by the
/// caller's own grants → the audit log holds it all. Each page passes
/// axe-core without serious or critical violations, in both languages.
#[tokio::test(flavor = "multi_thread")]
async fn agent_finds_reads_and_reveals_in_the_console() {
    use hyper::{Method, StatusCode};
    let _one = ONE_BROWSER.lock().await;
    let Some(browser) = browser().await else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    let agent = staff(&data, "li.na", "cs_agent", true, true);
    let steward = service_token(&data, "data_steward");
    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    let r = call(
        &mut c,
        &steward,
        Method::POST,
        "/v1/customers?purpose=customer_service",
        Some(serde_json::json!({
            "name": "王小明", "mobile": "13912345678", "email": "wang.xm@example.cn",
            "department": "service", "bank_card": "6222020200112233446"
        })),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let base = format!("https://localhost:{}", s.addr.port());
    let shots = shots_dir();
    let shots = shots.as_path();
    let mut history = Vec::new();
    let axe = |name: &'static str, v: Vec<String>| {
        assert!(v.is_empty(), "{name}: accessibility violations: {v:#?}");
    };

    browser.goto(&format!("{base}/login?lang=en")).await;
    axe("login", browser.axe_violations().await);
    browser.type_into("#name", "li.na").await;
    browser.type_into("#password", PW).await;
    browser.type_into("#code", &agent.code()).await;
    browser.click("#submit").await;
    browser.wait_url("/console").await;
    history.push(browser.url().await);
    assert_eq!(browser.text("#who").await, "Signed in as li.na.");
    axe("console", browser.axe_violations().await);

    // Search: a POST, the address stays /console/search.
    browser.click("#link-search").await;
    browser.wait_for("#search-form").await;
    axe("search", browser.axe_violations().await);
    browser.select("#field", "mobile").await;
    browser.type_into("#value", "139 1234 5678").await;
    browser.select("#purpose", "customer_service").await;
    browser.click("#search").await;
    browser.wait_for("#results").await;
    history.push(browser.url().await);
    let results = browser.text("#results").await;
    assert!(results.contains(&id) && results.contains("****"), "{results}");
    assert!(!results.contains("13912345678"), "masked: {results}");
    axe("results", browser.axe_violations().await);
    browser.screenshot(&shots.join("console-search.png")).await;

    // The masked card.
    browser.click("a.result").await;
    browser.wait_for("#card").await;
    history.push(browser.url().await);
    assert!(browser.text("#f-mobile").await.contains("****"));
    axe("card", browser.axe_violations().await);

    // A reason with personal data in it is refused at the field.
    browser.select("#reveal-field", "mobile").await;
    browser.type_into("#reason", "caller 13912345678 asked").await;
    browser.click("#reveal").await;
    browser.wait_for("#error").await;
    assert!(browser.text("#error").await.contains("personal information"));

    // Reveal with purpose and reason: the value, once.
    browser.select("#reveal-field", "mobile").await;
    browser
        .type_into("#reason", "caller asked to confirm the number on file")
        .await;
    browser.click("#reveal").await;
    browser.wait_for("#clear-value").await;
    history.push(browser.url().await);
    assert_eq!(browser.text("#clear-value").await, "+8613912345678");
    assert!(browser.text("#hides").await.contains("60 seconds"));
    assert_eq!(browser.css_value("#clear-value", "animation-delay").await, "60s");
    axe("revealed", browser.axe_violations().await);
    browser.screenshot(&shots.join("console-revealed.png")).await;
    // Back: the page before (a form answer, not kept: the browser asks to
    // send it again), never the value.
    browser.back().await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let page = browser
        .execute("return document.documentElement.outerHTML", serde_json::json!([]))
        .await;
    assert!(
        !page.as_str().unwrap().contains("13912345678"),
        "Back shows the value again"
    );
    browser
        .goto(&format!(
            "{base}/console/customers/{id}?purpose=customer_service&lang=en"
        ))
        .await;
    browser.wait_for("#card").await;

    // A field the agent's role may not reveal: the refusal explains the
    // caller's own grants.
    browser.select("#reveal-field", "mobile").await;
    browser.select("#reveal-purpose", "contract_performance").await;
    browser.type_into("#reason", "customer asked about a refund").await;
    browser.click("#reveal").await;
    browser.wait_for("#error").await;
    let why = browser.text("#error").await;
    assert!(
        why.starts_with("Your roles may reveal") && why.contains("only for: Customer service"),
        "{why}"
    );
    browser.select("#reveal-field", "email").await;
    browser.type_into("#reason", "customer asked about a refund").await;
    browser.click("#reveal").await;
    browser.wait_for("#error").await;
    let why = browser.text("#error").await;
    assert!(
        why.contains("may not reveal") && why.contains("for any purpose"),
        "{why}"
    );

    // Edit a contact: a bad number is refused at its field; a good e-mail is saved.
    browser.type_into("#edit-mobile", "12345").await;
    browser.click("#save").await;
    browser.wait_for("#err-mobile").await;
    assert!(!browser.text("#err-mobile").await.is_empty());
    browser.type_into("#edit-email", "xm.wang@example.cn").await;
    browser.click("#save").await;
    browser.wait_for("#done").await;
    assert_eq!(browser.text("#done").await, "Saved.");
    assert!(browser.text("#f-email").await.ends_with("@example.cn"));
    // A consent given by phone.
    browser.select("#consent-purpose", "marketing").await;
    browser.select("#consent-channel", "phone").await;
    browser.click("#record-consent").await;
    browser.wait_for("#done").await;
    assert!(
        browser.text("#done").await.contains("rcpt_"),
        "{}",
        browser.text("#done").await
    );
    assert!(browser.text("#consents").await.contains("active"));
    axe("card after edits", browser.axe_violations().await);
    browser.screenshot(&shots.join("console-card.png")).await;

    // The reveal answer is not cached; no address held a personal value.
    let cookies = browser.cookies().await;
    let sess = cookies
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "custodia_session")
        .and_then(|c| c["value"].as_str())
        .unwrap()
        .to_owned();
    let csrf = browser
        .execute(
            "return document.querySelector('input[name=csrf]').value",
            serde_json::json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = format!("custodia_session={sess}");
    let body = form_encode(&[
        ("csrf", &csrf),
        ("field", "mobile"),
        ("purpose", "customer_service"),
        ("reason", "checking the cache headers"),
    ]);
    // A fresh connection: the first one sat idle past the server's timeout.
    let mut c = s.conn().await;
    let r = c
        .send(
            Method::POST,
            &format!("/console/customers/{id}/reveal"),
            &[
                ("cookie", &cookie),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some(body),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["cache-control"], "no-store");
    for u in &history {
        assert!(!u.contains("1391234") && !u.contains("wang"), "{u}");
    }

    // Chinese.
    browser.goto(&format!("{base}/console?lang=zh")).await;
    browser.wait_for("#link-search").await;
    assert_eq!(browser.text("h1").await, "控制台");
    axe("console zh", browser.axe_violations().await);
    browser
        .goto(&format!(
            "{base}/console/customers/{id}?purpose=customer_service&lang=zh"
        ))
        .await;
    browser.wait_for("#card").await;
    axe("card zh", browser.axe_violations().await);
    browser.quit().await;

    // On the record: the search, the reads shown, the reveal with its reason.
    let log = stdout(&run(&data, &["audit", "tail", "-n", "60"]));
    for want in ["search", "reveal", "reason: caller asked to confirm the number on file"] {
        assert!(log.contains(want), "{want} missing:\n{log}");
    }
    assert!(!log.contains("13912345678"));
    assert!(run(&data, &["audit", "verify"]).status.success());
}

/// The request queue: an agent verifies a requester's identity in the
/// console, the privacy officer completes the erasure and gets the
/// destruction certificate; days left are in words (and colour); every page
/// passes axe-core.
#[tokio::test(flavor = "multi_thread")]
async fn agent_verifies_and_officer_completes_a_request_in_the_console() {
    use hyper::{Method, StatusCode};
    let _one = ONE_BROWSER.lock().await;
    let Some(browser) = browser().await else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    let agent = staff(&data, "li.na", "cs_agent", true, true);
    let officer = staff(&data, "po.wang", "privacy_officer", true, true);
    let steward = service_token(&data, "data_steward");
    let officer_api = service_token(&data, "privacy_officer");
    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    let r = call(
        &mut c,
        &steward,
        Method::POST,
        "/v1/customers?purpose=customer_service",
        Some(serde_json::json!({"name": "Ana Ruiz", "mobile": "+34 612 345 678", "department": "service"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    // A second customer, who stays (the first is erased by the request).
    let r = call(
        &mut c,
        &steward,
        Method::POST,
        "/v1/customers?purpose=customer_service",
        Some(serde_json::json!({"name": "Bo Li", "mobile": "+34 612 345 679", "department": "service"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let stays = r.json()["id"].as_str().unwrap().to_owned();
    let r = call(
        &mut c,
        &officer_api,
        Method::POST,
        "/v1/requests",
        Some(serde_json::json!({"customer": id, "kind": "erasure", "regime": "gdpr", "channel": "email"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let req = r.json()["id"].as_str().unwrap().to_owned();
    let base = format!("https://localhost:{}", s.addr.port());
    let shots = shots_dir();
    let shots = shots.as_path();
    let axe = |name: &'static str, v: Vec<String>| {
        assert!(v.is_empty(), "{name}: accessibility violations: {v:#?}");
    };
    let sign_in = |who: &'static str, code: String| {
        let browser = &browser;
        let base = base.clone();
        async move {
            browser.goto(&format!("{base}/login?lang=en")).await;
            browser.type_into("#name", who).await;
            browser.type_into("#password", PW).await;
            browser.type_into("#code", &code).await;
            browser.click("#submit").await;
            browser.wait_url("/console").await;
        }
    };

    // The agent: queue → request → verify.
    sign_in("li.na", agent.code()).await;
    browser.wait_for("#link-requests").await;
    browser.click("#link-requests").await;
    browser.wait_for("#queue").await;
    let queue = browser.text("#queue").await;
    assert!(queue.contains(&req) && queue.contains("days left"), "{queue}");
    axe("queue", browser.axe_violations().await);
    browser.screenshot(&shots.join("console-queue.png")).await;
    // Filters are request kinds and states, never personal values.
    browser.select("#kind", "access").await;
    browser.click("#filter").await;
    browser.wait_for("#empty").await;
    assert!(browser.url().await.contains("kind=access"));
    browser.goto(&format!("{base}/console/requests?lang=en")).await;
    browser.click("a.request").await;
    browser.wait_for("#request").await;
    axe("request", browser.axe_violations().await);
    browser.select("#method", "id_document").await;
    browser.click("#verify").await;
    browser.wait_for("#done").await;
    assert_eq!(browser.text("#request-state").await, "verified");
    // The agent cannot complete an erasure (no delete grant).
    browser.click("#complete").await;
    browser.wait_for("#error").await;
    // From the card: a request the customer made by phone is logged, and
    // a portal code cannot go out while no mail server is configured.
    browser
        .goto(&format!(
            "{base}/console/customers/{id}?purpose=customer_service&lang=en"
        ))
        .await;
    browser.wait_for("#request-form").await;
    assert!(
        !browser.exists("#access-history").await,
        "an agent does not read the audit log"
    );
    assert!(
        browser.exists("#customer-requests").await,
        "an agent who verifies requesters sees them"
    );
    browser.select("#request-kind", "access").await;
    browser.select("#request-channel", "phone").await;
    browser.type_into("#request-note", "asked by phone for a copy").await;
    browser.click("#log-request").await;
    browser.wait_for("#request").await;
    assert!(browser.text("#request").await.contains("phone") || browser.url().await.contains("/console/requests/req_"));
    browser
        .goto(&format!(
            "{base}/console/customers/{id}?purpose=customer_service&lang=en"
        ))
        .await;
    browser.wait_for("#portal-form").await;
    browser.click("#send-code").await;
    browser.wait_for("#error").await;
    browser.click("#sign-out").await;
    browser.wait_url("/login").await;

    // The officer completes it and gets the certificate.
    sign_in("po.wang", officer.code()).await;
    // The card as the officer sees it: the customer's requests and who
    // accessed the data (the agent's reads included), never the values.
    browser
        .goto(&format!(
            "{base}/console/customers/{id}?purpose=data_subject_request&lang=en"
        ))
        .await;
    browser.wait_for("#access-history").await;
    let h = browser.text("#access-history").await;
    assert!(h.contains("staff:li.na") && h.contains("read"), "{h}");
    assert!(!h.contains("612 345"), "{h}");
    assert!(browser.text("#customer-requests").await.contains(&req));
    axe("card as officer", browser.axe_violations().await);
    browser.goto(&format!("{base}/console/requests/{req}?lang=en")).await;
    browser.wait_for("#request").await;
    browser.click("#complete").await;
    browser.wait_for("#certificate").await;
    let cert = browser.text("#certificate").await;
    assert_eq!(cert.split('.').count(), 3, "a compact JWS: {cert}");
    assert_eq!(browser.text("#request-state").await, "completed");
    let history = browser.text("#history").await;
    assert!(
        history.contains("staff:li.na") && history.contains("staff:po.wang"),
        "{history}"
    );
    axe("completed", browser.axe_violations().await);
    // The dashboard: what is due, and what needs attention.
    browser.goto(&format!("{base}/console/dashboard?lang=en")).await;
    browser.wait_for("#counts").await;
    assert!(browser.text("#overdue").await.contains("0 overdue"));
    assert!(browser.text("#ack-due").await.contains("awaiting confirmation"));
    axe("dashboard", browser.axe_violations().await);
    browser.screenshot(&shots.join("console-dashboard.png")).await;
    browser.screenshot(&shots.join("console-request.png")).await;
    // The audit log, filtered: the agent's reads of this customer; the
    // address holds the filters (ids and names), never a personal value.
    browser.goto(&format!("{base}/console?lang=en")).await;
    browser.click("#link-audit").await;
    browser.wait_for("#filters").await;
    browser.type_into("#actor", "staff:li.na").await;
    browser.type_into("#customer", &id).await;
    browser.select("#action", "read").await;
    browser.click("#filter").await;
    browser.wait_for("#events").await;
    let rows = browser
        .execute(
            "return [...document.querySelectorAll('tr.event')].map(r => r.innerText)",
            serde_json::json!([]),
        )
        .await;
    let rows: Vec<String> = serde_json::from_value(rows).unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r.contains("staff:li.na") && r.contains("read") && r.contains(&id)),
        "{rows:?}"
    );
    let url = browser.url().await;
    assert!(
        url.contains("actor=staff%3Ali.na") && url.contains("action=read"),
        "{url}"
    );
    assert!(!url.contains("612") && !url.contains("Ana"), "{url}");
    axe("audit", browser.axe_violations().await);
    browser.screenshot(&shots.join("console-audit.png")).await;
    // A filter that does not parse is named; an empty result says so.
    browser
        .goto(&format!("{base}/console/audit?lang=en&action=peek&customer=nobody"))
        .await;
    browser.wait_for("#error").await;
    let e = browser.text("#error").await;
    assert!(e.contains("action") && e.contains("customer"), "{e}");
    browser
        .goto(&format!("{base}/console/audit?lang=en&outcome=failed"))
        .await;
    browser.wait_for("#empty").await;
    browser.click("#verify").await;
    browser.wait_for("#chain").await;
    assert!(
        browser.text("#chain").await.contains("intact"),
        "{}",
        browser.text("#chain").await
    );
    // An access review: the officer certifies the agent's role, and may
    // not decide their own.
    browser.goto(&format!("{base}/console?lang=en")).await;
    browser.click("#link-reviews").await;
    browser.wait_for("#start-form").await;
    browser.click("#start").await;
    browser.wait_for("#items").await;
    axe("review", browser.axe_violations().await);
    browser.click("#certify-li\\.na-cs_agent").await;
    browser.wait_for("#done").await;
    assert!(
        browser.text("#done").await.contains("certify"),
        "{}",
        browser.text("#done").await
    );
    assert!(browser.text("#items").await.contains("staff:po.wang"));
    browser.click("#revoke-po\\.wang-privacy_officer").await;
    browser.wait_for("#error").await;
    assert!(
        browser.text("#error").await.contains("nobody reviews their own access"),
        "{}",
        browser.text("#error").await
    );
    browser.screenshot(&shots.join("console-review.png")).await;
    // The policy and the explain tool.
    browser.click("#back").await;
    browser.wait_for("#link-policy").await;
    browser.click("#link-policy").await;
    browser.wait_for("#grants").await;
    assert!(browser.text("#grants").await.contains("cs_agent"));
    browser.type_into("#account", "li.na").await;
    browser.select("#action", "reveal").await;
    browser.select("#field", "mobile").await;
    browser.select("#purpose", "customer_service").await;
    // The agent's grants reach one department: the customer decides.
    browser.type_into("#customer", &stays).await;
    browser.click("#explain").await;
    browser.wait_for("#answer, #error").await;
    assert!(!browser.exists("#error").await, "{}", browser.text("#error").await);
    let answer = browser.text("#answer").await;
    assert!(
        answer.starts_with("Allowed") && answer.contains("role cs_agent"),
        "{answer}"
    );
    axe("policy", browser.axe_violations().await);
    browser.select("#field", "bank_card").await;
    browser.click("#explain").await;
    browser.wait_for("#answer").await;
    assert!(
        browser.text("#answer").await.starts_with("Refused"),
        "{}",
        browser.text("#answer").await
    );
    // Chinese.
    browser.goto(&format!("{base}/console/requests?lang=zh")).await;
    browser.wait_for("h1").await;
    assert_eq!(browser.text("h1").await, "个人信息主体请求");
    axe("queue zh", browser.axe_violations().await);
    // At a phone's 390 px no console page scrolls sideways.
    browser.set_size(390, 844).await;
    for path in [
        "/console".to_owned(),
        "/console/search".to_owned(),
        "/console/requests".to_owned(),
        "/console/dashboard".to_owned(),
        "/console/audit".to_owned(),
        "/console/reviews".to_owned(),
        "/console/policy".to_owned(),
        format!("/console/requests/{req}"),
        format!("/console/customers/{id}"),
        "/account".to_owned(),
    ] {
        for lang in ["en", "zh"] {
            browser.goto(&format!("{base}{path}?lang={lang}")).await;
            browser.wait_for("h1").await;
            assert!(
                !browser.scrolls_sideways().await,
                "{path} ({lang}) scrolls sideways at 390 px"
            );
        }
    }
    browser.quit().await;

    let log = stdout(&run(&data, &["audit", "tail", "-n", "80"]));
    assert!(log.contains("staff:li.na") && log.contains("staff:po.wang"), "{log}");
    assert!(run(&data, &["audit", "verify"]).status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn administrator_invites_a_person_who_enrolls_by_link_and_signs_in() {
    let _one = ONE_BROWSER.lock().await;
    let Some(smtp) = crate::kit::smtp::Smtp::start() else {
        return;
    };
    let Some(browser) = browser().await else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    add_config(&data, &smtp.config());
    let admin = staff(&data, "ad.min", "administrator", true, true);
    let s = Server::start(&data, &[]);
    let base = format!("https://localhost:{}", s.addr.port());
    let shots = shots_dir();
    let shots = shots.as_path();
    let axe = |name: &'static str, v: Vec<String>| {
        assert!(v.is_empty(), "{name}: accessibility violations: {v:#?}");
    };
    let sign_in = |who: &'static str, pw: &'static str, code: String| {
        let browser = &browser;
        let base = base.clone();
        async move {
            browser.goto(&format!("{base}/login?lang=en")).await;
            browser.type_into("#name", who).await;
            browser.type_into("#password", pw).await;
            browser.type_into("#code", &code).await;
            browser.click("#submit").await;
        }
    };

    // The administrator invites a person with a data role.
    sign_in("ad.min", PW, admin.code()).await;
    browser.wait_url("/console").await;
    browser.click("#link-accounts").await;
    browser.wait_for("#invite-form").await;
    axe("accounts", browser.axe_violations().await);
    browser.type_into("#invite-name", "new.person").await;
    browser.type_into("#invite-email", "new.person@example.test").await;
    browser.click("#invite").await;
    browser.wait_for("#done, #error").await;
    assert!(!browser.exists("#error").await, "{}", browser.text("#error").await);
    let done = browser.text("#done").await;
    assert!(
        done.contains("new.person") && done.contains("n***@example.test"),
        "{done}"
    );
    // A data role is granted by someone with review_access (here the
    // operator), and waits for a second person.
    let o = run(&data, &["user", "roles", "new.person", "--role", "cs_agent"]);
    assert!(o.status.success(), "{}", stderr(&o));
    browser.goto(&format!("{base}/console/accounts?lang=en")).await;
    browser.wait_for("#approvals").await;
    let approvals = browser.text("#approvals").await;
    assert!(
        approvals.contains("grant_roles") && approvals.contains("cs_agent"),
        "{approvals}"
    );
    browser.click("button.approve").await;
    browser.wait_for("#done, #error").await;
    // The administrator is no privacy officer: approving a data role is
    // refused, and says who may.
    assert!(
        browser.text("#error").await.contains("review_access"),
        "{}",
        browser.text("#error").await
    );
    browser.screenshot(&shots.join("console-accounts.png")).await;
    approve_all(&data);
    // The administrator's session is kept aside (a second sign-in in the
    // same half-minute would need an authenticator code not yet due).
    let cookies = browser.cookies().await;
    let admin_session = cookies
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "custodia_session")
        .cloned()
        .expect("session cookie");

    // The person opens their own link: a password, then the second factor.
    let secret = smtp.link_to(1, "new.person@example.test");
    browser.goto(&format!("{base}/account/link?t={secret}&lang=en")).await;
    browser.wait_for("#new").await;
    let pw = "her own long passphrase";
    browser.type_into("#new", pw).await;
    browser.type_into("#again", pw).await;
    browser.click("#submit").await;
    browser.wait_for("#secret").await;
    let b32 = browser.text("#secret").await;
    browser.type_into("#code", &totp_now(&b32, 0)).await;
    browser.click("#confirm").await;
    browser.wait_for("#recovery").await;
    assert_eq!(browser.text("#recovery").await.lines().count(), 10);
    browser.click("#sign-in").await;
    browser.wait_url("/login").await;
    sign_in("new.person", pw, totp_now(&b32, 1)).await;
    browser.wait_url("/console").await;
    browser.wait_for("#link-search").await;
    // Not an administrator: the accounts page is refused in words.
    browser.goto(&format!("{base}/console/accounts?lang=en")).await;
    browser.wait_for("#error").await;
    browser.click("#sign-out").await;
    browser.wait_url("/login").await;

    // The administrator disables the account; the password and a fresh
    // code no longer sign in.
    browser.set_cookie(admin_session).await;
    browser
        .goto(&format!("{base}/console/accounts/new.person?lang=en"))
        .await;
    browser.wait_for("#facts").await;
    assert_eq!(browser.text("#mfa").await, "enrolled");
    assert_eq!(browser.text("#roles").await, "cs_agent");
    axe("account", browser.axe_violations().await);
    browser.type_into("#reason", "left the company").await;
    browser.click("#disable").await;
    browser.wait_for("#done").await;
    assert_eq!(browser.text("#state").await, "disabled");
    browser.screenshot(&shots.join("console-account.png")).await;
    // A service account's token is shown once.
    browser.goto(&format!("{base}/console/accounts?lang=zh")).await;
    browser.wait_for("#service-form").await;
    axe("accounts zh", browser.axe_violations().await);
    browser.type_into("#service-name", "etl-nightly").await;
    browser.click("#service-role-administrator").await;
    browser.click("#create-service").await;
    browser.wait_for("#done").await;
    browser
        .goto(&format!("{base}/console/accounts/etl-nightly?lang=en"))
        .await;
    browser.wait_for("#token-form").await;
    browser.click("#issue").await;
    browser.wait_for("#token").await;
    let token = browser.text("#token").await;
    assert!(token.starts_with("cst_"), "{token}");
    browser
        .goto(&format!("{base}/console/accounts/etl-nightly?lang=en"))
        .await;
    browser.wait_for("#tokens").await;
    assert!(!browser.exists("#token").await, "a token is shown once");
    browser.set_size(390, 844).await;
    for path in [
        "/console/accounts",
        "/console/accounts/new.person",
        "/console/accounts/etl-nightly",
    ] {
        browser.goto(&format!("{base}{path}?lang=en")).await;
        browser.wait_for("h1").await;
        assert!(!browser.scrolls_sideways().await, "{path} scrolls sideways at 390 px");
    }
    browser.click("#sign-out").await;
    browser.wait_url("/login").await;
    sign_in("new.person", pw, totp_now(&b32, 2)).await;
    browser.wait_for("#error").await;
    browser.quit().await;

    let denied = stdout(&run(
        &data,
        &["audit", "search", "--action", "login", "--outcome", "denied", "-n", "5"],
    ));
    // Refused because the account is disabled, not for a stale code.
    assert!(
        denied.contains("login:new.person") && denied.contains("unknown_or_disabled_account"),
        "{denied}"
    );
    let log = stdout(&run(
        &data,
        &["audit", "search", "--actor", "staff:ad.min", "-n", "100"],
    ));
    assert!(log.contains("account") && log.contains("token_issue"), "{log}");
    assert!(!log.contains(&token), "the token is never in the log");
    assert!(run(&data, &["audit", "verify"]).status.success());
}
