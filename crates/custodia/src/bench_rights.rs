//! Benchmarks of destruction and backups: single-customer erasure latency,
//! retention purge rate, backup and restore throughput.

use custodia_core::audit::to_hex;
use custodia_store::Mutation;
use custodia_vault::retention::RetentionOptions;
use custodia_vault::{DataDir, MasterChoice, NoProgress, RecordInput, Vault, VaultError};
use hdrhistogram::Histogram;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn io(e: impl std::fmt::Display) -> VaultError {
    VaultError::Io(e.to_string())
}

fn fresh_vault(workdir: &Path, name: &str) -> Result<Vault, VaultError> {
    std::fs::create_dir_all(workdir)?;
    let dir = DataDir::new(workdir.join(name));
    let _ = std::fs::remove_dir_all(dir.root());
    Ok(Vault::init(&dir, None, MasterChoice::KeyFile(None), "bench")?.0)
}

fn demo_input(rng: &mut rand::rngs::StdRng, i: u64) -> RecordInput {
    let row = custodia_vault::demo::demo_row(rng, i);
    let mut input = RecordInput::default();
    for (name, value) in custodia_vault::demo::DEMO_HEADER.iter().zip(row) {
        if *name == "external_id" {
            input.external_id = Some(value);
        } else if !value.is_empty() {
            input.fields.insert((*name).to_owned(), value);
        }
    }
    input
}

/// Insert `n` demo customers as if collected at `at_ms`.
fn insert_at(v: &Vault, n: u64, at_ms: i64, seed: u64) -> Result<Vec<custodia_core::CustomerId>, VaultError> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let validator = v.validator();
    let notices = v.notices();
    let mut ids = Vec::with_capacity(n as usize);
    let mut batch = Vec::new();
    for i in 0..n {
        let s = v.seal_new(
            &demo_input(&mut rng, seed * 10_000_000 + i),
            &validator,
            1,
            at_ms,
            &notices,
            "bench",
        )?;
        ids.push(s.customer.id);
        batch.push(Mutation::Insert {
            customer: Box::new(s.customer),
            consents: s.consents,
            events: Vec::new(),
        });
        if batch.len() == 2000 || i + 1 == n {
            for r in v.store().apply(std::mem::take(&mut batch))? {
                r?;
            }
        }
    }
    Ok(ids)
}

/// Erase customers one after another, each durable (and in the ledger)
/// before the next starts.
pub fn erase(workdir: &Path, customers: u64) -> Result<(), VaultError> {
    let v = fresh_vault(workdir, "erase-data")?;
    let ids = insert_at(&v, customers, custodia_vault::now_ms(), 1)?;
    // Warm the caches (signer, KEK, statements).
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).map_err(io)?;
    let started = Instant::now();
    for id in &ids {
        let t = Instant::now();
        v.erase_customer("bench", &id.to_string(), "benchmark")?;
        hist.record(t.elapsed().as_micros() as u64).map_err(io)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let (left, _) = v.counts()?;
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
    let v = fresh_vault(workdir, "retention-data")?;
    // Every purpose counts one year from collection.
    let notice = custodia_core::notice::DEFAULT_NOTICE_TOML
        .replace("version = 1\n", "version = 2\n")
        .replace(
            "{ years = 3, from = \"contract_end\" }",
            "{ years = 1, from = \"collection\" }",
        )
        .replace(
            "{ years = 5, from = \"contract_end\" }",
            "{ years = 1, from = \"collection\" }",
        );
    v.publish_notice("bench", &notice)?;
    let now = custodia_vault::now_ms();
    insert_at(&v, expired, now - 2 * 366 * 86_400_000, 2)?;
    insert_at(&v, kept, now, 3)?;
    let started = Instant::now();
    let r = v.retention_run("bench", &RetentionOptions::default(), &NoProgress)?;
    let secs = started.elapsed().as_secs_f64();
    if r.customers_erased != expired {
        return Err(io(format!("erased {} of {expired}", r.customers_erased)));
    }
    let (left, _) = v.counts()?;
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
    println!("{left} customers remain; ledger ok: {}", v.verify_ledger().ok);
    Ok(())
}

/// Backup, verify and restore of an existing data directory.
pub fn backup(workdir: &Path) -> Result<(), VaultError> {
    let dir = DataDir::new(std::env::var("CUSTODIA_DATA_DIR").unwrap_or_else(|_| "custodia-data".into()));
    let v = crate::cli::open(&dir)?;
    std::fs::create_dir_all(workdir)?;
    let mut tag = [0u8; 4];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut tag);
    let file: PathBuf = workdir.join(format!("bench-{}.backup", to_hex(&tag)));
    let to = DataDir::new(workdir.join(format!("bench-restored-{}", to_hex(&tag))));
    let b = v.backup_create("bench", &file, None, &NoProgress)?;
    let ver = v.backup_verify(&file, &NoProgress)?;
    let r = v.backup_restore("bench", &file, &to, &NoProgress)?;
    let restored = Vault::open(&to, &|| Err(io("no passphrase")))?;
    let (count, _) = restored.counts()?;
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
