//! The receiver: configuration, routing, the secret cache, the two ports it needs from AWS,
//! the request handler, and the one place failures become answers.

pub mod config;
pub mod handler;
pub mod keys;
pub mod objects;
pub mod outbox;
pub mod ports;
pub mod rejection;
pub mod routing;
