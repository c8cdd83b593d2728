//! What 3QPR does when an event happens: sign the body with the webhook secret and POST it,
//! once (`send`; the delivery engine retries).

use std::time::Duration;

use qpr_webhooks::contract::signature::{EmptySecret, SigningKey, SIGNATURE_HEADER};

/// How the request is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// As 3QPR signs it.
    Signed,
    /// Signed, then one byte of the body changed in transit.
    Tampered,
    /// No signature header at all.
    Unsigned,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Secret(#[from] EmptySecret),
    #[error("request to {url} failed: {source}")]
    Http { url: String, source: ureq::Error },
}

/// The receiver's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

pub struct Sender {
    agent: ureq::Agent,
    key: SigningKey,
}

/// An HTTP client that hands back every status as an answer, giving up on a request after
/// `timeout`.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

impl Sender {
    pub fn new(secret: &str) -> Result<Self, EmptySecret> {
        Ok(Self {
            agent: agent(Duration::from_secs(30)),
            key: SigningKey::new(secret)?,
        })
    }

    /// The bytes and the signature header 3QPR would send for `body` (or tampered, or
    /// unsigned).
    pub fn prepare(&self, body: &[u8], signing: Signing) -> (Vec<u8>, Option<String>) {
        let signature = self.key.sign(body);
        let mut sent = body.to_vec();
        if signing == Signing::Tampered {
            tamper(&mut sent);
        }
        (sent, (signing != Signing::Unsigned).then_some(signature))
    }

    /// POSTs `body` to `url` as 3QPR would (or tampered, or unsigned) and returns the answer.
    pub fn post(
        &self,
        url: &str,
        body: &[u8],
        signing: Signing,
        content_type: &str,
    ) -> Result<Answer, SendError> {
        let (sent, signature) = self.prepare(body, signing);
        post(&self.agent, url, &sent, signature.as_deref(), content_type)
    }
}

/// One POST of `body`, with `signature` as the signature header when given.
pub fn post(
    agent: &ureq::Agent,
    url: &str,
    body: &[u8],
    signature: Option<&str>,
    content_type: &str,
) -> Result<Answer, SendError> {
    let mut request = agent
        .post(url)
        .header("content-type", content_type)
        .header("user-agent", "3qpr-webhook-sender");
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    let http_error = |source| SendError::Http {
        url: url.to_string(),
        source,
    };
    let mut response = request.send(body).map_err(http_error)?;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    Ok(Answer {
        status: response.status().as_u16(),
        retry_after,
        body: response.body_mut().read_to_string().map_err(http_error)?,
    })
}

/// Changes one digit (or, failing that, the last byte), as an attacker editing an amount or an
/// id would, so the body stays valid JSON but no longer matches its signature.
fn tamper(body: &mut Vec<u8>) {
    if let Some(digit) = body.iter_mut().find(|b| b.is_ascii_digit()) {
        *digit = if *digit == b'9' { b'0' } else { *digit + 1 };
    } else if let Some(last) = body.last_mut() {
        *last ^= 1;
    } else {
        body.push(b' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampering_changes_the_body_so_the_signature_no_longer_matches() {
        let key = SigningKey::new("whsec_x").unwrap();
        for original in [&b"{\"n\":9}"[..], b"{}", b""] {
            let mut body = original.to_vec();
            tamper(&mut body);
            assert_ne!(body, original);
            assert_ne!(key.sign(&body), key.sign(original));
        }
    }
}
