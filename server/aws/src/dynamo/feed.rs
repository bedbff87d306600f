//! [`ChangeFeed`] on DynamoDB: one `FEED` partition of the feed table,
//! sorted by `<at_ms:013>#<replica>#<seq>` (the writer's clock first, so a
//! read from a time is one key-range Query), each entry living an hour
//! (TTL; readers look back seconds, and the range condition keeps expired
//! items DynamoDB has not deleted yet out of every read).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use mediator_core::changes::Topic;
use mediator_core::storage::feed::{ChangeFeed, FeedEntry};
use mediator_core::storage::StoreError;

use super::{backend, get_n, get_s, ms_time, n, s, DynamoStore, Item};

const FEED_PK: &str = "FEED";
/// How long an entry is kept (seconds).
const FEED_TTL_SECS: i64 = 3600;

/// `topic` or `topic:part` (part names have no `:`).
fn encode(topic: Topic, part: Option<&str>) -> String {
    match part {
        Some(p) => format!("{}:{p}", topic.as_str()),
        None => topic.as_str().to_string(),
    }
}

fn decode(v: &str) -> Option<(Topic, Option<String>)> {
    match v.split_once(':') {
        Some((t, p)) => Some((Topic::parse(t)?, Some(p.to_string()))),
        None => Some((Topic::parse(v)?, None)),
    }
}

fn entry(item: &Item) -> Option<FeedEntry> {
    let changes = item
        .get("ch")
        .and_then(|v| v.as_l().ok())
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_s().ok())
                .filter_map(|v| decode(v))
                .collect()
        })
        .unwrap_or_default();
    Some(FeedEntry {
        id: get_s(item, "sk")?,
        replica: get_s(item, "replica")?,
        at: ms_time(get_n(item, "at_ms")?)?,
        changes,
    })
}

#[async_trait]
impl ChangeFeed for DynamoStore {
    async fn append(&self, e: &FeedEntry) -> Result<(), StoreError> {
        let changes = e
            .changes
            .iter()
            .map(|(t, p)| AttributeValue::S(encode(*t, p.as_deref())))
            .collect();
        self.client
            .put_item()
            .table_name(&self.tables.feed)
            .item("pk", s(FEED_PK))
            .item("sk", s(&e.id))
            .item("replica", s(&e.replica))
            .item("at_ms", n(e.at.timestamp_millis()))
            .item("ch", AttributeValue::L(changes))
            .item("ttl", n(e.at.timestamp() + FEED_TTL_SECS))
            .send()
            .await
            .map_err(|err| backend("PutItem feed", &err))?;
        Ok(())
    }

    async fn since(&self, since: DateTime<Utc>) -> Result<Vec<FeedEntry>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.tables.feed)
                .key_condition_expression("pk = :pk AND sk >= :from")
                .expression_attribute_values(":pk", s(FEED_PK))
                .expression_attribute_values(
                    ":from",
                    s(format!("{:013}", since.timestamp_millis())),
                )
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| backend("Query feed", &err))?;
            out.extend(page.items().iter().filter_map(entry));
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_stored_as_topic_and_part() {
        for (t, p) in [(Topic::Status, Some("gift-card_2")), (Topic::Dlq, None)] {
            let v = encode(t, p);
            assert_eq!(decode(&v), Some((t, p.map(str::to_string))), "{v}");
        }
        assert_eq!(decode("nonsense:voucher"), None);
    }
}
