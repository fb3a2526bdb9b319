//! Strict mode: who a request comes from and what it may do. One room a subject:
//!
//! - `sigv4.rs`: the `Authorization` header parsed, the SigV4 signature checked;
//! - `sessions.rs`: temporary credentials handed out by STS and the endpoints;
//! - `jwt.rs`: web identity tokens from the emulator's own issuer;
//! - `iam_file.rs`: the identity file (users, roles and their trust);
//! - `policy.rs`: the IAM policy language and its evaluation;
//! - `authz.rs`: what a KMS or DynamoDB request asks IAM for;
//! - `audit.rs`: the audit log of every decision;
//! - `auth.rs`: [`Auth`], which ties them together for the server;
//! - `sts.rs`: STS and the container and IMDS credential endpoints.
//!
//! This wing sits above `kms/` and `dynamodb/` (`authz.rs` asks them how a request
//! names its resources) and below the server.

mod audit;
mod auth;
pub(crate) mod authz;
mod iam_file;
mod jwt;
mod policy;
mod sessions;
mod sigv4;
pub(crate) mod sts;

pub(crate) use auth::Auth;
pub(crate) use iam_file::IamConfig;
pub(crate) use jwt::{issue_jwt, issuer_key};
