//! `get` of a reference: one secret at a version or a label, and optionally only
//! one field of its JSON value. Written `lockbox://NAME[@VERSION|@LABEL][#/pointer]`
//! (the grammar `exec` and the SDK take), or as a name with `-v`, `--label` and
//! `--field`. A name without the scheme is always a name, as credstash reads it:
//! `get deploy@stable` reads the secret named `deploy@stable`.

use anyhow::{Context as _, Result};
use lockbox::{ExposeSecret as _, Reference, SecretName, Selector};

use super::Ctx;
use crate::args::{GetArgs, OutputMode};
use crate::exit::usage;
use crate::output;

/// Whether the flags select a label or a field (so the read is a reference's).
pub fn selects(args: &GetArgs) -> bool {
    args.label.is_some() || args.field.is_some()
}

/// `--label` or `--field` with a `*` pattern.
pub fn not_with_a_pattern() -> anyhow::Error {
    usage(
        "--label and --field read one secret, and a name with `*` reads every matching one; \
         give one name",
    )
}

/// What `get` says when it cannot read `name`: for a name the reference grammar
/// reads otherwise (`deploy@stable`, `db#/password`), how to ask for that.
/// With `--out`, writes `secret`'s bytes as read (no newline, whatever `-n`
/// says) to the file, and with `-o json` says what was written; true if it did.
pub(super) fn write_out(
    ctx: &Ctx,
    out: &crate::args::OutFile,
    secret: &lockbox::Secret,
) -> Result<bool> {
    if out.path.is_none() {
        return Ok(false);
    }
    output::emit(out, secret.value.expose_secret())?;
    if ctx.output == OutputMode::Json {
        output::print_json(&output::json::Stored {
            name: secret.name.as_str(),
            version: secret.version.get(),
        })?;
    }
    Ok(true)
}

pub fn cannot_read(name: &SecretName, table: &str) -> String {
    let plain = format!("cannot read {name} from table {table}");
    if Reference::literal_name(name.as_str()).is_none() {
        return plain;
    }
    match name.as_str().parse::<Reference>() {
        Ok(r) => format!(
            "{plain} (a name is read as it is written; for {}, write `lockbox get {}`)",
            describe(&r),
            r.to_uri()
        ),
        Err(_) => plain,
    }
}

/// "label stable of deploy", "field /password of db version 3".
pub(crate) fn describe(r: &Reference) -> String {
    let mut out = String::new();
    if let Some(p) = &r.pointer {
        out.push_str(&format!("field {p} of "));
    }
    match &r.selector {
        Selector::Label(l) => out.push_str(&format!("label {l} of {}", r.name)),
        Selector::Version(v) => out.push_str(&format!("{} version {v}", r.name)),
        _ => out.push_str(r.name.as_str()),
    }
    out
}

/// `reference` with what the flags add to it; a version, label or field given
/// twice (in the reference and as a flag) is refused.
fn with_flags(mut reference: Reference, args: &GetArgs) -> Result<Reference> {
    let written = reference.to_uri();
    let twice = |what: &str| {
        usage(format!(
            "{written} already names its {what}; leave out the flag (or that part of the \
             reference)"
        ))
    };
    let selector = match (&args.version, &args.label) {
        (Some(v), _) => Some(Selector::Version(*v)),
        (_, Some(l)) => Some(Selector::Label(l.clone())),
        _ => None,
    };
    if let Some(selector) = selector {
        if reference.selector != Selector::Latest {
            return Err(twice("version or label"));
        }
        reference.selector = selector;
    }
    if let Some(pointer) = &args.field {
        if reference.pointer.is_some() {
            return Err(twice("field"));
        }
        reference.pointer = Some(pointer.clone());
    }
    Ok(reference)
}

/// Print what `reference` (with the flags) names: the value (or the field),
/// then a newline unless `-n`; under `-o json`, `get`'s document with the label
/// and the field read.
pub async fn run(ctx: &Ctx, args: &GetArgs, reference: Reference) -> Result<()> {
    let reference = with_flags(reference, args)?;
    if args.format.is_some() {
        eprintln!(
            "lockbox: warning: -f formats the map a `*` pattern prints; {} is one secret, \
             printed as its value",
            reference.to_uri()
        );
    }
    let context = super::context(&args.context)?;
    let secret = ctx
        .lockbox
        .resolve(&reference, &context)
        .await
        .with_context(|| {
            format!(
                "cannot read {} from table {}",
                describe(&reference),
                ctx.table
            )
        })?;
    crate::test_panic_point("after-fetch", secret.value.expose_secret());
    if write_out(ctx, &args.out, &secret)? {
        return Ok(());
    }
    match ctx.output {
        OutputMode::Json => output::print_json(&output::json::Selected {
            field: reference.pointer.as_ref().map(|p| p.as_str()),
            kms_region: secret.kms_region.as_deref(),
            label: match &reference.selector {
                Selector::Label(l) => Some(l.as_str()),
                _ => None,
            },
            name: secret.name.as_str(),
            region: secret.region.as_deref(),
            value: output::value_text(&secret)?,
            version: secret.version.get(),
        }),
        OutputMode::Text => {
            let mut bytes = zeroize::Zeroizing::new(secret.value.expose_secret().to_vec());
            if !args.noline {
                bytes.push(b'\n');
            }
            output::write_stdout(&bytes)
        }
    }
}
