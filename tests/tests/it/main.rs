//! Cross-crate scenarios, one binary with a module a subject: linking one binary
//! against the AWS SDK and the emulator instead of one per file is most of what
//! building the tests costs.

mod attacks;
mod contract;
mod credstash_interop;
mod faults;
mod labels;
mod leaks;
mod policies;
