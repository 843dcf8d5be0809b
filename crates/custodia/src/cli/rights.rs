//! `custodia requests …`, `erase`, `hold …`, `lifecycle`, `records …`,
//! `retention …`, `ledger …`, `certificate …`, `verify-certificate`,
//! `backup …`.

use crate::progress::Bar;
use clap::{Args, Subcommand};
use custodia_vault::access::authz::Principal;
use custodia_vault::operations::backup::{self, KeySource};
use custodia_vault::rights::requests::NewRequest;
use custodia_vault::rights::retention::{LifecycleInput, RetentionOptions};
use custodia_vault::{DataDir, RecordPatch, Vault, VaultError};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum RequestsCmd {
    /// Receive a request (access, portability, rectification, erasure, restriction, objection, consent_withdrawal).
    New {
        /// Customer id.
        customer: String,
        /// The kind.
        #[arg(long)]
        kind: String,
        /// Whose clock applies: pipl, gdpr, ccpa (default: the notice's first regime).
        #[arg(long)]
        regime: Option<String>,
        /// How it came in: email, phone, letter, in_person, api, portal, cli.
        #[arg(long, default_value = "cli")]
        channel: String,
        /// The requester's words (sealed under the customer's key).
        #[arg(long)]
        note: Option<String>,
        /// When it was received, if before today (YYYY-MM-DD).
        #[arg(long)]
        received: Option<String>,
        /// Makes a retried submission return the first one.
        #[arg(long)]
        key: Option<String>,
    },
    /// Open requests (not completed or denied).
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Open requests due within DAYS (and overdue ones), soonest first.
    Due {
        /// Days ahead.
        #[arg(long, default_value_t = 7)]
        within: i64,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// One request with its deadlines and history.
    Show {
        /// Request id.
        id: String,
    },
    /// The requester's note (decrypted).
    Note {
        /// Request id.
        id: String,
    },
    /// Record the requester's identity as verified.
    Verify {
        /// Request id.
        id: String,
        /// portal_code, signed_in_account, id_document, in_person, knowledge_questions, email_confirmation, authorized_agent.
        #[arg(long)]
        method: String,
    },
    /// Record that work started.
    Start {
        /// Request id.
        id: String,
    },
    /// Record that receipt was confirmed to the requester.
    Ack {
        /// Request id.
        id: String,
    },
    /// Extend the deadline (once, where the law allows), with the reason told to the requester.
    Extend {
        /// Request id.
        id: String,
        /// Reason.
        #[arg(long)]
        reason: String,
    },
    /// Refuse, with the reason told to the requester.
    Deny {
        /// Request id.
        id: String,
        /// Reason.
        #[arg(long)]
        reason: String,
    },
    /// Carry the request out and complete it.
    Complete {
        /// Request id.
        id: String,
        /// For rectification: FIELD=VALUE (repeatable).
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Write the package (access, portability) or certificate (erasure) here.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Record that a recipient was told (GDPR Art. 19).
    Notify {
        /// Request id.
        id: String,
        /// Recipient, as listed by `requests show`.
        #[arg(long)]
        recipient: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum HoldCmd {
    /// Put a customer under legal hold (nothing of theirs is destroyed until released).
    Set {
        /// Customer id.
        customer: String,
        /// A case or matter reference (no personal data).
        #[arg(long)]
        reason: String,
    },
    /// Release a hold.
    Release {
        /// Customer id.
        customer: String,
        /// Hold id.
        hold: String,
    },
    /// A customer's holds.
    List {
        /// Customer id.
        customer: String,
    },
}

#[derive(Args, Debug)]
pub struct EraseArgs {
    /// Customer id.
    pub customer: String,
    /// Erase only these fields (comma-separated); the rest is re-keyed.
    #[arg(long)]
    pub fields: Option<String>,
    /// Why (the rule or article), written into the certificate.
    #[arg(long)]
    pub basis: String,
    /// The purpose you act for (e.g. legal_obligation, data_subject_request).
    #[arg(long)]
    pub purpose: String,
    /// Write the certificate here.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct LifecycleArgs {
    /// Customer id.
    pub customer: String,
    /// When the contract ended (YYYY-MM-DD).
    #[arg(long)]
    pub contract_end: Option<String>,
    /// Last activity (YYYY-MM-DD).
    #[arg(long)]
    pub last_activity: Option<String>,
    /// Mark the record reviewed (data-quality review).
    #[arg(long)]
    pub reviewed: bool,
    /// The purpose you act for (e.g. contract_performance).
    #[arg(long)]
    pub purpose: String,
}

#[derive(Subcommand, Debug)]
pub enum RecordsCmd {
    /// Records not reviewed for DAYS (default: the configured review period).
    Stale {
        /// Days.
        #[arg(long)]
        days: Option<u32>,
        /// Most to list.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
}

#[derive(Subcommand, Debug)]
pub enum RetentionCmd {
    /// Apply the notice's retention periods now.
    Run {
        /// Report only; destroy nothing.
        #[arg(long)]
        dry_run: bool,
        /// Evaluate as of this day (YYYY-MM-DD; a future day needs --dry-run).
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
    },
}

#[derive(Subcommand, Debug)]
pub enum LedgerCmd {
    /// Check every entry of the erasure ledger.
    Verify,
}

#[derive(Subcommand, Debug)]
pub enum CertificateCmd {
    /// Print a destruction certificate (compact JWS).
    Show {
        /// Certificate id (dc_…).
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum BackupCmd {
    /// Take an online, consistent, encrypted backup into FILE (a new file).
    Create {
        /// The backup file.
        file: PathBuf,
        /// Also let an offline recipient open it: their X25519 public key (64 hex digits, or a file holding it).
        #[arg(long)]
        recipient: Option<String>,
    },
    /// Check a backup's integrity without restoring it.
    Verify {
        /// The backup file.
        file: PathBuf,
        /// Open it with an offline recipient's secret key file instead of the master secret.
        #[arg(long)]
        recipient_key: Option<PathBuf>,
    },
    /// Restore into a new data directory; the erasure ledger is replayed.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// The new data directory.
        #[arg(long)]
        to: PathBuf,
        /// Open it with an offline recipient's secret key file (no master secret needed to restore).
        #[arg(long)]
        recipient_key: Option<PathBuf>,
        /// With --recipient-key: the erasure ledger to copy in (default: the data directory's).
        #[arg(long)]
        ledger: Option<PathBuf>,
        /// With --recipient-key: the master key file to copy in.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Make an X25519 key pair for an offline recipient: the secret key goes to FILE (0600), the public key is printed.
    Keygen {
        /// Where to write the secret key.
        #[arg(long)]
        out: PathBuf,
    },
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), VaultError> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v).map_err(|e| VaultError::Io(e.to_string()))?;
    writeln!(out).map_err(VaultError::from)
}

fn write_new(p: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    crate::cli::write_private_file(p, bytes)
}

fn key_arg(s: &str) -> Result<[u8; 32], VaultError> {
    let p = Path::new(s);
    let text = if s.len() != 64 && p.exists() {
        std::fs::read_to_string(p).map_err(|e| VaultError::Io(format!("{}: {e}", p.display())))?
    } else {
        s.to_owned()
    };
    backup::parse_key_hex(&text)
        .map_err(|_| VaultError::Input("a recipient key is 64 hexadecimal digits (or a file holding them)".into()))
}

fn secret_file(p: &Path) -> Result<zeroize::Zeroizing<[u8; 32]>, VaultError> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(p).map_err(|e| VaultError::Io(format!("{}: {e}", p.display())))?,
    );
    Ok(zeroize::Zeroizing::new(key_arg(text.trim())?))
}

fn table(rows: &[custodia_vault::rights::requests::RequestView]) {
    println!("id\tkind\tregime\tstatus\treceived\tdue\tdays_left");
    for r in rows {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}{}\t{}",
            r.id,
            r.kind,
            r.regime,
            r.status,
            &r.received_at[..10],
            r.due.respond_by,
            if r.overdue { " OVERDUE" } else { "" },
            r.days_left.map(|d| d.to_string()).unwrap_or_default()
        );
    }
}

pub fn requests(v: &Vault, p: &Principal, cmd: RequestsCmd) -> Result<i32, VaultError> {
    match cmd {
        RequestsCmd::New {
            customer,
            kind,
            regime,
            channel,
            note,
            received,
            key,
        } => print_json(&v.new_request(
            p,
            &NewRequest {
                customer,
                kind,
                regime,
                channel: Some(channel),
                note,
                received_at: received,
                idempotency_key: key,
            },
        )?)?,
        RequestsCmd::List { json } => {
            let r = v.open_requests(p)?;
            if json {
                print_json(&r)?
            } else {
                table(&r)
            }
        }
        RequestsCmd::Due { within, json } => {
            let r = v.requests_due(p, within)?;
            if json {
                print_json(&r)?
            } else {
                table(&r)
            }
        }
        RequestsCmd::Show { id } => print_json(&v.request(p, &id)?)?,
        RequestsCmd::Note { id } => println!("{}", v.request_note(p, &id)?.unwrap_or_default()),
        RequestsCmd::Verify { id, method } => print_json(&v.verify_request(p, &id, &method)?)?,
        RequestsCmd::Ack { id } => print_json(&v.acknowledge_request(p, &id)?)?,
        RequestsCmd::Start { id } => print_json(&v.start_request(p, &id)?)?,
        RequestsCmd::Extend { id, reason } => print_json(&v.extend_request(p, &id, &reason)?)?,
        RequestsCmd::Deny { id, reason } => print_json(&v.deny_request(p, &id, &reason)?)?,
        RequestsCmd::Notify { id, recipient } => print_json(&v.notify_recipient(p, &id, &recipient)?)?,
        RequestsCmd::Complete { id, set, output } => {
            let patch: Option<RecordPatch> = if set.is_empty() {
                None
            } else {
                Some(
                    set.iter()
                        .map(|p| {
                            p.split_once('=')
                                .map(|(k, v)| (k.trim().to_owned(), (!v.is_empty()).then(|| v.to_owned())))
                                .ok_or_else(|| VaultError::Input("expected FIELD=VALUE".into()))
                        })
                        .collect::<Result<_, _>>()?,
                )
            };
            let out = v.carry_out(p, &id, patch.as_ref())?;
            if let Some(path) = output {
                let body = if let Some(c) = &out.certificate {
                    c.clone() + "\n"
                } else if let Some(csv) = &out.csv {
                    csv.clone()
                } else if let Some(pkg) = &out.package {
                    serde_json::to_string_pretty(pkg).expect("JSON serializes") + "\n"
                } else {
                    return Err(VaultError::Input("this request produces nothing to write".into()));
                };
                write_new(&path, body.as_bytes())?;
                eprintln!(
                    "wrote {} (personal data: hand it to the requester only)",
                    path.display()
                );
            }
            print_json(&out.request)?;
        }
    }
    Ok(0)
}

pub fn erase(v: &Vault, p: &Principal, a: EraseArgs) -> Result<i32, VaultError> {
    let purpose = v.purpose(&a.purpose)?;
    let out = match &a.fields {
        Some(f) => v.erase_fields(
            p,
            &a.customer,
            &f.split(',').map(|s| s.trim().to_owned()).collect::<Vec<_>>(),
            &a.basis,
            &purpose,
        )?,
        None => v.erase_customer(p, &a.customer, &a.basis, &purpose)?,
    };
    if let Some(path) = &a.output {
        write_new(path, (out.certificate_jws.clone() + "\n").as_bytes())?;
    }
    print_json(&out)?;
    Ok(0)
}

pub fn hold(v: &Vault, p: &Principal, cmd: HoldCmd) -> Result<i32, VaultError> {
    match cmd {
        HoldCmd::Set { customer, reason } => print_json(&v.set_hold(p, &customer, &reason)?)?,
        HoldCmd::Release { customer, hold } => print_json(&v.release_hold(p, &customer, &hold)?)?,
        HoldCmd::List { customer } => print_json(&v.holds_of(p, &customer)?)?,
    }
    Ok(0)
}

pub fn lifecycle(v: &Vault, p: &Principal, a: LifecycleArgs) -> Result<i32, VaultError> {
    let l = v.set_lifecycle(
        p,
        &a.customer,
        &LifecycleInput {
            contract_end: a.contract_end,
            last_activity: a.last_activity,
            reviewed: a.reviewed,
        },
        &v.purpose(&a.purpose)?,
    )?;
    let d = |ms: Option<i64>| ms.map(custodia_vault::records::input::rfc3339);
    print_json(&serde_json::json!({
        "customer": l.customer, "contract_end": d(l.contract_end_ms),
        "last_activity": d(l.last_activity_ms), "reviewed": d(l.reviewed_ms),
    }))?;
    Ok(0)
}

pub fn records(v: &Vault, p: &Principal, cmd: RecordsCmd) -> Result<i32, VaultError> {
    match cmd {
        RecordsCmd::Stale { days, limit } => {
            let days = days.unwrap_or(v.config().retention.review_after_days);
            for id in v.stale_records(p, days, limit)? {
                println!("{id}");
            }
        }
    }
    Ok(0)
}

pub fn retention(v: &Vault, p: &Principal, cmd: RetentionCmd) -> Result<i32, VaultError> {
    match cmd {
        RetentionCmd::Run { dry_run, as_of } => {
            let bar = Bar::new("retention");
            print_json(&v.retention_run(p, &RetentionOptions { dry_run, as_of }, &bar)?)?;
        }
    }
    Ok(0)
}

pub fn ledger(v: &Vault, p: &Principal, cmd: LedgerCmd) -> Result<i32, VaultError> {
    match cmd {
        LedgerCmd::Verify => {
            let r = v.verify_ledger(p)?;
            print_json(&r)?;
            Ok(if r.ok { 0 } else { 1 })
        }
    }
}

pub fn certificate(v: &Vault, p: &Principal, cmd: CertificateCmd) -> Result<i32, VaultError> {
    match cmd {
        CertificateCmd::Show { id } => println!("{}", v.certificate(p, &id)?),
    }
    Ok(0)
}

/// `custodia verify-certificate FILE [--public-key JWK]`.
pub fn verify_certificate(dir: &DataDir, file: &Path, public_key: Option<&Path>) -> Result<i32, VaultError> {
    let jwk: serde_json::Value = match public_key {
        Some(p) => serde_json::from_str(
            &std::fs::read_to_string(p).map_err(|e| VaultError::Io(format!("{}: {e}", p.display())))?,
        )
        .map_err(|e| VaultError::Input(format!("{}: not a JSON Web Key: {e}", p.display())))?,
        None => crate::cli::open(dir)?.signing_jwk(),
    };
    let key = custodia_crypto::jws::public_key_from_jwk(&jwk)
        .ok_or_else(|| VaultError::Input("the key is not an Ed25519 JWK".into()))?;
    let jws = std::fs::read_to_string(file).map_err(|e| VaultError::Io(format!("{}: {e}", file.display())))?;
    let c = custodia_vault::rights::erasure::verify_certificate(jws.trim(), &key)?;
    println!(
        "valid: certificate {} issued {} by {} for {} subject(s); {}",
        c.id,
        c.issued_at,
        if c.issuer.is_empty() { "?" } else { &c.issuer },
        c.subjects.len(),
        c.reason
    );
    print_json(&c)?;
    Ok(0)
}

pub fn backup_cmd(dir: &DataDir, operator: &str, cmd: BackupCmd) -> Result<i32, VaultError> {
    match cmd {
        BackupCmd::Create { file, recipient } => {
            let (v, p) = crate::cli::open_as(dir, operator)?;
            let r = recipient.as_deref().map(key_arg).transpose()?;
            let bar = Bar::new("backup");
            print_json(&v.backup_create(&p, &file, r.as_ref(), &bar)?)?;
        }
        BackupCmd::Verify { file, recipient_key } => {
            let bar = Bar::new("verify");
            let report = match recipient_key {
                Some(k) => {
                    let s = secret_file(&k)?;
                    backup::verify(&file, KeySource::Recipient(&s), &bar)?
                }
                None => {
                    let (v, p) = crate::cli::open_as(dir, operator)?;
                    v.backup_verify(&p, &file, &bar)?
                }
            };
            // The configuration files by name, size and digest: their text
            // is in the backup, not for the terminal.
            let h = &report.header;
            let files: serde_json::Map<String, serde_json::Value> = h
                .files
                .iter()
                .map(|(name, text)| {
                    let digest = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes());
                    (
                        name.clone(),
                        serde_json::json!({"bytes": text.len(), "sha256": custodia_core::audit::to_hex(&digest)}),
                    )
                })
                .collect();
            print_json(&serde_json::json!({
                "valid": true, "id": h.id, "created_at": h.created_at, "customers": h.customers,
                "audit_events": h.audit_events, "db_bytes": h.db_bytes, "files": files,
                "offline_recipient": h.recipient.is_some(), "chunks": report.chunks, "bytes": report.bytes,
                "seconds": report.seconds, "mb_per_s": report.mb_per_s,
            }))?;
        }
        BackupCmd::Restore {
            file,
            to,
            recipient_key,
            ledger,
            key_file,
        } => {
            let bar = Bar::new("restore");
            let to = DataDir::new(to);
            let report = match recipient_key {
                Some(k) => {
                    let s = secret_file(&k)?;
                    let ledger =
                        ledger.or_else(|| dir.config().ok().map(|c| dir.ledger_path(&c)).filter(|p| p.exists()));
                    if ledger.is_none() {
                        eprintln!(
                            "warning: no erasure ledger found; give it with --ledger so erased customers stay erased"
                        );
                    }
                    let r = backup::restore_files(
                        &file,
                        &to,
                        KeySource::Recipient(&s),
                        ledger.as_deref(),
                        key_file.as_deref(),
                        &bar,
                    )?;
                    eprintln!("restored; the first open (with the master secret) replays the erasure ledger");
                    r
                }
                None => {
                    let (v, p) = crate::cli::open_as(dir, operator)?;
                    v.backup_restore(&p, &file, &to, &bar)?
                }
            };
            print_json(&report)?;
        }
        BackupCmd::Keygen { out } => {
            let (secret, public) = custodia_crypto::backup::recipient_keypair();
            let hex = zeroize::Zeroizing::new(custodia_core::audit::to_hex(secret.as_ref()) + "\n");
            write_new(&out, hex.as_bytes())?;
            println!("{}", custodia_core::audit::to_hex(&public));
            eprintln!(
                "secret key written to {} (keep it offline); give the public key above to `backup create --recipient`",
                out.display()
            );
        }
    }
    Ok(0)
}
