//! [`MockState`]: every emulated service, the journal they write through, the
//! fault rules and strict mode's identities, shared by every request.

use std::sync::Arc;

use crate::config::{Config, IamSource, StartError};
use crate::dynamodb::{DynamoDbRegions, ReplicationStatus};
use crate::error::AwsError;
use crate::faults::Faults;
use crate::identity;
use crate::journal::{Entry, FileJournal, Journal, NoJournal, StoreError, RESET_SERVICE};
use crate::kms::Kms;
use crate::protocol::{RequestContext, Service};
use crate::quotas::{QuotaState, Quotas};
use crate::services::{JsonService, Reply};

/// All emulated state, shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct MockState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    journal: Arc<dyn Journal>,
    /// The journal, when it is shared with emulators of other processes: every
    /// operation first applies what they appended (see [`MockState::in_turn`]).
    shared: Option<Arc<FileJournal>>,
    pub(crate) kms: Arc<Kms>,
    pub(crate) dynamodb: Arc<DynamoDbRegions>,
    pub(crate) faults: Arc<Faults>,
    pub(crate) quotas: QuotaState,
    pub(crate) auth: Option<Arc<identity::Auth>>,
    pub(crate) imds_tokens: identity::sts::ImdsTokens,
    /// Why this emulator no longer serves (shared mode): it could not apply
    /// records another emulator appended, so what it holds is not the store.
    diverged: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for MockState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockState")
            .field("config", &self.inner.config)
            .field("kms", &self.inner.kms)
            .field("dynamodb", &self.inner.dynamodb)
            .finish_non_exhaustive()
    }
}

impl MockState {
    /// Empty in-memory state.
    pub fn in_memory() -> Self {
        Self::build(Config::default(), Arc::new(NoJournal), None)
    }

    /// State for `config`: with a data dir, replays its journal and compacts it.
    /// A damaged journal is an error, never an empty store.
    pub fn new(config: Config) -> Result<Self, StartError> {
        config.validate()?;
        let auth = match &config.iam {
            None => None,
            Some(source) => {
                let iam = match source {
                    IamSource::File(p) => identity::IamConfig::load(p),
                    IamSource::Json(text) => identity::IamConfig::from_json(text),
                }
                .map_err(StartError::Iam)?;
                Some(Arc::new(
                    identity::Auth::new(
                        iam,
                        &config.account_id,
                        config.credential_ttl,
                        config.audit_log.as_deref(),
                    )
                    .map_err(StartError::Iam)?,
                ))
            }
        };
        let Some(dir) = config.data_dir.clone() else {
            return Ok(Self::build(config, Arc::new(NoJournal), auth));
        };
        let share = config.shared;
        let (journal, entries) = if share {
            FileJournal::open_shared(&dir)?
        } else {
            FileJournal::open(&dir)?
        };
        let journal = Arc::new(journal);
        let mut state = Self::build(config, journal.clone(), auth);
        state.apply(&journal, &entries)?;
        if journal.may_compact() {
            let snapshot: Vec<(String, serde_json::Value)> = state
                .services()
                .flat_map(|(name, s)| s.snapshot().into_iter().map(move |r| (name.to_owned(), r)))
                .collect();
            journal.compact(&snapshot)?;
        }
        journal.finish_open()?;
        if share {
            Arc::get_mut(&mut state.inner)
                .expect("the state is not shared before new returns")
                .shared = Some(journal.clone());
        }
        tracing::info!(
            path = %journal.path().display(),
            replayed = entries.len(),
            "state loaded from the data dir"
        );
        Ok(state)
    }

    /// Applies journal records, as replay and catching up do.
    fn apply(&self, journal: &FileJournal, entries: &[Entry]) -> Result<(), StoreError> {
        for entry in entries {
            let result = if entry.service == RESET_SERVICE {
                self.services().for_each(|(_, s)| s.reset());
                Ok(())
            } else {
                match Service::from_name(&entry.service).and_then(|s| self.service(s)) {
                    Some(service) => service.restore(&entry.record),
                    None => Err(format!("unknown service {:?}", entry.service)),
                }
            };
            result.map_err(|reason| StoreError::Corrupt {
                path: journal.path().to_owned(),
                line: entry.line,
                reason: format!("cannot replay the record: {reason}"),
            })?;
        }
        Ok(())
    }

    /// Whether the data dir is shared with emulators of other processes.
    pub(crate) fn is_shared(&self) -> bool {
        self.inner.shared.is_some()
    }

    /// Runs `f` in this emulator's turn on a shared journal, after applying what
    /// other processes appended since its last turn; plainly runs `f` otherwise.
    /// Everything that reads or writes the services' state goes through here.
    pub(crate) fn in_turn<T>(
        &self,
        f: impl FnOnce() -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        let Some(journal) = &self.inner.shared else {
            return f();
        };
        if let Some(why) = self.inner.diverged.get() {
            return Err(AwsError::internal(why.clone()));
        }
        let Some((turn, entries)) = journal.catch_up()? else {
            return f();
        };
        // The journal's offset has moved past these records: an emulator that
        // failed to apply them would serve a store without them from now on,
        // so it refuses every later operation instead.
        if let Err(e) = self.apply(journal, &entries) {
            let why = format!(
                "this emulator could not apply what another emulator sharing its data dir \
                 wrote ({e}); restart it"
            );
            let _ = self.inner.diverged.set(why.clone());
            return Err(AwsError::internal(why));
        }
        let result = f();
        drop(turn);
        result
    }

    fn build(config: Config, journal: Arc<dyn Journal>, auth: Option<Arc<identity::Auth>>) -> Self {
        let config_quotas = config.quotas.clone();
        let kms = Arc::new(Kms::with_account(
            journal.clone(),
            config.account_id.clone(),
        ));
        let faults = Arc::new(Faults::default());
        let dynamodb = Arc::new(DynamoDbRegions::new(
            journal.clone(),
            config.account_id.clone(),
            faults.clone(),
        ));
        dynamodb.set_replication_lag(config.replication_lag, config.replication_jitter);
        Self {
            inner: Arc::new(Inner {
                config,
                journal,
                shared: None,
                kms,
                dynamodb,
                faults,
                quotas: QuotaState::new(config_quotas),
                auth,
                imds_tokens: identity::sts::ImdsTokens::default(),
                diverged: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The fault rules: add, list and clear them in process, as `/_mock/faults`
    /// does over HTTP.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// The throughput quotas in force, as `GET /_mock/quotas` shows them.
    pub fn quotas(&self) -> Quotas {
        self.inner.quotas.get()
    }

    /// Replaces the throughput quotas, as `POST /_mock/quotas` does; each bucket
    /// keeps the credit it has, within the new limits.
    pub fn set_quotas(&self, quotas: Quotas) {
        self.inner.quotas.set(quotas);
    }

    /// Sets the time from a write to a global table to its copy in each other
    /// replica (plus a random jitter of up to `jitter`, so copies arrive in no
    /// particular order), for writes from now on.
    pub fn set_replication_lag(&self, lag: std::time::Duration, jitter: std::time::Duration) {
        self.inner.dynamodb.set_replication_lag(lag, jitter);
    }

    /// Holds back (`true`) or releases the copies of global-table writes.
    pub fn pause_replication(&self, paused: bool) {
        self.replication_turn(|| self.inner.dynamodb.set_replication_paused(paused));
    }

    /// Applies every queued global-table copy now, due or not, except while
    /// replication is paused or into a region that is down.
    pub fn flush_replication(&self) {
        self.replication_turn(|| self.inner.dynamodb.flush_replication());
    }

    /// The replication settings and backlog (after applying the copies that are
    /// due).
    pub fn replication_status(&self) -> ReplicationStatus {
        self.replication_turn(|| self.inner.dynamodb.deliver_due());
        self.inner.dynamodb.replication_settings()
    }

    /// Runs a replication control in this emulator's turn: applying copies
    /// writes the journal, which a shared data dir takes only in turn. If the
    /// turn cannot be had, the copies stay queued (and the error is logged).
    fn replication_turn(&self, f: impl FnOnce()) {
        if let Err(e) = self.in_turn(|| {
            f();
            Ok(())
        }) {
            tracing::error!(error = %e.message, "cannot catch up with the shared journal");
        }
    }

    /// The ARN of the KMS key `alias` names in `region`, after creating a key and
    /// the alias there if the alias does not exist yet, durably, as `CreateKey`
    /// and `CreateAlias` would (without authorization or fault rules: this is the
    /// harness's hook, not a client's call). Blocking: it may fsync the journal.
    pub fn ensure_alias_in(&self, region: &str, alias: &str) -> Result<String, AwsError> {
        self.in_turn(|| self.inner.kms.ensure_alias(region, alias))
    }

    /// The ARN of the KMS key `key_id` names in `region` (a key id, key ARN, alias
    /// name or alias ARN), if it names one.
    pub fn key_arn_in(&self, region: &str, key_id: &str) -> Option<String> {
        self.in_turn(|| Ok(self.inner.kms.key_arn_of(region, key_id)))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e.message, "cannot catch up with the shared journal");
                None
            })
    }

    /// The service behind a name, if this build emulates it.
    fn service(&self, service: Service) -> Option<&dyn JsonService> {
        match service {
            Service::Kms => Some(self.inner.kms.as_ref()),
            Service::DynamoDb => Some(self.inner.dynamodb.as_ref()),
        }
    }

    fn services(&self) -> impl Iterator<Item = (&'static str, &dyn JsonService)> {
        Service::ALL
            .into_iter()
            .filter_map(|s| self.service(s).map(|svc| (s.name(), svc)))
    }

    /// Runs one operation of `service` (blocking: it may fsync the journal).
    pub(crate) fn call(
        &self,
        service: Service,
        operation: &str,
        body: &serde_json::Value,
        ctx: &RequestContext,
    ) -> Result<Reply, AwsError> {
        match self.service(service) {
            Some(s) => s.handle(operation, body, ctx),
            None => Err(AwsError::with_code(
                "UnknownOperationException",
                format!("{} is not emulated by this build", service.name()),
            )),
        }
    }

    /// Empties every service, durably.
    pub(crate) fn reset(&self) -> Result<(), AwsError> {
        self.in_turn(|| {
            self.inner
                .journal
                .append(RESET_SERVICE, &serde_json::json!({ "reset": true }))?;
            self.services().for_each(|(_, s)| s.reset());
            Ok(())
        })
    }
}
