//! The staff sign-in and MFA enrollment pages in a real headless browser
//! (Debian's chromium driven through chromedriver).

mod common;
#[path = "common/webdriver.rs"]
mod webdriver;

use common::*;

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
    let Some(browser) = webdriver::Browser::start().await else {
        if std::env::var("CI").is_ok() {
            panic!("chromium and chromedriver must be installed for this test (.ci/run installs them)");
        }
        eprintln!("skipping: chromium/chromedriver not installed");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let s = Server::start(&data, &[]);
    let pw = "correct horse battery staple";
    let o = add_staff(&data, "li.na", "cs_agent", pw);
    assert!(o.status.success(), "{}", stderr(&o));
    let base = format!("https://localhost:{}", s.addr.port());
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));

    // Wrong password: a generic error, still on the login page.
    browser.goto(&format!("{base}/login?lang=en")).await;
    browser.type_into("#name", "li.na").await;
    browser.type_into("#password", "not the password").await;
    browser.click("#submit").await;
    browser.wait_for("#error").await;
    assert_eq!(browser.text("#error").await, "the name, password or code is wrong");

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
    browser.wait_url("/account").await;
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
    browser.wait_url("/account").await;

    // Chinese pages.
    browser.goto(&format!("{base}/account?lang=zh")).await;
    browser.wait_for("#mfa-state").await;
    assert_eq!(browser.text("#mfa-state").await, "已启用");
    browser.screenshot(&shots.join("account-zh.png")).await;
    browser.quit().await;

    // All of it is in the audit log.
    let o = run(&data, &["audit", "tail", "-n", "100"]);
    let log = stdout(&o);
    for a in ["login", "mfa", "logout"] {
        assert!(log.contains(a), "{a} missing:\n{log}");
    }
    assert!(run(&data, &["audit", "verify"]).status.success());
}
