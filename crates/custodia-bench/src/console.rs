//! `console`: the server time of the staff console's pages at scale — a
//! search, a customer's masked card, the request queue and the first page
//! of the audit log under a filter — over HTTPS against `custodia serve`,
//! as signed-in staff (a cs_agent and a privacy officer, each with MFA and
//! training), on a data directory that already holds the customers (run
//! `import` first: each imported customer is also one audit event).

use crate::bench::{all_ids, custodia_bin, free_port, io, machine, open_operator};
use custodia::client::{tls_config, Conn};
use custodia_vault::access::identity::AccountKind;
use custodia_vault::rights::requests::NewRequest;
use custodia_vault::{DataDir, Vault, VaultError};
use hdrhistogram::Histogram;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

/// `custodia-bench console`.
#[derive(clap::Args, Debug)]
pub struct ConsoleBench {
    /// Open requests the queue holds (created as needed).
    #[arg(long, default_value_t = 10_000)]
    pub requests: usize,
    /// Requests per page measured.
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
}

/// One request of a page: method, path, body, session cookie, and what
/// the answer must hold.
type PageRequest<'a> = (hyper::Method, String, Option<Vec<u8>>, &'a String, &'static str);

const PW: &str = "bench passphrase for the console";

/// A staff member signed in with a second factor: (session cookie, CSRF token).
fn signed_in(
    v: &Vault,
    op: &custodia_vault::access::authz::Principal,
    role: &str,
) -> Result<(String, String), VaultError> {
    let name = format!("bench.{}.{:08x}", role.replace('_', "-"), rand::random::<u32>());
    v.create_account(op, &name, AccountKind::Staff, &[role.to_owned()], Some(PW))?;
    let second = v.operator("bench-approver");
    for ap in v.approvals(op, true)?.into_iter().filter(|a| a.account == name) {
        v.approve(&second, &ap.id)?;
    }
    let today = chrono::Utc::now().date_naive();
    v.record_training(op, &name, "privacy_basics", today, 95, None)?;
    // Sign in with the password, enroll the authenticator, mark the
    // session's second factor done (as the enrollment page does).
    let start = v
        .login(&name, PW, None, "127.0.0.1", None)?
        .result
        .map_err(|e| io(format!("bench sign-in refused: {e:?}")))?;
    let (me, _) = v
        .staff_principal(&start.token)?
        .ok_or_else(|| io("the bench session is not live"))?;
    let enrollment = v.start_mfa(&me, &name)?;
    let key = custodia_crypto::totp::base32_decode(&enrollment.secret_base32).ok_or_else(|| io("bad secret"))?;
    let step = chrono::Utc::now().timestamp() as u64 / 30;
    let code = format!(
        "{:06}",
        custodia_crypto::totp::hotp(custodia_crypto::totp::Algorithm::Sha1, &key, step, 6)
    );
    v.confirm_mfa(&me, &name, &code)?;
    v.session_mfa_done(&start.token)?;
    let sess = v
        .session(&start.token)?
        .ok_or_else(|| io("the bench session is not live"))?;
    Ok((start.token.to_string(), sess.csrf))
}

/// Open requests up to `want`, each for another customer, written by many
/// threads at once (group commit batches them).
fn fill_queue(
    v: &Vault,
    op: &custodia_vault::access::authz::Principal,
    ids: &[String],
    want: usize,
) -> Result<usize, VaultError> {
    let open = v.open_requests(op)?.len();
    if open >= want {
        return Ok(open);
    }
    let need = want - open;
    let chosen: Vec<&String> = ids.iter().rev().take(need).collect();
    let chunk = chosen.len().div_ceil(32).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = chosen
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    for id in part {
                        let input = NewRequest {
                            customer: (*id).clone(),
                            kind: "access".into(),
                            regime: Some("pipl".into()),
                            channel: Some("email".into()),
                            ..Default::default()
                        };
                        v.new_request(op, &input)?;
                    }
                    Ok::<_, VaultError>(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or_else(|_| Err(io("a request writer panicked"))))
    })?;
    Ok(v.open_requests(op)?.len())
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

pub fn console(b: ConsoleBench) -> Result<(), VaultError> {
    let dir = DataDir::new(std::env::var("CUSTODIA_DATA_DIR").unwrap_or_else(|_| "custodia-data".into()));
    let (agent, officer, ids, mobiles, customers, open, events) = {
        let (v, op) = open_operator(&dir)?;
        let (customers, _) = v.counts(&op)?;
        if customers == 0 {
            return Err(io(
                "the data directory holds no customers; import some first (custodia-bench import)",
            ));
        }
        eprintln!("signing in the bench staff …");
        let agent = signed_in(&v, &op, "cs_agent")?;
        let officer = signed_in(&v, &op, "privacy_officer")?;
        let (agent_p, _) = v.staff_principal(&agent.0)?.ok_or_else(|| io("no agent"))?;
        // Customers the agent may see (its grants reach two departments).
        let ids = all_ids(&v, &agent_p)?;
        eprintln!("{} customers in the agent's scope; filling the queue …", ids.len());
        let t = Instant::now();
        let open = fill_queue(&v, &op, &ids, b.requests)?;
        eprintln!("{open} open requests ({:.1} s)", t.elapsed().as_secs_f64());
        // Known mobile numbers, spread over the table, to search for.
        let reveal = v.access(Some("customer_service"), true, Some("mobile"))?;
        let step = (ids.len() / b.samples.max(1)).max(1);
        let mut mobiles = Vec::new();
        for id in ids.iter().step_by(step).take(b.samples) {
            if let Some(m) = v.get(&op, id, &reveal)?.fields.remove("mobile") {
                mobiles.push(m);
            }
        }
        let events = v.audit_tail(&op, 1)?.first().map(|e| e.seq).unwrap_or(0);
        let sample: Vec<String> = ids.iter().step_by(step).take(b.samples).cloned().collect();
        (agent, officer, sample, mobiles, customers, open, events)
    };
    let exe = custodia_bin()?;
    let port = free_port()?;
    let mut server = Command::new(&exe)
        .arg("--data-dir")
        .arg(dir.root())
        .args([
            "serve",
            "--no-background-jobs",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("CUSTODIA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut out = BufReader::new(server.stdout.take().expect("piped"));
    let mut first = String::new();
    out.read_line(&mut first)?;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("valid");
    let cfg = tls_config(&dir.root().join("tls/cert.pem"), &[&rustls::version::TLS13]).map_err(io)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = rt.block_on(async {
        let mut c = Conn::connect(addr, cfg).await.map_err(io)?;
        let cookie = |s: &(String, String)| format!("custodia_session={}", s.0);
        let (ac, oc) = (cookie(&agent), cookie(&officer));
        let mut rows = Vec::new();
        // name, method, path, body, cookie, what the page must hold
        let mut pages: Vec<(&str, Vec<PageRequest<'_>>)> = Vec::new();
        pages.push((
            "search by mobile (POST /console/search)",
            mobiles
                .iter()
                .map(|m| {
                    let body = form(&[
                        ("csrf", &agent.1),
                        ("field", "mobile"),
                        ("value", m),
                        ("purpose", "customer_service"),
                    ]);
                    (
                        hyper::Method::POST,
                        "/console/search".to_owned(),
                        Some(body),
                        &ac,
                        "class=\"result\"",
                    )
                })
                .collect(),
        ));
        pages.push((
            "customer card, masked (GET /console/customers/{id})",
            ids.iter()
                .map(|id| {
                    (
                        hyper::Method::GET,
                        format!("/console/customers/{id}?purpose=customer_service"),
                        None,
                        &ac,
                        "id=\"card\"",
                    )
                })
                .collect(),
        ));
        let repeat = |path: &str, who: &'static str, must: &'static str| {
            let who = if who == "officer" { &oc } else { &ac };
            (0..b.samples)
                .map(|_| (hyper::Method::GET, path.to_owned(), None, who, must))
                .collect::<Vec<_>>()
        };
        pages.push((
            "request queue, first page (GET /console/requests)",
            repeat("/console/requests", "officer", "id=\"queue\""),
        ));
        pages.push((
            "audit log, filtered by action (GET /console/audit?action=reveal)",
            repeat("/console/audit?action=reveal", "officer", "id=\"head\""),
        ));
        pages.push((
            "audit log, filtered by outcome and time (GET /console/audit?outcome=ok&from=2020-01-01)",
            repeat("/console/audit?outcome=ok&from=2020-01-01", "officer", "id=\"events\""),
        ));
        for (name, reqs) in pages {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            // Two warm-up requests.
            for (m, path, body, ck, _) in reqs.iter().take(2) {
                c.send(
                    m.clone(),
                    path,
                    &[
                        ("cookie", ck.as_str()),
                        ("content-type", "application/x-www-form-urlencoded"),
                    ],
                    body.clone(),
                )
                .await
                .map_err(io)?;
            }
            for (m, path, body, ck, must) in &reqs {
                let t = Instant::now();
                let r = c
                    .send(
                        m.clone(),
                        path,
                        &[
                            ("cookie", ck.as_str()),
                            ("content-type", "application/x-www-form-urlencoded"),
                        ],
                        body.clone(),
                    )
                    .await
                    .map_err(io)?;
                let us = t.elapsed().as_micros() as u64;
                let page = String::from_utf8_lossy(&r.body);
                if r.status != hyper::StatusCode::OK || !page.contains(must) {
                    return Err(io(format!("{name}: {path} answered {} without {must:?}", r.status)));
                }
                h.record(us).expect("in range");
            }
            rows.push((name, h));
        }
        Ok::<_, VaultError>(rows)
    });
    let _ = server.kill();
    let _ = server.wait();
    let rows = result?;
    println!(
        "## Console pages, {customers} customers, {events} audit events, {open} open requests, one connection, {} requests per page — {}",
        b.samples,
        machine()
    );
    println!("| page | requests | p50 | p95 | p99 | max |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, h) in rows {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            h.len(),
            ms(0.5),
            ms(0.95),
            ms(0.99),
            h.max() as f64 / 1000.0
        );
    }
    Ok(())
}
