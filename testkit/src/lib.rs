//! What the workspace's test suites share: hermetic child processes, a raw
//! HTTP/1.1 client for the emulator and its `/_mock` control API, fault rules, AWS
//! SDK clients aimed at an emulator, and the Python venv with credstash.
//!
//! Depends on no lockbox crate, so the SDK's, the CLI's, the emulator's and the
//! cross-crate tests all use it.

pub mod aws;
pub mod faults;
pub mod http;
pub mod process;
pub mod python;

pub use process::{wait_for, Reaped};
pub use python::{venv, Credstash};
