//! S3 as the payload bucket: the receiver puts archive and claim-check objects, the consumers
//! get claim-check objects back.

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
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

impl PayloadSource for S3Payloads {
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
            .map_err(|_| PortError::new("GetObject", format!("{key} is not UTF-8 text")))
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
