//! Secrets Manager as the receiver's secret source.

use qpr_webhooks::receiver::ports::{PortError, SecretSource};

use crate::sdk::describe;

/// The signing secret in Secrets Manager: its AWSCURRENT version, and its AWSPREVIOUS one
/// while a rotation is under way.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: String) -> Self {
        Self { client, secret_id }
    }

    async fn version(&self, stage: &str) -> Result<Option<String>, PortError> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(stage)
            .send()
            .await;
        match result {
            Ok(output) => output.secret_string.map(Some).ok_or_else(|| {
                PortError::new(
                    "GetSecretValue",
                    format!(
                        "{} {stage} has no SecretString: store the whsec_ value as plain text",
                        self.secret_id
                    ),
                )
            }),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(PortError::new(
                "GetSecretValue",
                format!("{} {stage}: {}", self.secret_id, describe(&error)),
            )),
        }
    }
}

impl SecretSource for SecretsManagerSource {
    async fn fetch(&self) -> Result<Vec<String>, PortError> {
        let (current, previous) =
            tokio::join!(self.version("AWSCURRENT"), self.version("AWSPREVIOUS"));
        let current = current?.ok_or_else(|| {
            PortError::new(
                "GetSecretValue",
                format!(
                    "{} not found: create it, or set WEBHOOK_SECRET_ID to its name or ARN",
                    self.secret_id
                ),
            )
        })?;
        Ok(std::iter::once(current).chain(previous?).collect())
    }
}
