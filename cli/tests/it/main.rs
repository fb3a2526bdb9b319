//! The CLI's end-to-end tests, one binary with a module a subject: linking one
//! binary against the AWS SDK and the emulator instead of one per file is most of
//! what building the tests costs.

mod big_tables;
mod commands;
mod common;
mod credstash;
mod exec;
mod identity;
mod json_contract;
mod labels;
mod leaks;
mod lifecycle;
mod operator;
mod policy;
mod regions;
mod remote;
mod skew;
mod walkthrough;
