//! Benchmarks of the de-identification toolkit: detection throughput and
//! quality on the project's labeled corpus, and de-identified exports.

use custodia_deid::eval;
use custodia_vault::records::export::ExportFormat;
use custodia_vault::{DataDir, NoProgress, VaultError};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// The profile the export benchmark uses unless given one: every kind of
/// operator on the default schema.
const BENCH_PROFILE: &str = r#"
k = 5
l = 2
quasi_identifiers = ["birth_date", "address", "department"]
sensitive = "segment"

[fields]
name = "drop"
national_id = "tokenize"
mobile = { action = "mask", first = 3, last = 2 }
email = "hash"
bank_card = "substitute"
birth_date = { action = "generalize", to = "age_band:10" }
address = { action = "generalize", to = "province" }
segment = "keep"
department = "keep"
"#;

fn presidio_version(python: &Path) -> String {
    std::process::Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('presidio-analyzer'))",
        ])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "?".into())
}

/// A de-identified export of the data directory against a masked export.
pub fn deid_export(profile: Option<&Path>, workdir: &Path) -> Result<(), VaultError> {
    let dir = DataDir::new(std::env::var("CUSTODIA_DATA_DIR").unwrap_or_else(|_| "custodia-data".into()));
    let (v, p) = crate::bench::open_operator(&dir)?;
    let purpose = v.purpose("contract_performance")?;
    let text = match profile {
        Some(p) => std::fs::read_to_string(p).map_err(|e| VaultError::Io(format!("{}: {e}", p.display())))?,
        None => BENCH_PROFILE.to_owned(),
    };
    let base = profile.and_then(Path::parent).unwrap_or(Path::new("."));
    let profile = v.load_profile(&text, base)?;
    std::fs::create_dir_all(workdir)?;
    let masked_path = workdir.join("bench-masked.csv");
    let deid_path = workdir.join("bench-deid.csv");
    let t = Instant::now();
    let mut w = std::io::BufWriter::new(std::fs::File::create(&masked_path)?);
    let masked = v.export(
        &p,
        &mut w,
        ExportFormat::Csv,
        &v.access(Some("contract_performance"), false, None)?,
        &NoProgress,
    )?;
    w.flush()?;
    drop(w);
    let masked_s = t.elapsed().as_secs_f64();
    let mut w = std::io::BufWriter::new(std::fs::File::create(&deid_path)?);
    let r = v.export_deidentified(&p, &purpose, &mut w, &profile, &NoProgress)?;
    w.flush()?;
    drop(w);
    let bytes = std::fs::metadata(&deid_path)?.len();
    let _ = std::fs::remove_file(&masked_path);
    let _ = std::fs::remove_file(&deid_path);
    println!(
        "## De-identified export of {} customers — {}",
        r.risk.records,
        crate::bench::machine()
    );
    println!("| export | seconds | customers/s | ratio to masked |");
    println!("|---|---:|---:|---:|");
    println!(
        "| masked CSV (baseline, one pass) | {masked_s:.2} | {:.0} | 1.00 |",
        masked.records as f64 / masked_s
    );
    println!(
        "| de-identified (two passes, k = {}, l = {:?}) | {:.2} | {:.0} | {:.2} |",
        r.k_required,
        r.l_required,
        r.seconds,
        r.risk.records as f64 / r.seconds,
        r.seconds / masked_s
    );
    println!();
    println!(
        "released {} ({:.1} MB), suppressed {}, classes {}, k achieved {}, l achieved {:?}, prosecutor risk max {:.4} / average {:.5}",
        r.risk.released,
        bytes as f64 / 1e6,
        r.risk.suppressed,
        r.risk.classes,
        r.risk.k,
        r.risk.l,
        r.risk.max_risk,
        r.risk.avg_risk
    );
    Ok(())
}

/// Detection throughput on mixed Chinese/English text, one thread, and the
/// quality table on `docs` labeled documents.
pub fn detect(megabytes: usize, docs: usize, presidio: Option<&Path>, presidio_mb: f64) -> Result<(), VaultError> {
    let text = eval::mixed_text(megabytes << 20, 2026);
    // Documents of about 4 KiB, as notes and messages come.
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + 4096).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        // End at a line.
        if let Some(nl) = text[end..].find('\n') {
            end += nl + 1;
        }
        chunks.push(&text[start..end]);
        start = end;
    }
    // Warm up the dictionaries.
    let _ = custodia_deid::detect("warm 13800138000");
    let t = Instant::now();
    let mut findings = 0usize;
    for c in &chunks {
        findings += custodia_deid::detect(c).len();
    }
    let secs = t.elapsed().as_secs_f64();
    let mb = text.len() as f64 / 1e6;
    println!("## PII detection throughput, one thread — {}", crate::bench::machine());
    println!("| text | documents | findings | seconds | MB/s |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {mb:.1} MB mixed zh/en | {} | {findings} | {secs:.2} | {:.1} |",
        chunks.len(),
        mb / secs
    );
    if let Some(python) = presidio {
        // The same text, its first megabytes, through Presidio in a child process.
        let file = std::env::temp_dir().join(format!("custodia-bench-text-{}.txt", std::process::id()));
        std::fs::write(&file, &text)?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench-presidio.py");
        let out = std::process::Command::new(python)
            .arg(&script)
            .arg(&file)
            .arg(presidio_mb.to_string())
            .output();
        let _ = std::fs::remove_file(&file);
        let out = out.map_err(|e| VaultError::Io(format!("{}: {e}", python.display())))?;
        if !out.status.success() {
            return Err(VaultError::Io(format!(
                "presidio baseline failed: {}",
                String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
            )));
        }
        let r: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| VaultError::Io(format!("presidio baseline output: {e}")))?;
        let (pb, ps) = (r["bytes"].as_f64().unwrap_or(0.0), r["seconds"].as_f64().unwrap_or(1.0));
        let presidio_mbs = pb / 1e6 / ps;
        println!(
            "| {:.1} MB of the same text, Presidio {} (pattern recognizers, blank spaCy) | — | {} | {ps:.2} | {presidio_mbs:.3} |",
            pb / 1e6,
            presidio_version(python),
            r["findings"]
        );
        println!();
        println!("Custodia / Presidio: **{:.0}×**", (mb / secs) / presidio_mbs);
    }
    println!();
    let rep = eval::score(&eval::corpus(docs, 4242));
    println!("## Detection quality on {docs} labeled documents (seed 4242)");
    println!("| type | exact P | exact R | exact F1 | exact F2 | overlap F1 | tp | fp | fn |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (k, s) in &rep.exact {
        let o = &rep.overlap[k];
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} |",
            k.as_str(),
            s.precision,
            s.recall,
            s.f1,
            s.f2,
            o.f1,
            s.tp,
            s.fp,
            s.fn_
        );
    }
    Ok(())
}
