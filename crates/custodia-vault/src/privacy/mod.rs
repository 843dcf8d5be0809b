//! What customers are told and what they agreed to: privacy notices and
//! their versions ([`notice`]), consent per purpose ([`consent`]), the
//! customers' portal ([`portal`]) and the channels that reach them
//! ([`delivery`]: mail and text messages carrying a link, never data).

pub mod consent;
pub mod delivery;
pub mod notice;
pub mod portal;

#[cfg(test)]
mod tests;
