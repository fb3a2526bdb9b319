//! A bounded-lifetime in-process cache of decrypted secrets, keyed by reference
//! and the exact encryption context.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{EncryptionContext, Secret, SecretName, SecretRef};

type CacheKey = (SecretRef, Vec<u8>);

/// A bounded-lifetime in-process cache of decrypted secrets.
pub(crate) struct Cache {
    ttl: Duration,
    entries: Mutex<HashMap<CacheKey, (Instant, Secret)>>,
}

impl Cache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, r: &SecretRef, ctx: &EncryptionContext) -> Option<Secret> {
        let mut entries = self.entries.lock().expect("cache lock");
        let key = (r.clone(), ctx.canonical_bytes());
        match entries.get(&key) {
            Some((at, s)) if at.elapsed() < self.ttl => Some(Secret {
                name: s.name.clone(),
                version: s.version,
                value: s.value.duplicate(),
                format: s.format,
                metadata: s.metadata.clone(),
            }),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn put(&self, r: &SecretRef, ctx: &EncryptionContext, s: &Secret) {
        let copy = Secret {
            name: s.name.clone(),
            version: s.version,
            value: s.value.duplicate(),
            format: s.format,
            metadata: s.metadata.clone(),
        };
        self.entries
            .lock()
            .expect("cache lock")
            .insert((r.clone(), ctx.canonical_bytes()), (Instant::now(), copy));
    }

    pub(crate) fn invalidate(&self, name: &SecretName) {
        self.entries
            .lock()
            .expect("cache lock")
            .retain(|(r, _), _| &r.name != name);
    }

    pub(crate) fn clear(&self) {
        self.entries.lock().expect("cache lock").clear();
    }
}
