//! The label and reference contract: version labels, staged rotation and JSON
//! fields, written once against [`Fixture`] and run against the in-memory
//! backends and against the AWS backends pointed at the emulator (see
//! `tests/tests/it/labels.rs`).

use lockbox::backend::TableMode;
use lockbox::{
    EncryptionContext, Error, ErrorKind, Label, LabelCondition, Lockbox, PutOptions, Reference,
    RotateOptions, RotationState, SecretName, SecretValue, Version,
};

use crate::Fixture;

fn name(s: &str) -> SecretName {
    SecretName::new(s).unwrap()
}

fn none() -> EncryptionContext {
    EncryptionContext::new()
}

fn v(n: u64) -> Version {
    Version::new(n).unwrap()
}

fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

/// A lockbox on a fresh table in `mode`.
pub async fn lockbox_in(f: &dyn Fixture, mode: TableMode) -> Lockbox {
    let lb = f.lockbox().await.build().unwrap();
    lb.setup(mode, &[]).await.unwrap();
    if mode == TableMode::Credstash {
        lb.setup_labels().await.unwrap();
    }
    lb
}

async fn put(lb: &Lockbox, n: &str, value: &str) -> Version {
    lb.put(&name(n), &SecretValue::from(value), &PutOptions::default())
        .await
        .unwrap()
}

async fn read(lb: &Lockbox, n: &str) -> (u64, String) {
    let s = lb.get(&name(n), &none()).await.unwrap();
    (s.version.get(), s.value.expose_str().unwrap().to_owned())
}

async fn read_label(lb: &Lockbox, n: &str, l: &Label) -> (u64, String) {
    let s = lb.get_label(&name(n), l, &none()).await.unwrap();
    (s.version.get(), s.value.expose_str().unwrap().to_owned())
}

fn options(token: &str) -> RotateOptions {
    let mut o = RotateOptions::default();
    o.token = Some(token.into());
    o
}

/// A fresh reader (no freshness memory), as another process would be.
async fn fresh(f: &dyn Fixture) -> Lockbox {
    f.lockbox().await.build().unwrap()
}

/// In a sealed table: an un-pinned read follows `current`, never `pending`;
/// labels show in `labels`, `history` and `list`; a rotation's four steps; a
/// move of `current` back is followed by a reader that read the newer version.
pub async fn sealed_labels_decide_unpinned_reads(f: &dyn Fixture) {
    let lb = lockbox_in(f, TableMode::Sealed).await;
    let db = name("app/db");
    put(&lb, "app/db", "one").await;
    put(&lb, "app/db", "two").await;
    assert_eq!(lb.labels(&db).await.unwrap().revision, 0);
    assert_eq!(read(&lb, "app/db").await, (2, "two".into()));

    // The first label pins `current` where un-pinned reads were.
    let moved = lb
        .set_label(&db, &label("stable"), v(1), LabelCondition::Absent)
        .await
        .unwrap();
    assert!(moved.changed());
    let labels = lb.labels(&db).await.unwrap();
    assert_eq!(labels.current(), Some(v(2)));
    assert_eq!(labels.get(&label("stable")), Some(v(1)));
    assert_eq!(labels.revision, 1);
    assert_eq!(read(&lb, "app/db").await, (2, "two".into()));
    assert_eq!(
        read_label(&lb, "app/db", &label("stable")).await,
        (1, "one".into())
    );
    // Setting it again where it is changes nothing.
    let again = lb
        .set_label(&db, &label("stable"), v(1), LabelCondition::AsFound)
        .await
        .unwrap();
    assert!(!again.changed());
    assert_eq!(lb.labels(&db).await.unwrap().revision, 1);

    // Step 1: the new value is pending; un-pinned reads keep the old one.
    let started = lb
        .rotate_start(&db, &SecretValue::from("three"), &options("r1"))
        .await
        .unwrap();
    assert_eq!(started.version, Some(v(3)));
    assert_eq!(started.state, RotationState::Pending);
    assert!(started.changed);
    for reader in [&lb, &fresh(f).await] {
        assert_eq!(read(reader, "app/db").await, (2, "two".into()));
        assert_eq!(reader.latest_version(&db).await.unwrap(), Some(v(2)));
        assert_eq!(
            reader
                .get_many(&[lockbox::SecretRef::latest(db.clone())], &none())
                .await
                .unwrap()[0]
                .version,
            v(2)
        );
    }
    assert_eq!(lb.highest_version(&db).await.unwrap(), Some(v(3)));
    // Every secret at once (one scan): the labelled one at `current` too, and
    // at the version asked for when one is.
    let all = lb
        .get_all(&lockbox::AllOptions::new(), &none())
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].version, v(2));
    let pinned = lb
        .get_all(&lockbox::AllOptions::new().version(v(3)), &none())
        .await
        .unwrap();
    assert_eq!(pinned[0].value.expose_str().unwrap(), "three");
    // Steps 2 and 3 (set, test) read the pending value.
    assert_eq!(
        read_label(&lb, "app/db", &Label::PENDING).await,
        (3, "three".into())
    );
    let r: Reference = "app/db@pending".parse().unwrap();
    assert_eq!(lb.resolve(&r, &none()).await.unwrap().version, v(3));
    // A re-run of step 1 with its token is a no-op; another rotation is refused.
    let rerun = lb
        .rotate_start(&db, &SecretValue::from("three"), &options("r1"))
        .await
        .unwrap();
    assert!(!rerun.changed);
    assert_eq!(rerun.version, Some(v(3)));
    let err = lb
        .rotate_start(&db, &SecretValue::from("other"), &options("r2"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(!err.is_retryable());
    assert_eq!(lb.highest_version(&db).await.unwrap(), Some(v(3)));

    // History and list show the labels; the label document is no version.
    let history = lb.history(&db).await.unwrap();
    let shown: Vec<(u64, Vec<String>)> = history
        .iter()
        .map(|s| {
            (
                s.version.unwrap().get(),
                s.labels.iter().map(ToString::to_string).collect(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (1, vec!["stable".to_owned()]),
            (2, vec!["current".to_owned()]),
            (3, vec!["pending".to_owned()]),
        ]
    );
    let listed: Vec<_> = lb
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.name == "app/db")
        .collect();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[2].labels, [Label::PENDING]);

    // Step 4: pending becomes current, the old current previous.
    let finished = lb.rotate_finish(&db, Some("r1")).await.unwrap();
    assert!(finished.changed);
    assert_eq!(finished.state, RotationState::Finished);
    let labels = lb.labels(&db).await.unwrap();
    assert_eq!(
        (labels.current(), labels.previous(), labels.pending()),
        (Some(v(3)), Some(v(2)), None)
    );
    assert_eq!(read(&lb, "app/db").await, (3, "three".into()));
    let twice = lb.rotate_finish(&db, Some("r1")).await.unwrap();
    assert!(!twice.changed, "finishing twice is a no-op that says so");
    assert_eq!(
        lb.rotate_finish(&db, Some("other"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );

    // Moving current back is a label move, not an attack: the reader that read
    // version 3 follows it to version 2.
    let back = lb
        .rollback_current(&db, LabelCondition::AsFound)
        .await
        .unwrap();
    assert_eq!(back.labels.current(), Some(v(2)));
    assert_eq!(back.labels.previous(), Some(v(3)));
    assert_eq!(read(&lb, "app/db").await, (2, "two".into()));

    // A put is live at once: current moves to it, previous to where it was.
    put(&lb, "app/db", "four").await;
    let labels = lb.labels(&db).await.unwrap();
    assert_eq!(
        (labels.current(), labels.previous()),
        (Some(v(4)), Some(v(2)))
    );
    assert_eq!(read(&lb, "app/db").await, (4, "four".into()));
    assert_eq!(read(&fresh(f).await, "app/db").await, (4, "four".into()));
}

/// A rotation aborted leaves `current`, drops `pending` and its version; a
/// rotation of a secret with no version yet reads as not found un-pinned until
/// it finishes; a rotation overtaken by a put is not finished.
pub async fn rotations_abort_and_start_from_nothing(f: &dyn Fixture) {
    let lb = lockbox_in(f, TableMode::Sealed).await;
    let key = name("api/key");
    put(&lb, "api/key", "k1").await;
    let started = lb
        .rotate_start(&key, &SecretValue::from("bad"), &RotateOptions::default())
        .await
        .unwrap();
    let aborted = lb.rotate_abort(&key, Some(&started.token)).await.unwrap();
    assert!(aborted.changed);
    assert_eq!(aborted.state, RotationState::Aborted);
    assert_eq!(aborted.version, Some(v(2)));
    assert_eq!(lb.labels(&key).await.unwrap().pending(), None);
    assert!(
        lb.get_version(&key, v(2), &none()).await.is_err(),
        "deleted"
    );
    assert_eq!(read(&lb, "api/key").await, (1, "k1".into()));
    assert!(!lb.rotate_abort(&key, None).await.unwrap().changed);
    assert_eq!(
        lb.rotate_finish(&key, None).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );

    // A brand-new secret staged by a rotation has nothing to read un-pinned.
    let new = name("api/new");
    lb.rotate_start(&new, &SecretValue::from("first"), &options("n1"))
        .await
        .unwrap();
    let err = lb.get(&new, &none()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(lb.latest_version(&new).await.unwrap(), None);
    assert_eq!(
        read_label(&lb, "api/new", &Label::PENDING).await,
        (1, "first".into())
    );
    lb.rotate_finish(&new, None).await.unwrap();
    assert_eq!(read(&lb, "api/new").await, (1, "first".into()));
    assert_eq!(lb.labels(&new).await.unwrap().previous(), None);

    // A put after the rotation started is live; finishing would undo it.
    lb.rotate_start(&key, &SecretValue::from("k2"), &options("o1"))
        .await
        .unwrap();
    put(&lb, "api/key", "manual").await;
    assert_eq!(read(&lb, "api/key").await.1, "manual");
    let err = lb.rotate_finish(&key, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    lb.rotate_abort(&key, None).await.unwrap();
    assert_eq!(read(&lb, "api/key").await.1, "manual");
}

/// No label ever names a missing version: labelled versions are neither
/// deleted nor pruned, a label cannot be set on a missing version, and
/// deleting the whole secret takes its labels with it.
pub async fn labels_never_name_missing_versions(f: &dyn Fixture) {
    let lb = lockbox_in(f, TableMode::Sealed).await;
    let s = name("svc/token");
    for value in ["a", "b", "c", "d", "e"] {
        put(&lb, "svc/token", value).await;
    }
    lb.set_label(&s, &label("stable"), v(1), LabelCondition::Absent)
        .await
        .unwrap();
    let err = lb
        .set_label(&s, &label("canary"), v(9), LabelCondition::AsFound)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = lb
        .set_label(
            &s,
            &label("canary"),
            v(lockbox::MAX_VERSION),
            LabelCondition::AsFound,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");
    let err = lb.delete(&s, Some(v(1))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");
    assert!(err.to_string().contains("stable"), "{err}");
    let err = lb.delete(&s, Some(v(5))).await.unwrap_err();
    assert!(err.to_string().contains("current"), "{err}");
    // The label document's slot is not a version.
    assert_eq!(
        lb.delete(&s, Some(v(lockbox::MAX_VERSION)))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        lb.get_version(&s, v(lockbox::MAX_VERSION), &none())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        lb.remove_label(&s, &Label::CURRENT, LabelCondition::AsFound)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Usage
    );
    // Prune keeps the newest one and every labelled one.
    let pruned = lb.prune(&s, 1).await.unwrap();
    assert_eq!(pruned.len(), 3, "{pruned:?}");
    let left: Vec<u64> = lb
        .history(&s)
        .await
        .unwrap()
        .iter()
        .map(|h| h.version.unwrap().get())
        .collect();
    assert_eq!(left, [1, 5]);
    // Unlabelled, a version can go.
    lb.remove_label(&s, &label("stable"), LabelCondition::At(v(1)))
        .await
        .unwrap();
    assert_eq!(lb.delete(&s, Some(v(1))).await.unwrap().len(), 1);
    // Everything, labels included.
    lb.delete(&s, None).await.unwrap();
    assert!(lb
        .list()
        .await
        .unwrap()
        .iter()
        .all(|i| i.name != "svc/token"));
    assert_eq!(lb.labels(&s).await.unwrap().revision, 0);
    put(&lb, "svc/token", "again").await;
    assert_eq!(
        read(&fresh(f).await, "svc/token").await,
        (1, "again".into())
    );
}

/// Two operators moving one label at once: exactly one wins, the other gets a
/// conflict, and the label names a version that exists.
pub async fn concurrent_label_moves_have_one_winner(f: &dyn Fixture) {
    let lb = lockbox_in(f, TableMode::Sealed).await;
    let s = name("race");
    for i in 0..6 {
        put(&lb, "race", &format!("v{i}")).await;
    }
    let stable = label("stable");
    lb.set_label(&s, &stable, v(1), LabelCondition::Absent)
        .await
        .unwrap();
    for round in 0..5u64 {
        let at = lb.labels(&s).await.unwrap().get(&stable).unwrap();
        let movers: Vec<_> = (1..=6u64)
            .filter(|t| *t != at.get())
            .map(|target| {
                let lb = lb.clone();
                let (s, stable) = (s.clone(), stable.clone());
                tokio::spawn(async move {
                    lb.set_label(&s, &stable, v(target), LabelCondition::At(at))
                        .await
                })
            })
            .collect();
        let mut won = 0;
        for m in movers {
            match m.await.unwrap() {
                Ok(moved) => won += usize::from(moved.changed()),
                Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict, "round {round}: {e}"),
            }
        }
        assert_eq!(won, 1, "round {round}: exactly one mover wins");
        let now = lb.labels(&s).await.unwrap().get(&stable).unwrap();
        assert!(lb.get_version(&s, now, &none()).await.is_ok());
    }
    // With AsFound too: of concurrent movers of `current`, each either wins or
    // is told the label moved under it.
    let movers: Vec<_> = (1..=6u64)
        .map(|target| {
            let lb = lb.clone();
            let s = s.clone();
            tokio::spawn(async move {
                lb.set_label(&s, &Label::CURRENT, v(target), LabelCondition::AsFound)
                    .await
            })
        })
        .collect();
    for m in movers {
        if let Err(e) = m.await.unwrap() {
            assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
            assert!(matches!(e, Error::Label { .. }));
        }
    }
    let labels = lb.labels(&s).await.unwrap();
    let current = labels.current().unwrap();
    assert_eq!(read(&fresh(f).await, "race").await.0, current.get());
}

/// In a table shared with credstash: `current` is the highest version and
/// `previous` the one below, derived; `pending` is staged outside the table
/// and written as the next version when the rotation finishes; the user's
/// labels live beside it.
pub async fn credstash_tables_keep_labels_outside_the_table(f: &dyn Fixture) {
    let lb = lockbox_in(f, TableMode::Credstash).await;
    let s = name("legacy/db");
    put(&lb, "legacy/db", "one").await;
    put(&lb, "legacy/db", "two").await;
    let labels = lb.labels(&s).await.unwrap();
    assert!(labels.derived);
    assert_eq!(
        (labels.current(), labels.previous()),
        (Some(v(2)), Some(v(1)))
    );
    assert_eq!(
        read_label(&lb, "legacy/db", &Label::PREVIOUS).await,
        (1, "one".into())
    );
    assert_eq!(
        read_label(&lb, "legacy/db", &Label::CURRENT).await,
        (2, "two".into())
    );
    for (l, to) in [
        (Label::PREVIOUS, 2),
        (Label::PENDING, 1),
        (Label::CURRENT, 1),
    ] {
        let err = lb
            .set_label(&s, &l, v(to), LabelCondition::AsFound)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage, "{l}: {err}");
    }
    assert!(!lb
        .set_label(&s, &Label::CURRENT, v(2), LabelCondition::AsFound)
        .await
        .unwrap()
        .changed());
    lb.set_label(&s, &label("stable"), v(1), LabelCondition::Absent)
        .await
        .unwrap();
    assert_eq!(
        read_label(&lb, "legacy/db", &label("stable")).await,
        (1, "one".into())
    );

    let items_before = list_len(&lb).await;
    lb.rotate_start(&s, &SecretValue::from("three"), &options("c1"))
        .await
        .unwrap();
    assert_eq!(
        list_len(&lb).await,
        items_before,
        "nothing new in the table"
    );
    assert_eq!(read(&lb, "legacy/db").await, (2, "two".into()));
    assert_eq!(
        read_label(&lb, "legacy/db", &Label::PENDING).await.1,
        "three"
    );
    let finished = lb.rotate_finish(&s, Some("c1")).await.unwrap();
    assert_eq!(finished.version, Some(v(3)));
    assert!(!lb.rotate_finish(&s, Some("c1")).await.unwrap().changed);
    assert_eq!(read(&lb, "legacy/db").await, (3, "three".into()));
    let labels = lb.labels(&s).await.unwrap();
    assert_eq!(
        (labels.current(), labels.previous(), labels.pending()),
        (Some(v(3)), Some(v(2)), None)
    );
    let mut history = lb.history(&s).await.unwrap();
    assert!(
        history.iter().all(|h| h.labels.is_empty()),
        "kept elsewhere"
    );
    lb.fill_labels(&mut history).await.unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].labels, [label("stable")]);
    assert_eq!(history[2].labels, [Label::CURRENT]);

    // An aborted rotation leaves no trace in the table.
    lb.rotate_start(&s, &SecretValue::from("bad"), &options("c2"))
        .await
        .unwrap();
    lb.rotate_abort(&s, Some("c2")).await.unwrap();
    assert_eq!(list_len(&lb).await, 3);
    assert_eq!(read(&lb, "legacy/db").await, (3, "three".into()));
    // A labelled version is not deleted.
    assert_eq!(
        lb.delete(&s, Some(v(1))).await.unwrap_err().kind(),
        ErrorKind::Usage
    );
    // A version written while a rotation is staged is live; finishing would
    // bury it, so it is refused.
    lb.rotate_start(&s, &SecretValue::from("staged"), &options("c3"))
        .await
        .unwrap();
    put(&lb, "legacy/db", "manual").await;
    let err = lb.rotate_finish(&s, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    lb.rotate_abort(&s, None).await.unwrap();
    assert_eq!(read(&lb, "legacy/db").await, (4, "manual".into()));
}

/// JSON fields through references: one fetch per secret however many fields,
/// every failure closed, naming the secret and the pointer, never the value.
pub async fn references_select_json_fields(f: &dyn Fixture) {
    let lb = lockbox_in(f, TableMode::Sealed).await;
    put(
        &lb,
        "app/db",
        r#"{"host":"db.internal","port":5432,"password":"hunter2-canary","tls":{"mode":"verify"}}"#,
    )
    .await;
    put(&lb, "app/plain", "hunter2-canary").await;
    lb.put(
        &name("app/bin"),
        &SecretValue::new(vec![0xff, 0xfe, b'{']),
        &PutOptions::default(),
    )
    .await
    .unwrap();
    let refs: Vec<Reference> = [
        "app/db#/host",
        "app/db#/port",
        "app/db@1#/password",
        "app/db@current#/tls/mode",
        "app/db#/tls",
        "app/plain",
    ]
    .iter()
    .map(|r| r.parse().unwrap())
    .collect();
    let got: Vec<String> = lb
        .resolve_many(&refs, &none())
        .await
        .unwrap()
        .iter()
        .map(|s| s.value.expose_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        got,
        [
            "db.internal",
            "5432",
            "hunter2-canary",
            "verify",
            r#"{"mode":"verify"}"#,
            "hunter2-canary"
        ]
    );
    for (bad, says) in [
        ("app/db#/user", "no member \"user\""),
        ("app/plain#/x", "not JSON"),
        ("app/bin#/x", "binary"),
        ("app/db#/port/x", "is a number"),
    ] {
        let r: Reference = bad.parse().unwrap();
        let err = lb.resolve(&r, &none()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{bad}: {err}");
        let text = err.to_string();
        assert!(
            text.contains(says) && text.contains(r.name.as_str()),
            "{bad}: {text}"
        );
        assert!(
            text.contains(r.pointer.as_ref().unwrap().as_str()),
            "{text}"
        );
        assert!(!text.contains("hunter2") && !format!("{err:?}").contains("hunter2"));
    }
    // Each outcome in order; a failure shared by references to one secret is
    // reported for each.
    let each = lb
        .resolve_each(
            &[
                "app/missing#/a".parse().unwrap(),
                "app/db#/host".parse().unwrap(),
                "app/missing#/b".parse().unwrap(),
            ],
            &none(),
        )
        .await;
    assert_eq!(each[0].as_ref().unwrap_err().kind(), ErrorKind::NotFound);
    assert!(each[1].is_ok());
    assert_eq!(each[2].as_ref().unwrap_err().kind(), ErrorKind::NotFound);
    // Fan-out of an object.
    let db = lb.get(&name("app/db"), &none()).await.unwrap();
    let vars: Vec<String> = db
        .fields(None, "DB_")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(vars, ["DB_HOST", "DB_PASSWORD", "DB_PORT", "DB_TLS_MODE"]);
}

/// How many items `list` shows (versions, never label documents).
async fn list_len(lb: &Lockbox) -> usize {
    lb.list().await.unwrap().len()
}

/// Run every label contract test against fixtures made by `make`.
#[macro_export]
macro_rules! labels_suite {
    ($make:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sealed_labels_decide_unpinned_reads() {
            $crate::labels::sealed_labels_decide_unpinned_reads(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn rotations_abort_and_start_from_nothing() {
            $crate::labels::rotations_abort_and_start_from_nothing(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn labels_never_name_missing_versions() {
            $crate::labels::labels_never_name_missing_versions(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn concurrent_label_moves_have_one_winner() {
            $crate::labels::concurrent_label_moves_have_one_winner(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn credstash_tables_keep_labels_outside_the_table() {
            $crate::labels::credstash_tables_keep_labels_outside_the_table(&$make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn references_select_json_fields() {
            $crate::labels::references_select_json_fields(&$make).await
        }
    };
}
