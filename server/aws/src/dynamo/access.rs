//! [`AccessStore`] on DynamoDB: users, sessions and API tokens in one
//! `mediator-access` table every replica shares (key design in
//! docs/aws.md). Secrets are stored only as SHA-256 digests (hex in
//! the keys).
//!
//! * Users: `USERS`/`<name>` (conditional put: a taken name is refused).
//! * Sessions: `SESSION#<digest>`/`S`, expiring by TTL and checked against
//!   their user's `created_ms`, so removing a user ends its sessions even
//!   if a user of the same name is added again.
//! * Tokens: `TOKENS`/`<id:020>` (listing, last use) and
//!   `TOKEN#<digest>`/`T` (lookup), written and deleted together.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, Put, Select, TransactWriteItem};
use chrono::{DateTime, Utc};
use mediator_core::access::{Role, TokenInfo, UserInfo};
use mediator_core::storage::access::{
    parse_role, AccessStore, FoundToken, StoredSession, StoredUser,
};
use mediator_core::storage::StoreError;
use tracing::Instrument;

use super::{
    applied, backend, build_err, get_n, get_s, item_key as key, ms_time, n, s, DynamoStore, Item,
};

const USERS: &str = "USERS";
const TOKENS: &str = "TOKENS";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn user_key(name: &str) -> Item {
    key(USERS, name)
}

fn session_key(hash: &[u8]) -> Item {
    key(format!("SESSION#{}", hex(hash)), "S")
}

fn token_key(id: i64) -> Item {
    key(TOKENS, format!("{id:020}"))
}

fn lookup_key(hash: &[u8]) -> Item {
    key(format!("TOKEN#{}", hex(hash)), "T")
}

fn time_of(item: &Item, k: &str) -> Option<DateTime<Utc>> {
    get_n(item, k).and_then(ms_time)
}

fn token_info(item: &Item) -> Option<TokenInfo> {
    Some(TokenInfo {
        id: get_n(item, "id")?,
        user: get_s(item, "user")?,
        role: parse_role(&get_s(item, "role")?),
        label: get_s(item, "label").unwrap_or_default(),
        created_at: time_of(item, "created_ms")?,
        last_used_at: time_of(item, "last_used_ms"),
    })
}

impl DynamoStore {
    async fn access_item(&self, key: Item) -> Result<Option<Item>, StoreError> {
        Ok(self
            .client
            .get_item()
            .table_name(&self.tables.access)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .instrument(crate::trace::dynamodb("GetItem", &self.tables.access))
            .await
            .map_err(|e| backend("GetItem access", &e))?
            .item()
            .cloned())
    }

    /// Every item of a partition of the access table, in key order.
    async fn access_partition(&self, pk: &str) -> Result<Vec<Item>, StoreError> {
        let q = self
            .client
            .query()
            .table_name(&self.tables.access)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true);
        self.query_all("Query access", q).await
    }

    /// Deletes a token's two items together.
    async fn delete_token_items(&self, id: i64, hash_hex: &str) -> Result<(), StoreError> {
        let del = |k: Item| -> Result<TransactWriteItem, StoreError> {
            let d = Delete::builder()
                .table_name(&self.tables.access)
                .set_key(Some(k))
                .build()
                .map_err(|e| build_err("token delete", e))?;
            Ok(TransactWriteItem::builder().delete(d).build())
        };
        let items = vec![
            del(token_key(id))?,
            del(key(format!("TOKEN#{hash_hex}"), "T"))?,
        ];
        if self
            .transact_until_committed("token delete", items, 5)
            .await?
        {
            return Ok(());
        }
        Err(StoreError::Conflict(format!(
            "DynamoDB token {id}: kept conflicting while deleting it"
        )))
    }
}

#[async_trait]
impl AccessStore for DynamoStore {
    async fn insert_user(&self, u: &StoredUser) -> Result<bool, StoreError> {
        let r = self
            .client
            .put_item()
            .table_name(&self.tables.access)
            .set_item(Some(user_key(&u.name)))
            .item("role", s(u.role.as_str()))
            .item("phc", s(&u.password_hash))
            .item("created_ms", n(u.created_at.timestamp_millis()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .instrument(crate::trace::dynamodb("PutItem", &self.tables.access))
            .await;
        applied("PutItem user", r)
    }

    async fn delete_user(&self, name: &str) -> Result<bool, StoreError> {
        let r = self
            .client
            .delete_item()
            .table_name(&self.tables.access)
            .set_key(Some(user_key(name)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .instrument(crate::trace::dynamodb("DeleteItem", &self.tables.access))
            .await;
        if !applied("DeleteItem user", r)? {
            return Ok(false);
        }
        // Its tokens go with it (its sessions no longer match a user).
        for t in self.access_partition(TOKENS).await? {
            if get_s(&t, "user").as_deref() == Some(name) {
                if let (Some(id), Some(h)) = (get_n(&t, "id"), get_s(&t, "hash")) {
                    self.delete_token_items(id, &h).await?;
                }
            }
        }
        Ok(true)
    }

    async fn users(&self) -> Result<Vec<UserInfo>, StoreError> {
        Ok(self
            .access_partition(USERS)
            .await?
            .iter()
            .filter_map(|i| {
                Some(UserInfo {
                    name: get_s(i, "sk")?,
                    role: parse_role(&get_s(i, "role")?),
                    created_at: time_of(i, "created_ms")?,
                })
            })
            .collect())
    }

    async fn user_count(&self) -> Result<u64, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.access)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(USERS))
            .select(Select::Count)
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut count = 0u64;
        while let Some(page) = pages
            .try_next()
            .instrument(crate::trace::dynamodb("Query", &self.tables.access))
            .await
            .map_err(|e| backend("Query user count", &e))?
        {
            count += page.count().max(0) as u64;
        }
        Ok(count)
    }

    async fn credentials(&self, name: &str) -> Result<Option<(Role, String)>, StoreError> {
        Ok(self
            .access_item(user_key(name))
            .await?
            .and_then(|i| Some((parse_role(&get_s(&i, "role")?), get_s(&i, "phc")?))))
    }

    async fn insert_session(&self, ss: &StoredSession) -> Result<(), StoreError> {
        // The session belongs to this user, not to a later one of the same name.
        let user_created = self
            .access_item(user_key(&ss.user))
            .await?
            .and_then(|u| get_n(&u, "created_ms"))
            .unwrap_or(-1);
        self.client
            .put_item()
            .table_name(&self.tables.access)
            .set_item(Some(session_key(&ss.token_hash)))
            .item("user", s(&ss.user))
            .item("user_created_ms", n(user_created))
            .item("csrf", s(&ss.csrf))
            .item("created_ms", n(ss.created_at.timestamp_millis()))
            .item("expires_ms", n(ss.expires_at.timestamp_millis()))
            .item("ttl", n(ss.expires_at.timestamp()))
            .send()
            .instrument(crate::trace::dynamodb("PutItem", &self.tables.access))
            .await
            .map_err(|e| backend("PutItem session", &e))?;
        Ok(())
    }

    async fn session(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<(String, Role, String)>, StoreError> {
        // TTL deletes late: the expiry is checked here.
        let Some(ss) = self
            .access_item(session_key(token_hash))
            .await?
            .filter(|i| get_n(i, "expires_ms").is_some_and(|e| e > now.timestamp_millis()))
        else {
            return Ok(None);
        };
        let (Some(name), Some(csrf)) = (get_s(&ss, "user"), get_s(&ss, "csrf")) else {
            return Ok(None);
        };
        let Some(user) = self.access_item(user_key(&name)).await? else {
            return Ok(None);
        };
        if get_n(&user, "created_ms") != get_n(&ss, "user_created_ms") {
            return Ok(None);
        }
        Ok(get_s(&user, "role").map(|r| (name, parse_role(&r), csrf)))
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.access)
            .set_key(Some(session_key(token_hash)))
            .send()
            .instrument(crate::trace::dynamodb("DeleteItem", &self.tables.access))
            .await
            .map_err(|e| backend("DeleteItem session", &e))?;
        Ok(())
    }

    async fn insert_token(
        &self,
        token_hash: &[u8],
        user: &str,
        role: Role,
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let hash = hex(token_hash);
        for _ in 0..5 {
            // Ids increase with time across replicas (as the audit log's).
            let id = now.timestamp_millis() * 1000 + fastrand::i64(0..1000);
            let token = Put::builder()
                .table_name(&self.tables.access)
                .set_item(Some(token_key(id)))
                .item("id", n(id))
                .item("hash", s(&hash))
                .item("user", s(user))
                .item("role", s(role.as_str()))
                .item("label", s(label))
                .item("created_ms", n(now.timestamp_millis()))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| build_err("token put", e))?;
            let lookup = Put::builder()
                .table_name(&self.tables.access)
                .set_item(Some(lookup_key(token_hash)))
                .item("id", n(id))
                .item("user", s(user))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| build_err("token lookup put", e))?;
            let items = vec![
                TransactWriteItem::builder().put(token).build(),
                TransactWriteItem::builder().put(lookup).build(),
            ];
            if self.transact_reasons("token", items).await?.is_none() {
                return Ok(id);
            }
        }
        Err(StoreError::Conflict(
            "DynamoDB token: no free id after 5 attempts".into(),
        ))
    }

    async fn delete_token(&self, id: i64) -> Result<bool, StoreError> {
        let Some(hash) = self
            .access_item(token_key(id))
            .await?
            .and_then(|t| get_s(&t, "hash"))
        else {
            return Ok(false);
        };
        self.delete_token_items(id, &hash).await?;
        Ok(true)
    }

    async fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        Ok(self
            .access_partition(TOKENS)
            .await?
            .iter()
            .filter_map(token_info)
            .collect())
    }

    async fn token(&self, token_hash: &[u8]) -> Result<Option<FoundToken>, StoreError> {
        let Some(lookup) = self.access_item(lookup_key(token_hash)).await? else {
            return Ok(None);
        };
        let (Some(id), Some(user)) = (get_n(&lookup, "id"), get_s(&lookup, "user")) else {
            return Ok(None);
        };
        // The token and its user in one read.
        let items = self
            .batch_get(
                "token",
                &self.tables.access,
                vec![token_key(id), user_key(&user)],
                None,
            )
            .await?;
        let find = |pk: &str| items.iter().find(|i| get_s(i, "pk").as_deref() == Some(pk));
        let (Some(token), Some(owner)) = (find(TOKENS), find(USERS)) else {
            return Ok(None);
        };
        Ok(Some(FoundToken {
            id,
            user,
            role: parse_role(&get_s(token, "role").unwrap_or_default()),
            user_role: parse_role(&get_s(owner, "role").unwrap_or_default()),
            last_used_at: time_of(token, "last_used_ms"),
        }))
    }

    async fn touch_token(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.tables.access)
            .set_key(Some(token_key(id)))
            .update_expression("SET last_used_ms = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", n(now.timestamp_millis()))
            .send()
            .instrument(crate::trace::dynamodb("UpdateItem", &self.tables.access))
            .await;
        applied("UpdateItem token last use", r).map(drop)
    }
}
