//! Benchmarks of destruction and backups: single-customer erasure latency,
//! retention purge rate, backup and restore throughput.

use crate::bench::io;
use custodia_core::audit::to_hex;
use custodia_vault::access::authz::Principal;
use custodia_vault::rights::retention::{LifecycleInput, RetentionOptions};
use custodia_vault::{DataDir, MasterChoice, NoProgress, RecordInput, Vault, VaultError};
use hdrhistogram::Histogram;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn fresh_vault(workdir: &Path, name: &str) -> Result<(Vault, Principal), VaultError> {
    std::fs::create_dir_all(workdir)?;
    let dir = DataDir::new(workdir.join(name));
    let _ = std::fs::remove_dir_all(dir.root());
    let operator = custodia::cli::operator_name()?;
    let v = Vault::init(&dir, None, MasterChoice::KeyFile(None), &format!("operator:{operator}"))?.0;
    let p = v.operator(&operator);
    Ok((v, p))
}

fn demo_input(rng: &mut rand::rngs::StdRng, i: u64) -> RecordInput {
    let row = custodia_vault::operations::demo::demo_row(rng, i);
    let mut input = RecordInput::default();
    for (name, value) in custodia_vault::operations::demo::DEMO_HEADER.iter().zip(row) {
        if *name == "external_id" {
            input.external_id = Some(value);
        } else if !value.is_empty() {
            input.fields.insert((*name).to_owned(), value);
        }
    }
    input
}

/// Create `n` demo customers through the public batch create.
fn insert(v: &Vault, p: &Principal, n: u64, seed: u64) -> Result<Vec<custodia_core::CustomerId>, VaultError> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let purpose = v.purpose("contract_performance")?;
    let mut ids = Vec::with_capacity(n as usize);
    let mut batch = Vec::new();
    for i in 0..n {
        batch.push(demo_input(&mut rng, seed * 10_000_000 + i));
        if batch.len() == custodia_vault::MAX_BATCH || i + 1 == n {
            for r in v.create_batch(p, &std::mem::take(&mut batch), &purpose)? {
                ids.push(r?.id);
            }
        }
    }
    Ok(ids)
}

/// Erase customers one after another, each durable (and in the ledger)
/// before the next starts.
pub fn erase(workdir: &Path, customers: u64) -> Result<(), VaultError> {
    let (v, p) = fresh_vault(workdir, "erase-data")?;
    let ids = insert(&v, &p, customers, 1)?;
    let purpose = v.purpose("legal_obligation")?;
    // Warm the caches (signer, KEK, statements).
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).map_err(io)?;
    let started = Instant::now();
    for id in &ids {
        let t = Instant::now();
        v.erase_customer(&p, &id.to_string(), "benchmark", &purpose)?;
        hist.record(t.elapsed().as_micros() as u64).map_err(io)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let (left, _) = v.counts(&p)?;
    if left != 0 {
        return Err(io(format!("{left} customers were not erased")));
    }
    println!(
        "## Erasure of one customer (in-process, sequential, {customers} customers) — {}",
        crate::bench::machine()
    );
    println!("| erasures | per second | mean | p50 | p90 | p99 | max |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {:.0} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms |",
        hist.len(),
        customers as f64 / secs,
        hist.mean() / 1000.0,
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.9) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.max() as f64 / 1000.0
    );
    println!("Each erasure: read the record, sign a certificate (Ed25519), one durable transaction (row, blind entries, tombstone, certificate, audit event), one fsynced ledger line.");
    Ok(())
}

/// Purge `expired` customers whose every purpose expired, among `kept` that stay.
pub fn retention(workdir: &Path, expired: u64, kept: u64) -> Result<(), VaultError> {
    let (v, p) = fresh_vault(workdir, "retention-data")?;
    // Every purpose keeps data one year after the contract ended.
    let mut notice = custodia_core::notice::DEFAULT_NOTICE_TOML.replace("version = 1\n", "version = 2\n");
    for old in [
        "{ years = 3, from = \"contract_end\" }",
        "{ years = 10, from = \"contract_end\" }",
        "{ months = 24, from = \"last_activity\" }",
        "{ years = 3, from = \"collection\" }",
        "{ months = 24, from = \"collection\" }",
    ] {
        notice = notice.replace(old, "{ years = 1, from = \"contract_end\" }");
    }
    v.publish_notice(&p, &notice)?;
    let ids = insert(&v, &p, expired, 2)?;
    insert(&v, &p, kept, 3)?;
    // The expired customers' contracts ended two years ago (set through the
    // public lifecycle operation, many writers at once).
    let ended = (chrono::Utc::now().date_naive() - chrono::Duration::days(730)).to_string();
    let purpose = v.purpose("contract_performance")?;
    std::thread::scope(|s| {
        let chunk = ids.len().div_ceil(32).max(1);
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| {
                let (v, p, purpose, ended) = (&v, &p, &purpose, &ended);
                s.spawn(move || {
                    for id in part {
                        let input = LifecycleInput {
                            contract_end: Some(ended.clone()),
                            ..Default::default()
                        };
                        v.set_lifecycle(p, &id.to_string(), &input, purpose)?;
                    }
                    Ok::<_, VaultError>(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or_else(|_| Err(io("a lifecycle writer panicked"))))
    })?;
    let started = Instant::now();
    let r = v.retention_run(&p, &RetentionOptions::default(), &NoProgress)?;
    let secs = started.elapsed().as_secs_f64();
    if r.customers_erased != expired {
        return Err(io(format!("erased {} of {expired}", r.customers_erased)));
    }
    let (left, _) = v.counts(&p)?;
    println!(
        "## Retention purge: {expired} expired among {} customers — {}",
        expired + kept,
        crate::bench::machine()
    );
    println!("| scanned | erased | certificates | seconds | erased per second |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} | {secs:.2} | {:.0} |",
        r.scanned,
        r.customers_erased,
        r.certificates.len(),
        r.customers_erased as f64 / secs
    );
    println!("{left} customers remain; ledger ok: {}", v.verify_ledger(&p)?.ok);
    Ok(())
}

/// Backup, verify and restore of an existing data directory.
pub fn backup(workdir: &Path) -> Result<(), VaultError> {
    let dir = DataDir::new(std::env::var("CUSTODIA_DATA_DIR").unwrap_or_else(|_| "custodia-data".into()));
    let (v, p) = crate::bench::open_operator(&dir)?;
    std::fs::create_dir_all(workdir)?;
    let mut tag = [0u8; 4];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut tag);
    let file: PathBuf = workdir.join(format!("bench-{}.backup", to_hex(&tag)));
    let to = DataDir::new(workdir.join(format!("bench-restored-{}", to_hex(&tag))));
    let b = v.backup_create(&p, &file, None, &NoProgress)?;
    let ver = v.backup_verify(&p, &file, &NoProgress)?;
    let r = v.backup_restore(&p, &file, &to, &NoProgress)?;
    let (restored, rp) = crate::bench::open_operator(&to)?;
    let (count, _) = restored.counts(&rp)?;
    if count != b.customers {
        return Err(io(format!("restored {count} of {} customers", b.customers)));
    }
    println!(
        "## Backup and restore of {} customers ({:.0} MB database) — {}",
        b.customers,
        b.db_bytes as f64 / 1e6,
        crate::bench::machine()
    );
    println!("| step | seconds | MB/s |");
    println!("|---|---:|---:|");
    println!(
        "| backup create (snapshot + encrypt + fsync) | {:.2} | {:.0} |",
        b.seconds, b.mb_per_s
    );
    println!(
        "| backup verify (decrypt every chunk) | {:.2} | {:.0} |",
        ver.seconds, ver.mb_per_s
    );
    println!(
        "| restore (decrypt, write, fsync, open, replay ledger) | {:.2} | {:.0} |",
        r.seconds, r.mb_per_s
    );
    println!(
        "backup file {:.0} MB; restored customers {count}",
        b.file_bytes as f64 / 1e6
    );
    drop(restored);
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_dir_all(to.root());
    Ok(())
}
