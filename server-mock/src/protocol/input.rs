//! Reading the members of an AWS JSON request body with the checks AWS's front end
//! makes before an operation runs: a member of the wrong JSON type is a
//! `SerializationException`, a required one left out AWS's "Value null at" message
//! ([`AwsError::missing_member`]). KMS reads its requests through [`Input`], and so
//! do DynamoDB's request readers (`dynamodb/request.rs`).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::error::AwsError;

/// A request body, or a structure within one, with typed accessors. Absent and
/// `null` members are the same; a body that is not an object has no members.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Input<'a>(&'a Value);

impl<'a> Input<'a> {
    /// The members of `body`.
    pub(crate) fn new(body: &'a Value) -> Self {
        Self(body)
    }

    /// A member that is present and not `null`.
    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// `SerializationException`: `name` is not `want` ("a string", "an integer").
    pub(crate) fn wrong_type(name: &str, want: &str) -> AwsError {
        AwsError::serialization(format!("{name} must be {want}"))
    }

    /// An optional string member.
    pub(crate) fn str(&self, name: &str) -> Result<Option<&'a str>, AwsError> {
        self.get(name)
            .map(|v| v.as_str().ok_or_else(|| Self::wrong_type(name, "a string")))
            .transpose()
    }

    /// A required string member (it may be empty).
    pub(crate) fn required_str(&self, name: &str) -> Result<&'a str, AwsError> {
        self.str(name)?
            .ok_or_else(|| AwsError::missing_member(name))
    }

    /// A required string member of at least one character.
    pub(crate) fn nonempty_str(&self, name: &str) -> Result<&'a str, AwsError> {
        match self.required_str(name)? {
            "" => Err(AwsError::constraint(
                name,
                "Member must have length greater than or equal to 1",
            )),
            s => Ok(s),
        }
    }

    /// An optional boolean member.
    pub(crate) fn bool(&self, name: &str) -> Result<Option<bool>, AwsError> {
        self.get(name)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| Self::wrong_type(name, "a boolean"))
            })
            .transpose()
    }

    /// An optional integer member.
    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, AwsError> {
        self.get(name)
            .map(|v| {
                v.as_i64()
                    .ok_or_else(|| Self::wrong_type(name, "an integer"))
            })
            .transpose()
    }

    /// A required blob member (base64 in the JSON protocols), in a buffer wiped on drop.
    pub(crate) fn required_blob(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, AwsError> {
        let text = self.required_str(name)?;
        B64.decode(text)
            .map(Zeroizing::new)
            .map_err(|_| Self::wrong_type(name, "base64-encoded"))
    }

    /// An optional map member.
    pub(crate) fn map(
        &self,
        name: &str,
        want: &str,
    ) -> Result<Option<&'a Map<String, Value>>, AwsError> {
        self.get(name)
            .map(|v| v.as_object().ok_or_else(|| Self::wrong_type(name, want)))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn members_are_read_with_aws_errors() {
        let body =
            json!({"S": "x", "E": "", "N": null, "I": 3, "B": true, "Blob": "aGk=", "Bad": "!"});
        let input = Input::new(&body);
        assert_eq!(input.str("S").unwrap(), Some("x"));
        assert_eq!(input.str("N").unwrap(), None, "null is absent");
        assert_eq!(input.required_str("E").unwrap(), "");
        assert_eq!(input.int("I").unwrap(), Some(3));
        assert_eq!(input.bool("B").unwrap(), Some(true));
        assert_eq!(input.required_blob("Blob").unwrap().as_slice(), b"hi");
        let code = |r: Result<&str, AwsError>| r.unwrap_err().code;
        assert_eq!(code(input.required_str("I")), "SerializationException");
        assert_eq!(code(input.required_str("Missing")), "ValidationException");
        assert_eq!(code(input.nonempty_str("E")), "ValidationException");
        assert_eq!(
            input.required_blob("Bad").unwrap_err().message,
            "Bad must be base64-encoded"
        );
        assert_eq!(Input::new(&json!([1])).str("S").unwrap(), None);
    }
}
