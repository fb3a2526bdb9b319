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

/// Test hook, in debug builds only (the test suite's wheel): panics with `value`
/// in the payload, as a careless library's panic might, so the leak suite can
/// show that neither the exception nor stderr carries it.
#[cfg(debug_assertions)]
#[pyfunction]
fn _test_panic(py: Python<'_>, value: String) -> PyResult<()> {
    runtime::guarded(py, || panic!("forced panic holding {value}"))
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::Client>()?;
    m.add_class::<secret::Secret>()?;
    m.add("SDK_VERSION", env!("CARGO_PKG_VERSION"))?;
    #[cfg(debug_assertions)]
    m.add_function(wrap_pyfunction!(_test_panic, m)?)?;
    Ok(())
}
