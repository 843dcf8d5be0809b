//! The authorization matrix: every route the router answers and every
//! command the command line defines, for every kind of caller, each with
//! its exact expected outcome. A route or a command without a row fails the
//! test. Every refusal of an authenticated caller must be in the audit log,
//! and no refusal's body may hold anything of a customer.
//!
//! HTTP callers: anonymous, a bad token, the bootstrap token, a service
//! token of each built-in role, a cs_agent staff member signed in without
//! MFA, one with MFA but no training, one with both, and a customer's
//! portal session. Command-line callers: local operators with each role
//! (and none), run in this process.

use crate::kit::*;
use custodia::client::{Conn, Resp};
use hyper::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;

const CALLERS: [&str; 13] = [
    "anonymous",
    "bad_token",
    "bootstrap",
    "cs_agent",
    "risk_analyst",
    "marketing_specialist",
    "data_steward",
    "privacy_officer",
    "administrator",
    "staff_no_mfa",
    "staff_untrained",
    "staff",
    "portal",
];
const BOOT: usize = 2;
const ADMIN: usize = 8;

/// What the known customers hold: no refusal may show any of it.
const SECRETS: [&str; 8] = [
    "张三丰",
    "13800138000",
    "zhang@example.com",
    "11010519491231002X",
    "李四光",
    "13911112222",
    "li.siguang@example.com",
    "13912345678",
];

enum Cred {
    None,
    Bearer(String),
    Session(Session),
    Portal { cookie: String, csrf: String },
}

struct Caller {
    name: &'static str,
    cred: Cred,
    /// How the caller appears in the audit log (prefix).
    actor: String,
}

impl Caller {
    async fn send(&self, c: &mut Conn, method: Method, path: &str, body: Option<&Value>) -> Resp {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
        match &self.cred {
            Cred::None => c.send(method, path, &[], bytes).await.unwrap(),
            Cred::Bearer(t) => {
                let auth = format!("Bearer {t}");
                c.send(method, path, &[("authorization", &auth)], bytes).await.unwrap()
            }
            Cred::Session(s) => s.send(c, method, path, body.cloned()).await,
            Cred::Portal { cookie, csrf } => {
                let cookie = format!("custodia_portal={cookie}");
                let mut h = vec![("cookie", cookie.as_str())];
                if method != Method::GET {
                    h.push(("x-csrf-token", csrf.as_str()));
                }
                c.send(method, path, &h, bytes).await.unwrap()
            }
        }
    }
}

/// One route, as the callers see it.
struct Row {
    method: Method,
    path: &'static str,
    /// The route it exercises (its pattern in the router).
    route: &'static str,
    body: Option<Value>,
    /// Expected status per caller, in CALLERS order.
    expect: [u16; 13],
    /// For searches and batches: how many customers each caller gets.
    count: Option<(&'static str, [usize; 13])>,
}

fn row(method: Method, route: &'static str, path: &'static str, body: Option<Value>, expect: [u16; 13]) -> Row {
    Row {
        method,
        path,
        route,
        body,
        expect,
        count: None,
    }
}

/// The fixtures every row refers to.
struct Fx {
    /// A customer of the service department (in an agent's scope), with a
    /// separate risk-control consent.
    x: String,
    /// A customer of the risk department (outside an agent's scope).
    r: String,
    /// A customer whose notes hold a vault token.
    vault_token: String,
    request: String,
    certificate: String,
    steward: String,
    officer: String,
}

async fn customer(c: &mut Conn, steward: &str, body: Value) -> String {
    let r = call(
        c,
        steward,
        Method::POST,
        "/v1/customers?purpose=customer_service",
        Some(body),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Fill the placeholders of a path or body: fixture ids, and fresh objects
/// for rows that change or destroy what they touch.
async fn fill(c: &mut Conn, fx: &Fx, s: &str, data: &Path) -> String {
    let mut out = s
        .replace("{x}", &fx.x)
        .replace("{r}", &fx.r)
        .replace("{req}", &fx.request)
        .replace("{cert}", &fx.certificate)
        .replace("{vtoken}", &fx.vault_token);
    if out.contains("{fresh}") {
        let id = customer(c, &fx.steward, json!({"name": "王五", "department": "service"})).await;
        out = out.replace("{fresh}", &id);
    }
    if out.contains("{fresh_hold}") {
        let r = call(
            c,
            &fx.officer,
            Method::POST,
            &format!("/v1/customers/{}/holds", fx.x),
            Some(json!({"reason": "matrix"})),
        )
        .await;
        assert_eq!(r.status, 201);
        out = out.replace("{fresh_hold}", r.json()["id"].as_str().unwrap());
    }
    if out.contains("{fresh_req}") {
        // A request verified by someone else (the machine's operator), so
        // separation of duties lets every caller try to complete it.
        let id = customer(c, &fx.steward, json!({"name": "赵七", "department": "service"})).await;
        let r = call(
            c,
            &fx.officer,
            Method::POST,
            "/v1/requests",
            Some(json!({"customer": id, "kind": "access"})),
        )
        .await;
        let req = r.json()["id"].as_str().unwrap().to_owned();
        let o = run(data, &["requests", "verify", &req, "--method", "id_document"]);
        assert!(o.status.success(), "{}", stderr(&o));
        out = out.replace("{fresh_req}", &req);
    }
    if out.contains("{fresh_name}") {
        out = out.replace("{fresh_name}", &format!("acct-{}", rand::random::<u32>()));
    }
    if out.contains("{fresh_account}") {
        out = out.replace("{fresh_account}", &fresh_account(data));
    }
    out
}

/// A new service account holding a data role (risk_analyst), for rows that
/// change roles.
fn fresh_account(data: &Path) -> String {
    let name = format!("acct-r{}", rand::random::<u32>());
    let o = run(data, &["user", "add", &name, "--role", "risk_analyst", "--service"]);
    assert!(o.status.success(), "{}", stderr(&o));
    name
}

/// The newest audit events (as the privacy officer reads them).
async fn newest_events(c: &mut Conn, officer: &str) -> Vec<Value> {
    let r = call(c, officer, Method::GET, "/v1/audit?limit=5", None).await;
    r.json().as_array().cloned().unwrap_or_default()
}

/// A refusal is on the record: an audit event of this caller, outcome
/// denied, newer than `after`.
async fn assert_refusal_audited(c: &mut Conn, officer: &str, who: &Caller, after: u64, what: &str) {
    for _ in 0..50 {
        let ev = newest_events(c, officer).await;
        if ev.iter().any(|e| {
            e["seq"].as_u64().unwrap_or(0) > after
                && e["outcome"] == "denied"
                && e["actor"].as_str().is_some_and(|a| a.starts_with(&who.actor))
        }) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{what}: the refusal of {} is not in the audit log", who.name);
}

async fn audit_head(c: &mut Conn, officer: &str) -> u64 {
    newest_events(c, officer)
        .await
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_and_command_for_every_caller() {
    let Some(smtp) = crate::kit::smtp::Smtp::start() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    add_config(&data, &smtp.config());
    // Operators of the command-line rows, one role each.
    add_config(
        &data,
        "[operator.by_name]\nop-admin = [\"administrator\"]\nop-officer = [\"privacy_officer\"]\nop-steward = [\"data_steward\"]\nop-agent = [\"cs_agent\"]\nop-none = []\n",
    );
    // The bad-token caller sends hundreds of refusals from one address;
    // their throttling is signin's to test, not this matrix's.
    set_config(&data, "sign_in", "token_failures", toml::Value::Integer(1_000_000));
    let s = Server::start(&data, &[]);
    let boot = s.token.clone().expect("the bootstrap token");
    let mut tokens = Vec::new();
    for role in &CALLERS[3..8] {
        tokens.push(service_token(&data, role));
    }
    let steward = tokens[3].clone();
    let officer = tokens[4].clone();
    let no_mfa = staff(&data, "ann.nomfa", "cs_agent", false, false);
    let untrained = staff(&data, "bo.untrained", "cs_agent", true, false);
    let full = staff(&data, "cy.agent", "cs_agent", true, true);
    // Addresses on file for the rows that send links or reset MFA, and a
    // staff member without MFA to send a setup link to.
    for (who, addr) in [("bo.untrained", "bo@example.test"), ("cy.agent", "cy@example.test")] {
        let o = run(&data, &["user", "email", who, addr]);
        assert!(o.status.success(), "{}", stderr(&o));
        approve_for(&data, who);
    }
    let o = run_env(
        &data,
        &[
            "user",
            "add",
            "dee.link",
            "--role",
            "cs_agent",
            "--email",
            "dee@example.test",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut c = s.conn().await;

    // Fixtures.
    let x = customer(
        &mut c,
        &steward,
        json!({"name": "张三丰", "mobile": "13800138000", "email": "zhang@example.com", "department": "service"}),
    )
    .await;
    let r = call(
        &mut c,
        &steward,
        Method::PATCH,
        &format!("/v1/customers/{x}?purpose=contract_performance"),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, 400, "an empty update names no fields");
    let r = call(
        &mut c,
        &steward,
        Method::POST,
        &format!("/v1/customers/{x}/consents?purpose=contract_performance"),
        Some(json!({"consents": [{"purpose": "risk_control", "channel": "in_person", "language": "zh", "separate": true}]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let rr = customer(
        &mut c,
        &steward,
        json!({"name": "李四光", "mobile": "13911112222", "email": "li.siguang@example.com", "department": "risk"}),
    )
    .await;
    let noted = customer(
        &mut c,
        &steward,
        json!({"name": "赵六", "department": "service", "notes": "客户新号码 13912345678"}),
    )
    .await;
    let r = call(
        &mut c,
        &officer,
        Method::GET,
        &format!("/v1/customers/{noted}?reveal=true&purpose=data_subject_request&fields=notes"),
        None,
    )
    .await;
    let notes = r.json()["fields"]["notes"].as_str().unwrap().to_owned();
    let vtoken = notes
        .split("[[cn_mobile ")
        .nth(1)
        .unwrap()
        .split("]]")
        .next()
        .unwrap()
        .to_owned();
    let r = call(
        &mut c,
        &officer,
        Method::POST,
        "/v1/requests",
        Some(json!({"customer": x, "kind": "access", "regime": "gdpr"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let request = r.json()["id"].as_str().unwrap().to_owned();
    let victim = customer(&mut c, &steward, json!({"name": "吴二", "department": "service"})).await;
    let r = call(
        &mut c,
        &steward,
        Method::DELETE,
        &format!("/v1/customers/{victim}?purpose=legal_obligation"),
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    let certificate = r.headers["custodia-destruction-certificate"]
        .to_str()
        .unwrap()
        .to_owned();
    let fx = Fx {
        x: x.clone(),
        r: rr,
        vault_token: vtoken,
        request,
        certificate,
        steward: steward.clone(),
        officer: officer.clone(),
    };

    // The customer's own portal session: the code arrives by e-mail.
    let r = call(
        &mut c,
        &steward,
        Method::POST,
        &format!("/v1/customers/{x}/portal-links?purpose=customer_service"),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // The first message is dee.link's setup link; then the portal code.
    let mail = smtp
        .wait_for(2)
        .into_iter()
        .find(|m| m.subject.contains("portal"))
        .expect("the portal code");
    let code = mail
        .body
        .split_whitespace()
        .find(|w| w.len() == 11 && w.as_bytes()[5] == b'-')
        .unwrap()
        .to_owned();
    assert!(
        !String::from_utf8_lossy(&r.body).contains(&code),
        "the code is never in a response"
    );
    let page = c.send(Method::GET, "/portal/enter", &[], None).await.unwrap();
    let csrf_pre = cookie_value(&page, "custodia_portal_entry").unwrap();
    let r = c
        .send(
            Method::POST,
            "/portal/enter",
            &[
                ("cookie", &format!("custodia_portal_entry={csrf_pre}")),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some(form_encode(&[("code", &code), ("csrf", &csrf_pre)])),
        )
        .await
        .unwrap();
    let portal_cookie = cookie_value(&r, "custodia_portal").expect("a portal session");

    let sessions = [
        no_mfa.sign_in(&mut c).await,
        untrained.sign_in(&mut c).await,
        full.sign_in(&mut c).await,
    ];
    let [s_nomfa, s_untrained, s_full] = sessions;
    let mut callers: Vec<Caller> = vec![
        Caller {
            name: "anonymous",
            cred: Cred::None,
            actor: "anonymous".into(),
        },
        Caller {
            name: "bad_token",
            cred: Cred::Bearer(format!("cst_{}", "0".repeat(64))),
            actor: "anonymous".into(),
        },
        Caller {
            name: "bootstrap",
            cred: Cred::Bearer(boot.clone()),
            actor: "token:bootstrap".into(),
        },
    ];
    for (i, role) in CALLERS[3..8].iter().enumerate() {
        callers.push(Caller {
            name: role,
            cred: Cred::Bearer(tokens[i].clone()),
            actor: format!("service:svc-{}/", role.replace('_', "-")),
        });
    }
    // The administrator's account is made only after the bootstrap token's
    // rows ran (making one switches the token off).
    callers.push(Caller {
        name: "administrator",
        cred: Cred::None,
        actor: "service:svc-administrator/".into(),
    });
    callers.push(Caller {
        name: "staff_no_mfa",
        cred: Cred::Session(s_nomfa),
        actor: "staff:ann.nomfa".into(),
    });
    callers.push(Caller {
        name: "staff_untrained",
        cred: Cred::Session(s_untrained),
        actor: "staff:bo.untrained".into(),
    });
    callers.push(Caller {
        name: "staff",
        cred: Cred::Session(s_full),
        actor: "staff:cy.agent".into(),
    });
    callers.push(Caller {
        name: "portal",
        cred: Cred::Portal {
            cookie: portal_cookie.clone(),
            csrf: String::new(),
        },
        actor: "customer:portal".into(),
    });

    let v2 = custodia_core::notice::DEFAULT_NOTICE_TOML.replace("version = 1\n", "version = 2\n");
    let today = chrono::Utc::now().date_naive().to_string();
    use Method as M;
    //                                                                   anon bad boot  agt risk mkt stew  off adm nomfa untr staff portal
    let rows = vec![
        row(
            M::GET,
            "/v1/health",
            "/v1/health",
            None,
            [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
        ),
        row(M::GET, "/v1/openapi.json", "/v1/openapi.json", None, [200; 13]),
        row(M::GET, "/v1/notices/{version}", "/v1/notices/current", None, [200; 13]),
        row(
            M::GET,
            "/v1/notices/{version}/diff",
            "/v1/notices/current/diff?from=1",
            None,
            [200; 13],
        ),
        row(M::GET, "/v1/keys/signing", "/v1/keys/signing", None, [200; 13]),
        row(
            M::GET,
            "/v1/schema",
            "/v1/schema",
            None,
            [401, 401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401],
        ),
        row(
            M::GET,
            "/v1/session",
            "/v1/session",
            None,
            [401, 401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401],
        ),
        row(
            M::POST,
            "/v1/customers",
            "/v1/customers?purpose=customer_service",
            Some(json!({"name": "孙九", "mobile": "13700137000", "department": "service"})),
            [401, 401, 403, 403, 403, 403, 201, 403, 403, 403, 403, 403, 401],
        ),
        // An agent may write contact fields, not the name: the whole record is refused.
        Row {
            count: Some(("created", [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0])),
            ..row(
                M::POST,
                "/v1/customers:batch",
                "/v1/customers:batch?purpose=customer_service",
                Some(json!({"records": [{"name": "周十", "department": "service"}]})),
                [401, 401, 403, 200, 403, 403, 200, 403, 403, 403, 200, 200, 401],
            )
        },
        Row {
            count: Some(("len", [0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0])),
            ..row(
                M::GET,
                "/v1/customers",
                "/v1/customers?mobile=13800138000&purpose=customer_service",
                None,
                [401, 401, 403, 200, 403, 403, 200, 403, 403, 403, 200, 200, 401],
            )
        },
        // Outside an agent's scope: not found, not refused.
        Row {
            count: Some(("len", [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0])),
            ..row(
                M::GET,
                "/v1/customers",
                "/v1/customers?mobile=13911112222&purpose=customer_service",
                None,
                [401, 401, 403, 200, 403, 403, 200, 403, 403, 403, 200, 200, 401],
            )
        },
        row(
            M::GET,
            "/v1/customers/{id}",
            "/v1/customers/{x}?purpose=customer_service",
            None,
            [401, 401, 404, 200, 403, 403, 200, 403, 404, 403, 200, 200, 401],
        ),
        row(
            M::GET,
            "/v1/customers/{id}",
            "/v1/customers/{r}?purpose=customer_service",
            None,
            [401, 401, 404, 404, 403, 403, 200, 403, 404, 404, 404, 404, 401],
        ),
        row(
            M::GET,
            "/v1/customers/{id}",
            "/v1/customers/{x}?purpose=risk_control",
            None,
            [401, 401, 404, 403, 200, 403, 403, 403, 404, 403, 403, 403, 401],
        ),
        row(
            M::GET,
            "/v1/customers/{id}",
            "/v1/customers/{x}?purpose=data_subject_request",
            None,
            [401, 401, 404, 403, 403, 403, 403, 200, 404, 403, 403, 403, 401],
        ),
        row(
            M::GET,
            "/v1/customers/{id}",
            "/v1/customers/{x}?reveal=true&purpose=customer_service&fields=mobile",
            None,
            [401, 401, 404, 200, 403, 403, 200, 403, 404, 403, 403, 200, 401],
        ),
        row(
            M::GET,
            "/v1/customers/{id}",
            "/v1/customers/{x}?reveal=true&purpose=customer_service&fields=email",
            None,
            [401, 401, 404, 403, 403, 403, 200, 403, 404, 403, 403, 403, 401],
        ),
        row(
            M::GET,
            "/v1/customers/{id}",
            "/v1/customers/{x}?reveal=true&purpose=data_subject_request&fields=national_id",
            None,
            [401, 401, 404, 403, 403, 403, 403, 200, 404, 403, 403, 403, 401],
        ),
        row(
            M::PATCH,
            "/v1/customers/{id}",
            "/v1/customers/{x}?purpose=customer_service",
            Some(json!({"email": "zhang@example.com"})),
            [401, 401, 404, 200, 403, 403, 200, 403, 404, 403, 200, 200, 401],
        ),
        row(
            M::DELETE,
            "/v1/customers/{id}",
            "/v1/customers/{fresh}?purpose=legal_obligation",
            None,
            [401, 401, 404, 403, 403, 403, 204, 204, 404, 403, 403, 403, 401],
        ),
        row(
            M::GET,
            "/v1/audit",
            "/v1/audit?limit=5",
            None,
            [401, 401, 403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 401],
        ),
        row(
            M::GET,
            "/v1/audit/events",
            "/v1/audit/events?action=reveal&outcome=denied&limit=5",
            None,
            [401, 401, 403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 401],
        ),
        row(
            M::GET,
            "/v1/audit/verify",
            "/v1/audit/verify",
            None,
            [401, 401, 403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 401],
        ),
        row(
            M::GET,
            "/v1/policy/explain",
            "/v1/policy/explain?account=svc-cs-agent&action=reveal&field=mobile&purpose=customer_service",
            None,
            [401, 401, 403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/training",
            "/v1/training",
            Some(json!({"account": "cy.agent", "course": "privacy_basics", "completed": today, "score": 90})),
            [401, 401, 403, 403, 403, 403, 403, 201, 403, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/accounts",
            "/v1/accounts",
            Some(json!({"name": "{fresh_name}", "kind": "service", "roles": []})),
            [401, 401, 403, 403, 403, 403, 403, 403, 201, 403, 403, 403, 401],
        ),
        // Data roles are asked for by a privacy officer (a person: a grant
        // waits for a second one, so no token asks), never an administrator.
        row(
            M::PUT,
            "/v1/accounts/{name}/roles",
            "/v1/accounts/{fresh_account}/roles",
            Some(json!({"roles": ["cs_agent"]})),
            [401, 401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401],
        ),
        row(
            M::GET,
            "/v1/accounts",
            "/v1/accounts",
            None,
            [401, 401, 403, 403, 403, 403, 403, 200, 200, 403, 403, 403, 401],
        ),
        // An account's life: the administrator's, never a data role's.
        row(
            M::PUT,
            "/v1/accounts/{name}/email",
            "/v1/accounts/bo.untrained/email",
            Some(json!({"email": "bo@example.test"})),
            // It waits for a second person, so a person asks: not a token.
            [401, 401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/accounts/{name}/links",
            "/v1/accounts/dee.link/links",
            Some(json!({"kind": "setup"})),
            [401, 401, 403, 403, 403, 403, 403, 403, 201, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/accounts/{name}/disable",
            "/v1/accounts/{fresh_account}/disable",
            Some(json!({"reason": "matrix"})),
            [401, 401, 403, 403, 403, 403, 403, 403, 200, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/accounts/{name}/enable",
            "/v1/accounts/{fresh_account}/enable",
            None,
            [401, 401, 403, 403, 403, 403, 403, 403, 200, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/accounts/{name}/unlock",
            "/v1/accounts/{fresh_account}/unlock",
            None,
            [401, 401, 403, 403, 403, 403, 403, 403, 204, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/accounts/{name}/mfa-reset",
            "/v1/accounts/bo.untrained/mfa-reset",
            None,
            [401, 401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401],
        ),
        row(
            M::DELETE,
            "/v1/accounts/{name}",
            "/v1/accounts/{fresh_account}",
            None,
            [401, 401, 403, 403, 403, 403, 403, 403, 204, 403, 403, 403, 401],
        ),
        row(
            M::GET,
            "/v1/approvals",
            "/v1/approvals?pending=true",
            None,
            [401, 401, 403, 403, 403, 403, 403, 200, 200, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/approvals/{id}/approve",
            "/v1/approvals/apr_0/approve",
            None,
            [401, 401, 403, 403, 403, 403, 403, 404, 404, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/approvals/{id}/reject",
            "/v1/approvals/apr_0/reject",
            Some(json!({"note": "matrix"})),
            [401, 401, 403, 403, 403, 403, 403, 404, 404, 403, 403, 403, 401],
        ),
        // Only a signed-in person changes their own password (here with a
        // wrong current one).
        row(
            M::POST,
            "/v1/session/password",
            "/v1/session/password",
            Some(json!({"current": "not the password", "new": "an entirely new passphrase"})),
            [401, 401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401],
        ),
        // A wrong code is refused (and counted); tokens have no session.
        row(
            M::POST,
            "/v1/session/step-up",
            "/v1/session/step-up",
            Some(json!({"code": "not-a-code"})),
            [401, 401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/password/forgot",
            "/v1/password/forgot",
            Some(json!({"name": "nobody.here"})),
            [202; 13],
        ),
        row(
            M::POST,
            "/v1/notices",
            "/v1/notices",
            Some(json!({"toml": v2, "dry_run": true})),
            [401, 401, 403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 401],
        ),
        row(
            M::GET,
            "/v1/notices",
            "/v1/notices",
            None,
            [401, 401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401],
        ),
        row(
            M::GET,
            "/v1/customers/{id}/consents",
            "/v1/customers/{x}/consents?purpose=customer_service",
            None,
            [401, 401, 404, 200, 403, 403, 200, 403, 404, 403, 200, 200, 401],
        ),
        row(
            M::POST,
            "/v1/customers/{id}/consents",
            "/v1/customers/{x}/consents?purpose=customer_service",
            Some(json!({"consents": [{"purpose": "marketing", "channel": "phone", "language": "zh"}]})),
            [401, 401, 404, 201, 403, 403, 201, 403, 404, 403, 201, 201, 401],
        ),
        row(
            M::GET,
            "/v1/customers/{id}/consent-receipts",
            "/v1/customers/{x}/consent-receipts?purpose=data_subject_request",
            None,
            [401, 401, 404, 403, 403, 403, 403, 200, 404, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/customers/{id}/portal-links",
            "/v1/customers/{x}/portal-links?purpose=customer_service",
            Some(json!({})),
            [401, 401, 404, 201, 403, 403, 201, 403, 404, 403, 201, 201, 401],
        ),
        row(
            M::GET,
            "/v1/reports/consents",
            "/v1/reports/consents",
            None,
            [401, 401, 403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/requests",
            "/v1/requests",
            Some(json!({"customer": "{x}", "kind": "objection", "regime": "ccpa"})),
            [401, 401, 403, 201, 403, 403, 403, 201, 403, 403, 201, 201, 401],
        ),
        row(
            M::GET,
            "/v1/requests",
            "/v1/requests",
            None,
            [401, 401, 403, 200, 403, 403, 403, 200, 403, 403, 200, 200, 401],
        ),
        row(
            M::GET,
            "/v1/requests/{id}",
            "/v1/requests/{req}",
            None,
            [401, 401, 403, 200, 403, 403, 403, 200, 403, 403, 200, 200, 401],
        ),
        row(
            M::POST,
            "/v1/requests/{id}/{step}",
            "/v1/requests/{req}/acknowledge",
            Some(json!({})),
            [401, 401, 403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 401],
        ),
        // Completing an access request hands out every field: the officer's
        // reveal under data_subject_request; nobody else.
        row(
            M::POST,
            "/v1/requests/{id}/{step}",
            "/v1/requests/{fresh_req}/complete",
            Some(json!({})),
            [401, 401, 403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 401],
        ),
        row(
            M::GET,
            "/v1/customers/{id}/holds",
            "/v1/customers/{x}/holds",
            None,
            [401, 401, 404, 403, 403, 403, 403, 200, 404, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/customers/{id}/holds",
            "/v1/customers/{x}/holds",
            Some(json!({"reason": "case 7"})),
            [401, 401, 404, 403, 403, 403, 403, 201, 404, 403, 403, 403, 401],
        ),
        row(
            M::DELETE,
            "/v1/customers/{id}/holds/{hold}",
            "/v1/customers/{x}/holds/{fresh_hold}",
            None,
            [401, 401, 404, 403, 403, 403, 403, 200, 404, 403, 403, 403, 401],
        ),
        row(
            M::PUT,
            "/v1/customers/{id}/lifecycle",
            "/v1/customers/{x}/lifecycle?purpose=contract_performance",
            Some(json!({"reviewed": true})),
            [401, 401, 404, 403, 403, 403, 200, 403, 404, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/customers/{id}/erase",
            "/v1/customers/{fresh}/erase?purpose=legal_obligation",
            Some(json!({"basis": "matrix"})),
            [401, 401, 404, 403, 403, 403, 200, 200, 404, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/retention/run",
            "/v1/retention/run",
            Some(json!({"dry_run": true})),
            [401, 401, 403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 401],
        ),
        row(
            M::GET,
            "/v1/certificates/{id}",
            "/v1/certificates/{cert}",
            None,
            [401, 401, 403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/detect",
            "/v1/detect",
            Some(json!({"text": "电话 13912345678"})),
            [401, 401, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            "/v1/tokens/detokenize",
            "/v1/tokens/detokenize?purpose=data_subject_request",
            Some(json!({"token": "{vtoken}"})),
            [401, 401, 404, 403, 403, 403, 403, 200, 404, 403, 403, 403, 401],
        ),
        // Pages decide by session; an API token is no session.
        row(M::GET, "/", "/", None, [303; 13]),
        row(M::GET, "/login", "/login", None, [200; 13]),
        row(M::POST, "/login", "/login", None, [400; 13]),
        row(
            M::GET,
            "/account",
            "/account",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 200, 200, 200, 303],
        ),
        row(
            M::GET,
            "/console",
            "/console",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 200, 200, 200, 303],
        ),
        row(
            M::GET,
            "/console/search",
            "/console/search",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 200, 200, 200, 303],
        ),
        // A form without the session's anti-CSRF token is refused.
        row(
            M::POST,
            "/console/search",
            "/console/search",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::POST,
            "/console/search/more",
            "/console/search/more",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        // Data needs MFA and training, as on the API.
        row(
            M::GET,
            "/console/customers/{id}",
            "/console/customers/{x}?purpose=customer_service",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 200, 200, 303],
        ),
        // Out of the agent's scope: as unknown as a customer that does not exist.
        row(
            M::GET,
            "/console/customers/{id}",
            "/console/customers/{r}?purpose=customer_service",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 404, 404, 404, 303],
        ),
        row(
            M::GET,
            "/console/customers/{id}/reveal",
            "/console/customers/{x}/reveal",
            None,
            [303; 13],
        ),
        row(
            M::POST,
            "/console/customers/{id}/reveal",
            "/console/customers/{x}/reveal",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::POST,
            "/console/customers/{id}/edit",
            "/console/customers/{x}/edit",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::POST,
            "/console/customers/{id}/consent",
            "/console/customers/{x}/consent",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::POST,
            "/console/customers/{id}/request",
            "/console/customers/{x}/request",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::POST,
            "/console/customers/{id}/portal-code",
            "/console/customers/{x}/portal-code",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::GET,
            "/console/dashboard",
            "/console/dashboard",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 200, 200, 303],
        ),
        row(
            M::GET,
            "/console/requests",
            "/console/requests",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 200, 200, 303],
        ),
        row(
            M::GET,
            "/console/requests/{id}",
            "/console/requests/{req}",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 200, 200, 303],
        ),
        row(
            M::POST,
            "/console/requests/{id}/{action}",
            "/console/requests/{req}/verify",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        // The audit viewer and the accounts need read_audit and
        // manage_accounts, which a cs_agent session lacks.
        row(
            M::GET,
            "/console/audit",
            "/console/audit?action=reveal",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::POST,
            "/console/audit/verify",
            "/console/audit/verify",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::GET,
            "/console/reviews",
            "/console/reviews",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::POST,
            "/console/reviews",
            "/console/reviews",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::GET,
            "/console/reviews/{id}",
            "/console/reviews/rev_none",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::POST,
            "/console/reviews/{id}/decide",
            "/console/reviews/rev_none/decide",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::GET,
            "/console/policy",
            "/console/policy?account=li.na&action=reveal&field=mobile&purpose=customer_service",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::GET,
            "/console/accounts",
            "/console/accounts",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::POST,
            "/console/accounts",
            "/console/accounts",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::GET,
            "/console/accounts/{name}",
            "/console/accounts/administrator",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::POST,
            "/console/accounts/{name}/{action}",
            "/console/accounts/administrator/disable",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::POST,
            "/console/approvals/{id}/{action}",
            "/console/approvals/none/approve",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::GET,
            "/mfa/enroll",
            "/mfa/enroll",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 200, 303, 303, 303],
        ),
        row(
            M::POST,
            "/mfa/enroll",
            "/mfa/enroll",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::GET,
            "/reports/consents",
            "/reports/consents",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        row(
            M::GET,
            "/portal",
            "/portal",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 200],
        ),
        row(M::GET, "/portal/enter", "/portal/enter", None, [200; 13]),
        row(M::POST, "/portal/enter", "/portal/enter", None, [400; 13]),
        row(
            M::POST,
            "/portal/consent",
            "/portal/consent",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 403],
        ),
        row(
            M::POST,
            "/portal/request",
            "/portal/request",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 403],
        ),
        row(
            M::GET,
            "/portal/data.json",
            "/portal/data.json",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 200],
        ),
        row(M::GET, "/static/custodia.css", "/static/custodia.css", None, [200; 13]),
        row(M::GET, "/static/reveal.css", "/static/reveal.css", None, [200; 13]),
        row(M::GET, "/password/forgot", "/password/forgot", None, [200; 13]),
        row(M::POST, "/password/forgot", "/password/forgot", None, [403; 13]),
        row(M::GET, "/account/link", "/account/link?t=not-a-link", None, [403; 13]),
        row(M::POST, "/account/link", "/account/link", None, [403; 13]),
        row(M::POST, "/account/link/mfa", "/account/link/mfa", None, [403; 13]),
        row(
            M::GET,
            "/account/password",
            "/account/password",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 200, 200, 200, 303],
        ),
        row(
            M::POST,
            "/account/password",
            "/account/password",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 403, 403, 403, 303],
        ),
        // Sign-outs last: they end the sessions.
        row(
            M::POST,
            "/portal/logout",
            "/portal/logout",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303],
        ),
        row(
            M::POST,
            "/logout",
            "/logout",
            None,
            [303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303, 303],
        ),
    ];

    // Every route of the router has a row.
    let routes = tokio::task::block_in_place(|| {
        let vault = custodia_vault::Vault::open(&custodia_vault::DataDir::new(&data), &|| unreachable!()).unwrap();
        custodia_server::routes(std::sync::Arc::new(vault))
    });
    let covered: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_string(), r.route.to_owned()))
        .collect();
    let missing: Vec<String> = routes
        .iter()
        .filter(|r| !covered.contains(&(r.method.clone(), r.path.clone())))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(missing.is_empty(), "routes without a row in the matrix: {missing:?}");
    let known: BTreeSet<(String, String)> = routes.iter().map(|r| (r.method.clone(), r.path.clone())).collect();
    for r in &rows {
        assert!(
            known.contains(&(r.method.to_string(), r.route.to_owned())),
            "row for an unknown route {} {}",
            r.method,
            r.route
        );
    }

    // Pass one: everyone but the administrator (whose account switches the
    // bootstrap token off); pass two: the administrator.
    let mut failures = Vec::new();
    for pass in 0..2 {
        if pass == 1 {
            callers[ADMIN].cred = Cred::Bearer(service_token(&data, "administrator"));
        }
        for r in &rows {
            // Sign-outs only in the last pass.
            if pass == 0 && (r.route == "/logout" || r.route == "/portal/logout") {
                continue;
            }
            for (i, who) in callers.iter().enumerate() {
                if (pass == 0) == (i == ADMIN) {
                    continue;
                }
                if pass == 1 && i == BOOT {
                    continue;
                }
                let path = fill(&mut c, &fx, r.path, &data).await;
                let body = match &r.body {
                    None => None,
                    Some(b) => {
                        Some(serde_json::from_str::<Value>(&fill(&mut c, &fx, &b.to_string(), &data).await).unwrap())
                    }
                };
                let before = if matches!(who.cred, Cred::None) && i == 0 {
                    0
                } else {
                    audit_head(&mut c, &officer).await
                };
                let resp = who.send(&mut c, r.method.clone(), &path, body.as_ref()).await;
                let got = resp.status.as_u16();
                if got != r.expect[i] {
                    failures.push(format!(
                        "{} {} as {}: expected {}, got {got}: {}",
                        r.method,
                        path,
                        who.name,
                        r.expect[i],
                        String::from_utf8_lossy(&resp.body)
                            .chars()
                            .take(240)
                            .collect::<String>()
                    ));
                    continue;
                }
                if let Some((key, counts)) = &r.count {
                    if got == 200 {
                        let n = match *key {
                            "len" => resp.json().as_array().map(|a| a.len()).unwrap_or(0),
                            k => resp.json()[k].as_u64().unwrap_or(0) as usize,
                        };
                        if n != counts[i] {
                            failures.push(format!(
                                "{} {path} as {}: {n} customers, expected {}",
                                r.method, who.name, counts[i]
                            ));
                        }
                    }
                }
                if got >= 400 {
                    let text = String::from_utf8_lossy(&resp.body);
                    for secret in SECRETS {
                        assert!(
                            !text.contains(secret),
                            "{} {path} as {}: the refusal shows {secret}: {text}",
                            r.method,
                            who.name
                        );
                    }
                }
                // Refusals of authenticated callers by the vault are audited.
                if r.route.starts_with("/v1/")
                    && (got == 403 || (got == 404 && r.path.contains('{')))
                    && i != 0
                    && i != 12
                {
                    assert_refusal_audited(&mut c, &officer, who, before, &format!("{} {path}", r.method)).await;
                }
            }
        }
    }
    // Refused tokens are counted per address and window, not written one
    // by one (signin::bad_tokens_…): the window's first is on the record.
    let audit = stdout(&run(&data, &["audit", "tail", "-n", "100000"]));
    assert!(
        audit.contains("unknown_token from 127.0.0.1"),
        "the bad token's first refusal is audited"
    );
    assert!(
        failures.is_empty(),
        "{} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The bootstrap token after the first administrator: gone.
    let r = call(&mut c, &boot, Method::GET, "/v1/session", None).await;
    assert_eq!(r.status, 401);

    // Every command of the command line, for operators of each role.
    cli_rows(&data, &fx, &mut c, &officer).await;

    // Nobody records their own training, over the API either.
    let po = staff(&data, "po.self", "privacy_officer", true, false);
    let sess = po.sign_in(&mut c).await;
    let body = json!({"account": "po.self", "course": "privacy_basics", "completed": today, "score": 100});
    let r = sess.send(&mut c, Method::POST, "/v1/training", Some(body)).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["code"].as_str()),
        (403, Some("separation_of_duties"))
    );
    let body = json!({"account": "ann.nomfa", "course": "privacy_basics", "completed": today, "score": 100});
    let r = sess.send(&mut c, Method::POST, "/v1/training", Some(body)).await;
    assert_eq!(r.status.as_u16(), 201, "{}", String::from_utf8_lossy(&r.body));

    // The server's background jobs: each its own job, no data.
    tokio::task::block_in_place(|| {
        use custodia_vault::access::authz::{Job, Principal};
        let v = custodia_vault::Vault::open(&custodia_vault::DataDir::new(&data), &|| unreachable!()).unwrap();
        let masked = v.access(Some("customer_service"), false, None).unwrap();
        for job in [Job::Retention, Job::Backup, Job::LedgerSync] {
            let p = Principal::system(job);
            assert_eq!(v.get(&p, &fx.x, &masked).unwrap_err().code(), "forbidden", "{job:?}");
            assert_eq!(v.audit_tail(&p, 1).unwrap_err().code(), "forbidden", "{job:?}");
            let mut out = Vec::new();
            let e = v.export(
                &p,
                &mut out,
                custodia_vault::records::export::ExportFormat::Csv,
                &masked,
                &custodia_vault::NoProgress,
            );
            assert_eq!(e.unwrap_err().code(), "forbidden", "{job:?}");
            assert!(out.is_empty());
            assert_eq!(v.sync_erasure_ledger(&p).is_ok(), job == Job::LedgerSync, "{job:?}");
            assert_eq!(
                v.scheduled_backup(&p, &custodia_vault::NoProgress).is_ok(),
                job == Job::Backup,
                "{job:?}"
            );
            let dry = custodia_vault::rights::retention::RetentionOptions {
                dry_run: true,
                as_of: None,
            };
            assert_eq!(
                v.retention_run(&p, &dry, &custodia_vault::NoProgress).is_ok(),
                job == Job::Retention,
                "{job:?}"
            );
        }
    });
    drop(smtp);
}

/// Exit code per operator: op-admin, op-officer, op-steward, op-agent, op-none.
const OPERATORS: [&str; 5] = ["op-admin", "op-officer", "op-steward", "op-agent", "op-none"];

enum Cli {
    Run(&'static str, [i32; 5]),
    /// Not run in this process (it serves, or needs another machine's
    /// state); the test named covers it.
    #[allow(dead_code)]
    Elsewhere(&'static str, &'static str),
}

async fn cli_rows(data: &Path, fx: &Fx, c: &mut Conn, officer: &str) {
    use clap::CommandFactory;
    let dir = data.parent().unwrap();
    let notice = dir.join("v2.toml");
    std::fs::write(
        &notice,
        custodia_core::notice::DEFAULT_NOTICE_TOML.replace("version = 1\n", "version = 2\n"),
    )
    .unwrap();
    let csv = dir.join("few.csv");
    std::fs::write(&csv, "name,mobile,department\n钱八,13500135000,service\n").unwrap();
    let holidays = dir.join("holidays-2027.toml");
    std::fs::write(
        &holidays,
        "[cn_working]\nyears = [2027]\nholidays = [\"2027-01-01\"]\nworkdays = []\n",
    )
    .unwrap();
    let trainings = dir.join("trainings.csv");
    std::fs::write(
        &trainings,
        format!(
            "account,course,completed,score,expires\ncy.agent,privacy_basics,{},91,{}\n",
            chrono::Utc::now().date_naive(),
            chrono::Utc::now().date_naive() + chrono::Duration::days(300)
        ),
    )
    .unwrap();
    let profile = dir.join("profile.toml");
    std::fs::write(
        &profile,
        "k = 2\nquasi_identifiers = [\"department\"]\n\n[fields]\ndepartment = \"keep\"\n",
    )
    .unwrap();
    let cert = dir.join("cert.jws");
    let jws = call(
        c,
        officer,
        Method::GET,
        &format!("/v1/certificates/{}", fx.certificate),
        None,
    )
    .await
    .json()["jws"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(&cert, &jws).unwrap();
    let text = dir.join("text.txt");
    std::fs::write(&text, "电话 13912345678").unwrap();
    let key = dir.join("rk.key");
    // A service account with only administrative roles: an administrator
    // alone may take its token (not one of an account with data roles).
    let o = run(
        data,
        &["user", "add", "svc-ops", "--role", "administrator", "--service"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    //                     admin officer steward agent none
    let rows: Vec<(&str, Cli)> = vec![
        ("serve", Cli::Elsewhere("serve", "every HTTPS test starts `custodia serve`")),
        ("init", Cli::Run("init", [1, 1, 1, 1, 1])),
        ("import", Cli::Run("import {csv} --purpose customer_service", [1, 1, 0, 3, 1])),
        ("customer add", Cli::Run("customer add name=孙丽 department=service --purpose customer_service", [1, 1, 0, 1, 1])),
        ("customer get", Cli::Run("customer get {x} --purpose customer_service", [1, 1, 0, 0, 1])),
        ("customer find", Cli::Run("customer find --field mobile --value 13800138000 --purpose customer_service", [1, 1, 0, 0, 1])),
        ("customer update", Cli::Run("customer update {x} email=zhang@example.com --purpose customer_service", [1, 1, 0, 0, 1])),
        ("customer delete", Cli::Run("customer delete {fresh} --purpose legal_obligation", [1, 0, 0, 1, 1])),
        ("export", Cli::Run("export --purpose contract_performance -o {out}", [1, 1, 0, 1, 1])),
        ("audit verify", Cli::Run("audit verify", [1, 0, 1, 1, 1])),
        ("audit tail", Cli::Run("audit tail -n 1", [1, 0, 1, 1, 1])),
        ("audit search", Cli::Run("audit search --action reveal --from 2020-01-01 -n 5", [1, 0, 1, 1, 1])),
        ("keys rotate", Cli::Run("keys rotate", [0, 1, 1, 1, 1])),
        ("token reset", Cli::Run("token reset", [1, 1, 1, 1, 1])),
        ("token issue", Cli::Run("token issue --account svc-ops --days 1", [0, 1, 1, 1, 1])),
        ("token issue", Cli::Run("token issue --account svc-cs-agent --days 1", [1, 1, 1, 1, 1])),
        ("token disable-bootstrap", Cli::Run("token disable-bootstrap", [0, 1, 1, 1, 1])),
        ("token list", Cli::Run("token list", [0, 0, 1, 1, 1])),
        ("token revoke", Cli::Run("token revoke tok_000000000000", [1, 1, 1, 1, 1])),
        ("demo-data", Cli::Run("demo-data 2 -o {out}", [0, 0, 0, 0, 0])),
        ("migrate", Cli::Elsewhere("migrate", "postgres::migrate_moves_an_embedded_directory_and_refuses_a_non_empty_target")),
        ("user add", Cli::Run("user add {name} --role administrator --service", [0, 1, 1, 1, 1])),
        ("user roles", Cli::Run("user roles {account} --role cs_agent", [1, 0, 1, 1, 1])),
        ("user list", Cli::Run("user list", [0, 0, 1, 1, 1])),
        ("user show", Cli::Run("user show cy.agent", [0, 0, 1, 1, 1])),
        ("user email", Cli::Run("user email cy.agent cy@example.test", [0, 1, 1, 1, 1])),
        ("user send-link", Cli::Run("user send-link dee.link", [0, 1, 1, 1, 1])),
        ("user disable", Cli::Run("user disable {account} --reason matrix", [0, 1, 1, 1, 1])),
        ("user enable", Cli::Run("user enable {account}", [0, 1, 1, 1, 1])),
        ("user unlock", Cli::Run("user unlock {account}", [0, 1, 1, 1, 1])),
        ("user delete", Cli::Run("user delete {account}", [0, 1, 1, 1, 1])),
        ("user reset-mfa", Cli::Run("user reset-mfa cy.agent", [0, 1, 1, 1, 1])),
        ("user approvals", Cli::Run("user approvals", [0, 0, 1, 1, 1])),
        ("user approve", Cli::Run("user approve apr_0", [1, 1, 1, 1, 1])),
        ("user reject", Cli::Run("user reject apr_0", [1, 1, 1, 1, 1])),
        ("training add", Cli::Run("training add cy.agent --course privacy_basics --score 90", [1, 0, 1, 1, 1])),
        ("training import", Cli::Run("training import {trainings}", [3, 0, 3, 3, 3])),
        ("policy check", Cli::Run("policy check", [0, 0, 0, 0, 0])),
        ("policy explain", Cli::Run("policy explain --as cy.agent --action read_masked --field mobile --purpose customer_service --customer {x}", [1, 0, 1, 1, 1])),
        ("review report", Cli::Run("review report", [1, 0, 1, 1, 1])),
        ("review start", Cli::Run("review start", [1, 0, 1, 1, 1])),
        ("review decide", Cli::Run("review decide rev_0 cy.agent cs_agent --certify", [1, 1, 1, 1, 1])),
        ("review show", Cli::Run("review show rev_0", [1, 1, 1, 1, 1])),
        ("notice publish", Cli::Run("notice publish {notice} --dry-run", [1, 0, 1, 1, 1])),
        ("notice show", Cli::Run("notice show", [0, 0, 0, 0, 0])),
        ("notice list", Cli::Run("notice list", [0, 0, 0, 0, 0])),
        ("holidays load", Cli::Run("holidays load {holidays}", [1, 0, 1, 1, 1])),
        ("holidays show", Cli::Run("holidays show", [0, 0, 1, 1, 1])),
        ("notice diff", Cli::Run("notice diff --from 1", [0, 0, 0, 0, 0])),
        ("consent give", Cli::Run("consent give {x} --purpose marketing --channel phone --language zh --for customer_service", [1, 1, 0, 0, 1])),
        ("consent withdraw", Cli::Run("consent withdraw {x} --purpose marketing --channel phone --language zh --for customer_service", [1, 1, 0, 0, 1])),
        ("consent list", Cli::Run("consent list {x} --purpose customer_service", [1, 1, 0, 0, 1])),
        ("consent receipts", Cli::Run("consent receipts {x} --purpose data_subject_request", [1, 0, 1, 1, 1])),
        ("consent verify", Cli::Run("consent verify {cert}", [1, 1, 1, 1, 1])),
        ("consent public-key", Cli::Run("consent public-key", [0, 0, 0, 0, 0])),
        ("consent stats", Cli::Run("consent stats", [1, 0, 1, 1, 1])),
        ("portal send-code", Cli::Run("portal send-code {x} --purpose customer_service", [1, 1, 0, 0, 1])),
        ("requests new", Cli::Run("requests new {x} --kind objection --regime ccpa", [1, 0, 1, 0, 1])),
        ("requests list", Cli::Run("requests list", [1, 0, 1, 0, 1])),
        ("requests due", Cli::Run("requests due", [1, 0, 1, 0, 1])),
        ("requests show", Cli::Run("requests show {req}", [1, 0, 1, 0, 1])),
        ("requests note", Cli::Run("requests note {req}", [1, 0, 1, 1, 1])),
        ("requests verify", Cli::Run("requests verify {fresh_req} --method id_document", [1, 0, 1, 0, 1])),
        ("requests start", Cli::Run("requests start {req}", [1, 1, 1, 1, 1])),
        ("requests ack", Cli::Run("requests ack {req}", [1, 0, 1, 1, 1])),
        ("requests extend", Cli::Run("requests extend {req} --reason backlog", [1, 0, 1, 1, 1])),
        ("requests deny", Cli::Run("requests deny {fresh_req} --reason duplicate", [1, 0, 1, 1, 1])),
        ("requests complete", Cli::Run("requests complete {verified_req}", [1, 0, 1, 1, 1])),
        ("requests notify", Cli::Run("requests notify {req} --recipient nobody", [1, 1, 1, 1, 1])),
        ("erase", Cli::Run("erase {fresh} --basis matrix --purpose legal_obligation", [1, 0, 0, 1, 1])),
        ("hold set", Cli::Run("hold set {x} --reason case-8", [1, 0, 1, 1, 1])),
        ("hold release", Cli::Run("hold release {x} hold_0", [1, 1, 1, 1, 1])),
        ("hold list", Cli::Run("hold list {x}", [1, 0, 1, 1, 1])),
        ("lifecycle", Cli::Run("lifecycle {x} --reviewed --purpose contract_performance", [1, 1, 0, 1, 1])),
        ("records stale", Cli::Run("records stale --days 0", [1, 0, 1, 1, 1])),
        ("retention run", Cli::Run("retention run --dry-run", [1, 0, 1, 1, 1])),
        ("ledger verify", Cli::Run("ledger verify", [0, 0, 1, 1, 1])),
        ("certificate show", Cli::Run("certificate show {certid}", [1, 0, 1, 1, 1])),
        ("verify-certificate", Cli::Run("verify-certificate {cert}", [0, 0, 0, 0, 0])),
        ("backup create", Cli::Run("backup create {out}", [0, 1, 1, 1, 1])),
        ("backup verify", Cli::Run("backup verify {backup}", [0, 1, 1, 1, 1])),
        ("backup restore", Cli::Run("backup restore {backup} --to {out}", [0, 1, 1, 1, 1])),
        ("backup keygen", Cli::Run("backup keygen --out {key}", [0, 0, 0, 0, 0])),
        ("detect", Cli::Run("detect {text}", [0, 0, 0, 0, 0])),
        ("scan", Cli::Run("scan {csv}", [0, 0, 0, 0, 0])),
        ("detokenize", Cli::Run("detokenize {vtoken} --purpose data_subject_request", [1, 0, 1, 1, 1])),
        ("export --deidentify", Cli::Run("export --deidentify {profile} --purpose contract_performance -o {out}", [1, 1, 0, 1, 1])),
        ("status", Cli::Run("status", [0, 0, 1, 1, 1])),
        ("break-glass", Cli::Run("break-glass --admin nobody --code 000000 --reason emergency-drill-matrix", [1, 1, 1, 1, 1])),
    ];
    // Every leaf command of the definition has a row.
    fn leaves(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| s.get_name() != "help").collect();
        if subs.is_empty() {
            out.push(prefix.trim().to_owned());
        }
        for s in subs {
            leaves(s, &format!("{prefix} {}", s.get_name()), out);
        }
    }
    let mut all = Vec::new();
    leaves(&custodia::cli::Cli::command(), "", &mut all);
    let named: BTreeSet<&str> = rows.iter().map(|(n, _)| *n).collect();
    let missing: Vec<&String> = all.iter().filter(|c| !named.contains(c.as_str())).collect();
    assert!(missing.is_empty(), "commands without a row in the matrix: {missing:?}");

    // A backup to verify and restore.
    let backup = dir.join("m.backup");
    assert!(run(data, &["backup", "create", backup.to_str().unwrap()])
        .status
        .success());
    let mut failures = Vec::new();
    let mut n = 0;
    for (name, how) in &rows {
        let Cli::Run(args, expect) = how else { continue };
        for (k, op) in OPERATORS.iter().enumerate() {
            n += 1;
            let out = dir.join(format!("out-{n}"));
            let mut line = args
                .replace("{x}", &fx.x)
                .replace("{req}", &fx.request)
                .replace("{csv}", csv.to_str().unwrap())
                .replace("{out}", out.to_str().unwrap())
                .replace("{notice}", notice.to_str().unwrap())
                .replace("{holidays}", holidays.to_str().unwrap())
                .replace("{trainings}", trainings.to_str().unwrap())
                .replace("{profile}", profile.to_str().unwrap())
                .replace("{cert}", cert.to_str().unwrap())
                .replace("{certid}", &fx.certificate)
                .replace("{text}", text.to_str().unwrap())
                .replace("{key}", &format!("{}-{n}", key.display()))
                .replace("{backup}", backup.to_str().unwrap())
                .replace("{vtoken}", &fx.vault_token)
                .replace("{name}", &format!("svc-m{n}"));
            if line.contains("{account}") {
                line = line.replace("{account}", &fresh_account(data));
            }
            if line.contains("{fresh}") {
                let id = customer(c, &fx.steward, json!({"name": "王五", "department": "service"})).await;
                line = line.replace("{fresh}", &id);
            }
            if line.contains("{fresh_req}") || line.contains("{verified_req}") {
                let id = customer(c, &fx.steward, json!({"name": "赵七", "department": "service"})).await;
                let r = call(
                    c,
                    officer,
                    Method::POST,
                    "/v1/requests",
                    Some(json!({"customer": id, "kind": "access"})),
                )
                .await;
                let req = r.json()["id"].as_str().unwrap().to_owned();
                if line.contains("{verified_req}") {
                    let verified = tokio::task::block_in_place(|| {
                        run_as(
                            data,
                            "verifier",
                            &["requests", "verify", &req, "--method", "id_document"],
                        )
                    });
                    assert_eq!(verified, Ok(0));
                }
                line = line.replace("{fresh_req}", &req).replace("{verified_req}", &req);
            }
            let argv: Vec<&str> = line.split(' ').collect();
            let before = audit_head(c, officer).await;
            let code = match tokio::task::block_in_place(|| run_as(data, op, &argv)) {
                Ok(code) => code,
                Err(e) => {
                    // A refusal: one line, and on the record.
                    assert_eq!(e.lines().count(), 1, "{name} as {op}: {e}");
                    for secret in SECRETS {
                        assert!(!e.contains(secret), "{name} as {op}: {e}");
                    }
                    if e.starts_with("not allowed") || e.contains("separation of duties") {
                        let who = Caller {
                            name: "operator",
                            cred: Cred::None,
                            actor: format!("operator:{op}"),
                        };
                        assert_refusal_audited(c, officer, &who, before, &format!("{name} as {op}")).await;
                    }
                    1
                }
            };
            if code != expect[k] {
                failures.push(format!(
                    "`custodia {line}` as {op}: exit {code}, expected {}",
                    expect[k]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
