//! The value enums of the command line: output modes and formats, modes of a
//! table, and the steps and roles some commands take.

use clap::ValueEnum;

/// `-o/--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputMode {
    /// For people.
    Text,
    /// For scripts: one JSON document on stdout.
    Json,
}

/// A format for a map of secrets (`get 'pat*'`, `getall`, `export`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MapFormat {
    /// credstash's JSON: sorted keys, 4-space indent, non-ASCII escaped
    Json,
    /// YAML mapping
    Yaml,
    /// name,value rows
    Csv,
    /// NAME='value' lines, correctly quoted; names upper-cased, other characters as `_`
    Dotenv,
    /// export NAME='value' lines, to source from a POSIX shell
    Env,
}

/// Formats `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// A flat JSON object (what `export -f json` and `getall -f json` write)
    Json,
    /// A flat YAML mapping
    Yaml,
    /// name,value rows
    Csv,
    /// A .env file: NAME=value lines (`export ` and quotes allowed, # comments)
    Dotenv,
}

/// `setup --compat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compat {
    /// Items in credstash 1.17's format, so credstash clients can share the table
    Credstash,
}

/// The two policies `policy` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyRole {
    /// Read: get, exec --env, a manifest of names (dynamodb:GetItem, Query,
    /// BatchGetItem, DescribeTable, ListTagsOfResource + kms:Decrypt; with
    /// --allow-list also dynamodb:Scan for list, keys, getall, wildcards, --prefix)
    Reader,
    /// Write new versions with put (dynamodb:PutItem, GetItem, Query,
    /// DescribeTable, ListTagsOfResource + kms:GenerateDataKey); no decrypt, so no
    /// rollback, delete, prune, or import that compares with the stored value
    Writer,
}

/// A global table's consistency mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Consistency {
    /// Replicated asynchronously (about a second); the default.
    Eventual,
    /// Every write checked against every region before it is acknowledged.
    Strong,
}

/// `doctor --fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Exit 7 on a warning or an error
    Warning,
    /// Exit 7 on an error
    Error,
}
