//! The contract with 3QPR, and between the receiver and the consumers: the signature scheme,
//! the envelope and its typed events, and the queue message a verified webhook becomes.

pub mod envelope;
pub mod message;
pub mod pointer;
pub mod signature;
