//! Being told when a secret changes: [`Lockbox::watch`] polls the latest version
//! of each watched name (a cheap projected read, no KMS call) and fetches a
//! secret only when its version moved, as `lockbox exec --watch` does for a
//! container.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures::stream::{self, Stream};
use rand::Rng;

use crate::{EncryptionContext, Error, Lockbox, Result, Secret, SecretName, SecretRef, Version};

/// A watched secret's new version.
#[derive(Debug)]
#[non_exhaustive]
pub struct Rotation {
    /// The version it had before (`None`: it had none when watching started).
    pub from: Option<Version>,
    /// The secret at its new latest version.
    pub secret: Secret,
}

struct State {
    lockbox: Lockbox,
    context: EncryptionContext,
    every: Duration,
    /// Each name's un-pinned version, and the revision of the labels that chose
    /// it (`None`: no labels).
    known: HashMap<SecretName, Option<(Version, Option<u64>)>>,
    ready: VecDeque<Result<Rotation>>,
    started: bool,
}

impl Lockbox {
    /// Watch `names`: every `every` (±10% jitter, so a fleet does not poll in step)
    /// probe the version each one's un-pinned read returns (`current` when it has
    /// labels: one projected read of its label document, no KMS call), and for
    /// each that moved fetch it and yield a [`Rotation`]. The versions when
    /// watching starts are the baseline: nothing is yielded for them. A probe or
    /// fetch that fails yields the error and the watch goes on. A label move is
    /// followed wherever it goes, back included (`current` moved to an older
    /// version by a new revision of the labels); a version older than one
    /// already seen without a newer revision of labels (newer versions deleted,
    /// or an old label document put back) yields [`Error::Rollback`] or
    /// [`Error::LabelRollback`] and is never reported as a rotation. The stream
    /// never ends; drop it to stop.
    pub fn watch(
        &self,
        names: Vec<SecretName>,
        context: EncryptionContext,
        every: Duration,
    ) -> impl Stream<Item = Result<Rotation>> + Send + 'static {
        let state = State {
            lockbox: self.clone(),
            context,
            every,
            known: names.into_iter().map(|n| (n, None)).collect(),
            ready: VecDeque::new(),
            started: false,
        };
        stream::unfold(state, |mut state| async move {
            loop {
                if let Some(next) = state.ready.pop_front() {
                    return Some((next, state));
                }
                if state.started {
                    let jitter = rand::thread_rng().gen_range(0.9..=1.1);
                    tokio::time::sleep(state.every.mul_f64(jitter)).await;
                }
                state.poll().await;
                state.started = true;
            }
        })
    }
}

impl State {
    /// Probe every name once; queue what changed (nothing on the first poll).
    async fn poll(&mut self) {
        let names: Vec<SecretName> = self.known.keys().cloned().collect();
        for name in names {
            let now = match self.lockbox.probe(&name).await {
                Ok(v) => v,
                Err(e) => {
                    if self.started {
                        self.ready.push_back(Err(e));
                    }
                    continue;
                }
            };
            let before = self.known[&name];
            if !self.started {
                self.known.insert(name, now);
                continue;
            }
            if now.map(|n| n.0) == before.map(|b| b.0) {
                // Only labels other than `current` moved: nothing to hand over.
                if let (Some(n), Some(_)) = (now, before) {
                    self.known.insert(name, Some(n));
                }
                continue;
            }
            match (now, before) {
                (Some((v, r)), Some((b, br))) if v < b && r.unwrap_or(0) <= br.unwrap_or(0) => {
                    self.ready.push_back(Err(match (br, r) {
                        (Some(seen), got) => Error::LabelRollback { name, seen, got },
                        _ => Error::Rollback {
                            name,
                            seen: b,
                            got: v,
                        },
                    }));
                }
                // Every version deleted: nothing to hand over; keep the last seen.
                (None, _) => {}
                (Some(_), _) => {
                    let r = SecretRef::latest(name.clone());
                    match self.lockbox.refresh(&r, &self.context).await {
                        Ok(secret) => {
                            let at = now.and_then(|n| n.1);
                            self.known.insert(name, Some((secret.version, at)));
                            self.ready.push_back(Ok(Rotation {
                                from: before.map(|b| b.0),
                                secret,
                            }));
                        }
                        Err(e) => self.ready.push_back(Err(e)),
                    }
                }
            }
        }
    }
}
