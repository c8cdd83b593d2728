//! One sample payload per event type 3QPR documents (`infra/samples/`).

/// The documented event types with a sample payload each (`infra/samples/`).
pub const SAMPLES: [(&str, &str); 5] = [
    (
        "scan.created",
        include_str!("../../samples/scan.created.json"),
    ),
    (
        "conversation.completed",
        include_str!("../../samples/conversation.completed.json"),
    ),
    (
        "qpr_code.created",
        include_str!("../../samples/qpr_code.created.json"),
    ),
    (
        "subscription.upgraded",
        include_str!("../../samples/subscription.upgraded.json"),
    ),
    (
        "subscription.cancelled",
        include_str!("../../samples/subscription.cancelled.json"),
    ),
];

pub fn sample(event_type: &str) -> Option<&'static str> {
    SAMPLES
        .iter()
        .find(|(name, _)| *name == event_type)
        .map(|(_, body)| *body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_is_an_envelope_of_its_own_type() {
        for (event_type, body) in SAMPLES {
            let envelope =
                qpr_webhooks::contract::envelope::Envelope::parse(body.as_bytes()).unwrap();
            assert_eq!(envelope.event, event_type);
            assert!(envelope.decode().is_ok(), "{event_type}");
        }
        assert_eq!(sample("scan.created"), Some(SAMPLES[0].1));
        assert_eq!(sample("scan.deleted"), None);
    }
}
