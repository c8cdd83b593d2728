//! The key rules on a paused clock: each test moves time on by hand.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::*;
use crate::contract::signature::SigningKey;

/// Secrets as Secrets Manager would hand them out, changeable by the test.
struct FakeSecrets {
    stored: Mutex<Result<Vec<String>, PortError>>,
    delay: Mutex<Duration>,
    fetches: AtomicUsize,
}

impl FakeSecrets {
    fn holding(secrets: &[&str]) -> Self {
        Self {
            stored: Mutex::new(Ok(secrets.iter().map(|s| s.to_string()).collect())),
            delay: Mutex::new(Duration::ZERO),
            fetches: AtomicUsize::new(0),
        }
    }
    fn put(&self, secrets: &[&str]) {
        *self.stored.lock().unwrap() = Ok(secrets.iter().map(|s| s.to_string()).collect());
    }
    fn fail(&self) {
        *self.stored.lock().unwrap() = Err(PortError::new("GetSecretValue", "throttled"));
    }
    fn slow(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl SecretSource for &FakeSecrets {
    async fn fetch(&self) -> Result<Vec<String>, PortError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap();
        // Let other requests run while this fetch is "in flight".
        tokio::time::sleep(delay.max(Duration::from_millis(1))).await;
        self.stored.lock().unwrap().clone()
    }
}

const SETTINGS: KeySettings = KeySettings {
    refresh_interval: Duration::from_secs(300),
    refetch_interval: Duration::from_secs(60),
    retry_interval: Duration::from_secs(5),
};

fn signed(secret: &str, body: &[u8]) -> Signature {
    Signature::parse(SigningKey::new(secret).unwrap().sign(body).as_bytes()).unwrap()
}

async fn loaded(secrets: &FakeSecrets) -> VerifyingKeys<&FakeSecrets> {
    let keys = VerifyingKeys::new(secrets, "3qpr/webhook", SETTINGS);
    keys.load(in_a_while()).await;
    keys
}

fn in_a_while() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

/// A request signed with `secret` arriving now.
async fn verify(keys: &VerifyingKeys<&FakeSecrets>, secret: &str) -> Result<(), KeysError> {
    keys.verify(b"b", &signed(secret, b"b"), Instant::now(), in_a_while())
        .await
}

async fn pass(duration: Duration) {
    tokio::time::advance(duration).await;
}

#[tokio::test(start_paused = true)]
async fn a_rotated_secret_verifies_at_once_and_the_previous_one_still_does() {
    let secrets = FakeSecrets::holding(&["whsec_oldSecret0123456789"]);
    let keys = loaded(&secrets).await;
    secrets.put(&["whsec_newSecret0123456789", "whsec_oldSecret0123456789"]);

    assert_eq!(verify(&keys, "whsec_newSecret0123456789").await, Ok(()));
    assert_eq!(verify(&keys, "whsec_oldSecret0123456789").await, Ok(()));
    assert_eq!(secrets.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_signature_checked_against_fresh_keys_is_refused() {
    let secrets = FakeSecrets::holding(&["whsec_aSecret0123456789"]);
    let keys = loaded(&secrets).await;
    pass(Duration::from_secs(1)).await;
    assert_eq!(
        verify(&keys, "whsec_xSecret0123456789").await,
        Err(KeysError::Mismatch)
    );
    assert_eq!(secrets.fetches(), 2, "the start-up read and one re-read");
}

#[tokio::test(start_paused = true)]
async fn mismatches_reread_at_most_once_per_interval_and_are_503_in_between() {
    let secrets = FakeSecrets::holding(&["whsec_aSecret0123456789"]);
    let keys = loaded(&secrets).await;
    pass(Duration::from_secs(1)).await;
    assert_eq!(
        verify(&keys, "whsec_xSecret0123456789").await,
        Err(KeysError::Mismatch)
    );
    for _ in 0..5 {
        pass(Duration::from_secs(1)).await;
        assert!(matches!(
            verify(&keys, "whsec_xSecret0123456789").await,
            Err(KeysError::Unconfirmed(_))
        ));
    }
    assert_eq!(secrets.fetches(), 2);
    pass(SETTINGS.refetch_interval).await;
    assert_eq!(
        verify(&keys, "whsec_xSecret0123456789").await,
        Err(KeysError::Mismatch)
    );
    assert_eq!(secrets.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn stray_signatures_cannot_turn_the_first_webhook_with_a_new_key_into_a_400() {
    let secrets = FakeSecrets::holding(&["whsec_oldSecret0123456789"]);
    let keys = loaded(&secrets).await;
    pass(Duration::from_secs(1)).await;
    // A stray signature uses the re-read...
    assert_eq!(
        verify(&keys, "whsec_forgedSecret0123456789").await,
        Err(KeysError::Mismatch)
    );
    // ...then the operator rotates and 3QPR signs with the new key at once.
    secrets.put(&["whsec_newSecret0123456789", "whsec_oldSecret0123456789"]);
    pass(Duration::from_secs(10)).await;
    assert!(matches!(
        verify(&keys, "whsec_newSecret0123456789").await,
        Err(KeysError::Unconfirmed(_))
    ));
    // 3QPR retries after the 503; once the interval is over the new key verifies.
    pass(SETTINGS.refetch_interval).await;
    assert_eq!(verify(&keys, "whsec_newSecret0123456789").await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_valid_signature_never_rereads_within_the_refresh_interval() {
    let secrets = FakeSecrets::holding(&["whsec_aSecret0123456789"]);
    let keys = loaded(&secrets).await;
    for _ in 0..3 {
        pass(Duration::from_secs(60)).await;
        assert_eq!(verify(&keys, "whsec_aSecret0123456789").await, Ok(()));
    }
    assert_eq!(secrets.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_revoked_version_stops_verifying_within_the_refresh_interval() {
    let secrets =
        FakeSecrets::holding(&["whsec_newSecret0123456789", "whsec_leakedSecret0123456789"]);
    let keys = loaded(&secrets).await;
    assert_eq!(verify(&keys, "whsec_leakedSecret0123456789").await, Ok(()));
    // The operator removes the leaked version.
    secrets.put(&["whsec_newSecret0123456789"]);
    pass(SETTINGS.refresh_interval - Duration::from_secs(1)).await;
    assert_eq!(
        verify(&keys, "whsec_leakedSecret0123456789").await,
        Ok(()),
        "not yet refreshed"
    );
    pass(Duration::from_secs(1)).await;
    assert_eq!(
        verify(&keys, "whsec_leakedSecret0123456789").await,
        Err(KeysError::Mismatch)
    );
    assert_eq!(verify(&keys, "whsec_newSecret0123456789").await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_keeps_the_last_good_keys() {
    let secrets = FakeSecrets::holding(&["whsec_aSecret0123456789"]);
    let keys = loaded(&secrets).await;
    secrets.fail();
    pass(SETTINGS.refresh_interval).await;
    assert_eq!(verify(&keys, "whsec_aSecret0123456789").await, Ok(()));
    assert_eq!(secrets.fetches(), 2);
    // The next attempts are spaced by the retry interval.
    assert_eq!(verify(&keys, "whsec_aSecret0123456789").await, Ok(()));
    assert_eq!(secrets.fetches(), 2);
    pass(SETTINGS.retry_interval).await;
    assert_eq!(verify(&keys, "whsec_aSecret0123456789").await, Ok(()));
    assert_eq!(secrets.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn while_reads_fail_an_unverified_signature_is_503_until_a_read_succeeds() {
    let secrets = FakeSecrets::holding(&["whsec_oldSecret0123456789"]);
    let keys = loaded(&secrets).await;
    secrets.put(&["whsec_newSecret0123456789", "whsec_oldSecret0123456789"]);
    secrets.fail();
    pass(Duration::from_secs(1)).await;
    assert!(matches!(
        verify(&keys, "whsec_newSecret0123456789").await,
        Err(KeysError::Unavailable(_))
    ));
    // 3QPR's retry a few seconds later: still 503, and no read before the retry interval.
    pass(Duration::from_secs(2)).await;
    assert!(matches!(
        verify(&keys, "whsec_newSecret0123456789").await,
        Err(KeysError::Unavailable(_))
    ));
    assert_eq!(secrets.fetches(), 2);
    // The failed read did not use up the re-read budget: once reads work, it verifies.
    secrets.put(&["whsec_newSecret0123456789", "whsec_oldSecret0123456789"]);
    pass(SETTINGS.retry_interval).await;
    assert_eq!(verify(&keys, "whsec_newSecret0123456789").await, Ok(()));
    assert_eq!(verify(&keys, "whsec_oldSecret0123456789").await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn concurrent_mismatches_share_one_reread() {
    let secrets = FakeSecrets::holding(&["whsec_oldSecret0123456789"]);
    let keys = loaded(&secrets).await;
    secrets.put(&["whsec_newSecret0123456789", "whsec_oldSecret0123456789"]);
    pass(Duration::from_secs(1)).await;
    let results = tokio::join!(
        verify(&keys, "whsec_newSecret0123456789"),
        verify(&keys, "whsec_newSecret0123456789"),
        verify(&keys, "whsec_newSecret0123456789"),
        verify(&keys, "whsec_newSecret0123456789"),
    );
    assert_eq!(
        [results.0, results.1, results.2, results.3],
        [Ok(()), Ok(()), Ok(()), Ok(())]
    );
    assert_eq!(secrets.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_start_up_failure_is_retried_by_requests_at_a_bounded_rate() {
    let secrets = FakeSecrets::holding(&["whsec_aSecret0123456789"]);
    secrets.fail();
    let keys = loaded(&secrets).await;
    assert!(!keys.is_ready());
    assert!(matches!(
        verify(&keys, "whsec_aSecret0123456789").await,
        Err(KeysError::Unavailable(_))
    ));
    assert_eq!(secrets.fetches(), 1, "no read before the retry interval");
    secrets.put(&["whsec_aSecret0123456789"]);
    pass(SETTINGS.retry_interval).await;
    assert_eq!(verify(&keys, "whsec_aSecret0123456789").await, Ok(()));
    assert!(keys.is_ready());
}

#[tokio::test(start_paused = true)]
async fn values_without_the_whsec_prefix_are_never_keys() {
    let placeholder = "kT3vQ9xLmN2pR7sW4yZ8bC1dF6gH0jK5";
    let secrets = FakeSecrets::holding(&[placeholder]);
    let keys = loaded(&secrets).await;
    assert!(!keys.is_ready());
    let error = verify(&keys, placeholder).await.unwrap_err();
    assert!(
        matches!(&error, KeysError::NotConfigured { secret_id } if secret_id == "3qpr/webhook"),
        "{error}"
    );
    assert!(error.to_string().contains("put-secret-value"), "{error}");

    // The operator puts the real value; the placeholder lives on as AWSPREVIOUS.
    secrets.put(&["whsec_realSecret0123456789", placeholder]);
    pass(SETTINGS.retry_interval).await;
    assert_eq!(verify(&keys, "whsec_realSecret0123456789").await, Ok(()));
    pass(Duration::from_secs(1)).await;
    assert_eq!(verify(&keys, placeholder).await, Err(KeysError::Mismatch));
}

#[test]
fn only_the_prefix_and_real_key_material_make_a_signing_secret() {
    for secret in [
        "whsec_AbCdEfGhIjKlMnOpQrStUv",
        "  whsec_AbCdEfGhIjKlMnOp\n",
        "whsec_c29tZSBrZXkgbWF0ZXJpYWw=",
        "whsec_Zm9v-YmFy_YmF6+cXV4/MTIz",
        "whsec_0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        assert!(is_signing_secret(secret), "{secret:?}");
    }
    for not_a_secret in [
        "whsec_",
        "whsec_...",
        "whsec_AbCdEfGhIjKlMnOpQrStUv...",
        "whsec_AbCdEfGhIjKlMnO",
        "whsec_<paste the value here>",
        "whsec_AbCdEfGh IjKlMnOpQrStUv",
        "AbCdEfGhIjKlMnOpQrStUvWxYz",
        "",
    ] {
        assert!(!is_signing_secret(not_a_secret), "{not_a_secret:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_bare_prefix_or_the_placeholder_is_not_a_key_anyone_could_sign_with() {
    for placeholder in ["whsec_", "whsec_..."] {
        let secrets = FakeSecrets::holding(&[placeholder]);
        let keys = loaded(&secrets).await;
        assert!(!keys.is_ready(), "{placeholder:?}");
        let error = verify(&keys, placeholder).await.unwrap_err();
        assert!(
            matches!(error, KeysError::NotConfigured { .. }),
            "{placeholder:?}: {error}"
        );
    }
}

#[test]
fn the_suggested_command_pasted_as_is_stores_no_key() {
    let error = KeysError::NotConfigured {
        secret_id: "3qpr/webhook".into(),
    }
    .to_string();
    let (_, argument) = error.split_once("--secret-string ").unwrap();
    // What the shell would store: the quoted word, without its quotes.
    let stored = argument
        .strip_prefix('\'')
        .and_then(|rest| rest.split_once('\''))
        .map(|(word, _)| word)
        .unwrap();
    assert!(stored.contains(SECRET_PREFIX), "{error}");
    assert!(!is_signing_secret(stored), "{stored:?}");
}

#[tokio::test(start_paused = true)]
async fn a_read_slower_than_the_deadline_gives_up_in_time() {
    let secrets = FakeSecrets::holding(&["whsec_aSecret0123456789"]);
    let keys = loaded(&secrets).await;
    secrets.put(&["whsec_newSecret0123456789"]);
    secrets.slow(Duration::from_secs(30));
    pass(Duration::from_secs(1)).await;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(2);
    let result = keys
        .verify(
            b"b",
            &signed("whsec_newSecret0123456789", b"b"),
            started,
            deadline,
        )
        .await;
    assert!(
        matches!(result, Err(KeysError::Unavailable(_))),
        "{result:?}"
    );
    assert!(Instant::now() <= deadline);
}
