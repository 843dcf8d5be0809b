//! Sign-in and accounts, tried as the owner and as an attacker: guessing
//! never locks the owner out, wrong codes lock the second factor and alert,
//! bad tokens are counted (not logged one by one) and never block a valid
//! token, floods leave the API responsive, counters survive restarts and are
//! shared on PostgreSQL, and an account's whole life runs through links the
//! administrator never sees.

use crate::kit::*;
use custodia::client::{Conn, Resp};
use hyper::{Method, StatusCode};
use serde_json::json;
use std::path::Path;

/// Sign in through the form as if from `from` (the trusted proxy's
/// `X-Forwarded-For`), with a device cookie if given.
async fn login_from(c: &mut Conn, name: &str, pw: &str, code: &str, from: &str, device: Option<&str>) -> Resp {
    let page = c.send(Method::GET, "/login", &[], None).await.unwrap();
    let csrf = cookie_value(&page, "custodia_csrf").unwrap();
    let mut cookie = format!("custodia_csrf={csrf}");
    if let Some(d) = device {
        cookie.push_str(&format!("; custodia_device={d}"));
    }
    let body = form_encode(&[("name", name), ("password", pw), ("code", code), ("csrf", &csrf)]);
    c.send(
        Method::POST,
        "/login",
        &[
            ("cookie", &cookie),
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-forwarded-for", from),
        ],
        Some(body),
    )
    .await
    .unwrap()
}

fn trust_loopback_proxy(data: &Path) {
    // The tests' connections come from 127.0.0.1: treat it as the proxy,
    // so X-Forwarded-For says which address each attempt is from.
    let p = data.join("config.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, format!("trusted_proxies = [\"127.0.0.1/32\"]\n{text}")).unwrap();
}

fn audit_text(data: &Path) -> String {
    stdout(&run(data, &["audit", "tail", "-n", "400"]))
}

#[tokio::test(flavor = "multi_thread")]
async fn guessing_a_password_never_locks_the_owner_or_the_neighbours_out() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    trust_loopback_proxy(&data);
    for name in ["li.na", "wang.wu"] {
        assert!(add_staff(&data, name, "cs_agent", PW).status.success());
    }
    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    let attacker = "203.0.113.9";
    for i in 0..5 {
        let r = login_from(&mut c, "li.na", "guess guess guess", "", attacker, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // The attacker's address is shut out of this account, even with the
    // right password...
    let r = login_from(&mut c, "li.na", PW, "", attacker, None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(String::from_utf8_lossy(&r.body).contains("from here"));
    // ...the owner signs in from their own address, the neighbour behind
    // the attacker's address signs in to their own account.
    let owner = login_from(&mut c, "li.na", PW, "", "198.51.100.20", None).await;
    assert_eq!(owner.status, StatusCode::SEE_OTHER, "{:?}", owner.body);
    let device = cookie_value(&owner, "custodia_device").expect("a device cookie");
    let set = owner
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("custodia_device="))
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let r = login_from(&mut c, "wang.wu", PW, "", attacker, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the neighbour");
    // The owner's remembered browser gets in even from the shut-out address.
    let r = login_from(&mut c, "li.na", PW, "", attacker, Some(&device)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the remembered browser");

    // A restart keeps the counters.
    drop(c);
    drop(s);
    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    let r = login_from(&mut c, "li.na", PW, "", attacker, None).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "still shut out after a restart"
    );
    // An administrator unlocks; it is on the record.
    let o = run(&data, &["user", "unlock", "li.na"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = login_from(&mut c, "li.na", PW, "", attacker, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let audit = audit_text(&data);
    assert!(audit.contains("sign-in counters of li.na cleared"), "{audit}");
    assert!(audit.contains("shut out for 15 minutes"), "{audit}");
    // An X-Forwarded-For from an address that is not a trusted proxy is
    // not believed: the configuration names the proxies.
    assert!(run(&data, &["audit", "verify"]).status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_codes_lock_the_second_factor_and_alert_the_owner() {
    let Some(smtp) = crate::kit::smtp::Smtp::start() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    add_config(&data, &smtp.config());
    trust_loopback_proxy(&data);
    staff(&data, "li.na", "cs_agent", false, true);
    let (key, recovery) = enroll_mfa_with_codes(&data, "li.na");
    assert_eq!(recovery.len(), 10);
    assert!(run(&data, &["user", "email", "li.na", "li.na@example.test"])
        .status
        .success());
    approve_for(&data, "li.na");
    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    // The owner signs in once from their browser.
    let owner = login_from(&mut c, "li.na", PW, &totp(&key, 1), "198.51.100.20", None).await;
    assert_eq!(owner.status, StatusCode::SEE_OTHER);
    let device = cookie_value(&owner, "custodia_device").unwrap();
    // Someone with the password guesses codes from many addresses.
    let mut last = StatusCode::OK;
    for i in 0..5 {
        last = login_from(&mut c, "li.na", PW, "000000", &format!("203.0.113.{i}"), None)
            .await
            .status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS, "the fifth wrong code locks");
    // Now even a right code from a new address is refused...
    let r = login_from(&mut c, "li.na", PW, &recovery[0], "203.0.113.50", None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(String::from_utf8_lossy(&r.body).contains("second factor"));
    // ...while the owner's remembered browser still gets in.
    let r = login_from(&mut c, "li.na", PW, &recovery[0], "198.51.100.20", Some(&device)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // The owner is alerted at their address, and the audit log says so.
    for _ in 0..200 {
        if !smtp.messages().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(!smtp.messages().is_empty(), "no alert mail: {}", audit_text(&data));
    let mail = smtp.messages();
    let alert = mail
        .iter()
        .find(|m| m.subject.contains("second factor"))
        .expect("an alert");
    assert_eq!(alert.to, "li.na@example.test");
    assert!(alert.body.contains("203.0.113.4"), "{}", alert.body);
    let audit = audit_text(&data);
    assert!(audit.contains("ALERT: second factor of li.na locked"), "{audit}");
}

/// How many audit events the chain holds.
fn audit_events(data: &Path) -> u64 {
    let o = run(data, &["audit", "verify", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap_or_default();
    j["events"]
        .as_u64()
        .unwrap_or_else(|| panic!("audit verify: {}", stdout(&o)))
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tokens_are_counted_not_logged_one_by_one_and_a_valid_token_still_works() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    let token = service_token(&data, "data_steward");
    let mut s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    let before = audit_events(&data);
    let mut statuses = Vec::new();
    for i in 0..60 {
        let r = call(&mut c, &format!("cst_{i:064}"), Method::GET, "/v1/schema", None).await;
        statuses.push(r.status);
        if i == 50 {
            let ok = call(&mut c, &token, Method::GET, "/v1/schema", None).await;
            assert_eq!(ok.status, StatusCode::OK, "a valid token from the same address");
        }
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(statuses[59], StatusCode::TOO_MANY_REQUESTS);
    assert!(statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count() <= 20);
    // 60 refusals, one event so far (the window's first).
    let grown = audit_events(&data) - before;
    assert!(grown <= 3, "the audit log grew by {grown} events");
    // At shutdown the window's count is written as one event.
    let pid = s.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let _ = s.child.wait();
    let audit = audit_text(&data);
    assert!(audit.contains("60 invalid API tokens from 127.0.0.1"), "{audit}");
    assert!(audit_events(&data) - before <= 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_flood_leaves_the_api_responsive() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    trust_loopback_proxy(&data);
    assert!(add_staff(&data, "li.na", "cs_agent", PW).status.success());
    let token = service_token(&data, "data_steward");
    let s = Server::start(&data, &[]);
    let addr = s.addr;
    let cert = data.join("tls/cert.pem");
    // 48 connections from one address guess passwords as fast as they can.
    let flood: Vec<_> = (0..48)
        .map(|i| {
            let cert = cert.clone();
            tokio::spawn(async move {
                let cfg = custodia::client::tls_config(&cert, &[&rustls::version::TLS13]).unwrap();
                let mut c = Conn::connect(addr, cfg).await.unwrap();
                for _ in 0..3 {
                    let _ = login_from(
                        &mut c,
                        &format!("user{i}"),
                        "guess guess guess",
                        "",
                        "203.0.113.9",
                        None,
                    )
                    .await;
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut c = s.conn().await;
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..20 {
        let t = std::time::Instant::now();
        let r = call(&mut c, &token, Method::GET, "/v1/schema", None).await;
        assert_eq!(r.status, StatusCode::OK);
        slowest = slowest.max(t.elapsed());
    }
    // Someone elsewhere signs in meanwhile: the flood takes turns on its
    // own address and holds one shared permit at most.
    let t = std::time::Instant::now();
    let r = login_from(&mut c, "li.na", PW, "", "198.51.100.20", None).await;
    let sign_in = t.elapsed();
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let still_flooding = flood.iter().any(|h| !h.is_finished());
    for h in flood {
        h.await.unwrap();
    }
    assert!(still_flooding, "the flood was still running while the API answered");
    assert!(
        slowest < std::time::Duration::from_secs(2),
        "an API call took {slowest:?} during a sign-in flood"
    );
    assert!(
        sign_in < std::time::Duration::from_secs(3),
        "a sign-in from another address took {sign_in:?} during the flood"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn servers_on_postgres_share_the_counters() {
    let Some(pg) = pg::Schema::new() else { return };
    let d = tempfile::tempdir().unwrap();
    let (d1, d2) = (d.path().join("a"), d.path().join("b"));
    assert!(run(&d1, &["--storage", &pg.url, "init"]).status.success());
    trust_loopback_proxy(&d1);
    std::fs::create_dir_all(&d2).unwrap();
    for f in ["config.toml", "schema.toml", "policy.toml", "master.key"] {
        std::fs::copy(d1.join(f), d2.join(f)).unwrap();
    }
    assert!(add_staff(&d1, "li.na", "cs_agent", PW).status.success());
    let (a, b) = (Server::start(&d1, &[]), Server::start(&d2, &[]));
    let (mut ca, mut cb) = (a.conn().await, b.conn().await);
    for _ in 0..5 {
        let r = login_from(&mut ca, "li.na", "guess guess guess", "", "203.0.113.9", None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = login_from(&mut cb, "li.na", PW, "", "203.0.113.9", None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "the other server knows");
    let r = login_from(&mut cb, "li.na", PW, "", "198.51.100.20", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

/// The one-time link in the newest message to `to`.
fn link_in(smtp: &crate::kit::smtp::Smtp, n: usize, to: &str) -> String {
    smtp.link_to(n, to)
}

/// Fill a link's form: returns the page answered.
async fn link_post(c: &mut Conn, action: &str, fields: &[(&str, &str)], form_cookie: &str) -> Resp {
    let mut f: Vec<(&str, &str)> = fields.to_vec();
    f.push(("csrf", form_cookie));
    c.send(
        Method::POST,
        action,
        &[
            ("cookie", &format!("custodia_form={form_cookie}")),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        Some(form_encode(&f)),
    )
    .await
    .unwrap()
}

fn html(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn between<'a>(s: &'a str, a: &str, b: &str) -> &'a str {
    let i = s.find(a).unwrap_or_else(|| panic!("{a:?} not in {s}")) + a.len();
    &s[i..i + s[i..].find(b).unwrap()]
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_lives_through_links_and_second_approvals() {
    let Some(smtp) = crate::kit::smtp::Smtp::start() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    add_config(&data, &smtp.config());
    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;

    // Created with an address: a setup link goes there, the administrator
    // sees neither a password nor the link; the data role waits for a
    // second person.
    let o = run(
        &data,
        &[
            "user",
            "add",
            "li.na",
            "--role",
            "cs_agent",
            "--email",
            "li.na@example.test",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("/account/link") && !stderr(&o).contains("/account/link"));
    assert!(stderr(&o).contains("l***@example.test"), "{}", stderr(&o));
    let pending = run_json(&data, &["user", "approvals", "--json"]);
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    let o = run(&data, &["user", "approve", &id]);
    assert!(
        !o.status.success() && stderr(&o).contains("second person"),
        "{}",
        stderr(&o)
    );
    approve_all(&data);
    let secret = link_in(&smtp, 1, "li.na@example.test");

    // The person opens the link: chooses a password, then enrolls.
    let page = c
        .send(Method::GET, &format!("/account/link?t={secret}"), &[], None)
        .await
        .unwrap();
    assert_eq!(page.status, StatusCode::OK, "{}", html(&page));
    let form = cookie_value(&page, "custodia_form").unwrap();
    let new_pw = "a passphrase only she knows";
    let r = link_post(
        &mut c,
        "/account/link",
        &[("t", &secret), ("new", new_pw), ("again", new_pw)],
        &form,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", html(&r));
    let body = html(&r);
    let b32 = between(&body, "id=\"secret\">", "<").to_owned();
    let key = custodia_crypto::totp::base32_decode(&b32).unwrap();
    let form = cookie_value(&r, "custodia_form").unwrap();
    let r = link_post(
        &mut c,
        "/account/link/mfa",
        &[("t", &secret), ("code", &totp(&key, 0))],
        &form,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", html(&r));
    let recovery: Vec<String> = html(&r)
        .split("<li>")
        .skip(1)
        .filter_map(|x| x.split("</li>").next())
        .map(str::to_owned)
        .collect();
    assert_eq!(recovery.len(), 10, "ten recovery codes");
    // The link works once.
    let again = c
        .send(Method::GET, &format!("/account/link?t={secret}"), &[], None)
        .await
        .unwrap();
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    let sess = sign_in(&mut c, "li.na", new_pw, &totp(&key, 1))
        .await
        .expect("signed in with MFA");

    // Own password change over the API: the old one stops working.
    let pw2 = "another passphrase of hers";
    let r = sess
        .send(
            &mut c,
            Method::POST,
            "/v1/session/password",
            Some(json!({"current": "wrong wrong wrong", "new": pw2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = sess
        .send(
            &mut c,
            Method::POST,
            "/v1/session/password",
            Some(json!({"current": new_pw, "new": pw2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
    assert!(sign_in(&mut c, "li.na", new_pw, &totp(&key, 2)).await.is_none());
    let changed = smtp.wait_for(2);
    assert!(changed.iter().any(|m| m.subject.contains("password was changed")));

    // Forgotten password: the same answer for anyone; the link needs the
    // second factor too.
    for name in ["li.na", "nobody.here"] {
        let r = c
            .send(
                Method::POST,
                "/v1/password/forgot",
                &[("content-type", "application/json")],
                Some(serde_json::to_vec(&json!({"name": name})).unwrap()),
            )
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    let reset = link_in(&smtp, 3, "li.na@example.test");
    let page = c
        .send(Method::GET, &format!("/account/link?t={reset}"), &[], None)
        .await
        .unwrap();
    assert!(html(&page).contains("id=\"code\""), "a code is asked");
    let form = cookie_value(&page, "custodia_form").unwrap();
    let pw3 = "a third passphrase of hers";
    let r = link_post(
        &mut c,
        "/account/link",
        &[("t", &reset), ("new", pw3), ("again", pw3), ("code", "000000")],
        &form,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no code, no reset");
    let form = cookie_value(&r, "custodia_form").unwrap();
    let r = link_post(
        &mut c,
        "/account/link",
        &[("t", &reset), ("new", pw3), ("again", pw3), ("code", &recovery[0])],
        &form,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", html(&r));
    let _ = sign_in(&mut c, "li.na", pw3, &recovery[1])
        .await
        .expect("the new password works");

    // Disable: sessions end at once; enable: back.
    assert!(run(&data, &["user", "disable", "li.na", "--reason", "left on leave"])
        .status
        .success());
    assert!(sign_in(&mut c, "li.na", pw3, &recovery[2]).await.is_none());
    assert!(run(&data, &["user", "enable", "li.na"]).status.success());

    // MFA reset waits for a second person; then a new enrollment link.
    let o = run(&data, &["user", "reset-mfa", "li.na"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        run_json(&data, &["user", "show", "li.na"])["mfa_enrolled"] == true,
        "not yet"
    );
    approve_all(&data);
    assert!(run_json(&data, &["user", "show", "li.na"])["mfa_enrolled"] == false);
    let mfa_link = link_in(&smtp, 4, "li.na@example.test");
    let page = c
        .send(Method::GET, &format!("/account/link?t={mfa_link}"), &[], None)
        .await
        .unwrap();
    assert!(
        html(&page).contains("id=\"current\""),
        "the password is asked: {}",
        html(&page)
    );

    // Delete: the name stays taken, the trail stays.
    assert!(run(&data, &["user", "delete", "li.na"]).status.success());
    assert!(sign_in(&mut c, "li.na", pw3, "").await.is_none());
    let o = add_staff(&data, "li.na", "cs_agent", PW);
    assert!(!o.status.success() && stderr(&o).contains("exists"), "{}", stderr(&o));
    let audit = audit_text(&data);
    for what in [
        "setup link for li.na sent to l***@example.test",
        "MFA enrolled",
        "li.na changed their password",
        "password link asked for",
        "li.na disabled (left on leave)",
        "li.na enabled",
        "asked for: reset_mfa li.na",
        "second factor of li.na removed",
        "staff account li.na deleted",
    ] {
        assert!(audit.contains(what), "{what}: {audit}");
    }
    // No link secret, password or address in clear anywhere on disk.
    for (path, bytes) in all_files(&data) {
        for needle in [secret.as_str(), reset.as_str(), pw3, "li.na@example.test"] {
            assert!(!contains(&bytes, needle.as_bytes()), "{needle} in {}", path.display());
        }
    }
    assert!(run(&data, &["audit", "verify"]).status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reveal_after_the_step_up_time_asks_for_a_fresh_code() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    set_config(&data, "sign_in", "step_up_seconds", toml::Value::Integer(2));
    let agent = staff(&data, "li.na", "cs_agent", true, true);
    let steward = service_token(&data, "data_steward");
    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    let r = call(
        &mut c,
        &steward,
        Method::POST,
        "/v1/customers?purpose=customer_service",
        Some(json!({"name": "Ana Ruiz", "mobile": "+34 612 345 678", "department": "service"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", html(&r));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let sess = agent.sign_in(&mut c).await;
    let reveal = format!("/console/customers/{id}/reveal");
    let fields = [
        ("field", "mobile"),
        ("purpose", "customer_service"),
        ("reason", "caller asked about a delivery"),
    ];
    // Just signed in with a code: the value is shown.
    let r = sess.form(&mut c, &reveal, &fields).await;
    assert_eq!(r.status, StatusCode::OK, "{}", html(&r));
    assert!(html(&r).contains("612"), "{}", html(&r));
    let api = format!("/v1/customers/{id}?purpose=customer_service&reveal=true&fields=mobile");
    assert_eq!(sess.send(&mut c, Method::GET, &api, None).await.status, StatusCode::OK);

    // Later than the step-up time: a code first, on the page and the API.
    tokio::time::sleep(std::time::Duration::from_millis(2_300)).await;
    let r = sess.form(&mut c, &reveal, &fields).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let page = html(&r);
    assert!(page.contains("id=\"step-up-form\"") && !page.contains("612"), "{page}");
    assert!(
        page.contains("caller asked about a delivery"),
        "the reason is carried along"
    );
    let r = sess.send(&mut c, Method::GET, &api, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["code"], "step_up_required", "{:?}", r.json());
    // The masked card needs no code.
    let card = format!("/v1/customers/{id}?purpose=customer_service");
    assert_eq!(sess.send(&mut c, Method::GET, &card, None).await.status, StatusCode::OK);
    // A wrong code is refused at the form; the right one reveals.
    let mut with_code = fields.to_vec();
    with_code.push(("code", "000000"));
    let r = sess.form(&mut c, &reveal, &with_code).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        html(&r).contains("id=\"error\"") && !html(&r).contains("612"),
        "{}",
        html(&r)
    );
    // (A recovery code: the authenticator's next code is not due yet.)
    let mut with_code = fields.to_vec();
    with_code.push(("code", &agent.recovery[1]));
    let r = sess.form(&mut c, &reveal, &with_code).await;
    assert_eq!(r.status, StatusCode::OK, "{}", html(&r));
    assert!(html(&r).contains("612"));
    // The API's step-up renews it the same way.
    tokio::time::sleep(std::time::Duration::from_millis(2_300)).await;
    assert_eq!(
        sess.send(&mut c, Method::GET, &api, None).await.status,
        StatusCode::FORBIDDEN
    );
    let r = sess
        .send(
            &mut c,
            Method::POST,
            "/v1/session/step-up",
            Some(json!({"code": agent.recovery[0]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json());
    assert_eq!(sess.send(&mut c, Method::GET, &api, None).await.status, StatusCode::OK);
    let log = audit_text(&data);
    assert!(log.contains("step-up") && log.contains("step_up_required"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_search_by_name_pages_through_a_cursor_the_server_keeps() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    let agent = staff(&data, "li.na", "cs_agent", true, true);
    let other = staff(&data, "wu.fang", "cs_agent", true, true);
    let steward = service_token(&data, "data_steward");
    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    for _ in 0..60 {
        let r = call(
            &mut c,
            &steward,
            Method::POST,
            "/v1/customers?purpose=customer_service",
            Some(json!({"name": "Ana Ruiz", "department": "service"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", html(&r));
    }
    // Out of the agent's scope: never found, never counted.
    let r = call(
        &mut c,
        &steward,
        Method::POST,
        "/v1/customers?purpose=customer_service",
        Some(json!({"name": "Ana Ruiz", "department": "risk"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", html(&r));
    let sess = agent.sign_in(&mut c).await;
    let results = |h: &str| h.matches("class=\"result\"").count();
    // Found whatever the case and width; the value is in the body only.
    let fields = [
        ("field", "name"),
        ("value", "ＡＮＡ ruiz"),
        ("purpose", "customer_service"),
    ];
    let r = sess.form(&mut c, "/console/search", &fields).await;
    assert_eq!(r.status, StatusCode::OK, "{}", html(&r));
    let page = html(&r);
    assert_eq!(results(&page), 50);
    assert!(
        !page.contains("Ana Ruiz") && !page.contains("ANA"),
        "masked, and the value not echoed"
    );
    let cursor = between(&page, "name=\"cursor\" value=\"", "\"").to_owned();
    assert!(!cursor.to_lowercase().contains("ana"));
    // Another person cannot use the cursor; it is checked before it is used.
    let sess2 = other.sign_in(&mut c).await;
    let r = sess2.form(&mut c, "/console/search/more", &[("cursor", &cursor)]).await;
    assert_eq!(r.status, StatusCode::GONE);
    // It was taken by that attempt: the owner searches again.
    let r = sess.form(&mut c, "/console/search", &fields).await;
    let cursor = between(&html(&r), "name=\"cursor\" value=\"", "\"").to_owned();
    let r = sess.form(&mut c, "/console/search/more", &[("cursor", &cursor)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", html(&r));
    let page = html(&r);
    assert_eq!(results(&page), 10);
    assert!(
        page.contains("id=\"from\"") && !page.contains("name=\"cursor\""),
        "{page}"
    );
    // A cursor works once.
    let r = sess.form(&mut c, "/console/search/more", &[("cursor", &cursor)]).await;
    assert_eq!(r.status, StatusCode::GONE);
    let log = audit_text(&data);
    assert!(
        log.contains("matches=50") && log.contains("matches=10 from=50"),
        "{log}"
    );
    assert!(!log.to_lowercase().contains("ana ruiz"), "no searched value in the log");
}
