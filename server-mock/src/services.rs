//! The one shape every emulated JSON service has, so the server, the journal replay
//! and `/_mock/reset` treat them alike. It sits at the bottom: each service
//! implements it (`kms/`, `dynamodb/`), and nothing here knows them.

use serde_json::Value;

use crate::error::AwsError;
use crate::protocol::RequestContext;

/// An emulated AWS JSON service.
pub(crate) trait JsonService: Send + Sync {
    /// Runs one operation.
    fn handle(
        &self,
        operation: &str,
        body: &Value,
        ctx: &RequestContext,
    ) -> Result<Reply, AwsError>;
    /// Applies one journal record (start-up replay).
    fn restore(&self, record: &Value) -> Result<(), String>;
    /// Forgets all state.
    fn reset(&self);
    /// Records that rebuild the current state.
    fn snapshot(&self) -> Vec<Value>;
}

/// An operation's answer: a JSON object and, for a Query or Scan page, its `Items`
/// member already rendered as JSON. A page holds up to 1 MB of items; writing them
/// straight from the table costs a fraction of building a `Value` for each first.
pub(crate) struct Reply {
    /// The answer, without `Items` when `items` holds them.
    pub(crate) body: Value,
    /// The `Items` member's JSON (an array), rendered.
    pub(crate) items: Option<Vec<u8>>,
}

impl Reply {
    /// A read page: `body` and the rendered `Items` array.
    pub(crate) fn page(body: Value, items: Vec<u8>) -> Self {
        Self {
            body,
            items: Some(items),
        }
    }

    /// The answer's JSON text.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let head = self.body.to_string().into_bytes();
        let Some(items) = &self.items else {
            return head;
        };
        // `{"Items":[...]` followed by the body's own members (it always has some:
        // `Count` at least).
        let mut out = Vec::with_capacity(head.len() + items.len() + 16);
        out.extend_from_slice(b"{\"Items\":");
        out.extend_from_slice(items);
        match head.get(1..) {
            Some(rest) if rest != b"}" => {
                out.push(b',');
                out.extend_from_slice(rest);
            }
            _ => out.push(b'}'),
        }
        out
    }

    /// The whole answer as one `Value`, for tests that inspect it.
    #[cfg(test)]
    pub(crate) fn into_value(self) -> Value {
        let mut body = self.body;
        if let Some(items) = self.items {
            let items = serde_json::from_slice(&items).unwrap_or(Value::Null);
            if let Some(obj) = body.as_object_mut() {
                obj.insert("Items".to_owned(), items);
            }
        }
        body
    }
}

impl From<Value> for Reply {
    fn from(body: Value) -> Self {
        Self { body, items: None }
    }
}

impl std::fmt::Debug for Reply {
    /// The shape only: items may hold secrets, which must not reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("items_bytes", &self.items.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_page_is_its_body_with_the_items_spliced_in() {
        let page = Reply::page(
            json!({"Count": 2, "ScannedCount": 3}),
            br#"[{"a":{"S":"x"}},{}]"#.to_vec(),
        );
        let text: Value = serde_json::from_slice(&page.to_json()).unwrap();
        let expected = json!({"Items": [{"a": {"S": "x"}}, {}], "Count": 2, "ScannedCount": 3});
        assert_eq!(text, expected);
        assert_eq!(page.into_value(), expected);

        let bare = Reply::page(json!({}), b"[]".to_vec());
        assert_eq!(
            serde_json::from_slice::<Value>(&bare.to_json()).unwrap(),
            json!({"Items": []})
        );
        let plain = Reply::from(json!({"KeyId": "k"}));
        assert_eq!(plain.to_json(), br#"{"KeyId":"k"}"#.to_vec());
        assert!(!format!("{plain:?}").contains("KeyId"));
    }
}
