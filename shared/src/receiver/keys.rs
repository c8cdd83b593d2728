//! The signing secrets of one instance: fetched once at start-up, re-fetched when a signature
//! does not verify (the secret may have been rotated), at most once per interval.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::contract::signature::{Keyring, Signature};
use crate::receiver::ports::{PortError, SecretSource};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    #[error(transparent)]
    Unavailable(#[from] PortError),
    #[error("the webhook secret in Secrets Manager is empty")]
    Empty,
}

pub struct VerifyingKeys<S> {
    source: S,
    keyring: RwLock<Arc<Keyring>>,
    /// When the last re-fetch started; held across the fetch so that concurrent mismatches
    /// wait for one re-fetch instead of starting their own.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
    refetch_interval: Duration,
}

impl<S: SecretSource> VerifyingKeys<S> {
    /// The start-up fetch; it does not count against the re-fetch interval.
    pub async fn load(source: S, refetch_interval: Duration) -> Result<Self, KeysError> {
        let keyring = fetch_keyring(&source).await?;
        Ok(Self {
            source,
            keyring: RwLock::new(Arc::new(keyring)),
            last_refetch: tokio::sync::Mutex::new(None),
            refetch_interval,
        })
    }

    /// Whether `signature` is a valid signature of `body` by any current secret. On a mismatch
    /// the secrets are fetched again (unless that was done within the interval) and the
    /// signature checked against the fresh ones.
    pub async fn verify(&self, body: &[u8], signature: &Signature) -> Result<bool, KeysError> {
        let checked = self.current();
        if checked.verifies(body, signature) {
            return Ok(true);
        }
        let mut last_refetch = self.last_refetch.lock().await;
        let now = self.current();
        if !Arc::ptr_eq(&now, &checked) {
            // Another request re-fetched while this one waited.
            return Ok(now.verifies(body, signature));
        }
        if last_refetch.is_some_and(|at| at.elapsed() < self.refetch_interval) {
            return Ok(false);
        }
        *last_refetch = Some(Instant::now());
        let fresh = Arc::new(fetch_keyring(&self.source).await?);
        let verified = fresh.verifies(body, signature);
        *self
            .keyring
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = fresh;
        Ok(verified)
    }

    fn current(&self) -> Arc<Keyring> {
        Arc::clone(
            &self
                .keyring
                .read()
                .unwrap_or_else(|poison| poison.into_inner()),
        )
    }
}

async fn fetch_keyring(source: &impl SecretSource) -> Result<Keyring, KeysError> {
    let secrets = source.fetch().await?;
    Keyring::new(&secrets).map_err(|_| KeysError::Empty)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::*;
    use crate::contract::signature::SigningKey;

    /// Secrets as Secrets Manager would hand them out, changeable by the test.
    struct FakeSecrets {
        stored: Mutex<Result<Vec<String>, PortError>>,
        fetches: AtomicUsize,
    }

    impl FakeSecrets {
        fn holding(secrets: &[&str]) -> Self {
            Self {
                stored: Mutex::new(Ok(secrets.iter().map(|s| s.to_string()).collect())),
                fetches: AtomicUsize::new(0),
            }
        }
        fn put(&self, secrets: &[&str]) {
            *self.stored.lock().unwrap() = Ok(secrets.iter().map(|s| s.to_string()).collect());
        }
        fn fail(&self) {
            *self.stored.lock().unwrap() = Err(PortError::new("GetSecretValue", "throttled"));
        }
    }

    impl SecretSource for &FakeSecrets {
        async fn fetch(&self) -> Result<Vec<String>, PortError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            // Let other requests run while this fetch is "in flight".
            tokio::task::yield_now().await;
            self.stored.lock().unwrap().clone()
        }
    }

    fn signed(secret: &str, body: &[u8]) -> Signature {
        Signature::parse(SigningKey::new(secret).unwrap().sign(body).as_bytes()).unwrap()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn a_rotated_secret_verifies_at_once_and_the_previous_one_still_does() {
        let secrets = FakeSecrets::holding(&["whsec_old"]);
        let keys = VerifyingKeys::load(&secrets, HOUR).await.unwrap();
        secrets.put(&["whsec_new", "whsec_old"]);

        assert!(keys.verify(b"b", &signed("whsec_new", b"b")).await.unwrap());
        assert!(keys.verify(b"b", &signed("whsec_old", b"b")).await.unwrap());
        assert_eq!(secrets.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn mismatches_refetch_at_most_once_per_interval() {
        let secrets = FakeSecrets::holding(&["whsec_a"]);
        let keys = VerifyingKeys::load(&secrets, HOUR).await.unwrap();
        for _ in 0..5 {
            assert!(!keys.verify(b"b", &signed("whsec_x", b"b")).await.unwrap());
        }
        // The start-up fetch plus one re-fetch.
        assert_eq!(secrets.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn once_the_interval_has_passed_a_mismatch_refetches_again() {
        let secrets = FakeSecrets::holding(&["whsec_a"]);
        let keys = VerifyingKeys::load(&secrets, Duration::ZERO).await.unwrap();
        assert!(!keys.verify(b"b", &signed("whsec_x", b"b")).await.unwrap());
        assert!(!keys.verify(b"b", &signed("whsec_x", b"b")).await.unwrap());
        assert_eq!(secrets.fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_valid_signature_never_refetches() {
        let secrets = FakeSecrets::holding(&["whsec_a"]);
        let keys = VerifyingKeys::load(&secrets, Duration::ZERO).await.unwrap();
        for _ in 0..3 {
            assert!(keys.verify(b"b", &signed("whsec_a", b"b")).await.unwrap());
        }
        assert_eq!(secrets.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn concurrent_mismatches_share_one_refetch() {
        let secrets = FakeSecrets::holding(&["whsec_old"]);
        let keys = VerifyingKeys::load(&secrets, HOUR).await.unwrap();
        secrets.put(&["whsec_new", "whsec_old"]);
        let signature = signed("whsec_new", b"b");
        let verify = || keys.verify(b"b", &signature);
        let results = tokio::join!(verify(), verify(), verify(), verify());
        assert_eq!(
            [results.0, results.1, results.2, results.3],
            [Ok(true), Ok(true), Ok(true), Ok(true)]
        );
        assert_eq!(secrets.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failing_refetch_is_reported_and_keeps_the_known_secrets() {
        let secrets = FakeSecrets::holding(&["whsec_a"]);
        let keys = VerifyingKeys::load(&secrets, HOUR).await.unwrap();
        secrets.fail();
        assert!(matches!(
            keys.verify(b"b", &signed("whsec_x", b"b")).await,
            Err(KeysError::Unavailable(_))
        ));
        assert!(keys.verify(b"b", &signed("whsec_a", b"b")).await.unwrap());
    }

    #[tokio::test]
    async fn start_up_fails_on_an_unavailable_or_empty_secret() {
        let failing = FakeSecrets::holding(&[]);
        failing.fail();
        assert!(matches!(
            VerifyingKeys::load(&failing, HOUR).await,
            Err(KeysError::Unavailable(_))
        ));
        let blank = FakeSecrets::holding(&["  \n"]);
        assert!(matches!(
            VerifyingKeys::load(&blank, HOUR).await,
            Err(KeysError::Empty)
        ));
    }
}
