//! `Client`: one table with one key, as the SDK's `Lockbox`, for Python.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lockbox::Digest;
use lockbox::{
    AllOptions, AwsOptions, EncryptionContext, FormatPolicy, JsonPointer, Label, LabelCondition,
    Labels, Lockbox, PutOptions, Reference, RotateOptions, RotationStep, SecretName, SecretRef,
    SecretValue, SetupOptions, SetupResult, TableMode, Version, REFERENCE_SCHEME,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};
use zeroize::Zeroizing;

use crate::errors;
use crate::runtime::{block_on, guarded};
use crate::secret::Secret;

/// The builder settings a client applies on top of `Lockbox::from_env`.
#[derive(Debug, Clone, Default)]
struct Settings {
    table_mode: Option<TableMode>,
    require_sealed: bool,
    accept_credstash_items: bool,
    accept_sealed_v1: bool,
    concurrency: Option<usize>,
    cache_ttl: Option<Duration>,
}

/// The lockbox of this process, and the process it was built in.
struct Built {
    pid: u32,
    lockbox: Arc<Lockbox>,
}

/// A client of one secrets table, with one KMS key for writing.
///
/// Built like the SDK's `Lockbox::from_env`: the standard AWS configuration
/// (environment, profile, SSO, web identity, ECS/EKS container credentials,
/// IMDSv2) unless credentials are passed. Nothing is read or connected until the
/// first call. Safe to share between threads and to use again after a `fork`
/// (each process builds its own connections).
#[pyclass(frozen, module = "lockbox_secrets", name = "Client")]
pub struct Client {
    options: AwsOptions,
    settings: Settings,
    built: Mutex<Option<Built>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("table", &self.options.table)
            .field("region", &self.options.region)
            .field("regions", &self.options.regions)
            .field("write_region", &self.options.write_region)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Fetch what `reference` names (only its field, when it has a pointer).
    fn resolve(
        &self,
        py: Python<'_>,
        reference: Reference,
        context: EncryptionContext,
    ) -> PyResult<Secret> {
        let field = reference.pointer.as_ref().map(|p| p.as_str().to_owned());
        let lockbox = self.lockbox(py)?;
        let secret = block_on(py, move || async move {
            lockbox.resolve(&reference, &context).await
        })?;
        Ok(Secret::with_field(secret, field))
    }

    /// This process's lockbox, built on first use (and again in a forked child).
    /// Called with the GIL held; the build itself runs with it released.
    fn lockbox(&self, py: Python<'_>) -> PyResult<Arc<Lockbox>> {
        let pid = std::process::id();
        {
            let mut slot = self.built.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_ref() {
                Some(b) if b.pid == pid => return Ok(b.lockbox.clone()),
                Some(_) => {
                    // Built in the parent of this forked process: its connections
                    // belong to a runtime whose threads are gone. Leaked on purpose.
                    std::mem::forget(slot.take());
                }
                None => {}
            }
        }
        let options = self.options.clone();
        let settings = self.settings.clone();
        let lockbox = block_on(py, move || async move {
            let mut builder = Lockbox::from_env(&options)
                .await?
                .require_sealed(settings.require_sealed)
                .accept_credstash_items(settings.accept_credstash_items)
                .accept_sealed_v1(settings.accept_sealed_v1);
            if let Some(mode) = settings.table_mode {
                builder = builder.table_mode(mode);
            }
            if let Some(n) = settings.concurrency {
                builder = builder.concurrency(n);
            }
            if let Some(ttl) = settings.cache_ttl {
                builder = builder.cache_ttl(ttl);
            }
            builder.build()
        })?;
        let lockbox = Arc::new(lockbox);
        let mut slot = self.built.lock().unwrap_or_else(|e| e.into_inner());
        match slot.as_ref() {
            // Another thread built one meanwhile: use that one, so every thread
            // shares one lockbox (one set of connections, one cache).
            Some(b) if b.pid == pid => Ok(b.lockbox.clone()),
            _ => {
                *slot = Some(Built {
                    pid,
                    lockbox: lockbox.clone(),
                });
                Ok(lockbox)
            }
        }
    }
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (
        *,
        table = None,
        kms_key = None,
        region = None,
        regions = None,
        write_region = None,
        kms_region = None,
        endpoint_url = None,
        profile = None,
        assume_role = None,
        aws_access_key_id = None,
        aws_secret_access_key = None,
        aws_session_token = None,
        table_mode = None,
        require_sealed = false,
        accept_credstash_items = false,
        accept_sealed_v1 = false,
        trusted_keys = None,
        concurrency = None,
        cache_ttl = None,
        timeout = None,
        attempt_timeout = None,
        max_attempts = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        table: Option<String>,
        kms_key: Option<String>,
        region: Option<String>,
        regions: Option<&Bound<'_, PyAny>>,
        write_region: Option<String>,
        kms_region: Option<String>,
        endpoint_url: Option<String>,
        profile: Option<String>,
        assume_role: Option<String>,
        aws_access_key_id: Option<String>,
        aws_secret_access_key: Option<String>,
        aws_session_token: Option<String>,
        table_mode: Option<String>,
        require_sealed: bool,
        accept_credstash_items: bool,
        accept_sealed_v1: bool,
        trusted_keys: Option<Vec<String>>,
        concurrency: Option<usize>,
        cache_ttl: Option<f64>,
        timeout: Option<f64>,
        attempt_timeout: Option<f64>,
        max_attempts: Option<u32>,
    ) -> PyResult<Self> {
        guarded(py, || {
            let mut options = AwsOptions::default();
            if let Some(t) = table {
                nonempty(py, "table", &t)?;
                options.table = t;
            }
            if let Some(k) = kms_key {
                nonempty(py, "kms_key", &k)?;
                options.kms_key = k;
            }
            options.region = region;
            options.regions = regions_arg(py, regions)?;
            if let Some(w) = &write_region {
                if options.regions.is_empty() {
                    return Err(errors::usage(
                        py,
                        "write_region names one of several regions: pass regions=[...] too \
                         (with one region, writes go to it)",
                    ));
                }
                if !options.regions.contains(w) {
                    return Err(errors::usage(
                        py,
                        &format!(
                            "write_region {:?} is not one of the regions read ({}): add it to \
                             regions",
                            lockbox::escape_untrusted(w),
                            options.regions.join(",")
                        ),
                    ));
                }
            }
            options.write_region = write_region;
            options.kms_region = kms_region;
            options.endpoint_url = endpoint_url;
            options.profile = profile;
            options.assume_role = assume_role;
            options.trusted_keys = trusted_keys.unwrap_or_default();
            options.credentials = match (aws_access_key_id, aws_secret_access_key) {
                (Some(id), Some(secret)) => Some(aws_credential_types::Credentials::new(
                    id,
                    secret,
                    aws_session_token,
                    None,
                    "lockbox_secrets",
                )),
                (None, None) if aws_session_token.is_none() => None,
                _ => {
                    return Err(errors::usage(
                        py,
                        "aws_access_key_id and aws_secret_access_key go together (with \
                         aws_session_token for temporary credentials); pass both or neither",
                    ))
                }
            };
            if let Some(s) = timeout {
                options.operation_timeout = seconds(py, "timeout", s)?;
            }
            if let Some(s) = attempt_timeout {
                options.attempt_timeout = seconds(py, "attempt_timeout", s)?;
            }
            if let Some(n) = max_attempts {
                if n == 0 {
                    return Err(errors::usage(py, "max_attempts must be at least 1"));
                }
                options.max_attempts = n;
            }
            let table_mode = match table_mode {
                None => None,
                Some(m) => Some(m.parse().map_err(|e| errors::to_py(py, &e))?),
            };
            if require_sealed && accept_credstash_items {
                return Err(errors::usage(
                    py,
                    "require_sealed and accept_credstash_items contradict each other; pass one",
                ));
            }
            if concurrency == Some(0) {
                return Err(errors::usage(py, "concurrency must be at least 1"));
            }
            let settings = Settings {
                table_mode,
                require_sealed,
                accept_credstash_items,
                accept_sealed_v1,
                concurrency,
                cache_ttl: cache_ttl.map(|s| seconds(py, "cache_ttl", s)).transpose()?,
            };
            Ok(Self {
                options,
                settings,
                built: Mutex::new(None),
            })
        })
    }

    /// The table's name.
    #[getter]
    fn table(&self) -> &str {
        &self.options.table
    }

    /// `name` decrypted: the version labelled `current` (the highest version of a
    /// secret without labels; never a `pending` one), or `version`, or the
    /// version `label` names. With `field` (a JSON pointer such as
    /// `"/password"`), only that field of the value (a JSON document): a
    /// string's text, or the compact JSON of any other value.
    #[pyo3(signature = (name, version = None, *, context = None, label = None, field = None))]
    fn get(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        version: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
        label: Option<&Bound<'_, PyAny>>,
        field: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Secret> {
        guarded(py, || {
            let name = name_arg(py, name)?;
            let version = version_arg(py, version, false)?;
            let label = label_arg(py, label)?;
            let mut reference = match (version, label) {
                (Some(_), Some(_)) => {
                    return Err(errors::usage(
                        py,
                        "pass version or label, not both: each picks the version to read",
                    ))
                }
                (Some(v), None) => Reference::version(name, v),
                (None, Some(l)) => Reference::label(name, l),
                (None, None) => Reference::latest(name),
            };
            if let Some(pointer) = field_arg(py, field)? {
                reference = reference.with_pointer(pointer);
            }
            let context = context_arg(py, context)?;
            self.resolve(py, reference, context)
        })
    }

    /// What a reference names: `"[lockbox://]NAME[@VERSION|@LABEL][#/json/pointer]"`
    /// (`"prod/db@previous#/password"`). Without the `lockbox://` scheme the
    /// text is read the same way.
    #[pyo3(signature = (reference, *, context = None))]
    fn get_ref(
        &self,
        py: Python<'_>,
        reference: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Secret> {
        guarded(py, || {
            let text = str_arg(reference, "reference")?;
            let reference = match text.strip_prefix(REFERENCE_SCHEME) {
                Some(rest) => rest.parse::<Reference>(),
                None => text.parse::<Reference>(),
            }
            .map_err(|e| errors::to_py(py, &e))?;
            let context = context_arg(py, context)?;
            self.resolve(py, reference, context)
        })
    }

    /// Several secrets at once, all or nothing: a list of `Secret` in the order of
    /// `refs`. Each ref is a name, `"NAME@VERSION"`, a `(name, version)` pair, or
    /// a reference with its scheme, `"lockbox://NAME[@VERSION|@LABEL][#/pointer]"`
    /// (as `get_ref`: a label, a JSON field). A secret named by several refs
    /// (fields of one JSON value) is fetched once.
    #[pyo3(signature = (refs, *, context = None))]
    fn get_many(
        &self,
        py: Python<'_>,
        refs: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<Secret>> {
        guarded(py, || {
            let refs = refs_arg(py, refs)?;
            let context = context_arg(py, context)?;
            let lockbox = self.lockbox(py)?;
            let fields: Vec<Option<String>> = refs
                .iter()
                .map(|r| r.pointer.as_ref().map(|p| p.as_str().to_owned()))
                .collect();
            let secrets = block_on(py, move || async move {
                lockbox.resolve_many(&refs, &context).await
            })?;
            Ok(secrets
                .into_iter()
                .zip(fields)
                .map(|(s, f)| Secret::with_field(s, f))
                .collect())
        })
    }

    /// For the credstash module: `names` (each at `version`, or the latest) as a
    /// dict of name to text, all or nothing; `UnicodeDecodeError` for a value that
    /// is not UTF-8, as credstash.
    #[pyo3(signature = (names, version = None, *, context = None))]
    fn _get_text_many<'py>(
        &self,
        py: Python<'py>,
        names: Vec<String>,
        version: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        guarded(py, || {
            let version = version_arg(py, version, false)?;
            let refs = names
                .into_iter()
                .map(|n| {
                    Ok(SecretRef {
                        name: SecretName::new(n).map_err(|e| errors::to_py(py, &e))?,
                        version,
                    })
                })
                .collect::<PyResult<Vec<_>>>()?;
            let context = context_arg(py, context)?;
            let lockbox = self.lockbox(py)?;
            let secrets = block_on(py, move || async move {
                lockbox.get_many(&refs, &context).await
            })?;
            text_dict(py, secrets)
        })
    }

    /// For the credstash module: every secret in the table (each at `version`, or
    /// the latest) as a dict of name to text, all or nothing, read from one scan
    /// of the table and one unwrap each (`Lockbox::get_all`).
    #[pyo3(signature = (version = None, *, context = None))]
    fn _get_text_all<'py>(
        &self,
        py: Python<'py>,
        version: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        guarded(py, || {
            let mut options = AllOptions::new();
            if let Some(v) = version_arg(py, version, false)? {
                options = options.version(v);
            }
            let context = context_arg(py, context)?;
            let lockbox = self.lockbox(py)?;
            let secrets = block_on(py, move || async move {
                lockbox.get_all(&options, &context).await
            })?;
            text_dict(py, secrets)
        })
    }

    /// Store `value` (bytes or str) as a new version of `name`; returns the version.
    /// Without `version`, the next one (concurrent writers each get their own);
    /// an explicit version that exists raises `AlreadyExistsError`.
    #[pyo3(signature = (name, value, *, version = None, context = None, comment = None, digest = None))]
    #[allow(clippy::too_many_arguments)]
    fn put(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        version: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
        comment: Option<&Bound<'_, PyAny>>,
        digest: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        guarded(py, || {
            let name = name_arg(py, name)?;
            let version = version_arg(py, version, true)?;
            let context = context_arg(py, context)?;
            let comment = match comment {
                None => None,
                Some(c) if c.is_none() => None,
                Some(c) => Some(str_arg(c, "comment")?),
            };
            let format = match digest {
                None => None,
                Some(d) if d.is_none() => None,
                Some(d) => {
                    let d = str_arg(d, "digest")?;
                    let digest: Digest = d.parse().map_err(|_| {
                        errors::usage(
                            py,
                            &format!(
                                "digest {d:?} is not one of SHA, SHA224, SHA256, SHA384, SHA512, MD5"
                            ),
                        )
                    })?;
                    Some(FormatPolicy::Credstash(digest))
                }
            };
            let value = value_arg(value)?;
            let options = PutOptions {
                version,
                context,
                comment,
                format,
            };
            let lockbox = self.lockbox(py)?;
            let version = block_on(py, move || async move {
                lockbox.put(&name, &value, &options).await
            })?;
            Ok(version.get())
        })
    }

    /// Every stored version of every secret, without decrypting: a list of dicts
    /// (`name`, `version`, `sort_key`, `format`, `comment`, `created_at`), sorted by
    /// name and version.
    fn list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guarded(py, || {
            let lockbox = self.lockbox(py)?;
            let items = block_on(py, move || async move { lockbox.list().await })?;
            summaries(py, &items)
        })
    }

    /// Every stored version of `name`, oldest first, without decrypting.
    fn history<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        guarded(py, || {
            let name = name_arg(py, name)?;
            let lockbox = self.lockbox(py)?;
            let items = block_on(py, move || async move { lockbox.history(&name).await })?;
            summaries(py, &items)
        })
    }

    /// Delete `version` of `name`, or every version; returns the deleted versions'
    /// sort keys. `NotFoundError` if there was nothing to delete.
    #[pyo3(signature = (name, version = None))]
    fn delete(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        version: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<String>> {
        guarded(py, || {
            let name = name_arg(py, name)?;
            let version = version_arg(py, version, false)?;
            let lockbox = self.lockbox(py)?;
            block_on(
                py,
                move || async move { lockbox.delete(&name, version).await },
            )
        })
    }

    /// Create the table in `mode` (`"sealed"`, or `"credstash"` for a table shared
    /// with credstash clients), or check an existing one and record what it lacks.
    /// Returns `"created"`, `"unchanged"` or `"recorded"`; raises `UsageError` when
    /// the table records something else (nothing is changed then). With
    /// `labels=True`, a table shared with credstash also gets the companion table
    /// that keeps its labels and staged rotations (`TABLE.lockbox-labels`, which
    /// credstash clients never read); a sealed table needs none.
    #[pyo3(signature = (mode = "sealed", *, tags = None, labels = false))]
    fn setup(
        &self,
        py: Python<'_>,
        mode: &str,
        tags: Option<BTreeMap<String, String>>,
        labels: bool,
    ) -> PyResult<&'static str> {
        guarded(py, || {
            let mode: TableMode = mode.parse().map_err(|e| errors::to_py(py, &e))?;
            let mut options = SetupOptions::new(mode);
            options.tags = tags.unwrap_or_default().into_iter().collect();
            let lockbox = self.lockbox(py)?;
            let report = block_on(py, move || async move {
                let report = lockbox.setup_with(&options).await?;
                let refused = matches!(report.result, SetupResult::Refused(_));
                let sealed = report.record.mode.as_deref() == Some(TableMode::Sealed.as_str());
                if labels && !refused && !sealed {
                    lockbox.setup_labels().await?;
                }
                Ok(report)
            })?;
            match report.result {
                SetupResult::Created => Ok("created"),
                SetupResult::Unchanged => Ok("unchanged"),
                SetupResult::Recorded(_) => Ok("recorded"),
                SetupResult::Refused(why) => Err(errors::usage(py, &why)),
                _ => Ok("unchanged"),
            }
        })
    }

    /// Whether the table exists (reads what it records; for the credstash module).
    fn _table_exists(&self, py: Python<'_>) -> PyResult<bool> {
        guarded(py, || {
            let lockbox = self.lockbox(py)?;
            let found = block_on(py, move || async move {
                match lockbox.table_record().await {
                    Ok(_) => Ok(true),
                    Err(lockbox::Error::TableNotFound { .. }) => Ok(false),
                    Err(e) => Err(e),
                }
            })?;
            Ok(found)
        })
    }

    /// The labels of `name`: a dict of label to the version it names
    /// (`{"current": 3, "previous": 2, "stable": 2}`); empty for a secret without
    /// labels.
    fn labels<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        guarded(py, || {
            let name = name_arg(py, name)?;
            let lockbox = self.lockbox(py)?;
            let labels = block_on(py, move || async move { lockbox.labels(&name).await })?;
            labels_dict(py, &labels)
        })
    }

    /// Make `label` name `version` of `name`, in one conditional write; returns
    /// the labels afterwards (as `labels()`). By default the move goes ahead only
    /// if the label is still where this call found it: of two concurrent moves of
    /// one label, exactly one wins and the other raises `ConflictError` (exit
    /// code 8) with nothing changed. `expected=V`: only if the label names
    /// version V now; `if_absent=True`: only if the secret does not carry it.
    /// Moving `current` moves the version it left to `previous`.
    #[pyo3(signature = (name, label, version, *, expected = None, if_absent = false))]
    #[allow(clippy::too_many_arguments)]
    fn set_label<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'_, PyAny>,
        label: &Bound<'_, PyAny>,
        version: &Bound<'_, PyAny>,
        expected: Option<&Bound<'_, PyAny>>,
        if_absent: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        guarded(py, || {
            let name = name_arg(py, name)?;
            let label = required_label(py, label)?;
            let version = version_arg(py, Some(version), true)?
                .ok_or_else(|| PyTypeError::new_err("version must be an int, not None"))?;
            let condition = condition_arg(py, expected, if_absent)?;
            let lockbox = self.lockbox(py)?;
            let labels = block_on(py, move || async move {
                let moved = lockbox.set_label(&name, &label, version, condition).await;
                with_derived(&lockbox, moved?.labels).await
            })?;
            labels_dict(py, &labels)
        })
    }

    /// Remove `label` from `name` (`current` can be moved, not removed); returns
    /// the labels afterwards. `expected=V`: only if the label names version V
    /// now (otherwise, as by default, only if it has not moved since this call
    /// read it). Removing a label the secret does not carry changes nothing.
    #[pyo3(signature = (name, label, *, expected = None))]
    fn remove_label<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'_, PyAny>,
        label: &Bound<'_, PyAny>,
        expected: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        guarded(py, || {
            let name = name_arg(py, name)?;
            let label = required_label(py, label)?;
            let condition = condition_arg(py, expected, false)?;
            let lockbox = self.lockbox(py)?;
            let labels = block_on(py, move || async move {
                let moved = lockbox.remove_label(&name, &label, condition).await;
                with_derived(&lockbox, moved?.labels).await
            })?;
            labels_dict(py, &labels)
        })
    }

    /// Move `current` back to the version labelled `previous` (and `previous` to
    /// the version `current` left), without writing a version; returns the
    /// labels afterwards. Sealed tables only.
    fn rollback_current<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        guarded(py, || {
            let name = name_arg(py, name)?;
            let lockbox = self.lockbox(py)?;
            let labels = block_on(py, move || async move {
                let moved = lockbox
                    .rollback_current(&name, LabelCondition::default())
                    .await;
                with_derived(&lockbox, moved?.labels).await
            })?;
            labels_dict(py, &labels)
        })
    }

    /// Step 1 of a staged rotation: store `value` as a new version of `name`
    /// labelled `pending`; un-pinned reads keep getting `current` until
    /// `rotate_finish`. Read the pending value with `get(name, label="pending")`.
    /// Returns the rotation as a dict: `name`, `token`, `state` (`"pending"`),
    /// `version` (the pending one), `labels` and `changed`. With the `token` of
    /// the rotation in progress (or of the last one), nothing is written and the
    /// rotation is returned with `changed` False; while another is in progress,
    /// `ConflictError`.
    #[pyo3(signature = (name, value, *, context = None, comment = None, token = None))]
    #[allow(clippy::too_many_arguments)]
    fn rotate_start<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        comment: Option<&Bound<'_, PyAny>>,
        token: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        guarded(py, || {
            let name = name_arg(py, name)?;
            let mut options = RotateOptions::default();
            options.context = context_arg(py, context)?;
            options.comment = opt_str_arg(comment, "comment")?;
            options.token = opt_str_arg(token, "token")?;
            let value = value_arg(value)?;
            rotation_step(py, self.lockbox(py)?, move |lockbox| async move {
                lockbox.rotate_start(&name, &value, &options).await
            })
        })
    }

    /// Step 4 of a staged rotation: `pending` becomes `current`, and the old
    /// `current` becomes `previous`, in one conditional write. With `token`, only
    /// that rotation. Returns the rotation as `rotate_start` does (`state`
    /// `"finished"`; `changed` False if it had finished already).
    #[pyo3(signature = (name, *, token = None))]
    fn rotate_finish<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'_, PyAny>,
        token: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        guarded(py, || {
            let name = name_arg(py, name)?;
            let token = opt_str_arg(token, "token")?;
            rotation_step(py, self.lockbox(py)?, move |lockbox| async move {
                lockbox.rotate_finish(&name, token.as_deref()).await
            })
        })
    }

    /// Abandon a staged rotation: `pending` is removed and its version deleted;
    /// `current` stays. With `token`, only that rotation. Returns the rotation as
    /// `rotate_start` does (`state` `"aborted"`; `version` the dropped one).
    #[pyo3(signature = (name, *, token = None))]
    fn rotate_abort<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'_, PyAny>,
        token: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        guarded(py, || {
            let name = name_arg(py, name)?;
            let token = opt_str_arg(token, "token")?;
            rotation_step(py, self.lockbox(py)?, move |lockbox| async move {
                lockbox.rotate_abort(&name, token.as_deref()).await
            })
        })
    }

    /// Drop cached values (when built with `cache_ttl`).
    fn invalidate(&self, py: Python<'_>) -> PyResult<()> {
        guarded(py, || {
            let built = self.built.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(b) = built.as_ref().filter(|b| b.pid == std::process::id()) {
                b.lockbox.invalidate_all();
            }
            Ok(())
        })
    }

    fn __repr__(&self) -> String {
        if !self.options.regions.is_empty() {
            return format!(
                "Client(table={:?}, regions={:?}, write_region={:?})",
                lockbox::escape_untrusted(&self.options.table),
                self.options.regions,
                self.options
                    .write_region
                    .as_deref()
                    .unwrap_or(&self.options.regions[0])
            );
        }
        format!(
            "Client(table={:?}, region={:?})",
            lockbox::escape_untrusted(&self.options.table),
            self.options.region.as_deref().unwrap_or("default")
        )
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "a lockbox_secrets.Client cannot be pickled (it may hold credentials); \
             build one in each process from its settings",
        ))
    }
}

/// A non-empty setting.
fn nonempty(py: Python<'_>, what: &str, value: &str) -> PyResult<()> {
    if value.is_empty() {
        return Err(errors::usage(py, &format!("{what} must not be empty")));
    }
    Ok(())
}

/// A positive, finite number of seconds.
fn seconds(py: Python<'_>, what: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            errors::usage(
                py,
                &format!("{what} must be a positive number of seconds, not {s}"),
            )
        })
}

/// A `str` argument, or `TypeError` naming it.
fn str_arg(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if !value.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a str, not {}",
            type_name(value)
        )));
    }
    value.extract::<String>()
}

/// The name of a value's type, for messages (never the value).
fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A secret name: a `str` (`TypeError` otherwise) that the SDK accepts
/// (`UsageError`, a `ValueError`, otherwise).
fn name_arg(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<SecretName> {
    let s = str_arg(value, "name")?;
    SecretName::new(s).map_err(|e| errors::to_py(py, &e))
}

/// A version: `None`, an `int`, or a `str` of digits (credstash's padded form
/// included). Version 0 (which credstash's library writes by default) can be
/// read, never written.
fn version_arg(
    py: Python<'_>,
    value: Option<&Bound<'_, PyAny>>,
    write: bool,
) -> PyResult<Option<Version>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let bad = || {
        errors::usage(
            py,
            &format!(
                "invalid version: versions are whole numbers from {} to {} (the text given is \
                 not shown, in case it is a value passed in the wrong place)",
                if write { 1 } else { 0 },
                lockbox::MAX_VERSION
            ),
        )
    };
    let text = if value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(
            "version must be an int or a str of digits, not bool",
        ));
    } else if value.is_instance_of::<pyo3::types::PyInt>() {
        value.extract::<u64>().map_err(|_| bad())?.to_string()
    } else if let Ok(s) = value.cast::<PyString>() {
        s.to_cow()?.trim().to_owned()
    } else {
        return Err(PyTypeError::new_err(format!(
            "version must be an int or a str of digits, not {}",
            type_name(value)
        )));
    };
    // The text is not echoed: a value passed in the version's place by mistake
    // must not end up in an exception.
    let version = Version::from_sort_key(&text).map_err(|_| bad())?;
    if write || version.get() != 0 {
        return Version::new(version.get()).map(Some).map_err(|_| bad());
    }
    Ok(Some(version))
}

/// An encryption context: `None` or a mapping of `str` to `str`.
fn context_arg(py: Python<'_>, value: Option<&Bound<'_, PyAny>>) -> PyResult<EncryptionContext> {
    let mut context = EncryptionContext::new();
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(context);
    };
    let Ok(map) = value.cast::<pyo3::types::PyMapping>() else {
        return Err(PyTypeError::new_err(format!(
            "context must be a dict of str to str, not {}",
            type_name(value)
        )));
    };
    for item in map.items()?.iter() {
        let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
        let k = str_arg(&k, "a context key")?;
        let v = str_arg(&v, "a context value")?;
        context.insert(k, v).map_err(|e| errors::to_py(py, &e))?;
    }
    Ok(context)
}

/// A value to store: `bytes`, `bytearray`, or `str` (stored as UTF-8).
fn value_arg(value: &Bound<'_, PyAny>) -> PyResult<SecretValue> {
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(SecretValue::from_slice(b.as_bytes()));
    }
    if let Ok(b) = value.cast::<PyByteArray>() {
        let copy = Zeroizing::new(b.to_vec());
        return Ok(SecretValue::from_slice(&copy));
    }
    if let Ok(s) = value.cast::<PyString>() {
        let text = Zeroizing::new(s.extract::<String>()?);
        return Ok(SecretValue::from_slice(text.as_bytes()));
    }
    Err(PyTypeError::new_err(format!(
        "value must be bytes, bytearray or str, not {}",
        type_name(value)
    )))
}

/// Refs for `get_many`: a list or tuple of names, `"NAME@VERSION"` strings,
/// `(name, version)` pairs or `lockbox://` references.
fn refs_arg(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Vec<Reference>> {
    if value.is_instance_of::<PyString>() || value.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "refs must be a list of names, not a single str: get_many([\"a\", \"b\"])",
        ));
    }
    let mut refs = Vec::new();
    for item in value.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "refs must be a list of names, not {}",
            type_name(value)
        ))
    })? {
        let item = item?;
        if let Ok(pair) = item.cast::<PyTuple>() {
            if pair.len() != 2 {
                return Err(PyTypeError::new_err(
                    "a ref given as a tuple is (name, version)",
                ));
            }
            refs.push(Reference::from(SecretRef {
                name: name_arg(py, &pair.get_item(0)?)?,
                version: version_arg(py, Some(&pair.get_item(1)?), false)?,
            }));
        } else {
            let text = str_arg(&item, "each ref")?;
            let reference = match text.strip_prefix(REFERENCE_SCHEME) {
                Some(rest) => rest.parse::<Reference>(),
                // Without the scheme, as before (and as credstash reads names):
                // `NAME@VERSION` or a name, never a label or a field.
                None => text.parse::<SecretRef>().map(Reference::from),
            };
            refs.push(reference.map_err(|e| errors::to_py(py, &e))?);
        }
    }
    Ok(refs)
}

/// Item summaries as a list of dicts.
fn summaries<'py>(
    py: Python<'py>,
    items: &[lockbox::backend::ItemSummary],
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for s in items {
        let d = PyDict::new(py);
        d.set_item("name", &s.name)?;
        d.set_item("version", s.version.map(Version::get))?;
        d.set_item("sort_key", &s.sort_key)?;
        d.set_item("format", &s.format)?;
        d.set_item("comment", s.comment.as_deref())?;
        d.set_item("created_at", s.created_at)?;
        list.append(d)?;
    }
    Ok(list)
}

/// Secrets as a dict of name to text, for the credstash module;
/// `UnicodeDecodeError` for a value that is not UTF-8, as credstash.
fn text_dict(py: Python<'_>, secrets: Vec<lockbox::Secret>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for s in secrets {
        let text = s.value.expose_str().map_err(|e| {
            pyo3::exceptions::PyUnicodeDecodeError::new_err((
                "utf-8",
                PyBytes::new(py, &[]).unbind(),
                e.valid_up_to(),
                e.valid_up_to() + e.error_len().unwrap_or(1),
                format!("the value of {} is not UTF-8 text", s.name),
            ))
        })?;
        out.set_item(s.name.as_str(), PyString::new(py, text))?;
    }
    Ok(out)
}

/// An optional `str` argument (`None` allowed).
fn opt_str_arg(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<String>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => str_arg(v, what).map(Some),
    }
}

/// Several regions, in read order: `None`, or a list or tuple of region names
/// (each a `str`, no duplicates, at least one).
fn regions_arg(py: Python<'_>, value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    if value.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "regions must be a list of region names, not a single str: \
             regions=[\"us-east-1\", \"eu-west-1\"] (or region=\"...\" for one)",
        ));
    }
    let mut regions: Vec<String> = Vec::new();
    for item in value.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "regions must be a list of region names, not {}",
            type_name(value)
        ))
    })? {
        let region = str_arg(&item?, "each region")?;
        if !valid_region(&region) {
            return Err(errors::usage(
                py,
                &format!(
                    "{:?} is not a region name (such as us-east-1)",
                    lockbox::escape_untrusted(&region)
                ),
            ));
        }
        if regions.contains(&region) {
            return Err(errors::usage(
                py,
                &format!("region {region} is listed twice in regions"),
            ));
        }
        regions.push(region);
    }
    if regions.is_empty() {
        return Err(errors::usage(
            py,
            "regions is empty: name at least one region, or leave it out",
        ));
    }
    Ok(regions)
}

/// Whether `name` has the shape of an AWS region name (as the SDK checks it).
fn valid_region(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(|c: char| c.is_ascii_digit())
        && name.contains('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A label argument: a `str` the SDK accepts as a label.
fn required_label(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Label> {
    let text = str_arg(value, "label")?;
    // Not the SDK's message, which quotes the text: a value passed where the
    // label goes (a swapped argument) must not reach the exception.
    Label::new(text).map_err(|_| {
        errors::usage(
            py,
            "the label is not a label name: a letter followed by letters, digits, `-` or `_` \
             (the text is not repeated here: it may be a secret)",
        )
    })
}

/// An optional label (`None`: no label).
fn label_arg(py: Python<'_>, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Label>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => required_label(py, v).map(Some),
    }
}

/// A field: `None`, or a JSON pointer (`"/password"`, `"/users/0/name"`).
fn field_arg(py: Python<'_>, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<JsonPointer>> {
    let Some(text) = opt_str_arg(value, "field")? else {
        return Ok(None);
    };
    if text.is_empty() {
        return Err(errors::usage(
            py,
            "field \"\" names the whole value: leave field out",
        ));
    }
    if !text.starts_with('/') {
        return Err(errors::usage(
            py,
            "field is a JSON pointer, starting with `/`: field=\"/password\", \
             field=\"/users/0/name\" (`~1` for a `/` in a member name, `~0` for `~`)",
        ));
    }
    JsonPointer::new(text)
        .map(Some)
        .map_err(|e| errors::to_py(py, &e))
}

/// Where a label must be for a move: as found, at `expected`, or absent.
fn condition_arg(
    py: Python<'_>,
    expected: Option<&Bound<'_, PyAny>>,
    if_absent: bool,
) -> PyResult<LabelCondition> {
    match (version_arg(py, expected, true)?, if_absent) {
        (Some(_), true) => Err(errors::usage(
            py,
            "pass expected or if_absent, not both: a label cannot be on a version and absent",
        )),
        (Some(v), false) => Ok(LabelCondition::At(v)),
        (None, true) => Ok(LabelCondition::Absent),
        (None, false) => Ok(LabelCondition::AsFound),
    }
}

/// Labels as a dict of label to version.
fn labels_dict<'py>(py: Python<'py>, labels: &Labels) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (label, version) in &labels.labels {
        d.set_item(label.as_str(), version.get())?;
    }
    Ok(d)
}

/// The labels a move or a rotation step left, with `current` and `previous`
/// when a table shared with credstash derives them from the versions (the SDK's
/// `LabelMove` and `RotationStep` hold only the recorded ones there; `labels()`
/// has both).
/// A step of a staged rotation, run by `step` on (a clone of) `lockbox`, as a
/// dict, its labels with `current` derived when the table records none.
fn rotation_step<'py, S, F>(
    py: Python<'py>,
    lockbox: Arc<Lockbox>,
    step: S,
) -> PyResult<Bound<'py, PyDict>>
where
    S: FnOnce(Arc<Lockbox>) -> F + Send,
    F: std::future::Future<Output = lockbox::Result<RotationStep>>,
{
    let done = block_on(py, move || async move {
        let mut done = step(lockbox.clone()).await?;
        done.labels = with_derived(&lockbox, done.labels).await?;
        Ok(done)
    })?;
    step_dict(py, &done)
}

async fn with_derived(lockbox: &Lockbox, labels: Labels) -> lockbox::Result<Labels> {
    if labels.derived && labels.current().is_none() {
        return lockbox.labels(&labels.name).await;
    }
    Ok(labels)
}

/// A rotation step as a dict.
fn step_dict<'py>(py: Python<'py>, step: &RotationStep) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", step.name.as_str())?;
    d.set_item("token", &step.token)?;
    d.set_item("state", step.state.as_str())?;
    d.set_item("version", step.version.map(Version::get))?;
    d.set_item("labels", labels_dict(py, &step.labels)?)?;
    d.set_item("changed", step.changed)?;
    Ok(d)
}
