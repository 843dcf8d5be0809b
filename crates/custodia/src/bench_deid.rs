//! Benchmarks of the de-identification toolkit: detection throughput and
//! quality on the project's labeled corpus.

use custodia_deid::eval;
use custodia_vault::VaultError;
use std::time::Instant;

/// Detection throughput on mixed Chinese/English text, one thread, and the
/// quality table on `docs` labeled documents.
pub fn detect(megabytes: usize, docs: usize) -> Result<(), VaultError> {
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
