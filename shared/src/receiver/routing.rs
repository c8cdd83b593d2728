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

/// The routing table, generic over what a route leads to: queue URLs as configured, then the
/// [`Destination`] each URL resolves to at start-up.
#[derive(Debug, Clone)]
pub struct Routes<Q = String> {
    exact: HashMap<String, usize>,
    /// `(prefix, index)` for each `prefix.*` key, longest prefix first.
    families: Vec<(String, usize)>,
    catch_all: usize,
    /// Each distinct queue once, in URL order; the maps above index into it.
    queues: Vec<Q>,
}

/// A routed queue as the receiver sends to it: its URL, the largest message it takes, and
/// whether it is FIFO (told by its URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub url: String,
    /// The queue's MaximumMessageSize in bytes.
    pub max_message_size: usize,
    pub fifo: bool,
}

impl Routes<String> {
    pub fn parse(json: &str) -> Result<Self, RoutesError> {
        let entries: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(json).map_err(|e| RoutesError::NotAnObject(e.to_string()))?;
        let mut urls = BTreeSet::new();
        let mut keyed = Vec::with_capacity(entries.len());
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
            if key != "*" {
                let event_type = key.strip_suffix(".*").unwrap_or(&key);
                check_event_type(event_type).map_err(|reason| RoutesError::BadKey {
                    key: key.clone(),
                    reason,
                })?;
            }
            urls.insert(url.to_string());
            keyed.push((key, url.to_string()));
        }
        let queues: Vec<String> = urls.into_iter().collect();
        let index_of = |url: &str| {
            queues
                .binary_search_by(|q| q.as_str().cmp(url))
                .unwrap_or(0)
        };
        let mut exact = HashMap::new();
        let mut families = Vec::new();
        let mut catch_all = None;
        for (key, url) in keyed {
            let index = index_of(&url);
            if key == "*" {
                catch_all = Some(index);
            } else if let Some(prefix) = key.strip_suffix(".*") {
                families.push((prefix.to_string(), index));
            } else {
                exact.insert(key, index);
            }
        }
        families.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(Self {
            exact,
            families,
            catch_all: catch_all.ok_or(RoutesError::NoCatchAll)?,
            queues,
        })
    }

    /// Every distinct queue URL that some event type can be routed to.
    pub fn queue_urls(&self) -> BTreeSet<&str> {
        self.queues.iter().map(String::as_str).collect()
    }
}

impl<Q> Routes<Q> {
    /// Where an event type goes.
    pub fn queue_for(&self, event_type: &str) -> &Q {
        let index = self.exact.get(event_type).copied().unwrap_or_else(|| {
            self.families
                .iter()
                .find(|(prefix, _)| {
                    event_type
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
                })
                .map_or(self.catch_all, |(_, index)| *index)
        });
        &self.queues[index]
    }

    /// The queue of the `*` route: unknown event types go there.
    pub fn catch_all(&self) -> &Q {
        &self.queues[self.catch_all]
    }

    /// Each distinct queue once.
    pub fn queues(&self) -> &[Q] {
        &self.queues
    }

    /// The same table leading to `resolve(queue)` for each queue, all resolved at once; the
    /// first error is returned.
    pub async fn try_resolve<'a, R, E, F, Fut>(&'a self, resolve: F) -> Result<Routes<R>, E>
    where
        F: FnMut(&'a Q) -> Fut,
        Fut: std::future::Future<Output = Result<R, E>>,
    {
        let queues = futures_util::future::try_join_all(self.queues.iter().map(resolve)).await?;
        Ok(Routes {
            exact: self.exact.clone(),
            families: self.families.clone(),
            catch_all: self.catch_all,
            queues,
        })
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
