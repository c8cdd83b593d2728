//! S3 as the payload bucket: the receiver puts archive and claim-check objects, the consumers
//! get claim-check objects back.

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use qpr_webhooks::consumer::ports::PayloadSource;
use qpr_webhooks::contract::pointer::PayloadPointer;
use qpr_webhooks::receiver::ports::{ObjectStore, PortError};

use crate::sdk::describe;

/// An S3 client for `config`; path-style addressing when the endpoint is overridden (a local
/// emulator such as moto cannot serve `bucket.host` names).
pub fn client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

pub struct S3Objects {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Objects {
    pub fn new(client: aws_sdk_s3::Client, bucket: String) -> Self {
        Self { client, bucket }
    }
}

/// Claim-check objects, fetched where each pointer says.
pub struct S3Payloads {
    client: aws_sdk_s3::Client,
}

impl S3Payloads {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        Self { client }
    }
}

/// What S3 answers for a missing key when the caller may not list the bucket.
const ACCESS_DENIED: &str = "AccessDenied";

impl PayloadSource for S3Payloads {
    /// The object's text; `None` for NoSuchKey only. Every failure's detail leaves naming the
    /// object to the caller, which knows the pointer.
    async fn fetch(&self, pointer: &PayloadPointer) -> Result<Option<String>, PortError> {
        let (bucket, key) = (&pointer.bucket, &pointer.key);
        let output = match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None)
            }
            Err(error) if error.code() == Some(ACCESS_DENIED) => {
                return Err(PortError::new(
                    "GetObject",
                    format!(
                        "{} (S3 answers so for a missing object too when the function may not s3:ListBucket)",
                        describe(&error)
                    ),
                ))
            }
            Err(error) => return Err(PortError::new("GetObject", describe(&error))),
        };
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|error| PortError::new("GetObject", error.to_string()))?
            .into_bytes();
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| PortError::new("GetObject", "the object is not UTF-8 text"))
    }
}

impl ObjectStore for S3Objects {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn put(
        &self,
        key: &str,
        body: &[u8],
        metadata: &[(&'static str, String)],
    ) -> Result<(), PortError> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()));
        for (name, value) in metadata {
            request = request.metadata(*name, value);
        }
        Box::pin(request.send())
            .await
            .map_err(|error| PortError::new("PutObject", describe(&error)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a test: an unexpected value fails it at once"
    )]

    use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
    use aws_sdk_s3::types::error::NoSuchKey;
    use aws_smithy_mocks::{mock, mock_client, MockResponse};
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn pointer() -> PayloadPointer {
        PayloadPointer {
            bucket: "payloads".into(),
            key: "payloads/scans/req-1".into(),
        }
    }

    fn payloads_answering(
        answer: impl Fn() -> MockResponse<GetObjectOutput, GetObjectError> + Send + Sync + 'static,
    ) -> S3Payloads {
        let rule = mock!(aws_sdk_s3::Client::get_object)
            .match_requests(|request| {
                request.bucket() == Some("payloads")
                    && request.key() == Some("payloads/scans/req-1")
            })
            .then_compute_response(move |_| answer());
        S3Payloads::new(mock_client!(aws_sdk_s3, [&rule]))
    }

    #[tokio::test]
    async fn the_object_named_by_the_pointer_is_fetched_as_text() {
        let payloads = payloads_answering(|| {
            MockResponse::Output(
                GetObjectOutput::builder()
                    .body(ByteStream::from_static(b"{\"event\":\"scan.created\"}"))
                    .build(),
            )
        });
        assert_eq!(
            payloads.fetch(&pointer()).await,
            Ok(Some(r#"{"event":"scan.created"}"#.to_string()))
        );
    }

    #[tokio::test]
    async fn no_such_key_is_a_missing_object() {
        let payloads = payloads_answering(|| {
            MockResponse::Error(GetObjectError::NoSuchKey(NoSuchKey::builder().build()))
        });
        assert_eq!(payloads.fetch(&pointer()).await, Ok(None));
    }

    #[tokio::test]
    async fn access_denied_is_a_failure_that_says_it_may_be_a_missing_object() {
        let payloads = payloads_answering(|| {
            MockResponse::Error(GetObjectError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("Access Denied")
                    .build(),
            ))
        });
        let error = payloads.fetch(&pointer()).await.unwrap_err();
        assert_eq!(error.operation, "GetObject");
        assert!(
            error.detail.starts_with("AccessDenied: Access Denied"),
            "{error}"
        );
        assert!(error.detail.contains("s3:ListBucket"), "{error}");
    }

    #[tokio::test]
    async fn other_failures_keep_the_service_code() {
        let payloads = payloads_answering(|| {
            MockResponse::Error(GetObjectError::generic(
                ErrorMetadata::builder()
                    .code("InvalidObjectState")
                    .message("The operation is not valid for the object's storage class")
                    .build(),
            ))
        });
        let error = payloads.fetch(&pointer()).await.unwrap_err();
        assert_eq!(
            error.detail,
            "InvalidObjectState: The operation is not valid for the object's storage class"
        );
    }
}
