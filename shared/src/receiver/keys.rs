//! The signing keys of one instance, and when to read the secret again.
//!
//! - The keys are read at start-up, and again whenever they are older than the refresh
//!   interval, mismatch or not: a version removed from AWSCURRENT/AWSPREVIOUS stops verifying
//!   within that interval. A failed refresh keeps the last good keys.
//! - A signature that no key verifies is refused (400) only once it has been checked against
//!   keys read after the request arrived. Otherwise the secret is read again (it may have been
//!   rotated): at most once per re-fetch interval, shared by concurrent requests. When that is
//!   not possible now (the interval is not over, or the secret cannot be read) the answer is a
//!   503, so 3QPR retries: a fault on our side, or a burst of stray signatures, never turns a
//!   genuine webhook into a 400.
//! - A failed read does not count against the re-fetch interval; reads after a failure are
//!   spaced by the retry interval, so an outage is not hammered.
//! - Only stored values shaped like 3QPR's secrets are keys ([`is_signing_secret`]). With
//!   none, nothing verifies, the answer is 503, and one error says which secret to fix.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::contract::signature::{Keyring, Signature};
use crate::receiver::ports::{PortError, SecretSource};

/// The prefix of every secret 3QPR issues; other stored values are placeholders.
pub const SECRET_PREFIX: &str = "whsec_";
/// The least key material after [`SECRET_PREFIX`]. 3QPR's documented example shows 22
/// characters before it is cut short (`whsec_AbCdEfGhIjKlMnOpQrStUv...`); 16 still refuses a
/// bare prefix or a placeholder such as `whsec_...`, which would let anyone sign.
pub const MIN_SECRET_MATERIAL: usize = 16;

/// Whether a stored value is a signing secret: [`SECRET_PREFIX`], then at least
/// [`MIN_SECRET_MATERIAL`] characters of base64 (standard or URL-safe, padding allowed), as in
/// 3QPR's example; surrounding whitespace is not part of it.
pub fn is_signing_secret(stored: &str) -> bool {
    stored
        .trim()
        .strip_prefix(SECRET_PREFIX)
        .is_some_and(|material| {
            material.len() >= MIN_SECRET_MATERIAL
                && material
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"+/=-_".contains(&byte))
        })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    #[error("no key verifies the signature")]
    Mismatch,
    #[error("no key verifies the signature, and the secret cannot be read again before {0:?}")]
    Unconfirmed(Duration),
    #[error(transparent)]
    Unavailable(#[from] PortError),
    #[error("no version of secret {secret_id} holds a signing secret ({SECRET_PREFIX} and at least {MIN_SECRET_MATERIAL} characters of key): put the whsec_ value 3QPR returned when the webhook was registered (aws secretsmanager put-secret-value --secret-id {secret_id} --secret-string '<the whsec_ value from 3QPR>')")]
    NotConfigured { secret_id: String },
    #[error("the invocation has no time left to read the secret")]
    NoTimeLeft,
}

#[derive(Debug, Clone, Copy)]
pub struct KeySettings {
    /// The keys are read again when older than this, mismatch or not.
    pub refresh_interval: Duration,
    /// Least time between two re-reads caused by signature mismatches.
    pub refetch_interval: Duration,
    /// Least time between two reads after a failed one.
    pub retry_interval: Duration,
}

/// What the last read found.
#[derive(Debug, Clone)]
enum Loaded {
    Never,
    Keys(Arc<Keyring>),
    NotConfigured,
}

#[derive(Debug, Clone)]
struct Snapshot {
    loaded: Loaded,
    /// When the read that produced `loaded` started.
    read_at: Option<Instant>,
    /// The last read failed (the loaded keys, if any, are older).
    failure: Option<PortError>,
    /// When the last read, successful or not, started.
    attempted_at: Option<Instant>,
    /// When the last successful re-read caused by a mismatch started.
    refetched_at: Option<Instant>,
}

pub struct VerifyingKeys<S> {
    source: S,
    secret_id: String,
    settings: KeySettings,
    snapshot: RwLock<Snapshot>,
    /// Held across a read, so concurrent requests share one.
    reading: tokio::sync::Mutex<()>,
}

/// Why a read is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Start,
    Refresh,
    Mismatch,
}

impl<S: SecretSource> VerifyingKeys<S> {
    /// Keys not read yet; [`Self::load`] reads them.
    pub fn new(source: S, secret_id: impl Into<String>, settings: KeySettings) -> Self {
        Self {
            source,
            secret_id: secret_id.into(),
            settings,
            snapshot: RwLock::new(Snapshot {
                loaded: Loaded::Never,
                read_at: None,
                failure: None,
                attempted_at: None,
                refetched_at: None,
            }),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    /// The start-up read, within `deadline`; it does not count against the re-fetch interval.
    /// A failure is kept and reported by the requests that need the keys.
    pub async fn load(&self, deadline: Instant) {
        let _ = self.read(Cause::Start, deadline, None).await;
    }

    /// Whether the keys are loaded and usable.
    pub fn is_ready(&self) -> bool {
        matches!(self.snapshot().loaded, Loaded::Keys(_))
    }

    /// Checks `signature` on `body` for a request that arrived at `arrived` and must be
    /// answered by `deadline`: `Ok` when a key verifies it.
    pub async fn verify(
        &self,
        body: &[u8],
        signature: &Signature,
        arrived: Instant,
        deadline: Instant,
    ) -> Result<(), KeysError> {
        let snapshot = self.snapshot();
        let due = match (&snapshot.loaded, snapshot.read_at) {
            (Loaded::Keys(_), Some(read_at)) => read_at.elapsed() >= self.settings.refresh_interval,
            // Not read yet, or nothing usable stored: read as soon as the retry interval allows.
            _ => true,
        };
        let snapshot = if due && self.may_read(&snapshot, Cause::Refresh) {
            // A failed refresh keeps the last good keys: the outcome shows in the snapshot.
            let _ = self.read(Cause::Refresh, deadline, None).await;
            self.snapshot()
        } else {
            snapshot
        };
        let keyring = self.keyring_of(&snapshot)?;
        if keyring.verifies(body, signature) {
            return Ok(());
        }
        if snapshot.read_at.is_some_and(|read_at| read_at >= arrived) {
            return Err(KeysError::Mismatch);
        }
        // Keys older than the request: the secret may have been rotated since.
        let snapshot = self.read(Cause::Mismatch, deadline, Some(arrived)).await?;
        let keyring = self.keyring_of(&snapshot)?;
        if keyring.verifies(body, signature) {
            Ok(())
        } else {
            Err(KeysError::Mismatch)
        }
    }

    fn keyring_of(&self, snapshot: &Snapshot) -> Result<Arc<Keyring>, KeysError> {
        match (&snapshot.loaded, &snapshot.failure) {
            (Loaded::Keys(keyring), _) => Ok(Arc::clone(keyring)),
            (Loaded::NotConfigured, _) => Err(KeysError::NotConfigured {
                secret_id: self.secret_id.clone(),
            }),
            (Loaded::Never, Some(failure)) => Err(KeysError::Unavailable(failure.clone())),
            (Loaded::Never, None) => Err(KeysError::Unavailable(PortError::new(
                "GetSecretValue",
                "the secret has not been read yet",
            ))),
        }
    }

    fn snapshot(&self) -> Snapshot {
        self.snapshot
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// Whether a read for `cause` may start now.
    fn may_read(&self, snapshot: &Snapshot, cause: Cause) -> bool {
        self.wait_before_read(snapshot, cause).is_none()
    }

    /// How long until a read for `cause` may start; `None` when it may start now.
    fn wait_before_read(&self, snapshot: &Snapshot, cause: Cause) -> Option<Duration> {
        let remaining = |since: Option<Instant>, interval: Duration| {
            since
                .map(|at| interval.saturating_sub(at.elapsed()))
                .filter(|left| !left.is_zero())
        };
        let after_failure = || {
            snapshot.failure.as_ref().and(remaining(
                snapshot.attempted_at,
                self.settings.retry_interval,
            ))
        };
        let not_configured = || {
            matches!(snapshot.loaded, Loaded::NotConfigured)
                .then(|| remaining(snapshot.attempted_at, self.settings.retry_interval))
                .flatten()
        };
        match cause {
            Cause::Start => None,
            Cause::Refresh => after_failure().or_else(not_configured),
            Cause::Mismatch => after_failure()
                .or_else(not_configured)
                .or_else(|| remaining(snapshot.refetched_at, self.settings.refetch_interval)),
        }
    }

    /// Reads the secret for `cause`, one read at a time; a request that waited for another's
    /// read uses its result when it started after `arrived`.
    async fn read(
        &self,
        cause: Cause,
        deadline: Instant,
        arrived: Option<Instant>,
    ) -> Result<Snapshot, KeysError> {
        let _reading = tokio::time::timeout_at(deadline, self.reading.lock())
            .await
            .map_err(|_| KeysError::NoTimeLeft)?;
        let snapshot = self.snapshot();
        if let Some(arrived) = arrived {
            if snapshot.read_at.is_some_and(|read_at| read_at >= arrived) {
                return Ok(snapshot);
            }
        }
        if let Some(wait) = self.wait_before_read(&snapshot, cause) {
            return Err(match &snapshot.failure {
                Some(failure) => KeysError::Unavailable(failure.clone()),
                None if matches!(snapshot.loaded, Loaded::NotConfigured) => {
                    KeysError::NotConfigured {
                        secret_id: self.secret_id.clone(),
                    }
                }
                None => KeysError::Unconfirmed(wait),
            });
        }
        let started = Instant::now();
        let fetched = tokio::time::timeout_at(deadline, self.source.fetch())
            .await
            .unwrap_or_else(|_| {
                Err(PortError::new(
                    "GetSecretValue",
                    "no time left in the invocation",
                ))
            });
        let mut next = snapshot;
        next.attempted_at = Some(started);
        match fetched {
            Err(failure) => {
                tracing::warn!(secret_id = %self.secret_id, error = %failure, "cannot read the signing secret");
                next.failure = Some(failure.clone());
                self.store(next);
                Err(KeysError::Unavailable(failure))
            }
            Ok(stored) => {
                let usable: Vec<&String> = stored
                    .iter()
                    .filter(|value| is_signing_secret(value))
                    .collect();
                let was_not_configured = matches!(next.loaded, Loaded::NotConfigured);
                next.failure = None;
                next.read_at = Some(started);
                if cause == Cause::Mismatch {
                    next.refetched_at = Some(started);
                }
                next.loaded = match Keyring::new(&usable) {
                    Ok(keyring) => Loaded::Keys(Arc::new(keyring)),
                    Err(_) => {
                        if !was_not_configured {
                            tracing::error!(
                                secret_id = %self.secret_id,
                                "{}",
                                KeysError::NotConfigured {
                                    secret_id: self.secret_id.clone()
                                }
                            );
                        }
                        Loaded::NotConfigured
                    }
                };
                self.store(next.clone());
                Ok(next)
            }
        }
    }

    fn store(&self, snapshot: Snapshot) {
        *self
            .snapshot
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = snapshot;
    }
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
