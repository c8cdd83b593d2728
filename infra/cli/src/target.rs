//! The deployment a command works on: a CloudFormation stack deployed with `sam deploy`
//! (read from its outputs and resources), or the local stack (read from its stack.json).

use std::path::PathBuf;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::Stack;

use crate::cli::TargetArgs;
use crate::local::{default_state_dir, LocalError, LocalStack};

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error("cannot describe stack {stack}: {detail}")]
    Describe { stack: String, detail: String },
    #[error("stack {stack} has no output {output}: is it this project's stack, deployed with its template?")]
    MissingOutput { stack: String, output: &'static str },
}

/// A routed queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueTarget {
    /// `scans`, `conversations`, ... (from the output's name, or stack.json).
    pub name: String,
    pub url: String,
    pub dead_letter_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Target {
    /// What to call it in output.
    pub label: String,
    pub aws: SdkConfig,
    pub webhook_url: Option<String>,
    pub secret_id: String,
    pub queues: Vec<QueueTarget>,
    /// The stack's alarm names; `None` where there are none to check (the local stack).
    pub alarms: Option<Vec<String>>,
    /// The receiver's `EVENT_ROUTES`, when known.
    pub routes: Option<String>,
    /// The payload bucket (claim-check objects and the archive), when there is one.
    pub bucket: Option<String>,
}

impl Target {
    /// The target `args` name: `--local [DIR]`, else `--stack NAME` (default: the stack name of
    /// samconfig.toml, `threeqpr-webhooks`).
    pub async fn resolve(args: &TargetArgs) -> Result<Self, TargetError> {
        if let Some(dir) = &args.local {
            let dir = if dir.as_os_str().is_empty() {
                default_state_dir()
            } else {
                dir.clone()
            };
            return Self::local(&LocalStack::load(&dir)?, dir);
        }
        let aws = qpr_webhooks_aws::sdk_config(Duration::from_secs(10)).await;
        let cloudformation = aws_sdk_cloudformation::Client::new(&aws);
        Self::from_stack(&cloudformation, &args.stack, aws).await
    }

    fn local(stack: &LocalStack, dir: PathBuf) -> Result<Self, TargetError> {
        Ok(Self {
            label: format!("the local stack in {}", dir.display()),
            aws: stack.sdk_config(),
            webhook_url: None,
            secret_id: stack.secret.id.clone(),
            queues: stack
                .queues
                .iter()
                .map(|queue| QueueTarget {
                    name: queue.name.clone(),
                    url: queue.url.clone(),
                    dead_letter_url: Some(queue.dead_letter.url.clone()),
                })
                .collect(),
            alarms: None,
            routes: Some(stack.event_routes()?),
            bucket: stack.bucket.clone(),
        })
    }

    /// Reads the stack's outputs (WebhookUrl, WebhookSecretArn, `<Name>QueueUrl` and
    /// `<Name>DeadLetterQueueUrl`) and its alarms.
    pub async fn from_stack(
        cloudformation: &aws_sdk_cloudformation::Client,
        stack_name: &str,
        aws: SdkConfig,
    ) -> Result<Self, TargetError> {
        let describe_error = |detail: String| TargetError::Describe {
            stack: stack_name.to_string(),
            detail,
        };
        let described = cloudformation
            .describe_stacks()
            .stack_name(stack_name)
            .send()
            .await
            .map_err(|error| describe_error(qpr_webhooks_aws::sdk::describe(&error)))?;
        let stack: &Stack = described
            .stacks()
            .first()
            .ok_or_else(|| describe_error("no such stack".into()))?;
        let output = |key: &str| output_value(stack, key);
        let missing = |output: &'static str| TargetError::MissingOutput {
            stack: stack_name.to_string(),
            output,
        };
        let mut queues: Vec<QueueTarget> = stack
            .outputs()
            .iter()
            .filter_map(|output| {
                let key = output.output_key()?;
                let name = key.strip_suffix("QueueUrl")?;
                if name.ends_with("DeadLetter") {
                    return None;
                }
                Some(QueueTarget {
                    name: name.to_ascii_lowercase(),
                    url: output.output_value()?.to_string(),
                    dead_letter_url: output_value(stack, &format!("{name}DeadLetterQueueUrl")),
                })
            })
            .collect();
        queues.sort_by(|a, b| a.name.cmp(&b.name));
        let resources = cloudformation
            .describe_stack_resources()
            .stack_name(stack_name)
            .send()
            .await
            .map_err(|error| describe_error(qpr_webhooks_aws::sdk::describe(&error)))?;
        let alarms = resources
            .stack_resources()
            .iter()
            .filter(|resource| resource.resource_type() == Some("AWS::CloudWatch::Alarm"))
            .filter_map(|resource| resource.physical_resource_id().map(str::to_string))
            .collect();
        Ok(Self {
            label: format!("stack {stack_name}"),
            aws,
            webhook_url: output("WebhookUrl"),
            secret_id: output("WebhookSecretArn").ok_or_else(|| missing("WebhookSecretArn"))?,
            queues,
            alarms: Some(alarms),
            routes: output("EventRoutes"),
            bucket: output("PayloadBucket"),
        })
    }
}

fn output_value(stack: &Stack, key: &str) -> Option<String> {
    stack
        .outputs()
        .iter()
        .find(|output| output.output_key() == Some(key))
        .and_then(|output| output.output_value())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudformation::operation::describe_stack_resources::DescribeStackResourcesOutput;
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
    use aws_sdk_cloudformation::types::{Output, StackResource, StackStatus};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    use super::*;

    fn output(key: &str, value: &str) -> Output {
        Output::builder()
            .output_key(key)
            .output_value(value)
            .build()
    }

    #[tokio::test]
    async fn a_deployed_stack_is_read_from_its_outputs_and_resources() {
        let stacks = mock!(aws_sdk_cloudformation::Client::describe_stacks)
            .match_requests(|request| request.stack_name() == Some("threeqpr-webhooks"))
            .then_output(|| {
                DescribeStacksOutput::builder()
                    .stacks(
                        Stack::builder()
                            .stack_name("threeqpr-webhooks")
                            .stack_status(StackStatus::CreateComplete)
                            .creation_time(aws_smithy_types::DateTime::from_secs(0))
                            .outputs(output("WebhookUrl", "https://api.example/webhooks/3qpr"))
                            .outputs(output("WebhookSecretArn", "arn:aws:secretsmanager:s"))
                            .outputs(output("ScansQueueUrl", "https://sqs/1/scans"))
                            .outputs(output("ScansDeadLetterQueueUrl", "https://sqs/1/scans-dlq"))
                            .outputs(output("UnroutedQueueUrl", "https://sqs/1/unrouted"))
                            .outputs(output("AlarmTopicArn", "arn:aws:sns:t"))
                            .outputs(output("PayloadBucket", "stack-payloadbucket-x"))
                            .outputs(output("EventRoutes", r#"{"*":"https://sqs/1/unrouted"}"#))
                            .build(),
                    )
                    .build()
            });
        let resources = mock!(aws_sdk_cloudformation::Client::describe_stack_resources)
            .then_output(|| {
                DescribeStackResourcesOutput::builder()
                    .stack_resources(
                        StackResource::builder()
                            .logical_resource_id("ScansDeadLetterAlarm")
                            .physical_resource_id("threeqpr-webhooks-ScansDeadLetterAlarm-X")
                            .resource_type("AWS::CloudWatch::Alarm")
                            .timestamp(aws_smithy_types::DateTime::from_secs(0))
                            .resource_status(
                                aws_sdk_cloudformation::types::ResourceStatus::CreateComplete,
                            )
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&stacks, &resources]
        );
        let aws = SdkConfig::builder().build();
        let target = Target::from_stack(&client, "threeqpr-webhooks", aws)
            .await
            .unwrap();
        assert_eq!(
            target.webhook_url.as_deref(),
            Some("https://api.example/webhooks/3qpr")
        );
        assert_eq!(target.secret_id, "arn:aws:secretsmanager:s");
        assert_eq!(
            target.queues,
            [
                QueueTarget {
                    name: "scans".into(),
                    url: "https://sqs/1/scans".into(),
                    dead_letter_url: Some("https://sqs/1/scans-dlq".into()),
                },
                QueueTarget {
                    name: "unrouted".into(),
                    url: "https://sqs/1/unrouted".into(),
                    dead_letter_url: None,
                },
            ]
        );
        assert_eq!(target.bucket.as_deref(), Some("stack-payloadbucket-x"));
        assert_eq!(
            target.routes.as_deref(),
            Some(r#"{"*":"https://sqs/1/unrouted"}"#)
        );
        assert_eq!(
            target.alarms,
            Some(vec!["threeqpr-webhooks-ScansDeadLetterAlarm-X".to_string()])
        );
    }
}
