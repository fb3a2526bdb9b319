//! Which region served a read: the AWS backends note the region of each call
//! that answered (DynamoDB for the item, KMS for its data key), and the
//! failover notes a region read in place of an unavailable one, in a note
//! set around each read (a task-local, as [`crate::throttle`]'s). A read
//! outside such a scope notes nothing.

use std::sync::{Arc, Mutex};

tokio::task_local! {
    static NOTE: Arc<Mutex<Served>>;
}

/// What one read's calls were answered by.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Served {
    /// The region whose table answered the read's last item read.
    pub(crate) table: Option<String>,
    /// The region whose KMS unwrapped its data key.
    pub(crate) kms: Option<String>,
    /// The item read came from a region other than the first of the read
    /// order: `(first region, region that answered)`.
    pub(crate) fallback: Option<(String, String)>,
}

fn with(f: impl FnOnce(&mut Served)) {
    let _ = NOTE.try_with(|n| f(&mut n.lock().unwrap_or_else(|p| p.into_inner())));
}

/// The table of `region` answered an item read.
pub(crate) fn table(region: Option<&str>) {
    if let Some(region) = region {
        with(|s| s.table = Some(region.to_owned()));
    }
}

/// The KMS of `region` unwrapped the data key.
pub(crate) fn kms(region: Option<&str>) {
    if let Some(region) = region {
        with(|s| s.kms = Some(region.to_owned()));
    }
}

/// An item read was answered by `served`, not by `first` (unavailable or
/// cooling down); `None` when the first region answered it.
pub(crate) fn fallback(read: Option<(&str, &str)>) {
    with(|s| s.fallback = read.map(|(first, served)| (first.to_owned(), served.to_owned())));
}

/// Runs `read` with a fresh note, `start` (what an earlier call of the same
/// read found, such as a batch read), and returns what was noted.
pub(crate) async fn noting<F: std::future::Future>(start: Served, read: F) -> (F::Output, Served) {
    let note = Arc::new(Mutex::new(start));
    let out = NOTE.scope(note.clone(), read).await;
    let served = note.lock().unwrap_or_else(|p| p.into_inner()).clone();
    (out, served)
}

/// `result` with what `served` says: the regions on the secret; a secret not
/// found in a region read in place of an unavailable one turned into
/// [`crate::Error::NotReplicated`].
pub(crate) fn apply(
    result: crate::Result<crate::Secret>,
    served: Served,
) -> crate::Result<crate::Secret> {
    match replicated(result, &served) {
        Ok(mut secret) => {
            secret.region = served.table;
            secret.kms_region = served.kms;
            Ok(secret)
        }
        Err(e) => Err(e),
    }
}

/// `result`, a not found from a region read in place of an unavailable one
/// (what `served` says) turned into [`crate::Error::NotReplicated`].
pub(crate) fn replicated<T>(result: crate::Result<T>, served: &Served) -> crate::Result<T> {
    match (result, &served.fallback) {
        (Err(crate::Error::NotFound { name, version }), Some((unavailable, region))) => {
            Err(crate::Error::NotReplicated {
                name,
                version,
                region: region.clone(),
                unavailable: unavailable.clone(),
            })
        }
        (result, _) => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, ErrorKind, SecretName, Version};

    #[tokio::test]
    async fn a_note_holds_what_the_calls_in_its_scope_said() {
        // Outside a scope nothing is noted, and nothing fails.
        table(Some("us-east-1"));
        let ((), served) = noting(Served::default(), async {
            table(Some("us-east-1"));
            kms(None);
            kms(Some("eu-west-1"));
            fallback(Some(("us-east-1", "eu-west-1")));
        })
        .await;
        assert_eq!(served.table.as_deref(), Some("us-east-1"));
        assert_eq!(served.kms.as_deref(), Some("eu-west-1"));
        let ((), again) = noting(served.clone(), async { fallback(None) }).await;
        assert_eq!(again.fallback, None);
        assert_eq!(again.table, served.table);
    }

    #[test]
    fn not_found_in_a_fallback_region_may_not_have_replicated() {
        let name = SecretName::new("db").unwrap();
        let version = Some(Version::new(7).unwrap());
        let missing = || {
            Err(Error::NotFound {
                name: name.clone(),
                version,
            })
        };
        let fell_back = Served {
            fallback: Some(("us-east-1".into(), "eu-west-1".into())),
            ..Served::default()
        };
        let err = apply(missing(), fell_back).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            "secret db has no version 7 in eu-west-1, read there because us-east-1 is \
             unavailable; it may not have replicated to eu-west-1 yet"
        );
        let err = apply(missing(), Served::default()).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
    }
}
