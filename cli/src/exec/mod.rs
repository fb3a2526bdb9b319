//! `lockbox exec`: the container entrypoint. Declarations ([`spec`]) are resolved
//! all or nothing within one deadline ([`resolve`]); the child gets a freshly
//! built environment ([`env`](mod@env)) and memory-backed files ([`files`]); lockbox either
//! becomes the child or stays as its supervisor ([`supervise`]).

pub mod env;
pub mod files;
pub mod resolve;
pub mod spec;
pub mod supervise;
pub mod trampoline;
