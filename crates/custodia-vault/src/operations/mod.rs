//! Running the vault: encrypted backups and restores ([`backup`]), key
//! rotation ([`rotate`]), moving between stores ([`migrate`]), the first
//! administrator ([`bootstrap`]) and the demonstration data ([`demo`]).

pub mod backup;
pub mod bootstrap;
pub mod demo;
pub mod migrate;
pub mod rotate;
