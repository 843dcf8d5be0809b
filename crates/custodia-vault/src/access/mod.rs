//! Who may do what: principals and authorization ([`authz`]), staff and
//! service accounts ([`identity`]), sign-in and sessions ([`session`]),
//! one-time links, approvals and account life ([`staff`]), and access
//! reviews ([`review`]).

pub mod authz;
pub mod identity;
pub mod review;
pub mod session;
pub mod staff;

#[cfg(test)]
mod tests;
