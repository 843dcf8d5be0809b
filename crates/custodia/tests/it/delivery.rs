//! Portal codes reach the customer on their own contact, never staff: by
//! e-mail through a real SMTP server (STARTTLS, verified against its CA),
//! and by text message through an HTTPS webhook on loopback. And
//! break-glass access, which is loud.

use crate::kit::smtp::Smtp;
use crate::kit::*;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

fn add_customer(data: &std::path::Path) -> String {
    run_json(
        data,
        &[
            "customer",
            "add",
            "name=林晓",
            "mobile=13700137000",
            "email=lin.xiao@example.net",
            "department=service",
            "--purpose",
            "customer_service",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn portal_codes_go_by_mail_over_starttls_and_a_wrong_ca_refuses() {
    let Some(smtp) = Smtp::start_tls() else { return };
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    add_config(&data, &smtp.config());
    let id = add_customer(&data);
    let o = run(&data, &["portal", "send-code", &id, "--purpose", "customer_service"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sent: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(sent["to"], "l***@example.net");
    assert_eq!(sent["channel"], "email");
    let mail = smtp.wait_for(1).remove(0);
    assert_eq!(mail.to, "lin.xiao@example.net");
    assert_eq!(mail.from, "privacy@example.com");
    assert!(mail.subject.contains("privacy portal code"), "{}", mail.subject);
    let code = mail
        .body
        .split_whitespace()
        .find(|w| w.len() == 11 && w.as_bytes()[5] == b'-')
        .expect("the code")
        .to_owned();
    // The operator saw where it went, never the code.
    assert!(!stdout(&o).contains(&code) && !stderr(&o).contains(&code));
    // Nothing personal in the message: no name, number or the address in the text.
    for personal in ["林晓", "13700137000", "lin.xiao"] {
        assert!(!mail.body.contains(personal), "{personal}: {}", mail.body);
    }
    assert!(
        mail.body.contains("https://127.0.0.1:8443/portal/enter"),
        "{}",
        mail.body
    );

    // The code opens the customer's portal, once.
    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    let r = enter(&mut c, &code).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(cookie_value(&r, "custodia_portal").is_some());
    let r = enter(&mut c, &code).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "single use");
    drop(c);
    drop(s);

    // A mail server whose certificate the configured CA does not sign: no
    // mail, a clear error, and the code that was made is revoked.
    let other = d.path().join("other-ca.pem");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(&other, cert.pem()).unwrap();
    let cfg = std::fs::read_to_string(data.join("config.toml"))
        .unwrap()
        .replace(smtp.ca.as_ref().unwrap().to_str().unwrap(), other.to_str().unwrap());
    std::fs::write(data.join("config.toml"), cfg).unwrap();
    let o = run(&data, &["portal", "send-code", &id, "--purpose", "customer_service"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("could not be reached over STARTTLS"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("lin.xiao"), "no address in errors: {}", stderr(&o));
    assert_eq!(smtp.messages().len(), 1, "nothing was sent");
    let log = stdout(&run(&data, &["audit", "tail", "-n", "3"]));
    assert!(log.contains("not delivered and revoked"), "{log}");
}

/// Post an entry code to the portal's entry form.
async fn enter(c: &mut custodia::client::Conn, code: &str) -> custodia::client::Resp {
    let page = c.send(Method::GET, "/portal/enter", &[], None).await.unwrap();
    let csrf = cookie_value(&page, "custodia_portal_entry").unwrap();
    c.send(
        Method::POST,
        "/portal/enter",
        &[
            ("cookie", &format!("custodia_portal_entry={csrf}")),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        Some(form_encode(&[("code", code), ("csrf", &csrf)])),
    )
    .await
    .unwrap()
}

/// A small HTTPS server on loopback standing in for an SMS gateway: it
/// records what it is sent and answers with `status`.
struct Gateway {
    port: u16,
    ca: std::path::PathBuf,
    got: Received,
    status: Arc<Mutex<u16>>,
    _dir: tempfile::TempDir,
}

/// What the gateway received: the Authorization header and the JSON body of
/// each call.
type Received = Arc<Mutex<Vec<(Option<String>, Value)>>>;

async fn gateway() -> Gateway {
    use http_body_util::BodyExt;
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let ca = dir.path().join("gateway.pem");
    std::fs::write(&ca, cert.pem()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let status = Arc::new(Mutex::new(200u16));
    let (g, st) = (got.clone(), status.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { break };
            let (acceptor, g, st) = (acceptor.clone(), g.clone(), st.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (g, st) = (g.clone(), st.clone());
                    async move {
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        g.lock()
                            .unwrap()
                            .push((auth, serde_json::from_slice(&body).unwrap_or_default()));
                        let code = *st.lock().unwrap();
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(code)
                                .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Gateway {
        port,
        ca,
        got,
        status,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn portal_codes_by_text_message_through_an_https_webhook() {
    let gw = gateway().await;
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    add_config(
        &data,
        &format!(
            "[sms]\nwebhook = \"https://localhost:{}/send\"\nca_file = \"{}\"\ntimeout_seconds = 5\n",
            gw.port,
            gw.ca.display()
        ),
    );
    let id = add_customer(&data);
    let send = || {
        run_env(
            &data,
            &[
                "portal",
                "send-code",
                &id,
                "--purpose",
                "customer_service",
                "--channel",
                "sms",
            ],
            &[("CUSTODIA_SMS_TOKEN", "gw-secret")],
        )
    };
    let o = tokio::task::block_in_place(send);
    assert!(o.status.success(), "{}", stderr(&o));
    let sent: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (sent["channel"].as_str(), sent["to"].as_str()),
        (Some("sms"), Some("137****7000"))
    );
    let (auth, body) = gw.got.lock().unwrap()[0].clone();
    assert_eq!(auth.as_deref(), Some("Bearer gw-secret"));
    assert_eq!(body["to"], "+8613700137000");
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("/portal/enter") && !text.contains("林晓"), "{text}");
    assert!(!stdout(&o).contains(text.split_whitespace().find(|w| w.len() == 11).unwrap()));

    // The gateway refusing: one line naming its status, nothing personal.
    *gw.status.lock().unwrap() = 500;
    let o = tokio::task::block_in_place(send);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("SMS gateway refused the message (HTTP 500)"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("13700137000"));
    // Without the token in the environment it says which variable to set.
    let o = tokio::task::block_in_place(|| {
        run(
            &data,
            &[
                "portal",
                "send-code",
                &id,
                "--purpose",
                "customer_service",
                "--channel",
                "sms",
            ],
        )
    });
    assert!(stderr(&o).contains("CUSTODIA_SMS_TOKEN"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn break_glass_needs_an_administrator_and_is_loud() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    let id = add_customer(&data);
    let admin = staff(&data, "root.admin", "administrator", true, false);
    let agent = staff(&data, "li.agent", "cs_agent", true, true);
    let officer = service_token(&data, "privacy_officer");
    let glass = |who: &Staff, code: String| {
        run_env(
            &data,
            &[
                "break-glass",
                "--admin",
                &who.name,
                "--code",
                &code,
                "--reason",
                "all administrators locked out (ticket 4711)",
                "--minutes",
                "5",
            ],
            &[("CUSTODIA_ADMIN_PASSWORD", PW)],
        )
    };
    // Not an administrator, or a wrong code: refused, and on the record.
    let o = glass(&agent, agent.code());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not an active staff administrator"),
        "{}",
        stderr(&o)
    );
    let o = glass(&admin, "000000".into());
    assert_eq!(o.status.code(), Some(1));
    let o = glass(&admin, admin.code());
    assert!(o.status.success(), "{}", stderr(&o));
    let token = stdout(&o).trim().to_owned();
    assert!(stderr(&o).contains("BREAK-GLASS"), "{}", stderr(&o));

    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    let r = call(
        &mut c,
        &token,
        Method::GET,
        &format!("/v1/customers/{id}?reveal=true&purpose=data_subject_request&fields=national_id,mobile"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["fields"]["mobile"], "+8613700137000");
    let who = call(&mut c, &token, Method::GET, "/v1/session", None).await.json();
    assert_eq!(who["kind"], "break_glass");
    // Loud: its own event with the reason, every use under breakglass:…,
    // and status lists it.
    let log = call(&mut c, &officer, Method::GET, "/v1/audit?limit=50", None)
        .await
        .json();
    let events = log.as_array().unwrap();
    assert!(events.iter().any(|e| e["action"] == "break_glass"
        && e["outcome"] == "ok"
        && e["detail"].as_str().unwrap().contains("ticket 4711")));
    assert!(events
        .iter()
        .any(|e| e["action"] == "break_glass" && e["outcome"] == "denied"));
    assert!(events
        .iter()
        .any(|e| e["action"] == "reveal" && e["actor"].as_str().unwrap().starts_with("breakglass:root.admin/")));
    let status = run_json(&data, &["status"]);
    assert_eq!(status["break_glass_tokens_active"].as_array().unwrap().len(), 1);
    assert!(status["warnings"].to_string().contains("break-glass"), "{status}");
    // Revoked, it is over.
    let tok_id = status["break_glass_tokens_active"][0].as_str().unwrap().to_owned();
    assert!(run(&data, &["token", "revoke", &tok_id]).status.success());
    let r = call(&mut c, &token, Method::GET, "/v1/session", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let _ = json!({});
}

/// The redirect attack: an agent who may edit contacts points a customer's
/// e-mail at their own mailbox and asks for a portal code. No code goes out
/// while the change is fresh; the refusal says why, on the record, and
/// names no address.
#[tokio::test(flavor = "multi_thread")]
async fn a_contact_just_changed_by_staff_gets_no_portal_code() {
    let Some(smtp) = Smtp::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    add_config(&data, &smtp.config());
    let id = add_customer(&data);
    let agent = service_token(&data, "cs_agent");
    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    let r = call(
        &mut c,
        &agent,
        Method::PATCH,
        &format!("/v1/customers/{id}?purpose=customer_service"),
        Some(json!({"email": "attacker@evil.example"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = call(
        &mut c,
        &agent,
        Method::POST,
        &format!("/v1/customers/{id}/portal-links?purpose=customer_service"),
        Some(json!({"channel": "email"})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    let body = String::from_utf8_lossy(&r.body).to_string();
    assert!(body.contains("was changed by staff"), "{body}");
    assert!(!body.contains("attacker") && !body.contains("lin.xiao"), "{body}");
    // The same happens on the command line.
    let o = run(&data, &["portal", "send-code", &id, "--purpose", "customer_service"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("was changed by staff"), "{}", stderr(&o));
    // The one message that went out told the customer, at the address
    // they had, that staff changed it: no code, no new address.
    let mail = smtp.wait_for(1).remove(0);
    assert_eq!(mail.to, "lin.xiao@example.net");
    assert!(mail.body.contains("changed by our staff"), "{}", mail.body);
    assert!(
        !mail.body.contains("attacker") && !mail.body.contains("portal/enter"),
        "{}",
        mail.body
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(smtp.messages().len(), 1, "no code went out");
    let log = stdout(&run(&data, &["audit", "tail", "-n", "5"]));
    assert!(log.contains("was changed by staff"), "{log}");
}
