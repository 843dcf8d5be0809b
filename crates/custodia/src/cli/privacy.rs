//! `custodia notice …`, `custodia consent …`, `custodia portal …`.

use clap::{Args, Subcommand};
use custodia_core::notice;
use custodia_vault::access::authz::Principal;
use custodia_vault::privacy::consent::{ConsentAction, ConsentInput};
use custodia_vault::privacy::delivery::Channel;
use custodia_vault::{DataDir, Vault, VaultError};
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum NoticeCmd {
    /// Publish a notice version from a TOML file (start from `notice show --toml`).
    Publish {
        /// The notice (TOML).
        file: PathBuf,
        /// Check it and show the differences; publish nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show a notice version (default: the current one).
    Show {
        /// Version number.
        #[arg(long)]
        version: Option<u32>,
        /// Print the TOML as published.
        #[arg(long)]
        toml: bool,
    },
    /// List published versions.
    List,
    /// What changed between two versions.
    Diff {
        /// The older version.
        #[arg(long)]
        from: u32,
        /// The newer version (default: current).
        #[arg(long)]
        to: Option<u32>,
    },
}

#[derive(Subcommand, Debug)]
pub enum HolidaysCmd {
    /// Load a holidays file over the bundled calendars (the years it lists
    /// replace the bundled ones); open requests' deadlines only move earlier.
    Load {
        /// The file (TOML, the layout of the bundled data).
        file: PathBuf,
    },
    /// Which years each calendar covers.
    Show,
}

/// `custodia holidays …`.
pub fn holidays_cmd(v: &Vault, p: &Principal, cmd: HolidaysCmd) -> Result<i32, VaultError> {
    match cmd {
        HolidaysCmd::Load { file } => {
            let text = read(&file)?;
            let report = v.load_holidays(p, &text)?;
            for (cal, years) in &report.coverage {
                println!(
                    "{cal}: {}",
                    years.iter().map(|y| y.to_string()).collect::<Vec<_>>().join(", ")
                );
            }
            println!(
                "open requests: {} deadline(s) moved earlier, {} kept as given, {} now on a covered calendar",
                report.moved_earlier.len(),
                report.kept.len(),
                report.covered.len()
            );
        }
        HolidaysCmd::Show => {
            for (cal, years) in v.holiday_coverage(p)? {
                println!(
                    "{cal}: {}",
                    years.iter().map(|y| y.to_string()).collect::<Vec<_>>().join(", ")
                );
            }
        }
    }
    Ok(0)
}

#[derive(Args, Debug, Clone)]
pub struct AnswerArgs {
    /// Customer id (cus_…).
    pub customer: String,
    /// The purpose (from the notice).
    #[arg(long)]
    pub purpose: String,
    /// How it was collected: web, app, paper, phone, in_person.
    #[arg(long)]
    pub channel: String,
    /// Language of the text shown: en or zh.
    #[arg(long)]
    pub language: String,
    /// The purpose was asked for on its own (separate consent).
    #[arg(long)]
    pub separate: bool,
    /// A parent or guardian answered.
    #[arg(long)]
    pub guardian: bool,
    /// SHA-256 of the exact text shown, when it was not Custodia's own.
    #[arg(long)]
    pub text_sha256: Option<String>,
    /// For written consent (书面同意): SHA-256 of the signed document.
    #[arg(long)]
    pub document_sha256: Option<String>,
    /// The purpose you act for in recording it (e.g. customer_service).
    #[arg(long = "for", value_name = "PURPOSE")]
    pub acting_for: String,
}

#[derive(Subcommand, Debug)]
pub enum ConsentCmd {
    /// Record a consent the customer gave.
    Give(AnswerArgs),
    /// Record a withdrawal.
    Withdraw(AnswerArgs),
    /// A customer's consents under the current notice.
    List {
        /// Customer id.
        customer: String,
        /// The purpose you read them for (e.g. customer_service).
        #[arg(long)]
        purpose: String,
    },
    /// Write a customer's signed receipts (JSON) for them or a third party.
    Receipts {
        /// Customer id.
        customer: String,
        /// The purpose you read them for (e.g. data_subject_request).
        #[arg(long)]
        purpose: String,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Verify signed receipts: a file written by `consent receipts`, the
    /// portal download, or a single compact JWS.
    Verify {
        /// The file.
        file: PathBuf,
        /// Public key (JWK file, as served at /v1/keys/signing); default:
        /// the data directory's own key.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Print the public key that verifies receipts (JWK).
    PublicKey,
    /// Consents in force per purpose and notice version.
    Stats {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum PortalCmd {
    /// Send a customer a single-use privacy-portal entry code, to their own
    /// e-mail (or mobile) on file; the code is never shown here.
    SendCode {
        /// Customer id.
        customer: String,
        /// The purpose you act for (e.g. customer_service).
        #[arg(long)]
        purpose: String,
        /// email (default) or sms.
        #[arg(long)]
        channel: Option<String>,
    },
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), VaultError> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v).map_err(|e| VaultError::Io(e.to_string()))?;
    writeln!(out).map_err(VaultError::from)
}

fn read(p: &PathBuf) -> Result<String, VaultError> {
    std::fs::read_to_string(p).map_err(|e| VaultError::Io(format!("{}: {e}", p.display())))
}

pub fn notice_cmd(v: &Vault, p: &Principal, cmd: NoticeCmd) -> Result<i32, VaultError> {
    match cmd {
        NoticeCmd::Publish { file, dry_run } => {
            let text = read(&file)?;
            let report = if dry_run {
                v.preview_notice(p, &text)?
            } else {
                v.publish_notice(p, &text)?
            };
            print_json(&report)?;
            if dry_run {
                eprintln!(
                    "dry run: version {} was checked and would be published; nothing changed",
                    report.version
                );
            } else {
                eprintln!(
                    "published version {}{}{}",
                    report.version,
                    if report.immediate {
                        "; in force now".to_owned()
                    } else {
                        format!("; upcoming, in force from {}", report.takes_effect)
                    },
                    if report.renewal_needed.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; consents to {} must be renewed",
                            report
                                .renewal_needed
                                .iter()
                                .map(|p| p.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                );
            }
        }
        NoticeCmd::Show { version, toml } => {
            let state = v.notices();
            let (rec, n) = match version {
                None => state.history.last(),
                Some(x) => state.history.iter().find(|(r, _)| r.version == x),
            }
            .ok_or_else(|| VaultError::NotFound(format!("notice version {}", version.unwrap_or(0))))?;
            if toml {
                print!("{}", rec.toml);
            } else {
                print_json(n.as_ref())?;
            }
        }
        NoticeCmd::List => {
            let state = v.notices();
            for (i, (r, n)) in state.history.iter().enumerate() {
                let status = state.status(i);
                println!(
                    "v{}\t{status}\teffective {}\tpublished {} by {}",
                    r.version,
                    n.effective,
                    custodia_vault::records::input::rfc3339(r.published_ms),
                    r.published_by
                );
            }
        }
        NoticeCmd::Diff { from, to } => {
            let state = v.notices();
            let old = state
                .version(from)
                .ok_or_else(|| VaultError::NotFound(format!("notice version {from}")))?;
            let new = match to {
                Some(t) => state.version(t),
                None => state.current(),
            }
            .ok_or_else(|| VaultError::NotFound(format!("notice version {}", to.unwrap_or(0))))?;
            let changes: Vec<serde_json::Value> = notice::diff(old, new)
                .into_iter()
                .map(|c| {
                    let m = c.material();
                    let mut j = serde_json::to_value(&c).expect("a change serializes");
                    j["material"] = m.into();
                    j
                })
                .collect();
            print_json(&changes)?;
        }
    }
    Ok(0)
}

fn answer(a: AnswerArgs, action: ConsentAction) -> (String, String, ConsentInput) {
    let (id, acting_for) = (a.customer.clone(), a.acting_for.clone());
    (id, acting_for, answer_input(a, action))
}

fn answer_input(a: AnswerArgs, action: ConsentAction) -> ConsentInput {
    ConsentInput {
        purpose: a.purpose,
        action,
        channel: a.channel,
        language: a.language,
        separate: a.separate,
        by: Some(if a.guardian { "guardian" } else { "subject" }.into()),
        text_sha256: a.text_sha256,
        notice_version: None,
        document_sha256: a.document_sha256,
    }
}

/// Public key from a JWK file, or the data directory's own key.
fn verifying_key(dir: &DataDir, file: Option<&PathBuf>) -> Result<[u8; 32], VaultError> {
    let jwk: serde_json::Value = match file {
        Some(p) => serde_json::from_str(&read(p)?)
            .map_err(|e| VaultError::Input(format!("{}: not a JSON Web Key: {e}", p.display())))?,
        None => crate::cli::open(dir)?.signing_jwk(),
    };
    custodia_crypto::jws::public_key_from_jwk(&jwk)
        .ok_or_else(|| VaultError::Input("the key is not an Ed25519 JWK (kty OKP, crv Ed25519)".into()))
}

/// Every JWS in a receipts file (or the file itself when it is one).
fn jws_in(text: &str) -> Result<Vec<String>, VaultError> {
    let t = text.trim();
    if !t.starts_with('{') && !t.starts_with('[') {
        return Ok(vec![t.to_owned()]);
    }
    let v: serde_json::Value =
        serde_json::from_str(t).map_err(|e| VaultError::Input(format!("not JSON and not a JWS: {e}")))?;
    let list = v.get("receipts").unwrap_or(&v);
    let out: Vec<String> = list
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["jws"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if out.is_empty() {
        return Err(VaultError::Input("no signed receipts (\"jws\") in the file".into()));
    }
    Ok(out)
}

pub fn consent_cmd(dir: &DataDir, operator: &str, cmd: ConsentCmd) -> Result<i32, VaultError> {
    match cmd {
        ConsentCmd::Give(a) => {
            let (v, p) = crate::cli::open_as(dir, operator)?;
            let (id, acting_for, input) = answer(a, ConsentAction::Give);
            print_json(&v.record_consents(&p, &id, &[input], &v.purpose(&acting_for)?)?)?;
            Ok(0)
        }
        ConsentCmd::Withdraw(a) => {
            let (v, p) = crate::cli::open_as(dir, operator)?;
            let (id, acting_for, input) = answer(a, ConsentAction::Withdraw);
            print_json(&v.record_consents(&p, &id, &[input], &v.purpose(&acting_for)?)?)?;
            Ok(0)
        }
        ConsentCmd::List { customer, purpose } => {
            let (v, p) = crate::cli::open_as(dir, operator)?;
            print_json(&v.customer_consents(&p, &customer, &v.purpose(&purpose)?)?)?;
            Ok(0)
        }
        ConsentCmd::Receipts {
            customer,
            purpose,
            output,
        } => {
            let (v, p) = crate::cli::open_as(dir, operator)?;
            let body = serde_json::json!({
                "receipts": v.signed_receipts(&p, &customer, &v.purpose(&purpose)?)?,
                "signing_key": v.signing_jwk(),
            });
            let text = serde_json::to_string_pretty(&body).expect("JSON serializes");
            match output {
                Some(path) => crate::cli::write_private_file(&path, (text + "\n").as_bytes())?,
                None => println!("{text}"),
            }
            Ok(0)
        }
        ConsentCmd::Verify { file, public_key } => {
            let key = verifying_key(dir, public_key.as_ref())?;
            let all = jws_in(&read(&file)?)?;
            let mut bad = 0;
            for (i, jws) in all.iter().enumerate() {
                match custodia_crypto::jws::verify(jws, &key) {
                    Ok(payload) => {
                        let r: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
                        if r["consentReceiptID"].as_str().is_none() {
                            // Signed by this key, but not a consent receipt
                            // (e.g. a destruction certificate).
                            bad += 1;
                            println!(
                                "FAILED\treceipt #{}\tthe signed document is not a consent receipt",
                                i + 1
                            );
                            continue;
                        }
                        println!(
                            "ok\t{}\t{}\t{}\t{}",
                            r["consentReceiptID"].as_str().unwrap_or("?"),
                            r["services"][0]["purposes"][0]["purpose"].as_str().unwrap_or("?"),
                            r["action"].as_str().unwrap_or("?"),
                            r["piiPrincipalId"].as_str().unwrap_or("?"),
                        );
                    }
                    Err(e) => {
                        bad += 1;
                        println!("FAILED\treceipt #{}\t{e}", i + 1);
                    }
                }
            }
            if bad > 0 {
                return Err(VaultError::Input(format!(
                    "{bad} of {} receipts failed verification",
                    all.len()
                )));
            }
            Ok(0)
        }
        ConsentCmd::PublicKey => {
            let v = crate::cli::open(dir)?;
            print_json(&v.signing_jwk())?;
            Ok(0)
        }
        ConsentCmd::Stats { json } => {
            let (v, p) = crate::cli::open_as(dir, operator)?;
            let stats = v.consent_stats(&p)?;
            if json {
                print_json(&stats)?;
            } else {
                println!("purpose\tnotice\tgiven\tpending_renewal\twithdrawn");
                for s in stats {
                    println!(
                        "{}\tv{}\t{}\t{}\t{}",
                        s.purpose, s.notice_version, s.given, s.pending_renewal, s.withdrawn
                    );
                }
            }
            Ok(0)
        }
    }
}

pub fn portal_cmd(v: &Vault, p: &Principal, cmd: PortalCmd) -> Result<i32, VaultError> {
    match cmd {
        PortalCmd::SendCode {
            customer,
            purpose,
            channel,
        } => {
            let channel = match channel.as_deref() {
                None => None,
                Some(c) => {
                    Some(Channel::parse(c).ok_or_else(|| VaultError::Input("--channel is email or sms".into()))?)
                }
            };
            print_json(&v.send_portal_code(p, &customer, &v.purpose(&purpose)?, channel)?)?;
            Ok(0)
        }
    }
}
