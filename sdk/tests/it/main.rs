//! The SDK's integration tests, one binary with a module a subject: linking one
//! binary against the AWS SDK instead of one per file is most of what building
//! the tests costs.

mod cache;
mod common;
mod fetch;
mod vectors;
