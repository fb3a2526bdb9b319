//! Rotating a database password in the four steps of AWS Secrets Manager's
//! rotation (create the pending value, set it on the database, test it,
//! finish), with lockbox's version labels, on the local emulator.
//!
//! ```sh
//! cargo run -p lockbox-examples --example rotate_db_password
//! ```
//!
//! The secret `prod/db/credentials` holds a JSON document (host, username,
//! password); the application reads only its password field, un-pinned, so it
//! gets the version labelled `current`. Step 1 stores the new document labelled
//! `pending`, which no un-pinned read returns; steps 2 and 3 read it with
//! `@pending`; step 4 makes it `current` (the old one becomes `previous`). Every
//! step is idempotent under the rotation's token: run a step again, after a
//! crash say, and it does nothing more. The "database" is a stand-in that
//! checks passwords.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::{bail, Context};
use lockbox::backend::TableMode;
use lockbox::secrecy::zeroize::Zeroizing;
use lockbox::secrecy::{ExposeSecret, SecretString};
use lockbox::{
    EncryptionContext, JsonPointer, Label, Lockbox, PutOptions, Reference, RotateOptions,
    SecretName, SecretValue,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mock = lockbox_mock::start()
        .await
        .context("starting the emulator")?;
    let config = lockbox_examples::emulator_config(&mock.endpoint_url()).await?;
    let lockbox = Lockbox::aws(&config).build()?;
    lockbox.setup(TableMode::Sealed, &[]).await?;

    // The secret as it is before any rotation, and the database that uses it.
    let name = SecretName::new("prod/db/credentials")?;
    let first = random_password()?;
    let database = Database::new("app", &first);
    lockbox
        .put(
            &name,
            &credentials_json("app", &first),
            &PutOptions::default(),
        )
        .await?;
    println!(
        "stored {name}; the application logs in: {}",
        app_login(&lockbox, &database, &name).await?
    );

    rotate(&lockbox, &database, &name, "rotation-0001").await?;
    println!("a second run of the same rotation changes nothing:");
    rotate(&lockbox, &database, &name, "rotation-0001").await?;

    let labels = lockbox.labels(&name).await?;
    for (label, version) in &labels.labels {
        println!("label {label} -> version {version}");
    }
    mock.shutdown().await;
    Ok(())
}

/// The four steps, each of which may run again.
async fn rotate(
    lockbox: &Lockbox,
    database: &Database,
    name: &SecretName,
    token: &str,
) -> anyhow::Result<()> {
    let none = EncryptionContext::new();
    let password = JsonPointer::new("/password")?;
    let username = JsonPointer::new("/username")?;
    let current = Reference::latest(name.clone()).with_pointer(password.clone());
    let pending = Reference::label(name.clone(), Label::PENDING).with_pointer(password.clone());

    // 1. createSecret: the new value, labelled `pending`.
    let user = lockbox
        .resolve(
            &Reference::latest(name.clone()).with_pointer(username),
            &none,
        )
        .await?;
    let user = user.value.expose_str()?.to_owned();
    let mut start = RotateOptions::default();
    start.token = Some(token.to_owned());
    start.comment = Some(format!("rotation {token}"));
    let step = lockbox
        .rotate_start(name, &credentials_json(&user, &random_password()?), &start)
        .await?;
    match step.state {
        lockbox::RotationState::Finished => {
            println!("  rotation {token} is finished already: nothing to do");
            return Ok(());
        }
        lockbox::RotationState::Aborted => bail!("rotation {token} was aborted; use a new token"),
        _ => {}
    }
    println!(
        "  1 createSecret: version {} is pending ({})",
        step.version.map_or(0, |v| v.get()),
        if step.changed {
            "stored now"
        } else {
            "stored before"
        }
    );
    println!(
        "    an un-pinned reader still gets version {}",
        lockbox.get(name, &none).await?.version
    );

    // 2. setSecret: the database learns the pending password, with the current one.
    let new = lockbox.resolve(&pending, &none).await?;
    let old = lockbox.resolve(&current, &none).await?;
    if database.login(&user, &new.value) {
        println!("  2 setSecret: the database has it already");
    } else {
        database.alter_password(&user, &old.value, &new.value)?;
        println!("  2 setSecret: ALTER USER {user} PASSWORD (pending)");
    }

    // 3. testSecret: the pending password logs in.
    if !database.login(&user, &new.value) {
        lockbox.rotate_abort(name, Some(token)).await?;
        bail!("the pending password does not log in; the rotation was aborted");
    }
    println!("  3 testSecret: the pending password logs in");

    // 4. finishSecret: `pending` becomes `current`, the old `current` `previous`.
    let finished = lockbox.rotate_finish(name, Some(token)).await?;
    println!(
        "  4 finishSecret: version {} is current ({})",
        finished.version.map_or(0, |v| v.get()),
        if finished.changed {
            "moved now"
        } else {
            "moved before"
        }
    );
    println!(
        "    the application logs in: {}",
        app_login(lockbox, database, name).await?
    );
    Ok(())
}

/// What the application does: read the password field un-pinned and log in.
async fn app_login(
    lockbox: &Lockbox,
    database: &Database,
    name: &SecretName,
) -> anyhow::Result<bool> {
    let reference: Reference = format!("{name}#/password").parse()?;
    let password = lockbox
        .resolve(&reference, &EncryptionContext::new())
        .await?;
    Ok(database.login("app", &password.value))
}

/// The secret's JSON document, built in a buffer that is wiped when dropped.
fn credentials_json(user: &str, password: &SecretString) -> SecretValue {
    let mut doc = Zeroizing::new(String::with_capacity(128));
    doc.push_str("{\"host\":\"db.internal\",\"username\":\"");
    doc.push_str(user);
    doc.push_str("\",\"password\":\"");
    doc.push_str(password.expose_secret());
    doc.push_str("\"}");
    SecretValue::from_slice(doc.as_bytes())
}

/// A new password: 24 random bytes, hex (no characters JSON must escape).
fn random_password() -> anyhow::Result<SecretString> {
    use std::io::Read;
    let mut bytes = Zeroizing::new([0u8; 24]);
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes[..])?;
    let mut text = String::with_capacity(48);
    for b in bytes.iter() {
        text.push_str(&format!("{b:02x}"));
    }
    Ok(SecretString::from(text))
}

/// A stand-in for the database: users and their passwords.
struct Database {
    users: Mutex<HashMap<String, SecretString>>,
}

impl Database {
    fn new(user: &str, password: &SecretString) -> Self {
        let users = HashMap::from([(user.to_owned(), password.clone())]);
        Self {
            users: Mutex::new(users),
        }
    }

    fn login(&self, user: &str, password: &SecretValue) -> bool {
        let users = self.users.lock().expect("users");
        users
            .get(user)
            .is_some_and(|p| p.expose_secret().as_bytes() == password.expose_secret())
    }

    /// `ALTER USER`, allowed to a user who logs in with the old password.
    fn alter_password(
        &self,
        user: &str,
        old: &SecretValue,
        new: &SecretValue,
    ) -> anyhow::Result<()> {
        if !self.login(user, old) {
            bail!("the current password does not log in as {user}");
        }
        let new = std::str::from_utf8(new.expose_secret())?;
        self.users
            .lock()
            .expect("users")
            .insert(user.to_owned(), SecretString::from(new));
        Ok(())
    }
}
