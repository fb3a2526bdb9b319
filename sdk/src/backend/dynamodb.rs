//! [`DynamoDbSecretStore`]: items in a DynamoDB table with credstash's schema.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, Tag,
};

use super::aws::{map_sdk_error, service_code, AwsFailure};
use super::{
    sort_summaries, ItemSummary, PageKey, ReplicaDescription, ScanPage, ScanRequest, SecretStore,
    SetupOutcome, TableDescription, TableRecord, LISTING_SEGMENTS, SUMMARY_ATTRIBUTES,
};
use crate::format::{attr, Attr, Attributes};
use crate::{Error, ErrorKind, Result, SecretName, Service, Version};

/// A DynamoDB table with partition key `name` (S) and sort key `version` (S).
#[derive(Debug, Clone)]
pub struct DynamoDbSecretStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    endpoint: Option<String>,
    account: Option<String>,
}

impl DynamoDbSecretStore {
    /// The store in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            endpoint: None,
            account: None,
        }
    }

    /// The AWS account the table is in, when known: its record (tags) is then
    /// read with one call, `ListTagsOfResource` on the ARN built from the account,
    /// region and name, instead of two (`DescribeTable` for the ARN first). A wrong
    /// account costs the two calls, not an error.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// Name the endpoint in timeout and connection errors.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Notes, for the read in progress, that this region's table answered it.
    fn answered(&self) {
        crate::served::table(self.client.config().region().map(|r| r.as_ref()));
    }

    fn map<E>(
        &self,
        err: aws_sdk_dynamodb::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
    ) -> Error
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
    {
        if service_code(&err) == Some("ResourceNotFoundException") {
            return Error::TableNotFound {
                table: self.table.clone(),
                source: Some(AwsFailure::wrap(err)),
            };
        }
        map_sdk_error(Service::DynamoDb, self.endpoint.as_deref(), err)
    }

    fn key(name: &SecretName, sort_key: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (attr::NAME.to_owned(), AttributeValue::S(name.to_string())),
            (
                attr::VERSION.to_owned(),
                AttributeValue::S(sort_key.to_owned()),
            ),
        ])
    }

    async fn get_item(&self, name: &SecretName, sort_key: &str) -> Result<Option<Attributes>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(name, sort_key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.map(e))?;
        Ok(out.item.map(from_dynamo))
    }

    /// Every item of `name`, projected to the summary attributes, every page.
    async fn query_summaries(&self, name: &SecretName) -> Result<Vec<ItemSummary>> {
        let (projection, mut names) = projection();
        names.insert("#k".into(), attr::NAME.into());
        let pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#k = :n")
            .set_expression_attribute_names(Some(names))
            .expression_attribute_values(":n", AttributeValue::S(name.to_string()))
            .projection_expression(projection)
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut out = self.summaries(pages, |page| page.items).await?;
        sort_summaries(&mut out);
        Ok(out)
    }

    /// Summarise every item of the pages a paginator yields (`items_of` takes a
    /// page's items), in the order read. Page by page rather than through the
    /// paginator's item stream, which hands each item over a channel: on a big
    /// table that costed more CPU than summarising the items.
    async fn summaries<P, E>(
        &self,
        mut pages: aws_smithy_async::future::pagination_stream::PaginationStream<
            std::result::Result<P, aws_sdk_dynamodb::error::SdkError<E, HttpResponse>>,
        >,
        items_of: fn(P) -> Option<Vec<Item>>,
    ) -> Result<Vec<ItemSummary>>
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
    {
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let items = items_of(page.map_err(|e| self.map(e))?).unwrap_or_default();
            out.extend(items.into_iter().filter_map(summarise));
        }
        Ok(out)
    }
}

/// [`LISTING_SEGMENTS`], as the SDK's `Scan` takes it.
const LIST_SEGMENTS: i32 = LISTING_SEGMENTS as i32;

impl DynamoDbSecretStore {
    /// One `BatchGetItem` of up to 100 keys, retrying unprocessed keys with backoff
    /// for as long as the calls make progress.
    async fn batch_get(&self, keys: &[(String, String)]) -> Result<Vec<Attributes>> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut request = KeysAndAttributes::builder().consistent_read(true);
        for (name, sort_key) in keys {
            request = request.keys(HashMap::from([
                (attr::NAME.to_owned(), AttributeValue::S(name.clone())),
                (
                    attr::VERSION.to_owned(),
                    AttributeValue::S(sort_key.clone()),
                ),
            ]));
        }
        let mut pending = Some(HashMap::from([(
            self.table.clone(),
            request.build().map_err(|e| Error::Backend {
                service: Service::DynamoDb,
                message: format!("cannot build BatchGetItem: {e}"),
                source: None,
            })?,
        )]));
        let mut out = Vec::new();
        // DynamoDB may answer part of a batch (throughput, the 16 MB cap) and return
        // the rest as UnprocessedKeys. A call that processed some keys is progress:
        // only calls in a row that processed none count towards giving up. Every
        // call either shrinks the pending keys or counts, so the loop is bounded.
        let mut left = keys.len();
        let mut idle = 0u32;
        let mut first = true;
        while let Some(items) = pending.take().filter(|p| !p.is_empty()) {
            if idle == BATCH_IDLE_CALLS {
                return Err(Error::Throttled {
                    service: Service::DynamoDb,
                    message: format!(
                        "BatchGetItem returned {left} keys unprocessed {BATCH_IDLE_CALLS} times in a row"
                    ),
                    source: None,
                });
            }
            if !first {
                // Unprocessed keys mean "slow down": back off, more after idle calls.
                tokio::time::sleep(Duration::from_millis(10u64 << idle.min(5))).await;
            }
            first = false;
            let page = self
                .client
                .batch_get_item()
                .set_request_items(Some(items))
                .send()
                .await
                .map_err(|e| self.map(e))?;
            if let Some(mut responses) = page.responses {
                out.extend(
                    responses
                        .remove(&self.table)
                        .unwrap_or_default()
                        .into_iter()
                        .map(from_dynamo),
                );
            }
            let still = page
                .unprocessed_keys
                .as_ref()
                .and_then(|u| u.get(&self.table))
                .map_or(0, |k| k.keys.len());
            idle = if still < left { 0 } else { idle + 1 };
            left = still;
            pending = page.unprocessed_keys;
        }
        Ok(out)
    }
}

/// The companion table that keeps the labels of `table` when it is shared with
/// credstash clients (who read every item of `table` itself).
pub(crate) fn companion_table(table: &str) -> String {
    format!("{table}.lockbox-labels")
}

/// Calls in a row that process none of a batch's keys before giving up (throttled).
const BATCH_IDLE_CALLS: u32 = 8;

type Item = HashMap<String, AttributeValue>;
type HttpResponse = aws_smithy_runtime_api::http::Response;

/// The summary projection with every name behind a placeholder (several are
/// DynamoDB reserved words).
fn projection() -> (String, HashMap<String, String>) {
    let names: HashMap<String, String> = SUMMARY_ATTRIBUTES
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("#p{i}"), (*a).to_owned()))
        .collect();
    let mut keys: Vec<&String> = names.keys().collect();
    keys.sort();
    let expr = keys
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    (expr, names)
}

fn to_dynamo(item: &Attributes) -> HashMap<String, AttributeValue> {
    item.iter()
        .filter_map(|(k, v)| Some((k.clone(), attr_to_dynamo(v)?)))
        .collect()
}

/// One attribute value; `None` for a type lockbox does not write.
fn attr_to_dynamo(v: &Attr) -> Option<AttributeValue> {
    Some(match v {
        Attr::S(s) => AttributeValue::S(s.clone()),
        Attr::B(b) => AttributeValue::B(b.clone().into()),
        Attr::N(n) => AttributeValue::N(n.clone()),
        Attr::Ss(ss) => AttributeValue::Ss(ss.clone()),
        Attr::Other(_) => return None,
    })
}

/// The primary key of an item, as stored.
fn raw_key(name: &str, sort_key: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (attr::NAME.to_owned(), AttributeValue::S(name.to_owned())),
        (
            attr::VERSION.to_owned(),
            AttributeValue::S(sort_key.to_owned()),
        ),
    ])
}

fn from_dynamo(item: HashMap<String, AttributeValue>) -> Attributes {
    item.into_iter()
        .map(|(k, v)| (k, attr_from_dynamo(v)))
        .collect()
}

fn attr_from_dynamo(v: AttributeValue) -> Attr {
    match v {
        AttributeValue::S(s) => Attr::S(s),
        AttributeValue::B(b) => Attr::B(b.into_inner()),
        AttributeValue::N(n) => Attr::N(n),
        AttributeValue::Ss(mut ss) => {
            ss.sort();
            Attr::Ss(ss)
        }
        AttributeValue::Bool(_) => Attr::Other("BOOL".into()),
        AttributeValue::Null(_) => Attr::Other("NULL".into()),
        AttributeValue::L(_) => Attr::Other("L".into()),
        AttributeValue::M(_) => Attr::Other("M".into()),
        AttributeValue::Ns(_) => Attr::Other("NS".into()),
        AttributeValue::Bs(_) => Attr::Other("BS".into()),
        _ => Attr::Other("unknown".into()),
    }
}

/// The summary of a projected item, taken from the SDK's map as it is, without
/// building [`Attributes`] first (one map fewer per version of a listing). A
/// label document is parsed whole.
fn summarise(mut item: Item) -> Option<ItemSummary> {
    if matches!(item.get(attr::VERSION), Some(AttributeValue::S(k)) if k == crate::format::labels::SORT_KEY)
    {
        return ItemSummary::from_owned(from_dynamo(item));
    }
    ItemSummary::from_fields(|name| item.remove(name).map(attr_from_dynamo), None)
}

#[async_trait]
impl SecretStore for DynamoDbSecretStore {
    async fn put_new(&self, item: &Attributes) -> Result<()> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_dynamo(item)))
            .condition_expression("attribute_not_exists(#n)")
            .expression_attribute_names("#n", attr::NAME)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // A strongly consistent global table refuses a write of an item another
            // region is writing (after the AWS SDK's retries): for a new version that
            // is the same as losing the conditional write, and the caller's
            // next-version loop tries the next one.
            Err(e)
                if matches!(
                    service_code(&e),
                    Some("ConditionalCheckFailedException" | "ReplicatedWriteConflictException")
                ) =>
            {
                let name = item
                    .get(attr::NAME)
                    .and_then(Attr::as_s)
                    .unwrap_or_default();
                let version = item
                    .get(attr::VERSION)
                    .and_then(Attr::as_s)
                    .unwrap_or_default();
                Err(Error::VersionExists {
                    name: SecretName::new(name)?,
                    version: Version::from_sort_key(version)?,
                })
            }
            Err(e) => Err(self.map(e)),
        }
    }

    async fn get_latest(&self, name: &SecretName) -> Result<Option<Attributes>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#n = :n")
            .expression_attribute_names("#n", attr::NAME)
            .expression_attribute_values(":n", AttributeValue::S(name.to_string()))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.map(e))?;
        self.answered();
        let Some(top) = out
            .items
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(from_dynamo)
        else {
            return Ok(None);
        };
        // With only padded sort keys, string order is numeric order and the top
        // item is the latest. An unpadded (pre-2015 credstash) key sorts after
        // every padded one, so when the top key is not padded, find the numeric
        // maximum among all versions.
        let top_key = top
            .get(attr::VERSION)
            .and_then(Attr::as_s)
            .unwrap_or_default();
        if Version::is_canonical_sort_key(top_key) {
            return Ok(Some(top));
        }
        let versions = self.query_summaries(name).await?;
        match versions
            .iter()
            .filter(|s| s.version.is_some())
            .max_by_key(|s| s.version)
        {
            Some(latest) => self.get_item(name, &latest.sort_key).await,
            None => Ok(Some(top)),
        }
    }

    async fn latest_version(&self, name: &SecretName) -> Result<Option<ItemSummary>> {
        let Some(top) = self.top_versions(name, 1).await?.into_iter().next() else {
            return Ok(None);
        };
        // As in get_latest: an unpadded legacy sort key sorts after every padded one.
        if Version::is_canonical_sort_key(&top.sort_key) {
            return Ok(Some(top));
        }
        Ok(self
            .query_summaries(name)
            .await?
            .into_iter()
            .filter(|s| s.version.is_some())
            .max_by_key(|s| s.version)
            .or(Some(top)))
    }

    async fn top_versions(&self, name: &SecretName, limit: usize) -> Result<Vec<ItemSummary>> {
        let (projection, mut names) = projection();
        names.insert("#k".into(), attr::NAME.into());
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#k = :n")
            .set_expression_attribute_names(Some(names))
            .expression_attribute_values(":n", AttributeValue::S(name.to_string()))
            .projection_expression(projection)
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.map(e))?;
        self.answered();
        Ok(out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(summarise)
            .collect())
    }

    async fn get_version(&self, name: &SecretName, version: Version) -> Result<Option<Attributes>> {
        let found = self.get_item(name, &version.sort_key()).await?;
        self.answered();
        if found.is_some() {
            return Ok(found);
        }
        // Old credstash tables hold unpadded versions.
        let legacy = version.get().to_string();
        self.get_item(name, &legacy).await
    }

    async fn get_versions(
        &self,
        keys: &[(SecretName, Version)],
    ) -> Result<Vec<Option<Attributes>>> {
        // BatchGetItem takes at most 100 distinct keys per call.
        let mut found: HashMap<(String, String), Attributes> = HashMap::new();
        let mut unique: Vec<(String, String)> = keys
            .iter()
            .map(|(n, v)| (n.to_string(), v.sort_key()))
            .collect();
        unique.sort();
        unique.dedup();
        let chunks =
            futures::future::try_join_all(unique.chunks(100).map(|chunk| self.batch_get(chunk)))
                .await?;
        self.answered();
        for items in chunks {
            for item in items {
                let key = (
                    item.get(attr::NAME)
                        .and_then(Attr::as_s)
                        .unwrap_or_default()
                        .to_owned(),
                    item.get(attr::VERSION)
                        .and_then(Attr::as_s)
                        .unwrap_or_default()
                        .to_owned(),
                );
                found.insert(key, item);
            }
        }
        let mut out = Vec::with_capacity(keys.len());
        for (name, version) in keys {
            match found.get(&(name.to_string(), version.sort_key())) {
                Some(item) => out.push(Some(item.clone())),
                // Not under the padded key: an old table may hold it unpadded.
                None => out.push(self.get_item(name, &version.get().to_string()).await?),
            }
        }
        Ok(out)
    }

    async fn history(&self, name: &SecretName) -> Result<Vec<ItemSummary>> {
        self.query_summaries(name).await
    }

    async fn list(&self) -> Result<Vec<ItemSummary>> {
        // A parallel scan: each segment is read page after page, the segments at
        // once, so a big table costs the round trips of its largest segment
        // rather than of all its pages.
        let (projection, names) = projection();
        let segments = (0..LIST_SEGMENTS).map(|segment| {
            let pages = self
                .client
                .scan()
                .table_name(&self.table)
                .projection_expression(projection.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .consistent_read(true)
                .segment(segment)
                .total_segments(LIST_SEGMENTS)
                .into_paginator()
                .send();
            self.summaries(pages, |page| page.items)
        });
        let mut out: Vec<ItemSummary> = futures::future::try_join_all(segments)
            .await?
            .into_iter()
            .flatten()
            .collect();
        sort_summaries(&mut out);
        Ok(out)
    }

    async fn delete(&self, name: &SecretName, sort_key: &str) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(name, sort_key)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| self.map(e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn setup(&self, record: &TableRecord, tags: &[(String, String)]) -> Result<SetupOutcome> {
        let mut all_tags = vec![tag("Name", "credstash")];
        all_tags.extend(record.to_tags().iter().map(|(k, v)| tag(k, v)));
        all_tags.extend(tags.iter().map(|(k, v)| tag(k, v)));
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .key_schema(key_element(attr::NAME, KeyType::Hash))
            .key_schema(key_element(attr::VERSION, KeyType::Range))
            .attribute_definitions(attr_def(attr::NAME))
            .attribute_definitions(attr_def(attr::VERSION))
            .billing_mode(BillingMode::PayPerRequest)
            .set_tags(Some(all_tags))
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e) if service_code(&e) == Some("ResourceInUseException") => {
                return Ok(SetupOutcome::AlreadyExists)
            }
            Err(e) => return Err(self.map(e)),
        }
        // Wait for ACTIVE with the SDK's waiter (2 minutes at most).
        use aws_sdk_dynamodb::client::Waiters as _;
        self.client
            .wait_until_table_exists()
            .table_name(&self.table)
            .wait(Duration::from_secs(120))
            .await
            .map_err(|e| match e {
                aws_sdk_dynamodb::waiters::table_exists::WaitUntilTableExistsError::ExceededMaxWait(_) => {
                    Error::Timeout {
                        service: Service::DynamoDb,
                        endpoint: self.endpoint.clone(),
                        source: None,
                    }
                }
                other => Error::Unavailable {
                    service: Service::DynamoDb,
                    message: format!("waiting for table {} to become ACTIVE: {other}", self.table),
                    source: Some(Box::new(other)),
                },
            })?;
        Ok(SetupOutcome::Created)
    }

    async fn table_record(&self) -> Result<TableRecord> {
        if let Some(arn) = self.guessed_arn() {
            match self.tags_of(&arn).await {
                Ok(record) => return Ok(record),
                // Another account or partition than guessed: ask for the ARN.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::NotFound | ErrorKind::Denied | ErrorKind::Other
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        let arn = self.table_arn().await?;
        self.tags_of(&arn).await
    }

    async fn update_record(&self, record: &TableRecord) -> Result<()> {
        let tags = record.to_tags();
        if tags.is_empty() {
            return Ok(());
        }
        let arn = self.table_arn().await?;
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags.iter().map(|(k, v)| tag(k, v)).collect()))
            .send()
            .await
            .map_err(|e| self.map(e))?;
        Ok(())
    }

    fn table(&self) -> &str {
        &self.table
    }

    async fn scan_page(&self, request: &ScanRequest) -> Result<ScanPage> {
        let mut call = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true);
        if let Some((segment, total)) = request.segment {
            call = call
                .segment(i32::try_from(segment).unwrap_or(i32::MAX))
                .total_segments(i32::try_from(total).unwrap_or(i32::MAX));
        }
        if let Some(limit) = request.limit {
            call = call.limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX));
        }
        if request.keys_only {
            call = call
                .projection_expression("#n, #v")
                .expression_attribute_names("#n", attr::NAME)
                .expression_attribute_names("#v", attr::VERSION);
        }
        if let Some(start) = &request.start {
            call = call.set_exclusive_start_key(Some(raw_key(&start.name, &start.sort_key)));
        }
        let out = call.send().await.map_err(|e| self.map(e))?;
        self.answered();
        let next = out.last_evaluated_key.and_then(|k| {
            Some(PageKey {
                name: k.get(attr::NAME)?.as_s().ok()?.clone(),
                sort_key: k.get(attr::VERSION)?.as_s().ok()?.clone(),
            })
        });
        Ok(ScanPage {
            items: out
                .items
                .unwrap_or_default()
                .into_iter()
                .map(from_dynamo)
                .collect(),
            next,
        })
    }

    async fn get_item(&self, name: &str, sort_key: &str) -> Result<Option<Attributes>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(raw_key(name, sort_key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.map(e))?;
        Ok(out.item.map(from_dynamo))
    }

    async fn put_if_absent(&self, item: &Attributes) -> Result<bool> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_dynamo(item)))
            .condition_expression("attribute_not_exists(#n)")
            .expression_attribute_names("#n", attr::NAME)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if service_code(&e) == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.map(e)),
        }
    }

    async fn replace_key(
        &self,
        name: &str,
        sort_key: &str,
        old: &Attr,
        new: &Attr,
    ) -> Result<bool> {
        let (Some(old), Some(new)) = (attr_to_dynamo(old), attr_to_dynamo(new)) else {
            return Err(Error::InvalidValue {
                reason: "a wrapped key is a string or binary attribute".into(),
            });
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(raw_key(name, sort_key)))
            .update_expression("SET #k = :new")
            .condition_expression("#k = :old")
            .expression_attribute_names("#k", crate::format::credstash::KEY)
            .expression_attribute_values(":old", old)
            .expression_attribute_values(":new", new)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if service_code(&e) == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.map(e)),
        }
    }

    async fn put_revision(&self, item: &Attributes, expected: Option<u64>) -> Result<bool> {
        let call = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_dynamo(item)));
        let call = match expected {
            None => call
                .condition_expression("attribute_not_exists(#n)")
                .expression_attribute_names("#n", attr::NAME),
            Some(rev) => call
                .condition_expression("#r = :r")
                .expression_attribute_names("#r", crate::format::labels::REVISION)
                .expression_attribute_values(":r", AttributeValue::N(rev.to_string())),
        };
        match call.send().await {
            Ok(_) => Ok(true),
            Err(e) if service_code(&e) == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.map(e)),
        }
    }

    async fn delete_returning(
        &self,
        name: &SecretName,
        sort_key: &str,
    ) -> Result<Option<Attributes>> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(name, sort_key)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| self.map(e))?;
        Ok(out.attributes.filter(|a| !a.is_empty()).map(from_dynamo))
    }

    fn label_store(&self) -> Option<std::sync::Arc<dyn SecretStore>> {
        Some(std::sync::Arc::new(Self {
            client: self.client.clone(),
            table: companion_table(&self.table),
            endpoint: self.endpoint.clone(),
            account: self.account.clone(),
        }))
    }

    async fn add_replicas(&self, regions: &[String], strong: bool) -> Result<()> {
        use aws_sdk_dynamodb::types::{
            CreateReplicationGroupMemberAction, MultiRegionConsistency, ReplicationGroupUpdate,
        };
        let existing = self.describe_table().await?;
        let here = existing.region.clone().unwrap_or_default();
        let missing: Vec<&String> = regions
            .iter()
            .filter(|r| **r != here && !existing.replicas.iter().any(|e| &e.region == *r))
            .collect();
        if !missing.is_empty() {
            let mut update = self.client.update_table().table_name(&self.table);
            for r in &missing {
                let create = CreateReplicationGroupMemberAction::builder()
                    .region_name(r.as_str())
                    .build()
                    .map_err(|e| Error::InvalidValue {
                        reason: format!("replica region {r}: {e}"),
                    })?;
                update = update
                    .replica_updates(ReplicationGroupUpdate::builder().create(create).build());
            }
            if strong {
                update = update.multi_region_consistency(MultiRegionConsistency::Strong);
            }
            update.send().await.map_err(|e| self.map(e))?;
        }
        // UpdateTable is asynchronous: wait (2 minutes at most) for every replica.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let d = self.describe_table().await?;
            let active = |r: &str| {
                r == here
                    || d.replicas
                        .iter()
                        .any(|e| e.region == r && e.status.as_deref() == Some("ACTIVE"))
            };
            if d.status.as_deref() == Some("ACTIVE") && regions.iter().all(|r| active(r)) {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::Timeout {
                    service: Service::DynamoDb,
                    endpoint: self.endpoint.clone(),
                    source: None,
                });
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    async fn describe_table(&self) -> Result<TableDescription> {
        let out = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| self.map(e))?;
        let t = out.table.ok_or_else(|| Error::Backend {
            service: Service::DynamoDb,
            message: format!("DescribeTable of {} returned no table", self.table),
            source: None,
        })?;
        let provisioned = t.provisioned_throughput();
        let mut description = TableDescription {
            arn: t.table_arn().map(str::to_owned),
            status: t.table_status().map(|s| s.as_str().to_owned()),
            // Tables created before on-demand billing existed report no summary.
            billing_mode: Some(
                t.billing_mode_summary()
                    .and_then(|b| b.billing_mode())
                    .map_or("PROVISIONED", |m| m.as_str())
                    .to_owned(),
            ),
            read_capacity: provisioned.and_then(|p| p.read_capacity_units()),
            write_capacity: provisioned.and_then(|p| p.write_capacity_units()),
            deletion_protection: t.deletion_protection_enabled(),
            point_in_time_recovery: None,
            point_in_time_recovery_note: None,
            replicas: t
                .replicas()
                .iter()
                .filter_map(|r| {
                    Some(ReplicaDescription {
                        region: r.region_name()?.to_owned(),
                        status: r.replica_status().map(|s| s.as_str().to_owned()),
                    })
                })
                .collect(),
            multi_region_consistency: t.multi_region_consistency().map(|c| c.as_str().to_owned()),
            item_count: t.item_count(),
            region: self.client.config().region().map(|r| r.as_ref().to_owned()),
        };
        match self
            .client
            .describe_continuous_backups()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(out) => {
                description.point_in_time_recovery = Some(
                    out.continuous_backups_description()
                        .and_then(|c| c.point_in_time_recovery_description())
                        .and_then(|p| p.point_in_time_recovery_status())
                        .is_some_and(|s| s.as_str() == "ENABLED"),
                );
            }
            Err(e) => {
                description.point_in_time_recovery_note = Some(self.map(e).to_string());
            }
        }
        Ok(description)
    }
}

impl DynamoDbSecretStore {
    /// The table's ARN from the account it was told, the client's region and the
    /// table's name (`None` without an account or a region).
    fn guessed_arn(&self) -> Option<String> {
        let account = self.account.as_deref()?;
        let region = self.client.config().region()?.as_ref().to_owned();
        let partition = if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        };
        Some(format!(
            "arn:{partition}:dynamodb:{region}:{account}:table/{}",
            self.table
        ))
    }

    /// The lockbox tags of the resource `arn`, every page.
    async fn tags_of(&self, arn: &str) -> Result<TableRecord> {
        // One table's tags fit in a page (at most 50 per resource), but follow
        // NextToken as the API allows.
        let mut tags = Vec::new();
        let mut next = None;
        loop {
            let out = self
                .client
                .list_tags_of_resource()
                .resource_arn(arn)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| self.map(e))?;
            tags.extend(out.tags.unwrap_or_default());
            match out.next_token {
                Some(t) if !t.is_empty() => next = Some(t),
                _ => break,
            }
        }
        Ok(TableRecord::from_tags(
            tags.iter().map(|t| (t.key.as_str(), t.value.as_str())),
        ))
    }

    /// The table's ARN, from `DescribeTable`.
    async fn table_arn(&self) -> Result<String> {
        let out = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| self.map(e))?;
        out.table
            .and_then(|t| t.table_arn)
            .ok_or_else(|| Error::Backend {
                service: Service::DynamoDb,
                message: format!("DescribeTable of {} returned no table ARN", self.table),
                source: None,
            })
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("key and value set")
}

fn key_element(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("name and type set")
}

fn attr_def(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("name and type set")
}
