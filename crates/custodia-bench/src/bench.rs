//! `custodia bench …`: the performance targets of the foundation, measured
//! the way a user would run Custodia (real processes, real files, real
//! HTTPS), each beside its baseline in the same run.
//!
//! * `import`   – `custodia import` of N synthetic customers vs a plaintext
//!   SQLite import of the same CSV (same pragmas, same transaction size,
//!   plain indexes on national_id, mobile, email). Wall time and peak RSS
//!   of each child process.
//! * `reads`    – HTTPS GET by id (masked, audited) against `custodia serve`
//!   with C concurrent keep-alive connections.
//! * `lookup`   – in-process blind-index lookup by email.
//!
//! `import --postgres URL` runs both sides on PostgreSQL (the baseline is a
//! plaintext `COPY` of the CSV); `reads --servers N` spreads the load over N
//! `custodia serve` processes sharing the data directory's storage.

use clap::{Args, Subcommand};
use custodia::client::{tls_config, Conn};
use custodia_vault::access::authz::Principal;
use custodia_vault::{DataDir, Vault, VaultError};
use hdrhistogram::Histogram;
use rusqlite::params;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Import N customers with Custodia and with a plaintext SQLite baseline.
    Import(ImportBench),
    /// HTTPS point reads against `custodia serve`.
    Reads(ReadsBench),
    /// In-process blind-index lookups by email.
    Lookup(LookupBench),
    /// Server time of the console's pages (search, card, request queue,
    /// filtered audit log) at the data directory's scale.
    Console(crate::console::ConsoleBench),
    /// The access-policy decision engine, in-process.
    Policy {
        /// Decisions to time.
        #[arg(long, default_value_t = 1_000_000)]
        decisions: usize,
    },
    /// Erase customers one by one, in-process (latency of one erasure).
    Erase {
        /// Customers to create, then erase.
        #[arg(long, default_value_t = 2000)]
        customers: u64,
        /// Work directory (a fresh data directory is made in it).
        #[arg(long, default_value = "bench-work")]
        workdir: PathBuf,
    },
    /// A retention run purging expired customers, in-process.
    Retention {
        /// Customers whose every purpose expired.
        #[arg(long, default_value_t = 100_000)]
        expired: u64,
        /// Customers that stay.
        #[arg(long, default_value_t = 10_000)]
        kept: u64,
        /// Work directory.
        #[arg(long, default_value = "bench-work")]
        workdir: PathBuf,
    },
    /// PII detection throughput (one thread) and quality on the labeled corpus.
    Detect {
        /// Megabytes of mixed Chinese/English text.
        #[arg(long, default_value_t = 50)]
        megabytes: usize,
        /// Labeled documents to score.
        #[arg(long, default_value_t = 10_000)]
        docs: usize,
        /// Also run Microsoft Presidio on the same text with this Python
        /// (a venv with presidio-analyzer; see scripts/bench-presidio.py).
        #[arg(long, value_name = "PYTHON")]
        presidio: Option<PathBuf>,
        /// Megabytes of the text Presidio gets (it is slow).
        #[arg(long, default_value_t = 2.0)]
        presidio_megabytes: f64,
    },
    /// De-identified export of the data directory (CUSTODIA_DATA_DIR) under a
    /// profile, against a masked export of the same data in the same run.
    DeidExport {
        /// Profile (TOML); a built-in profile using every kind of operator when omitted.
        #[arg(long)]
        profile: Option<PathBuf>,
        /// Where the exports go (removed afterwards).
        #[arg(long, default_value = "bench-work")]
        workdir: PathBuf,
    },
    /// Backup, verify and restore the data directory (CUSTODIA_DATA_DIR).
    Backup {
        /// Where the backup and the restored copy go (removed afterwards).
        #[arg(long, default_value = "bench-work")]
        workdir: PathBuf,
    },
    /// (internal) the plaintext PostgreSQL baseline: COPY the CSV, then
    /// index national_id, mobile and email.
    #[command(hide = true)]
    BaselineCopy {
        /// CSV file.
        csv: PathBuf,
        /// Database (its search_path names the schema to use).
        url: String,
    },
    /// (internal) the plaintext baseline import, run as a child process.
    #[command(hide = true)]
    BaselineImport {
        /// CSV file.
        csv: PathBuf,
        /// SQLite file to create.
        db: PathBuf,
        /// Rows per transaction.
        #[arg(long, default_value_t = 2000)]
        chunk: usize,
    },
}

#[derive(Args, Debug)]
pub struct ImportBench {
    /// Customers to import.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Work directory (CSV, baseline database, data directory). Kept.
    #[arg(long, default_value = "bench-work")]
    pub workdir: PathBuf,
    /// Import into a vault that already holds a customer (no deferred index
    /// build: every blind index is maintained row by row).
    #[arg(long)]
    pub nonempty: bool,
    /// Rows per transaction, for both runs.
    #[arg(long, default_value_t = 2000)]
    pub chunk: usize,
    /// Run on this PostgreSQL database instead (schemas `bench_plain` and
    /// `bench_custodia` are made anew in it); the baseline is then a
    /// plaintext COPY of the CSV with the same three indexes.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
}

#[derive(Args, Debug)]
pub struct ReadsBench {
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Seconds of load (after 3 s of warm-up).
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Declare this purpose on every read (the notice and consent checks
    /// run); for a consent-based purpose, the sampled customers are given
    /// that consent first, so every read also looks up their receipts.
    #[arg(long)]
    pub purpose: Option<String>,
    /// Serve processes sharing the data directory's storage (PostgreSQL for
    /// more than one); connections are spread over them.
    #[arg(long, default_value_t = 1)]
    pub servers: usize,
}

#[derive(Args, Debug)]
pub struct LookupBench {
    /// Lookups to time.
    #[arg(long, default_value_t = 20_000)]
    pub queries: usize,
}

pub(crate) fn io(e: impl std::fmt::Display) -> VaultError {
    VaultError::Io(e.to_string())
}

/// The `custodia` binary: `CUSTODIA_BIN`, or the one beside this benchmark.
pub(crate) fn custodia_bin() -> Result<PathBuf, VaultError> {
    if let Ok(p) = std::env::var("CUSTODIA_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe()?;
    let p = me.with_file_name("custodia");
    if p.exists() {
        Ok(p)
    } else {
        Err(io(format!(
            "no custodia binary beside {} (build it: cargo build --release -p custodia), or set CUSTODIA_BIN",
            me.display()
        )))
    }
}

/// Open a data directory as this machine's operator.
pub(crate) fn open_operator(dir: &DataDir) -> Result<(Vault, Principal), VaultError> {
    custodia::cli::open_as(dir, &custodia::cli::operator_name()?)
}

/// Every customer id of a data directory, in creation order.
pub(crate) fn all_ids(v: &Vault, p: &Principal) -> Result<Vec<String>, VaultError> {
    let purpose = v.purpose("contract_performance")?;
    let mut ids = Vec::new();
    let mut cursor = 0;
    loop {
        let (page, next) = v.list_customers(p, &purpose, cursor, 10_000)?;
        if page.is_empty() {
            return Ok(ids);
        }
        ids.extend(page.iter().map(|c| c.to_string()));
        cursor = next;
    }
}

/// Run a child and return (wall seconds, peak RSS in MiB of that child).
fn timed_child(cmd: &mut Command) -> Result<(f64, f64), VaultError> {
    let start = Instant::now();
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().map_err(io)?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child; status and usage point to valid memory.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed().as_secs_f64();
    std::mem::forget(child.stdin.take());
    if r != pid || !libc::WIFEXITED(status) || (libc::WEXITSTATUS(status) != 0 && libc::WEXITSTATUS(status) != 3) {
        return Err(VaultError::Io(format!("benchmark child failed (status {status})")));
    }
    Ok((wall, usage.ru_maxrss as f64 / 1024.0))
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|k| format!("{:.0} GiB", k as f64 / 1048576.0))
        .unwrap_or_default();
    format!(
        "{} × {cpu}, {mem}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    )
}

pub fn run(cmd: BenchCmd) -> Result<i32, VaultError> {
    match cmd {
        BenchCmd::BaselineImport { csv, db, chunk } => baseline_import(&csv, &db, chunk as u64).map(|_| 0),
        BenchCmd::BaselineCopy { csv, url } => baseline_copy(&csv, &url).map(|_| 0),
        BenchCmd::Import(b) => import(b).map(|_| 0),
        BenchCmd::Reads(b) => reads(b).map(|_| 0),
        BenchCmd::Lookup(b) => lookup(b).map(|_| 0),
        BenchCmd::Console(b) => crate::console::console(b).map(|_| 0),
        BenchCmd::Policy { decisions } => policy(decisions).map(|_| 0),
        BenchCmd::Erase { customers, workdir } => crate::rights::erase(&workdir, customers).map(|_| 0),
        BenchCmd::Retention { expired, kept, workdir } => crate::rights::retention(&workdir, expired, kept).map(|_| 0),
        BenchCmd::Backup { workdir } => crate::rights::backup(&workdir).map(|_| 0),
        BenchCmd::Detect {
            megabytes,
            docs,
            presidio,
            presidio_megabytes,
        } => crate::deid::detect(megabytes, docs, presidio.as_deref(), presidio_megabytes).map(|_| 0),
        BenchCmd::DeidExport { profile, workdir } => crate::deid::deid_export(profile.as_deref(), &workdir).map(|_| 0),
    }
}

/// The baseline: the same CSV into plaintext SQLite with plain indexes on
/// the three columns Custodia blind-indexes, same pragmas and batch size.
fn baseline_import(csv: &Path, db: &Path, chunk: u64) -> Result<(), VaultError> {
    let c = rusqlite::Connection::open(db).map_err(io)?;
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 16384;
         CREATE TABLE customers (id INTEGER PRIMARY KEY, external_id TEXT, name TEXT, national_id TEXT, mobile TEXT, email TEXT,
             bank_card TEXT, address TEXT, birth_date TEXT, segment TEXT, department TEXT, locale TEXT);
         CREATE INDEX customers_national_id ON customers(national_id);
         CREATE INDEX customers_mobile ON customers(mobile);
         CREATE INDEX customers_email ON customers(email);",
    )
    .map_err(io)?;
    let mut rdr = csv::Reader::from_reader(BufReader::with_capacity(1 << 20, std::fs::File::open(csv).map_err(io)?));
    let mut rec = csv::StringRecord::new();
    let mut n = 0u64;
    c.execute_batch("BEGIN").map_err(io)?;
    {
        let mut st = c
            .prepare("INSERT INTO customers (external_id, name, national_id, mobile, email, bank_card, address, birth_date, segment, department, locale) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")
            .map_err(io)?;
        while rdr.read_record(&mut rec).map_err(io)? {
            st.execute(params![
                &rec[0], &rec[1], &rec[2], &rec[3], &rec[4], &rec[5], &rec[6], &rec[7], &rec[8], &rec[9], &rec[10]
            ])
            .map_err(io)?;
            n += 1;
            if n.is_multiple_of(chunk) {
                c.execute_batch("COMMIT; BEGIN").map_err(io)?;
            }
        }
    }
    c.execute_batch("COMMIT").map_err(io)?;
    Ok(())
}

/// The PostgreSQL baseline: the CSV streamed through `COPY … FROM STDIN`
/// into a plaintext table, then three plain indexes (the fastest way to
/// load plaintext, as Custodia builds its blind indexes after a first load).
fn baseline_copy(csv: &Path, url: &str) -> Result<(), VaultError> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).map_err(io)?;
    c.batch_execute(
        "CREATE TABLE customers (id bigserial PRIMARY KEY, external_id text, name text, national_id text, mobile text,
             email text, bank_card text, address text, birth_date text, segment text, department text, locale text)",
    )
    .map_err(io)?;
    let mut w = c
        .copy_in(
            "COPY customers (external_id, name, national_id, mobile, email, bank_card, address, birth_date, segment, \
             department, locale) FROM STDIN WITH (FORMAT csv, HEADER true)",
        )
        .map_err(io)?;
    std::io::copy(&mut std::fs::File::open(csv)?, &mut w)?;
    w.finish().map_err(io)?;
    c.batch_execute(
        "CREATE INDEX customers_national_id ON customers (national_id);
         CREATE INDEX customers_mobile ON customers (mobile);
         CREATE INDEX customers_email ON customers (email);",
    )
    .map_err(io)?;
    Ok(())
}

/// A schema of its own in `url`'s database, dropped first if it exists.
fn fresh_schema(url: &str, schema: &str) -> Result<String, VaultError> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).map_err(io)?;
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ))
    .map_err(io)?;
    Ok(custodia_store::pg::url_with_schema(url, schema))
}

fn import(b: ImportBench) -> Result<(), VaultError> {
    std::fs::create_dir_all(&b.workdir)?;
    let exe = custodia_bin()?;
    let me = std::env::current_exe()?;
    let csv = b.workdir.join(format!("customers-{}.csv", b.rows));
    if !csv.exists() {
        eprintln!("generating {} synthetic customers…", b.rows);
        let st = Command::new(&exe)
            .args(["demo-data", &b.rows.to_string(), "--seed", "2026", "--output"])
            .arg(&csv)
            .status()?;
        if !st.success() {
            return Err(io("demo-data failed"));
        }
    }
    let size = std::fs::metadata(&csv)?.len();
    let base_db = b.workdir.join("baseline.db");
    let data = b.workdir.join("custodia-data");
    for p in [
        base_db.clone(),
        base_db.with_extension("db-wal"),
        base_db.with_extension("db-shm"),
    ] {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_dir_all(&data);
    // Let the page cache settle between runs: both read the same CSV.
    let chunk = b.chunk.to_string();
    let (base_s, base_rss) = match &b.postgres {
        None => timed_child(
            Command::new(&me)
                .args(["baseline-import", "--chunk", &chunk])
                .arg(&csv)
                .arg(&base_db),
        )?,
        Some(url) => {
            let plain = fresh_schema(url, "bench_plain")?;
            timed_child(Command::new(&me).args(["baseline-copy"]).arg(&csv).arg(&plain))?
        }
    };
    let mut init = Command::new(&exe);
    init.arg("--data-dir").arg(&data);
    if let Some(url) = &b.postgres {
        init.arg("--storage").arg(fresh_schema(url, "bench_custodia")?);
    }
    let st = init.arg("init").stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    if !st.success() {
        return Err(io("init failed"));
    }
    if b.nonempty {
        let st = Command::new(&exe)
            .arg("--data-dir")
            .arg(&data)
            .args([
                "customer",
                "add",
                "name=Seed Customer",
                "--purpose",
                "contract_performance",
            ])
            .stdout(Stdio::null())
            .status()?;
        if !st.success() {
            return Err(io("seeding failed"));
        }
    }
    let (cus_s, cus_rss) = timed_child(
        Command::new(&exe)
            .arg("--data-dir")
            .arg(&data)
            .arg("import")
            .arg(&csv)
            .args(["--chunk", &chunk, "--purpose", "contract_performance"]),
    )?;
    let (v, p) = open_operator(&DataDir::new(&data))?;
    let (count, _) = v.counts(&p)?;
    if count != b.rows + b.nonempty as u64 {
        return Err(io(format!("imported {count} of {} rows", b.rows)));
    }
    let base_rate = b.rows as f64 / base_s;
    let cus_rate = b.rows as f64 / cus_s;
    let (base, store) = match b.postgres {
        None => ("plaintext SQLite baseline (3 plain indexes)", "SQLite"),
        Some(_) => ("plaintext PostgreSQL COPY, then 3 plain indexes", "PostgreSQL"),
    };
    println!(
        "## Import of {} customers into {store} ({:.0} MB CSV, {} rows per transaction) — {}",
        b.rows,
        size as f64 / 1e6,
        b.chunk,
        machine()
    );
    println!("| run | seconds | rows/s | peak RSS |");
    println!("|---|---:|---:|---:|");
    println!("| {base} | {base_s:.2} | {base_rate:.0} | {base_rss:.0} MiB |");
    let blind = custodia_core::schema::Schema::default_schema()
        .fields()
        .iter()
        .filter(|f| f.searchable && f.classification.is_encrypted())
        .count();
    println!(
        "| custodia import (encrypted, {blind} blind indexes, audited) | {cus_s:.2} | {cus_rate:.0} | {cus_rss:.0} MiB |"
    );
    println!("\nratio custodia/baseline throughput: {:.2}×", cus_rate / base_rate);
    Ok(())
}

pub(crate) fn free_port() -> Result<u16, VaultError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn reads(b: ReadsBench) -> Result<(), VaultError> {
    let dir = DataDir::new(std::env::var("CUSTODIA_DATA_DIR").unwrap_or_else(|_| "custodia-data".into()));
    let (ids, token, count) = {
        let (v, op) = open_operator(&dir)?;
        let (count, _) = v.counts(&op)?;
        if count == 0 {
            return Err(io(
                "the data directory holds no customers; import some first (custodia-bench import)",
            ));
        }
        let purpose = v.purpose(b.purpose.as_deref().unwrap_or("customer_service"))?;
        // The reads go through the whole policy path as a service account
        // of the role that reads for this purpose; ids are sampled over the
        // whole table among the customers that role may see.
        let role = match purpose.as_str() {
            "customer_service" | "contract_performance" => "cs_agent",
            "marketing" => "marketing_specialist",
            "risk_control" => "risk_analyst",
            _ => "privacy_officer",
        };
        let account = format!("bench-{role}-{}", rand::random::<u32>());
        v.create_account(
            &op,
            &account,
            custodia_vault::access::identity::AccountKind::Service,
            &[role.to_owned()],
            None,
        )?;
        // A data role waits for a second person: a second operator approves.
        let second = v.operator("bench-approver");
        for ap in v.approvals(&op, true)?.into_iter().filter(|a| a.account == account) {
            v.approve(&second, &ap.id)?;
        }
        let token = v.issue_token(&op, &account, &[], 1)?;
        let reader = match v.authenticate_token(&token.token)? {
            Ok(p) => p,
            Err(r) => return Err(io(format!("the benchmark token was refused: {}", r.code()))),
        };
        let all = all_ids(&v, &reader)?;
        let step = (all.len() / 20_000).max(1);
        let ids: Vec<String> = all.into_iter().step_by(step).take(20_000).collect();
        if v.consent_purposes().contains(&purpose) {
            give_consents(&v, &op, &ids, purpose.as_str())?;
        }
        (ids, token.token.to_string(), count)
    };
    let exe = custodia_bin()?;
    let mut servers = Vec::new();
    let mut targets = Vec::new();
    for k in 0..b.servers.max(1) {
        // Every server after the first gets a directory of its own with the
        // first one's configuration and key (and its own certificate).
        let root = if k == 0 {
            dir.root().to_owned()
        } else {
            let node = dir.root().with_file_name(format!(
                "{}-node{k}",
                dir.root().file_name().and_then(|n| n.to_str()).unwrap_or("data")
            ));
            let _ = std::fs::remove_dir_all(&node);
            std::fs::create_dir_all(&node)?;
            for f in ["config.toml", "schema.toml", "policy.toml", "master.key"] {
                if dir.root().join(f).exists() {
                    std::fs::copy(dir.root().join(f), node.join(f))?;
                }
            }
            node
        };
        let port = free_port()?;
        let mut server = Command::new(&exe)
            .arg("--data-dir")
            .arg(&root)
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
        // Keep the pipe open: the server still prints its token line.
        servers.push((server, out));
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("valid");
        let cfg = tls_config(&root.join("tls/cert.pem"), &[&rustls::version::TLS13]).map_err(io)?;
        targets.push((addr, cfg));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let query = std::sync::Arc::new(format!(
        "?purpose={}",
        b.purpose.as_deref().unwrap_or("customer_service")
    ));
    let seconds = b.seconds;
    let connections = b.connections;
    let result = rt.block_on(async move {
        let ids = std::sync::Arc::new(ids);
        let token = std::sync::Arc::new(format!("Bearer {token}"));
        let warm = Instant::now() + Duration::from_secs(3);
        let end = warm + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for t in 0..connections {
            let (addr, cfg) = targets[t % targets.len()].clone();
            let (ids, token, query) = (ids.clone(), token.clone(), query.clone());
            tasks.push(tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
                let mut errors = 0u64;
                let mut c = Conn::connect(addr, cfg).await?;
                let mut i = t * 7919;
                loop {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    let path = format!("/v1/customers/{}{query}", ids[i % ids.len()]);
                    i += 1;
                    let r = c
                        .send(hyper::Method::GET, &path, &[("authorization", token.as_str())], None)
                        .await?;
                    if now >= warm {
                        if r.status == hyper::StatusCode::OK {
                            hist.record(now.elapsed().as_micros() as u64).expect("in range");
                        } else {
                            errors += 1;
                        }
                    }
                }
                Ok::<_, String>((hist, errors))
            }));
        }
        let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
        let mut errors = 0;
        for t in tasks {
            let (h, e) = t.await.map_err(io)?.map_err(io)?;
            all.add(h).map_err(io)?;
            errors += e;
        }
        Ok::<_, VaultError>((all, errors))
    });
    for (mut server, _out) in servers {
        let _ = server.kill();
        let _ = server.wait();
    }
    let (h, errors) = result?;
    let rps = h.len() as f64 / b.seconds as f64;
    println!(
        "## HTTPS point reads, {count} customers, {} server(s), {} connections, {} s, purpose {} — {}",
        b.servers.max(1),
        b.connections,
        b.seconds,
        b.purpose.as_deref().unwrap_or("customer_service"),
        machine()
    );
    println!("| requests | errors | req/s | p50 | p90 | p99 | max |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {errors} | {rps:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
        h.len(),
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.9) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0
    );
    Ok(())
}

/// Give `purpose` consent to every customer in `ids` (many writers at
/// once, so group commit batches them).
fn give_consents(v: &Vault, op: &Principal, ids: &[String], purpose: &str) -> Result<(), VaultError> {
    let acting_for = v.purpose("customer_service")?;
    let input = custodia_vault::privacy::consent::ConsentInput {
        purpose: purpose.to_owned(),
        action: custodia_vault::privacy::consent::ConsentAction::Give,
        channel: "web".into(),
        language: "en".into(),
        separate: true,
        by: None,
        text_sha256: None,
        notice_version: None,
        document_sha256: None,
    };
    let chunk = ids.len().div_ceil(64).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| {
                let input = input.clone();
                let acting_for = acting_for.clone();
                s.spawn(move || {
                    for id in part {
                        v.record_consents(op, id, std::slice::from_ref(&input), &acting_for)?;
                    }
                    Ok::<_, VaultError>(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or_else(|_| Err(io("a consent writer panicked"))))
    })
}

fn lookup(b: LookupBench) -> Result<(), VaultError> {
    let dir = DataDir::new(std::env::var("CUSTODIA_DATA_DIR").unwrap_or_else(|_| "custodia-data".into()));
    let (v, p) = open_operator(&dir)?;
    let (count, _) = v.counts(&p)?;
    // Known emails, revealed through the public read, spread over the table.
    let all = all_ids(&v, &p)?;
    let step = (all.len() / b.queries.max(1)).max(1);
    let reveal = v.access(Some("customer_service"), true, Some("email"))?;
    let mut emails = Vec::new();
    for id in all.iter().step_by(step).take(b.queries) {
        if let Some(e) = v.get(&p, id, &reveal)?.fields.remove("email") {
            emails.push(e);
        }
    }
    let masked = v.access(Some("customer_service"), false, None)?;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
    let start = Instant::now();
    for e in &emails {
        let t = Instant::now();
        // The whole search: policy, blind index, decryption to confirm,
        // masking, and the durable audit events.
        let found = v.find(&p, "email", e, &masked, 1)?;
        hist.record(t.elapsed().as_nanos() as u64).expect("in range");
        if found.is_empty() {
            return Err(io("a known email was not found"));
        }
    }
    let total = start.elapsed().as_secs_f64();
    println!(
        "## Search by email (blind index, policy, masking, durable audit), {count} customers, {} searches — {}",
        emails.len(),
        machine()
    );
    println!("| searches/s | p50 | p99 | max |");
    println!("|---:|---:|---:|---:|");
    println!(
        "| {:.0} | {:.1} µs | {:.1} µs | {:.1} µs |",
        emails.len() as f64 / total,
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.max() as f64 / 1000.0
    );
    Ok(())
}

/// Decisions over a mix of roles, permissions, fields, scopes and purposes
/// (allows and denies), with the default schema and policy.
fn policy(n: usize) -> Result<(), VaultError> {
    use custodia_core::policy::{Permission, Policy, Request, Subject};
    let schema = custodia_core::Schema::default_schema();
    let policy = Policy::default_policy(&schema);
    let roles: Vec<Vec<String>> = [
        &["cs_agent"][..],
        &["risk_analyst"],
        &["privacy_officer"],
        &["administrator"],
        &["administrator", "cs_agent"],
    ]
    .iter()
    .map(|r| r.iter().map(|s| s.to_string()).collect())
    .collect();
    let courses = vec!["privacy_basics".to_string()];
    let depts: Vec<std::collections::BTreeMap<String, String>> = ["service", "sales", "risk", "marketing"]
        .iter()
        .map(|d| [("department".to_string(), d.to_string())].into_iter().collect())
        .collect();
    let purposes: Vec<custodia_core::Purpose> = schema.purposes().iter().map(|p| p.id.clone()).collect();
    let fields = schema.fields();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("bounds");
    let mut allowed = 0usize;
    let start = Instant::now();
    for i in 0..n {
        let f = &fields[i % fields.len()];
        let req = Request {
            permission: Permission::ALL[(i / 7) % Permission::ALL.len()],
            field: Some((&f.name, f.classification)),
            attrs: Some(&depts[(i / 3) % depts.len()]),
            purpose: Some(&purposes[(i / 11) % purposes.len()]),
        };
        let who = Subject {
            roles: &roles[(i / 13) % roles.len()],
            mfa: i % 17 != 0,
            valid_courses: &courses,
            trained: false,
        };
        let t = Instant::now();
        let d = policy.decide(&who, &req);
        hist.record(t.elapsed().as_nanos().max(1) as u64).expect("in range");
        allowed += d.allowed as usize;
    }
    let total = start.elapsed().as_secs_f64();
    println!(
        "## Policy decisions, default policy, {n} mixed requests ({allowed} allowed) — {}",
        machine()
    );
    println!("| decisions/s | mean | p50 | p99 | max |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {:.0} | {:.0} ns | {} ns | {} ns | {:.1} µs |",
        n as f64 / total,
        hist.mean(),
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.max() as f64 / 1000.0
    );
    Ok(())
}
