//! The claim-check pointer of AWS's SQS Extended Client libraries (Java, Python): a message
//! whose body is too large for its queue goes to S3, and the queue gets
//! `["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"…","s3Key":"…"}]`
//! with a Number attribute `ExtendedPayloadSize`, the body's size in bytes. A consumer written
//! with either library reads such a message unchanged; the consumer framework here resolves it
//! too.

use serde::Deserialize;

use crate::contract::message::{Attribute, DataType, OutgoingMessage};

/// The attribute the libraries set on a pointer message (the Python library's default, which
/// the Java one also reads).
pub const ATTR_EXTENDED_PAYLOAD_SIZE: &str = "ExtendedPayloadSize";
/// The Java library's default (legacy) name for the same attribute; read, never written.
pub const ATTR_LEGACY_PAYLOAD_SIZE: &str = "SQSLargePayloadSize";
const POINTER_CLASS: &str = "software.amazon.payloadoffloading.PayloadS3Pointer";
/// The class name older Java clients wrote.
const LEGACY_POINTER_CLASS: &str = "com.amazon.sqs.javamessaging.MessageS3Pointer";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PayloadPointer {
    #[serde(rename = "s3BucketName")]
    pub bucket: String,
    #[serde(rename = "s3Key")]
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the body of a message marked as a claim-check pointer is not an S3 pointer")]
pub struct NotAPointer;

impl PayloadPointer {
    /// The body the Java library writes: compact JSON, the class name then the object.
    pub fn to_body(&self) -> String {
        serde_json::json!([
            POINTER_CLASS,
            {"s3BucketName": self.bucket, "s3Key": self.key}
        ])
        .to_string()
    }

    /// Reads a pointer body as either library writes it (any whitespace, either class name).
    pub fn parse(body: &str) -> Result<Self, NotAPointer> {
        let (class, pointer): (String, Self) =
            serde_json::from_str(body).map_err(|_| NotAPointer)?;
        if class != POINTER_CLASS && class != LEGACY_POINTER_CLASS {
            return Err(NotAPointer);
        }
        Ok(pointer)
    }
}

impl<'a> OutgoingMessage<'a> {
    /// This message with its body in S3 at `pointer`: the pointer as the body, the body's size
    /// as `ExtendedPayloadSize`, every other attribute kept.
    pub fn into_pointer(mut self, pointer: &PayloadPointer) -> Self {
        let size = self.body.len();
        self.body = pointer.to_body().into();
        self.attributes.push(Attribute {
            name: ATTR_EXTENDED_PAYLOAD_SIZE,
            value: size.to_string().into(),
            data_type: DataType::Number,
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::envelope::Envelope;

    fn pointer() -> PayloadPointer {
        PayloadPointer {
            bucket: "payloads".into(),
            key: "payloads/scans/req-1".into(),
        }
    }

    #[test]
    fn the_body_is_the_java_librarys_compact_form() {
        assert_eq!(
            pointer().to_body(),
            r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"payloads","s3Key":"payloads/scans/req-1"}]"#
        );
    }

    #[test]
    fn both_libraries_forms_parse() {
        for body in [
            pointer().to_body(),
            r#"["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": "payloads", "s3Key": "payloads/scans/req-1"}]"#.to_string(),
            r#"["com.amazon.sqs.javamessaging.MessageS3Pointer",{"s3BucketName":"payloads","s3Key":"payloads/scans/req-1"}]"#.to_string(),
        ] {
            assert_eq!(PayloadPointer::parse(&body), Ok(pointer()), "{body}");
        }
        for body in [
            "{}",
            "[]",
            r#"["other.Class",{"s3BucketName":"b","s3Key":"k"}]"#,
        ] {
            assert_eq!(PayloadPointer::parse(body), Err(NotAPointer), "{body}");
        }
    }

    #[test]
    fn a_pointer_message_keeps_its_attributes_and_adds_the_size() {
        let body = r#"{"event":"scan.created","id":"evt_big","data":{}}"#;
        let envelope = Envelope::parse_str(body).unwrap();
        let message = OutgoingMessage::for_event(body, &envelope, false, "t".into(), "req-1")
            .into_pointer(&pointer());
        assert_eq!(message.body, pointer().to_body());
        assert_eq!(message.attribute("event_id"), Some("evt_big"));
        assert_eq!(message.attribute("event_type"), Some("scan.created"));
        let size = message
            .attributes
            .iter()
            .find(|attribute| attribute.name == ATTR_EXTENDED_PAYLOAD_SIZE)
            .unwrap();
        assert_eq!(size.data_type, DataType::Number);
        assert_eq!(size.value, body.len().to_string());
    }
}
