//! Host name lookups for the HTTP client: one lookup per name for all the
//! connections opened at once, kept for a short while.
//!
//! A start-up opens a connection per call in flight (`exec` of 100 secrets opens
//! about 100 to DynamoDB and 100 to KMS), and the HTTP client's default resolver
//! looks the host up for each one, on a thread of its own from the blocking pool:
//! 200 `getaddrinfo` calls (each a query to the VPC's resolver, which answers so
//! many packets a second per network interface) and tens of threads, for two
//! names. Here concurrent lookups of one name share one, and its answer is kept
//! for [`TTL`], as the JVM behind the AWS SDK for Java keeps one by default; a
//! failed lookup is not kept (the next connection asks again).

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use futures::future::{BoxFuture, FutureExt as _, Shared};

/// How long an answer is used for new connections.
pub(crate) const TTL: Duration = Duration::from_secs(30);

/// One lookup's answer, shared by everyone who waited for it.
type Answer = Result<Arc<[IpAddr]>, Arc<str>>;

/// Looks a name up (the system's resolver, off the async workers, by default).
type Lookup = Arc<dyn Fn(String) -> BoxFuture<'static, Answer> + Send + Sync>;

/// A lookup under way or done, for everyone who asks for the name.
type Pending = Shared<BoxFuture<'static, Answer>>;

/// A [`ResolveDns`] that shares lookups; cheap to clone (the clones share them).
#[derive(Clone)]
pub(crate) struct SharedLookups {
    lookup: Lookup,
    /// Each name's latest lookup and when it started.
    names: Arc<Mutex<HashMap<String, (Instant, Pending)>>>,
}

impl std::fmt::Debug for SharedLookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLookups").finish_non_exhaustive()
    }
}

impl Default for SharedLookups {
    fn default() -> Self {
        Self::with_lookup(Arc::new(|name: String| system_lookup(name).boxed()))
    }
}

impl SharedLookups {
    fn with_lookup(lookup: Lookup) -> Self {
        Self {
            lookup,
            names: Arc::default(),
        }
    }

    /// The lookup of `name` to wait for: the one under way or answered less than
    /// [`TTL`] ago, else a new one.
    fn lookup_of(&self, name: &str) -> Pending {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some((started, lookup)) = names.get(name) {
            let failed = matches!(lookup.peek(), Some(Err(_)));
            if !failed && now.duration_since(*started) < TTL {
                return lookup.clone();
            }
        }
        let lookup = (self.lookup)(name.to_owned()).shared();
        names.insert(name.to_owned(), (now, lookup.clone()));
        lookup
    }
}

impl ResolveDns for SharedLookups {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        let lookup = self.lookup_of(name);
        DnsFuture::new(async move {
            match lookup.await {
                Ok(addresses) => Ok(addresses.to_vec()),
                Err(message) => Err(ResolveDnsError::new(message.to_string())),
            }
        })
    }
}

/// `getaddrinfo`, on the blocking pool as hyper's own resolver calls it.
async fn system_lookup(name: String) -> Answer {
    let what = name.clone();
    let found = tokio::task::spawn_blocking(move || {
        (name.as_str(), 0).to_socket_addrs().map(|addresses| {
            let mut ips: Vec<IpAddr> = Vec::new();
            for a in addresses {
                if !ips.contains(&a.ip()) {
                    ips.push(a.ip());
                }
            }
            ips
        })
    })
    .await
    .unwrap_or_else(|joined| Err(std::io::Error::other(joined)));
    found
        .map(Into::into)
        .map_err(|e| format!("cannot look up {what}: {e}").into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A lookup that counts its calls, answers after `delay`, and fails for
    /// names starting with `bad`.
    fn counting(delay: Duration) -> (SharedLookups, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let lookups = SharedLookups::with_lookup(Arc::new(move |name: String| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(delay).await;
                if name.starts_with("bad") {
                    Err(Arc::from("no such host"))
                } else {
                    Ok(Arc::from([IpAddr::from([127, 0, 0, 1])]))
                }
            }
            .boxed()
        }));
        (lookups, calls)
    }

    #[tokio::test]
    async fn concurrent_lookups_of_one_name_make_one() {
        let (lookups, calls) = counting(Duration::from_millis(20));
        let all = (0..100).map(|_| lookups.resolve_dns("kms.example"));
        let answers = futures::future::join_all(all).await;
        assert!(answers
            .iter()
            .all(|a| a.as_ref().unwrap() == &[IpAddr::from([127, 0, 0, 1])]));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Answered: used again, other names looked up on their own.
        lookups.resolve_dns("kms.example").await.unwrap();
        lookups.resolve_dns("dynamodb.example").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_lookup_is_shared_by_its_waiters_and_not_kept() {
        let (lookups, calls) = counting(Duration::from_millis(20));
        let all = (0..10).map(|_| lookups.resolve_dns("bad.example"));
        for answer in futures::future::join_all(all).await {
            let err = answer.unwrap_err();
            let source = std::error::Error::source(&err).unwrap().to_string();
            assert_eq!(source, "no such host");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(lookups.resolve_dns("bad.example").await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_answer_older_than_the_ttl_is_looked_up_again() {
        let (lookups, calls) = counting(Duration::ZERO);
        lookups.resolve_dns("kms.example").await.unwrap();
        lookups.resolve_dns("kms.example").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Age the entry past the TTL by hand (no test waits 30 s).
        {
            let mut names = lookups.names.lock().unwrap();
            let entry = names.get_mut("kms.example").unwrap();
            entry.0 = Instant::now().checked_sub(TTL).unwrap();
        }
        lookups.resolve_dns("kms.example").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_system_resolver_answers_for_localhost() {
        let lookups = SharedLookups::default();
        let addresses = lookups.resolve_dns("localhost").await.unwrap();
        assert!(addresses.iter().all(IpAddr::is_loopback), "{addresses:?}");
        assert!(!addresses.is_empty());
    }
}
