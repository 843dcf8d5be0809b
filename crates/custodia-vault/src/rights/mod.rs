//! Data-subject rights and destruction: requests with their legal clocks
//! ([`requests`]), erasure by crypto-shredding with its ledger, holds and
//! certificates ([`erasure`]), and retention that runs itself
//! ([`retention`]).

pub mod erasure;
pub mod requests;
pub mod retention;

#[cfg(test)]
mod legal_tests;
#[cfg(test)]
mod tests;
