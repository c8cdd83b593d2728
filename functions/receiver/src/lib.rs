//! The receiver function: AWS adapters for the shared ports and the lambda_http entry point.

pub mod aws;
pub mod lambda;
