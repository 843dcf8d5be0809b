//! Fuzz harnesses on stable Rust for what the vault reads from outside:
//! CSV files (the importer) and backup files (the reader). Proptest feeds
//! them mutations of real files; neither may panic, an import's counts
//! always add up to the rows it read, and a damaged backup is refused.
//! `CUSTODIA_FUZZ_CASES` scales the runs (see docs/TESTING.md).

use crate::operations::demo;
use crate::records::import::ImportOptions;
use crate::testkit::*;
use crate::*;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("CUSTODIA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .map(|n| (n / 8).max(1))
        .unwrap_or(48)
}

fn vault(dir: &std::path::Path) -> Vault {
    Vault::init(
        &DataDir::new(dir.join("data")),
        None,
        MasterChoice::KeyFile(None),
        "fuzz",
    )
    .unwrap()
    .0
}

/// `base` with some bytes replaced, removed or inserted.
fn mutate(base: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut b = base.to_vec();
    for &(at, byte, how) in edits {
        if b.is_empty() {
            break;
        }
        let at = at % b.len();
        match how % 3 {
            0 => b[at] = byte,
            1 => {
                b.remove(at);
            }
            _ => b.insert(at, byte),
        }
    }
    b
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    proptest::collection::vec(
        (
            any::<usize>(),
            prop_oneof![Just(b'"'), Just(b','), Just(b'\n'), any::<u8>()],
            any::<u8>(),
        ),
        0..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_csv_import(e in edits()) {
        thread_local! {
            static V: (tempfile::TempDir, Vault, Vec<u8>) = {
                let d = tempfile::tempdir().unwrap();
                let v = vault(d.path());
                let mut csv = Vec::new();
                demo::write_demo_csv(&mut csv, 12, 1, 5, |_| {}).unwrap();
                (d, v, csv)
            };
        }
        V.with(|(_, v, csv)| {
            let input = mutate(csv, &e);
            if let Ok(r) = v.import(&op(), &input[..], None, &ImportOptions::new(cp()), None, &NoProgress) {
                assert_eq!(r.rows_read, r.created + r.existing + r.rejected, "{r:?}");
            }
        });
    }

    #[test]
    fn fuzz_backup_reader(e in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)) {
        thread_local! {
            static B: (tempfile::TempDir, Vault, Vec<u8>) = {
                let d = tempfile::tempdir().unwrap();
                let v = vault(d.path());
                v.create(&op(), &RecordInput {
                    fields: [("name".to_owned(), "林晓".to_owned())].into(),
                    ..Default::default()
                }, &cp()).unwrap();
                let f = d.path().join("b.backup");
                v.backup_create(&op(), &f, None, &NoProgress).unwrap();
                let bytes = std::fs::read(&f).unwrap();
                (d, v, bytes)
            };
        }
        B.with(|(d, v, bytes)| {
            let damaged = mutate(bytes, &e);
            let f = d.path().join(format!("m-{}.backup", rand::random::<u64>()));
            std::fs::write(&f, &damaged).unwrap();
            let r = v.backup_verify(&op(), &f, &NoProgress);
            if damaged != *bytes {
                assert!(r.is_err(), "a damaged backup verified");
            }
            let _ = std::fs::remove_file(&f);
        });
    }
}
