//! The arguments of `label` and `rotate`.

use clap::{Args, Subcommand};
use lockbox::SecretName;

use crate::values::{self, ContextPair};

/// `label`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
        lockbox label prod/db                       every label of prod/db\n  \
        lockbox label prod/db stable                the version `stable` names\n  \
        lockbox label prod/db stable=7              set or move `stable` to version 7\n  \
        lockbox label prod/db stable=current        move `stable` to where `current` is\n  \
        lockbox label prod/db current=6 --from 7    move `current` only if it is on 7\n  \
        lockbox label prod/db stable --remove\n\n\
        A change is one conditional write: of two operators moving one label at once, exactly \
        one wins and the other gets exit 8 with nothing changed. Moving `current` moves the \
        version it left to `previous`; un-pinned reads (`get NAME`, `exec --env VAR=NAME`) \
        get `current`, never `pending`. Read a label with `get NAME --label L` or \
        `exec --env VAR=NAME@L`.")]
pub struct LabelArgs {
    /// Secret name
    #[arg(value_parser = values::secret_name)]
    pub name: SecretName,
    /// LABEL shows the version it names; LABEL=VERSION sets or moves it (VERSION:
    /// a number, or another label); without it, every label is listed
    #[arg(value_name = "LABEL[=VERSION]", value_parser = values::label_spec)]
    pub label: Option<values::LabelSpec>,
    /// Change the label only if it names version V now (`none`: only if the
    /// secret does not carry it) [default: wherever this command finds it]
    #[arg(long, value_name = "V", requires = "label", value_parser = values::label_from)]
    pub from: Option<values::LabelFrom>,
    /// Remove LABEL (`current` can be moved, not removed)
    #[arg(long, requires = "label")]
    pub remove: bool,
}

/// `rotate`.
#[derive(Debug, Args)]
#[command(
    after_help = "A staged rotation, in the four steps of AWS Secrets Manager's:\n  \
        printf '%s' \"$NEW\" | lockbox rotate start prod/db -     1. create: the new value is `pending`\n  \
        lockbox get prod/db --label pending                   2-3. set it where it is used, test it\n  \
        lockbox rotate finish prod/db                         4. `pending` becomes `current`\n\n\
        Un-pinned reads get `current` until the rotation finishes. Each step run again does \
        nothing more and says so (exit 0); --token names the rotation, so a step never acts on \
        another one (exit 8)."
)]
pub struct RotateArgs {
    #[command(subcommand)]
    pub step: RotateStep,
}

/// The steps of a staged rotation.
#[derive(Debug, Subcommand)]
pub enum RotateStep {
    /// Store a new value as a new version labelled `pending`; un-pinned reads
    /// keep getting `current`
    Start(RotateStartArgs),
    /// Make the `pending` version `current` (the old `current` becomes `previous`)
    Finish(RotateEndArgs),
    /// Drop the `pending` version (it is deleted); `current` stays
    Abort(RotateEndArgs),
}

/// `rotate start`.
#[derive(Debug, Args)]
pub struct RotateStartArgs {
    /// Secret name
    #[arg(value_parser = values::secret_name)]
    pub name: SecretName,
    /// `-` reads stdin, `@FILE` reads FILE (bytes as they are); anything else is the
    /// value itself, visible in shell history and the process list
    pub value: Option<String>,
    /// Encryption context KEY=VALUE pairs
    #[arg(value_name = "KEY=VALUE", value_parser = values::context_pair)]
    pub context: Vec<ContextPair>,
    /// Ask for the value on the terminal, twice, without echo
    #[arg(short = 'P', long)]
    pub prompt: bool,
    /// The rotation's token (letters, digits, `-`, `_`, `.`, `:`): a start run
    /// again with it does nothing more [default: one drawn at random, printed]
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Comment stored beside the new version (not encrypted)
    #[arg(short = 'c', long)]
    pub comment: Option<String>,
    /// Check that the value is one JSON document first; nothing is stored otherwise
    #[arg(long)]
    pub json: bool,
    /// Store an empty value (refused otherwise, as `put` refuses it)
    #[arg(long)]
    pub allow_empty: bool,
}

/// `rotate finish`, `rotate abort`.
#[derive(Debug, Args)]
pub struct RotateEndArgs {
    /// Secret name
    #[arg(value_parser = values::secret_name)]
    pub name: SecretName,
    /// Act only on the rotation this token names [default: the one in progress]
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}
