//! Progress reporting for long operations (import, export, rotation). The
//! CLI draws a bar with rate and ETA on a terminal; elsewhere nothing.

/// Receives progress of a long operation.
pub trait Progress: Send + Sync {
    /// The operation starts; `total` units (bytes, records) are expected.
    fn start(&self, total: u64, unit: &'static str);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The operation ended.
    fn finish(&self);
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: u64, _: &'static str) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}
