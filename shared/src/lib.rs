//! The 3QPR webhook receiver's logic, free of Lambda and AWS types: the signature scheme, the
//! envelope and typed events, routing, the queue message, and the request handler over two
//! small ports (a secret source and a queue).

pub mod config;
pub mod envelope;
pub mod handler;
pub mod keys;
pub mod message;
pub mod ports;
pub mod rejection;
pub mod routing;
pub mod signature;

#[cfg(any(test, feature = "test-support"))]
pub mod memory;
