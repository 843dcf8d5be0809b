//! Running Custodia: initialise a data directory, serve, audit log,
//! keys, tokens, migration between stores, demonstration data, status
//! and break-glass access.

use super::*;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (default: the configuration's, 127.0.0.1:8443).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Serve plain HTTP instead of HTTPS (allowed on loopback only).
    #[arg(long)]
    pub insecure_http: bool,
    /// PEM certificate to use instead of the generated self-signed one.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Run no background jobs (retention, scheduled backups): for
    /// benchmarks, whose numbers must not include an hourly job's scan.
    #[arg(long, hide = true)]
    pub no_background_jobs: bool,
}

#[derive(Args, Debug)]
pub struct BreakGlassArgs {
    /// The administrator who opens it (their password comes from
    /// CUSTODIA_ADMIN_PASSWORD or a prompt).
    #[arg(long)]
    pub admin: String,
    /// Their current authenticator code (or a recovery code).
    #[arg(long)]
    pub code: String,
    /// Why (recorded in the audit log; no personal data).
    #[arg(long)]
    pub reason: String,
    /// Minutes the token works (at most 60).
    #[arg(long, default_value_t = 30)]
    pub minutes: u32,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Customer schema (TOML); the default schema when omitted.
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// Derive the master secret from a passphrase (CUSTODIA_PASSPHRASE or a prompt) instead of a key file.
    #[arg(long, conflicts_with = "key_file")]
    pub passphrase: bool,
    /// Where to create the master key file (keep it outside the data directory in production).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Check the whole hash chain; exit 1 and name each break if broken.
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the most recent events.
    Tail {
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        count: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Search the log, newest first: every condition given must hold.
    Search {
        /// Exactly this actor (`staff:alice`, `service:etl/3`).
        #[arg(long)]
        actor: Option<String>,
        /// About this customer (its id).
        #[arg(long)]
        customer: Option<String>,
        /// This action (`reveal`, `export`, …).
        #[arg(long)]
        action: Option<String>,
        /// For this purpose.
        #[arg(long)]
        purpose: Option<String>,
        /// `ok`, `denied` or `failed`.
        #[arg(long)]
        outcome: Option<String>,
        /// From this date (YYYY-MM-DD, the company's zone) or instant (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Until this date (the whole day) or instant.
        #[arg(long)]
        to: Option<String>,
        /// Events older than this sequence number (the `next` a page printed).
        #[arg(long)]
        before: Option<u64>,
        /// Events per page (at most 500).
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: usize,
        /// One JSON object per line, then `{"next": …}`.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// New key-encryption-key version; rewrap every data key (resumable, online).
    Rotate,
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Issue a new bootstrap token (the old one stops working) and print it
    /// once; refused once an administrator exists.
    Reset,
    /// Issue an API token for a service account (printed once). An account with data roles needs review_access as well as manage_accounts.
    Issue {
        /// The service account.
        #[arg(long)]
        account: String,
        /// Limit the token to these actions (repeatable; default: what the roles allow).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Days until it expires.
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Switch the bootstrap token off (it also goes off by itself when the first administrator exists).
    DisableBootstrap,
    /// List API tokens (no secrets).
    List,
    /// Revoke an API token by id.
    Revoke {
        /// Token id (tok_…).
        id: String,
    },
}

#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// The data directory whose embedded database is moved.
    #[arg(long)]
    pub from: PathBuf,
    /// The empty PostgreSQL database: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`.
    #[arg(long, hide_env_values = true)]
    pub to: String,
    /// Leave config.toml as it is (by default its `storage` is set to the target).
    #[arg(long)]
    pub keep_config: bool,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How many customers.
    pub count: u64,
    /// Write here instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Random seed (same seed, same data).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First customer number (external ids are `CRM-<number>`).
    #[arg(long, default_value_t = 1)]
    pub start: u64,
}

/// `custodia init`.
pub(super) fn init(dir: &DataDir, operator: &str, a: InitArgs) -> Result<i32, VaultError> {
    let actor = format!("operator:{operator}");
    init_logging("warn");
    let schema = match &a.schema {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| VaultError::Io(format!("{}: {e}", p.display())))?),
        None => None,
    };
    let master = if a.passphrase {
        let p = match std::env::var(custodia_vault::datadir::PASSPHRASE_ENV) {
            Ok(p) => Zeroizing::new(p),
            Err(_) => {
                let p = prompt_passphrase()?;
                let again = prompt_passphrase()?;
                if *p != *again {
                    return Err(VaultError::Input("the passphrases differ".into()));
                }
                p
            }
        };
        MasterChoice::Passphrase(p)
    } else {
        MasterChoice::KeyFile(a.key_file.clone())
    };
    let (_, report) = Vault::init(dir, schema.as_deref(), master, &actor)?;
    println!("initialized {}", dir.root().display());
    if let Some(k) = report.key_file {
        warn_key_file(&k);
    }
    Ok(0)
}

/// `custodia audit …`.
pub(super) fn audit(dir: &DataDir, operator: &str, a: AuditCmd) -> Result<i32, VaultError> {
    init_logging("warn");
    let (v, p) = open_as(dir, operator)?;
    match a {
        AuditCmd::Verify { json } => {
            let r = v.audit_verify(&p)?;
            if json {
                print_json(&r)?;
            } else if r.ok {
                println!("audit log intact: {} events verified", r.events);
            } else {
                println!(
                    "audit log BROKEN: {} events checked, {} problem(s):",
                    r.events,
                    r.problems.len()
                );
                for p in &r.problems {
                    println!("  - {p}");
                }
            }
            Ok(if r.ok { 0 } else { 1 })
        }
        AuditCmd::Tail { count, json } => {
            for e in v.audit_tail(&p, count)? {
                print_event(&e, json)?;
            }
            Ok(0)
        }
        AuditCmd::Search {
            actor,
            customer,
            action,
            purpose,
            outcome,
            from,
            to,
            before,
            limit,
            json,
        } => {
            let q = custodia_vault::audit::AuditQuery {
                actor,
                customer,
                action,
                purpose,
                outcome,
                from,
                to,
                before,
                limit: Some(limit),
            };
            let page = v.audit_search(&p, &q)?;
            for e in &page.events {
                print_event(e, json)?;
            }
            if json {
                println!("{}", serde_json::json!({ "next": page.next }));
            } else if let Some(n) = page.next {
                println!("older: --before {n}");
            }
            Ok(0)
        }
    }
}

/// One audit event as a line (or a JSON object).
fn print_event(e: &custodia_core::audit::ChainedEvent, json: bool) -> Result<(), VaultError> {
    if json {
        let line = serde_json::to_string(&e).map_err(|e| VaultError::Io(e.to_string()))?;
        println!("{line}");
        return Ok(());
    }
    let ev = &e.event;
    let ts = custodia_vault::records::input::rfc3339(ev.ts_ms);
    let who = ev.customer.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
    let fields = ev.fields.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(",");
    println!(
        "{:>8} {ts} {:<16} {:<13} {:<7} {who} {}{}{}",
        e.seq,
        ev.actor,
        ev.action.as_str(),
        ev.outcome.as_str(),
        if fields.is_empty() {
            String::new()
        } else {
            format!("fields={fields} ")
        },
        ev.purpose.as_ref().map(|p| format!("purpose={p} ")).unwrap_or_default(),
        ev.detail.as_deref().unwrap_or("")
    );
    Ok(())
}

/// `custodia keys …`.
pub(super) fn keys(dir: &DataDir, operator: &str, cmd: KeysCmd) -> Result<i32, VaultError> {
    match cmd {
        KeysCmd::Rotate => {
            init_logging("warn");
            let (v, p) = open_as(dir, operator)?;
            let bar = Bar::new("rotate");
            let r = v.rotate(&p, &bar)?;
            print_json(&r)?;
            Ok(0)
        }
    }
}

/// `custodia token …`.
pub(super) fn token(dir: &DataDir, operator: &str, t: TokenCmd) -> Result<i32, VaultError> {
    init_logging("warn");
    let (v, p) = open_as(dir, operator)?;
    match t {
        TokenCmd::Reset => {
            let t = v.issue_bootstrap_token(&p)?;
            println!("{}", t.as_str());
            eprintln!("the previous bootstrap token no longer works; store this one now, it is not shown again. It creates the first administrator only (POST /v1/accounts).");
        }
        TokenCmd::Issue { account, scopes, days } => {
            let scopes = scopes
                .iter()
                .map(|s| {
                    custodia_core::policy::Permission::parse(s)
                        .ok_or_else(|| VaultError::Input(format!("unknown scope {s:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let issued = v.issue_token(&p, &account, &scopes, days)?;
            print_json(&issued)?;
            eprintln!("store the token now; only its digest is kept");
        }
        TokenCmd::List => print_json(&v.tokens(&p)?)?,
        TokenCmd::DisableBootstrap => {
            v.disable_bootstrap(&p)?;
            println!("the bootstrap token no longer works (within 5 seconds on running servers)");
        }
        TokenCmd::Revoke { id } => {
            v.revoke_token(&p, &id)?;
            println!("revoked {id}");
        }
    }
    Ok(0)
}

/// `custodia demo-data`.
pub(super) fn demo(a: DemoArgs) -> Result<i32, VaultError> {
    let bar = Bar::new("generate");
    custodia_vault::Progress::start(&bar, a.count, "records");
    let write = |w: &mut dyn Write| {
        custodia_vault::operations::demo::write_demo_csv(w, a.count, a.start, a.seed, |n| {
            custodia_vault::Progress::advance(&bar, n)
        })
    };
    match &a.output {
        Some(path) => {
            // Synthetic, but shaped like personal data: private too.
            let mut f = std::io::BufWriter::new(create_private(path)?);
            write(&mut f)?;
            f.flush()?;
            custodia_vault::Progress::finish(&bar);
            eprintln!(
                "wrote {} synthetic customers (seed {}) to {}; import them with `custodia import {} --purpose contract_performance`",
                a.count,
                a.seed,
                path.display(),
                path.display()
            );
        }
        None => {
            write(&mut std::io::BufWriter::new(std::io::stdout().lock()))?;
            custodia_vault::Progress::finish(&bar);
        }
    }
    Ok(0)
}

/// `custodia break-glass`.
pub(super) fn break_glass(dir: &DataDir, operator: &str, a: BreakGlassArgs) -> Result<i32, VaultError> {
    init_logging("warn");
    let (v, p) = open_as(dir, operator)?;
    let password = match std::env::var("CUSTODIA_ADMIN_PASSWORD") {
        Ok(pw) => Zeroizing::new(pw),
        Err(_) if std::io::stdin().is_terminal() => Zeroizing::new(rpassword::prompt_password(format!(
            "Password of administrator {}: ",
            a.admin
        ))?),
        Err(_) => {
            return Err(VaultError::Input(
                "set CUSTODIA_ADMIN_PASSWORD or run on a terminal to type the administrator's password".into(),
            ))
        }
    };
    let t = v.break_glass(&p, &a.admin, &password, &a.code, &a.reason, a.minutes)?;
    eprintln!(
            "BREAK-GLASS token {} opened for {} until {}: every use is in the audit log. Revoke it when done: custodia token revoke {}",
            t.id, t.account, t.expires_at, t.id
        );
    println!("{}", t.token.as_str());
    Ok(0)
}

pub(super) fn warn_key_file(k: &std::path::Path) {
    eprintln!(
        "warning: the master key is in {} (mode 0600). Anyone with this file and the data directory can read every customer.\n         In production keep it outside the data directory (init --key-file /secure/path) or use --passphrase; back it up separately.",
        k.display()
    );
}

/// The jobs `serve` runs by itself: retention every `[retention]
/// every_minutes` (the first a few seconds after start), and backups every
/// `[backup] every_hours` when configured.
/// How often a server on shared storage brings its erasure ledger up to date.
const LEDGER_SYNC: std::time::Duration = std::time::Duration::from_secs(60);

fn spawn_jobs(vault: Arc<Vault>) {
    let cfg = vault.config().clone();
    std::thread::Builder::new()
        .name("custodia-jobs".into())
        .spawn(move || {
            let start = std::time::Instant::now();
            let mut next_retention =
                (cfg.retention.every_minutes > 0).then(|| start + std::time::Duration::from_secs(3));
            let mut next_backup = cfg
                .backup
                .as_ref()
                .map(|b| start + std::time::Duration::from_secs(b.every_hours.max(1) as u64 * 3600));
            // Servers sharing PostgreSQL: copy the others' erasures into this
            // directory's ledger (and replay any the database lost).
            let shared = vault.dir().storage(Some(&cfg)).is_ok_and(|s| s.is_postgres());
            let mut next_ledger = shared.then(|| start + LEDGER_SYNC);
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                let now = std::time::Instant::now();
                if next_ledger.is_some_and(|t| now >= t) {
                    match vault.sync_erasure_ledger(&Principal::system(Job::LedgerSync)) {
                        Ok(0) => {}
                        Ok(n) => tracing::warn!(replayed = n, "erasures replayed from the erasure ledger"),
                        Err(e) => tracing::error!(error = %e, "erasure ledger sync failed"),
                    }
                    next_ledger = Some(now + LEDGER_SYNC);
                }
                if next_retention.is_some_and(|t| now >= t) {
                    match vault.retention_run(
                        &Principal::system(Job::Retention),
                        &Default::default(),
                        &custodia_vault::NoProgress,
                    ) {
                        Ok(r) => tracing::info!(
                            erased = r.customers_erased,
                            trimmed = r.customers_trimmed,
                            held = r.held,
                            stale = r.stale_for_review,
                            "retention run"
                        ),
                        Err(e) => tracing::error!(error = %e, "retention run failed"),
                    }
                    next_retention =
                        Some(now + std::time::Duration::from_secs(cfg.retention.every_minutes as u64 * 60));
                }
                if next_backup.is_some_and(|t| now >= t) {
                    match vault.scheduled_backup(&Principal::system(Job::Backup), &custodia_vault::NoProgress) {
                        Ok(Some(r)) => tracing::info!(path = %r.path.display(), bytes = r.db_bytes, "scheduled backup"),
                        Ok(None) => {}
                        Err(e) => tracing::error!(error = %e, "scheduled backup failed"),
                    }
                    let hours = cfg.backup.as_ref().map(|b| b.every_hours.max(1)).unwrap_or(24) as u64;
                    next_backup = Some(now + std::time::Duration::from_secs(hours * 3600));
                }
            }
        })
        .expect("a thread starts");
}

/// `custodia migrate`: copy, verify, repoint. Needs `manage_keys`.
pub(super) fn migrate(operator: &str, a: MigrateArgs) -> Result<i32, VaultError> {
    let src = DataDir::new(&a.from);
    if !src.is_initialized() {
        return Err(VaultError::NotInitialized(src.root().display().to_string()));
    }
    let started = std::time::Instant::now();
    let report = {
        // The master secret must open the source; the vault checks its
        // operator holds manage_keys before anything is copied.
        let (v, p) = open_as(&src, operator)?;
        let bar = Bar::new("migrate");
        v.migrate_to_postgres(&p, &a.to, &bar)?
    };
    let copied_s = started.elapsed().as_secs_f64();
    // Verify on the target what a server will use: the chain, end to end.
    let target = Vault::open(&src.clone().with_storage(Some(a.to.clone())), &prompt_passphrase)?;
    let verify = target.audit_verify(&target.operator(operator))?;
    let audit_rows = report
        .tables
        .iter()
        .find(|(t, _)| t == "audit")
        .map(|(_, n)| *n)
        .unwrap_or(0);
    if !verify.ok || verify.events < audit_rows {
        return Err(VaultError::Config(format!(
            "the audit chain does not verify on the target ({} events checked, {} problems); the target keeps \
             the copy for inspection, config.toml is unchanged",
            verify.events,
            verify.problems.len()
        )));
    }
    drop(target);
    if !a.keep_config {
        src.set_storage(&a.to)?;
    }
    print_json(&serde_json::json!({
        "rows": report.rows,
        "tables": report.tables.iter().map(|(t, n)| (t.clone(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
        "audit_events_verified": verify.events,
        "copy_seconds": (copied_s * 100.0).round() / 100.0,
        "config_updated": !a.keep_config,
        "note": "the embedded database custodia.db is left as it was; remove it once the servers run on PostgreSQL",
    }))?;
    Ok(0)
}

pub(super) fn serve(dir: &DataDir, operator: &str, a: ServeArgs) -> Result<i32, VaultError> {
    let actor = format!("operator:{operator}");
    let vault = if dir.is_initialized() {
        open(dir)?
    } else {
        let (v, report) = Vault::init(dir, None, MasterChoice::KeyFile(None), &actor)?;
        eprintln!("initialized a new data directory at {}", dir.root().display());
        if let Some(k) = report.key_file {
            warn_key_file(&k);
        }
        v
    };
    let config = dir.config()?;
    custodia_server::parse_proxies(&config.trusted_proxies).map_err(VaultError::Config)?;
    let listen: SocketAddr = match a.listen {
        Some(l) => l,
        None => config
            .listen
            .parse()
            .map_err(|_| VaultError::Config(format!("listen address {:?} is not host:port", config.listen)))?,
    };
    let transport = if a.insecure_http {
        eprintln!("warning: serving plain HTTP (--insecure-http); use only for local debugging");
        Transport::InsecureHttp
    } else {
        let (cert, key) = match (a.tls_cert, a.tls_key) {
            (Some(c), Some(k)) => (c, k),
            _ => {
                let (c, k) = (dir.resolve(&config.tls.cert), dir.resolve(&config.tls.key));
                if tls::ensure_self_signed(&c, &k).map_err(|e| VaultError::Config(e.to_string()))? {
                    eprintln!("created a self-signed certificate for localhost: {}", c.display());
                }
                (c, k)
            }
        };
        Transport::Tls(tls::server_config(&cert, &key).map_err(|e| VaultError::Config(e.to_string()))?)
    };
    // The first server prints the bootstrap token, which creates the first
    // administrator and nothing else.
    let p = vault.operator(operator);
    let token = match vault.bootstrap_status()? {
        custodia_vault::operations::bootstrap::BootstrapStatus::NeverIssued if !vault.administrator_exists()? => {
            match vault.issue_bootstrap_token(&p) {
                Ok(t) => BootstrapLine::New(t),
                Err(e) => {
                    eprintln!("warning: no bootstrap token: {e}");
                    BootstrapLine::Off
                }
            }
        }
        custodia_vault::operations::bootstrap::BootstrapStatus::Active => BootstrapLine::Earlier,
        _ => BootstrapLine::Off,
    };
    let vault = Arc::new(vault);
    if !a.no_background_jobs {
        spawn_jobs(vault.clone());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| VaultError::Io(e.to_string()))?;
    rt.block_on(async move {
        let https = matches!(transport, Transport::Tls(_));
        let bound = custodia_server::bind(listen, transport)
            .await
            .map_err(|e| VaultError::Config(e.to_string()))?;
        let addr = bound.local_addr();
        let scheme = if https { "https" } else { "http" };
        // A supervisor that stopped reading stdout must not bring the
        // server down: write errors here are ignored (println! would panic).
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "Custodia is listening on {scheme}://{addr}");
        let _ = match token {
            BootstrapLine::New(t) => writeln!(
                out,
                "Bootstrap token (shown once; it creates the first administrator only, POST /v1/accounts): {}",
                t.as_str()
            ),
            BootstrapLine::Earlier => writeln!(
                out,
                "Bootstrap token: issued earlier and unused (`custodia token reset` issues a new one)"
            ),
            BootstrapLine::Off => writeln!(out, "Staff sign in at {scheme}://{addr}/login"),
        };
        let _ = out.flush();
        drop(out);
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            tracing::info!("shutting down");
        };
        custodia_server::serve(bound, vault, shutdown).await;
        Ok::<_, VaultError>(())
    })?;
    Ok(0)
}

/// What `serve` says about the bootstrap token.
enum BootstrapLine {
    /// Issued now (shown once).
    New(Zeroizing<String>),
    /// Issued by an earlier start and still unused.
    Earlier,
    /// Off: an administrator exists (or it was disabled).
    Off,
}
