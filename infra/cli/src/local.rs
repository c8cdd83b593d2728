//! The local stack as `infra/local-stack.sh up` describes it in `stack.json` (written by
//! `infra/local_stack.py` from template.yaml): the one description every Rust tool and test
//! reads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};
use serde::Deserialize;

pub const STACK_FILE: &str = "stack.json";

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot read {path}: {source} (is the local stack up? infra/local-stack.sh up)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a local stack description: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("the local stack has no queue named {0}")]
    NoQueue(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct LocalStack {
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub secret: Secret,
    /// Route key (`scan.*`, `*`, ...) to queue name.
    pub routes: HashMap<String, String>,
    pub queues: Vec<Queue>,
    /// The payload bucket (claim-check objects and the archive).
    #[serde(default)]
    pub bucket: Option<String>,
    /// The consumers' idempotency table.
    #[serde(default)]
    pub table: Option<String>,
    /// Each function's environment by binary name (`receiver`, `scans-consumer`, ...), as the
    /// template sets it, pointing at this stack.
    pub functions: HashMap<String, HashMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Secret {
    pub id: String,
    /// The whsec_ value stored at creation (what 3QPR would sign with).
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Queue {
    pub name: String,
    pub url: String,
    pub arn: String,
    pub dead_letter: DeadLetter,
    pub max_receive_count: u32,
    /// The binary that consumes it, if any.
    pub consumer: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeadLetter {
    pub name: String,
    pub url: String,
    pub arn: String,
}

impl LocalStack {
    /// Reads `stack.json` from the stack's state directory.
    pub fn load(state_dir: &Path) -> Result<Self, LocalError> {
        let path = state_dir.join(STACK_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| LocalError::Read {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| LocalError::Parse { path, source })
    }

    pub fn queue(&self, name: &str) -> Result<&Queue, LocalError> {
        self.queues
            .iter()
            .find(|queue| queue.name == name)
            .ok_or_else(|| LocalError::NoQueue(name.to_string()))
    }

    /// Every queue's and dead-letter queue's name and URL.
    pub fn all_queues(&self) -> Vec<(&str, &str)> {
        self.queues
            .iter()
            .flat_map(|queue| {
                [
                    (queue.name.as_str(), queue.url.as_str()),
                    (
                        queue.dead_letter.name.as_str(),
                        queue.dead_letter.url.as_str(),
                    ),
                ]
            })
            .collect()
    }

    /// The URL of a queue or dead-letter queue by name.
    pub fn queue_url(&self, name: &str) -> Result<&str, LocalError> {
        self.all_queues()
            .into_iter()
            .find(|(queue, _)| *queue == name)
            .map(|(_, url)| url)
            .ok_or_else(|| LocalError::NoQueue(name.to_string()))
    }

    /// SDK settings for this stack: its endpoint, region and test credentials.
    pub fn sdk_config(&self) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(self.region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                &self.access_key_id,
                &self.secret_access_key,
                None,
                None,
                "local-stack",
            )))
            .http_client(qpr_webhooks_aws::https_client())
            .build()
    }
}

/// The state directory of the local stack: `$STACK_STATE`, else `infra/.state` of the working
/// tree this tool was built from.
pub fn default_state_dir() -> PathBuf {
    std::env::var_os("STACK_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.state"))
}

impl LocalStack {
    /// `EVENT_ROUTES` with queue URLs, as the receiver of this stack has it.
    pub fn event_routes(&self) -> Result<String, LocalError> {
        let mut routes = serde_json::Map::new();
        for (key, queue) in &self.routes {
            routes.insert(key.clone(), self.queue(queue)?.url.clone().into());
        }
        Ok(serde_json::Value::Object(routes).to_string())
    }
}
