//! `Secret`: a fetched secret whose value stays in wiped-on-drop Rust memory until
//! the caller asks for it, and that never shows it.

use std::sync::Mutex;

use lockbox::{escape_untrusted, ExposeSecret, SecretValue};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// A secret fetched from the store.
///
/// The value is held in Rust memory that is wiped when the `Secret` is garbage
/// collected or `wipe()`d (or at the end of a `with` block); `bytes()` and
/// `text()` hand out a Python copy, which Python cannot wipe, so ask for it
/// where it is used. `repr()`/`str()` never show the value, and a `Secret`
/// cannot be pickled or copied.
#[pyclass(frozen, module = "lockbox_secrets", name = "Secret")]
pub struct Secret {
    name: String,
    version: u64,
    comment: Option<String>,
    format: String,
    /// The JSON pointer of the field read, when only a field was asked for.
    field: Option<String>,
    region: Option<String>,
    kms_region: Option<String>,
    value: Mutex<Option<SecretValue>>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.__repr__())
    }
}

impl Secret {
    /// Take an SDK secret (its value is moved, not copied).
    pub fn new(secret: lockbox::Secret) -> Self {
        Self::with_field(secret, None)
    }

    /// Take an SDK secret whose value is the field `field` (a JSON pointer) of
    /// the stored value, as `Lockbox::resolve` returns it.
    pub fn with_field(secret: lockbox::Secret, field: Option<String>) -> Self {
        Self {
            name: secret.name.as_str().to_owned(),
            version: secret.version.get(),
            comment: secret.metadata.comment.clone(),
            format: secret.format.to_string(),
            field,
            region: secret.region,
            kms_region: secret.kms_region,
            value: Mutex::new(Some(secret.value)),
        }
    }

    fn with_value<T>(&self, f: impl FnOnce(&SecretValue) -> PyResult<T>) -> PyResult<T> {
        let guard = self.value.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(v) => f(v),
            None => Err(PyValueError::new_err(format!(
                "the value of {} was wiped (wipe() or the end of a with block); fetch it again",
                escape_untrusted(&self.name)
            ))),
        }
    }
}

#[pymethods]
impl Secret {
    /// The secret's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The version read.
    #[getter]
    fn version(&self) -> u64 {
        self.version
    }

    /// The comment stored beside it (not encrypted, not authenticated), if any.
    #[getter]
    fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The item's format (`lockbox-sealed-2`, `credstash`, ...).
    #[getter]
    fn format(&self) -> &str {
        &self.format
    }

    /// The JSON pointer of the field this holds (`"/password"`), or `None` when it
    /// holds the whole value.
    #[getter]
    fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The region whose table served it (with several regions, the first
    /// that was available), if known.
    #[getter]
    fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The region whose KMS unwrapped its data key, if known.
    #[getter]
    fn kms_region(&self) -> Option<&str> {
        self.kms_region.as_deref()
    }

    /// Whether the value was wiped.
    #[getter]
    fn wiped(&self) -> bool {
        self.value
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// The value as bytes (a copy).
    fn bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.with_value(|v| Ok(PyBytes::new(py, v.expose_secret())))
    }

    /// The value as text (a copy); `UnicodeDecodeError` if it is not UTF-8.
    fn text<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        self.with_value(|v| match v.expose_str() {
            Ok(s) => Ok(PyString::new(py, s)),
            // Built by Python from the bytes' length only: the error names the
            // position, never the bytes.
            Err(e) => Err(pyo3::exceptions::PyUnicodeDecodeError::new_err((
                "utf-8",
                PyBytes::new(py, &[]).unbind(),
                e.valid_up_to(),
                e.valid_up_to() + e.error_len().unwrap_or(1),
                format!(
                    "the value of {} is not UTF-8 text; use bytes()",
                    escape_untrusted(&self.name)
                ),
            ))),
        })
    }

    /// Wipe the value from memory now; `bytes()`/`text()` fail afterwards.
    fn wipe(&self) {
        // Dropping a SecretValue zeroizes it.
        drop(self.value.lock().unwrap_or_else(|e| e.into_inner()).take());
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        _exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> bool {
        self.wipe();
        false
    }

    fn __repr__(&self) -> String {
        let field = match &self.field {
            Some(f) => format!(", field={:?}", escape_untrusted(f)),
            None => String::new(),
        };
        format!(
            "Secret(name={:?}, version={}{field}, value=<redacted>)",
            escape_untrusted(&self.name),
            self.version
        )
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "a Secret cannot be pickled or copied (it would write the value out); \
             pass secret.bytes() explicitly if you must",
        ))
    }
}
