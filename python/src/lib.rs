//! `lockbox_secrets._native`: the lockbox SDK as a Python extension module (PyO3,
//! stable ABI from CPython 3.9). The Python package `lockbox_secrets` wraps it;
//! see `python/README.md`.
//!
//! Every entry point releases the GIL while it waits on AWS, converts SDK errors
//! to the exceptions of `lockbox_secrets._errors`, and never lets a panic reach
//! the interpreter (`runtime.rs`).

mod client;
mod errors;
mod runtime;
mod secret;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::Client>()?;
    m.add_class::<secret::Secret>()?;
    m.add("SDK_VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
