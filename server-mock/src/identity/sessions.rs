//! Temporary credentials (`ASIA...` keys with a session token) that STS and the
//! credential endpoints hand out. They live in memory only: a restart forgets them,
//! and clients fetch new ones.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use rand::Rng;
use zeroize::Zeroizing;

/// Temporary credentials handed out by STS or the credential endpoints.
#[derive(Clone)]
pub struct Session {
    /// `ASIA...`.
    pub access_key_id: String,
    /// The secret key.
    pub secret: Zeroizing<String>,
    /// The session token.
    pub token: Zeroizing<String>,
    /// When it stops working.
    pub expires: SystemTime,
    /// The role.
    pub role: String,
    /// The session name.
    pub session_name: String,
}

/// Every session issued since start-up, by access key id.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

impl std::fmt::Debug for Sessions {
    /// How many, never their keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Sessions").field(&self.lock().len()).finish()
    }
}

impl Sessions {
    /// Issues temporary credentials for `role`, valid for `ttl`.
    pub fn issue(&self, role: &str, session_name: &str, ttl: Duration) -> Session {
        let mut rng = rand::rngs::OsRng;
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let akid: String = "ASIA"
            .chars()
            .chain((0..16).map(|_| UPPER[rng.gen_range(0..UPPER.len())] as char))
            .collect();
        let mut secret = [0u8; 30];
        rand::RngCore::fill_bytes(&mut rng, &mut secret);
        let mut token = [0u8; 96];
        rand::RngCore::fill_bytes(&mut rng, &mut token);
        let session = Session {
            access_key_id: akid.clone(),
            secret: Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(secret)),
            token: Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(token)),
            expires: SystemTime::now() + ttl,
            role: role.to_owned(),
            session_name: session_name.to_owned(),
        };
        self.lock().insert(akid, session.clone());
        session
    }

    /// The session of `access_key_id`, if one was issued.
    pub fn get(&self, access_key_id: &str) -> Option<Session> {
        self.lock().get(access_key_id).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
