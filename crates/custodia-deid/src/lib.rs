//! # custodia-deid
//!
//! De-identification without I/O: find personal information in free text
//! ([`detect`](mod@detect)), transform values ([`ops`]: masking, redaction, labels,
//! keyed hashes, consistent realistic substitutes, Laplace perturbation,
//! date shifting, generalization through ARX-style hierarchies, FF1
//! format-preserving tokens), and measure what a de-identified table still
//! reveals ([`kanon`]: k-anonymity, l-diversity, suppression, prosecutor
//! re-identification risk). [`eval`] generates a labeled corpus and scores
//! the detector against it.

pub mod columns;
pub mod detect;
pub mod dict;
pub mod eval;
pub mod ff1;
pub mod hierarchy;
pub mod kanon;
pub mod normalize;
pub mod ops;
pub mod profile;

pub use detect::{detect, Finding, Kind};
