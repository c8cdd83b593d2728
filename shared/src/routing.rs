//! `EVENT_ROUTES`: which SQS queue each event type goes to.
//!
//! Keys are an exact event type (`scan.created`), a family (`subscription.*`, any dotted
//! prefix followed by `.*`) or the catch-all `*`, which is required. The most specific key
//! wins: exact, then the longest family prefix, then `*`.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoutesError {
    #[error("EVENT_ROUTES is not a JSON object of event type to queue URL: {0}")]
    NotAnObject(String),
    #[error("EVENT_ROUTES entry {key:?}: the queue URL must be a string")]
    UrlNotAString { key: String },
    #[error("EVENT_ROUTES entry {key:?}: {reason}")]
    BadKey { key: String, reason: &'static str },
    #[error("EVENT_ROUTES entry {key:?}: {url:?} is not an SQS queue URL ({reason})")]
    BadUrl {
        key: String,
        url: String,
        reason: &'static str,
    },
    #[error(
        "EVENT_ROUTES has no \"*\" entry: add one so that unknown event types have a queue too"
    )]
    NoCatchAll,
}

#[derive(Debug, Clone)]
pub struct Routes {
    exact: HashMap<String, String>,
    /// `(prefix, url)` for each `prefix.*` key, longest prefix first.
    families: Vec<(String, String)>,
    catch_all: String,
}

impl Routes {
    pub fn parse(json: &str) -> Result<Self, RoutesError> {
        let entries: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(json).map_err(|e| RoutesError::NotAnObject(e.to_string()))?;
        let mut exact = HashMap::new();
        let mut families = Vec::new();
        let mut catch_all = None;
        for (key, value) in entries {
            let Some(url) = value.as_str() else {
                return Err(RoutesError::UrlNotAString { key });
            };
            if let Err(reason) = check_queue_url(url) {
                return Err(RoutesError::BadUrl {
                    url: url.to_string(),
                    key,
                    reason,
                });
            }
            let url = url.to_string();
            if key == "*" {
                catch_all = Some(url);
            } else if let Some(prefix) = key.strip_suffix(".*") {
                check_event_type(prefix).map_err(|reason| RoutesError::BadKey {
                    key: key.clone(),
                    reason,
                })?;
                families.push((prefix.to_string(), url));
            } else {
                check_event_type(&key).map_err(|reason| RoutesError::BadKey {
                    key: key.clone(),
                    reason,
                })?;
                exact.insert(key, url);
            }
        }
        families.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(Self {
            exact,
            families,
            catch_all: catch_all.ok_or(RoutesError::NoCatchAll)?,
        })
    }

    /// The queue URL for an event type.
    pub fn queue_for(&self, event_type: &str) -> &str {
        if let Some(url) = self.exact.get(event_type) {
            return url;
        }
        self.families
            .iter()
            .find(|(prefix, _)| {
                event_type
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
            })
            .map_or(&self.catch_all, |(_, url)| url)
    }

    /// Every distinct queue URL that some event type can be routed to.
    pub fn queue_urls(&self) -> BTreeSet<&str> {
        self.exact
            .values()
            .chain(self.families.iter().map(|(_, url)| url))
            .chain(std::iter::once(&self.catch_all))
            .map(String::as_str)
            .collect()
    }
}

fn check_event_type(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the event type is empty");
    }
    if name.split('.').any(str::is_empty) {
        return Err("an event type has no empty dot-separated parts");
    }
    if name.contains('*') {
        return Err("`*` may only stand alone or end a family key, as in `subscription.*`");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("an event type has no whitespace");
    }
    Ok(())
}

/// A light check that catches the usual mistakes (a queue name or ARN instead of its URL);
/// GetQueueAttributes at start-up proves the queue really exists.
fn check_queue_url(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("it must start with https://, as queue URLs do")?;
    let (host, path) = rest
        .split_once('/')
        .ok_or("it has no /<account>/<queue name> path")?;
    if host.is_empty() {
        return Err("it has no host");
    }
    if path.is_empty() || path.ends_with('/') {
        return Err("it has no queue name at the end of its path");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains whitespace");
    }
    Ok(())
}

/// FIFO queues are told apart by their URL, as SQS names them.
pub fn is_fifo_queue(url: &str) -> bool {
    url.ends_with(".fifo")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCANS: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/scans";
    const SCAN_CREATED: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/scan-created";
    const ACCOUNT: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/account";
    const UNROUTED: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/unrouted";

    fn routes(json: serde_json::Value) -> Result<Routes, RoutesError> {
        Routes::parse(&json.to_string())
    }

    #[test]
    fn the_most_specific_key_wins() {
        let routes = routes(serde_json::json!({
            "*": UNROUTED,
            "scan.*": SCANS,
            "scan.created": SCAN_CREATED,
            "subscription.*": ACCOUNT,
            "qpr_code.*": ACCOUNT,
        }))
        .unwrap();
        assert_eq!(routes.queue_for("scan.created"), SCAN_CREATED);
        assert_eq!(routes.queue_for("scan.deleted"), SCANS);
        assert_eq!(routes.queue_for("subscription.upgraded"), ACCOUNT);
        assert_eq!(routes.queue_for("qpr_code.created"), ACCOUNT);
        assert_eq!(routes.queue_for("conversation.completed"), UNROUTED);
        // A family matches whole dotted parts only.
        assert_eq!(routes.queue_for("scanner.created"), UNROUTED);
        assert_eq!(routes.queue_for("scan"), UNROUTED);
        assert_eq!(routes.queue_for(""), UNROUTED);
    }

    #[test]
    fn the_longest_family_prefix_wins() {
        let routes = routes(serde_json::json!({
            "*": UNROUTED,
            "a.*": SCANS,
            "a.b.*": ACCOUNT,
        }))
        .unwrap();
        assert_eq!(routes.queue_for("a.b.c"), ACCOUNT);
        assert_eq!(routes.queue_for("a.c"), SCANS);
    }

    #[test]
    fn queue_urls_lists_each_queue_once() {
        let routes = routes(serde_json::json!({
            "*": UNROUTED, "subscription.*": ACCOUNT, "qpr_code.*": ACCOUNT,
        }))
        .unwrap();
        assert_eq!(
            routes.queue_urls().into_iter().collect::<Vec<_>>(),
            vec![ACCOUNT, UNROUTED]
        );
    }

    #[test]
    fn the_catch_all_is_required() {
        assert_eq!(
            routes(serde_json::json!({"scan.*": SCANS})).unwrap_err(),
            RoutesError::NoCatchAll
        );
    }

    #[test]
    fn errors_name_the_bad_entry() {
        let cases = [
            (
                serde_json::json!({"*": UNROUTED, "scan.*": 5}),
                "\"scan.*\"",
            ),
            (
                serde_json::json!({"*": UNROUTED, "*.created": SCANS}),
                "\"*.created\"",
            ),
            (
                serde_json::json!({"*": UNROUTED, "scan..x": SCANS}),
                "\"scan..x\"",
            ),
            (serde_json::json!({"*": UNROUTED, "": SCANS}), "\"\""),
            (serde_json::json!({"*": UNROUTED, ".*": SCANS}), "\".*\""),
            (serde_json::json!({"*": "scans"}), "\"scans\""),
            (
                serde_json::json!({"*": UNROUTED, "scan.*": "arn:aws:sqs:eu-west-1:123456789012:scans"}),
                "arn:aws:sqs",
            ),
            (
                serde_json::json!({"*": "https://sqs.example.com/"}),
                "no queue name",
            ),
        ];
        for (json, named) in cases {
            let error = routes(json.clone()).unwrap_err().to_string();
            assert!(error.contains(named), "{json}: {error}");
        }
    }

    #[test]
    fn a_non_object_is_refused() {
        for text in ["", "[]", "\"*\"", "{\"*\":"] {
            assert!(matches!(
                Routes::parse(text).unwrap_err(),
                RoutesError::NotAnObject(_)
            ));
        }
    }

    #[test]
    fn local_emulator_urls_are_accepted() {
        let routes =
            routes(serde_json::json!({"*": "http://127.0.0.1:5000/123456789012/unrouted"}))
                .unwrap();
        assert_eq!(
            routes.queue_for("x"),
            "http://127.0.0.1:5000/123456789012/unrouted"
        );
    }

    #[test]
    fn fifo_queues_are_recognised_by_their_url() {
        assert!(is_fifo_queue("https://sqs.x.amazonaws.com/1/scans.fifo"));
        assert!(!is_fifo_queue(SCANS));
    }
}
