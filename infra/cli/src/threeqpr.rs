//! 3QPR's webhook registration API, as its documentation shows it: `POST /v1/webhooks` with a
//! bearer API key and `{"url", "events"}`, answered with the webhook and its secret, once.

use qpr_webhooks::contract::envelope::describe_json_error;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Registration {
    pub url: String,
    pub events: Vec<String>,
}

/// The answer to a registration. The secret is shown only here, once.
#[derive(Clone, Serialize, Deserialize)]
pub struct Registered {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub created_at: Option<String>,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("3QPR could not be reached at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("3QPR refused the registration ({status}): {body}")]
    Refused { status: u16, body: String },
    #[error("3QPR's answer is not a registered webhook with a whsec_ secret: {0}")]
    Unexpected(String),
}

/// Registers `registration` with the 3QPR API at `api_base`.
pub fn register(
    api_base: &str,
    api_key: &str,
    registration: &Registration,
) -> Result<Registered, RegisterError> {
    let url = format!("{}/v1/webhooks", api_base.trim_end_matches('/'));
    let agent = crate::sender::agent(std::time::Duration::from_secs(30));
    let unreachable = |detail: String| RegisterError::Unreachable {
        url: url.clone(),
        detail,
    };
    let body = serde_json::to_vec(registration).map_err(|e| unreachable(e.to_string()))?;
    let mut response = agent
        .post(&url)
        .header("authorization", &format!("Bearer {api_key}"))
        .header("content-type", "application/json")
        .send(&body[..])
        .map_err(|e| unreachable(e.to_string()))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| unreachable(e.to_string()))?;
    if !(200..300).contains(&status) {
        return Err(RegisterError::Refused { status, body: text });
    }
    // The answer holds the secret: its errors are described without quoting it.
    let registered: Registered = serde_json::from_str(&text)
        .map_err(|error| RegisterError::Unexpected(describe_json_error(&error)))?;
    if !registered.secret.starts_with("whsec_") {
        return Err(RegisterError::Unexpected(
            "the secret does not start with whsec_".into(),
        ));
    }
    Ok(registered)
}
