//! The emulator seen through real clients (the AWS SDKs, boto3, credstash, the
//! binary), one test binary with a module a subject: linking one binary against
//! the AWS SDK instead of one per file is most of what building the tests costs.

mod common;

mod binary;
mod boto3;
mod credstash;
mod durability;
mod dynamodb;
mod faults;
mod hooks;
mod identity;
mod kms;
mod quotas;
mod regions;
mod tls;
