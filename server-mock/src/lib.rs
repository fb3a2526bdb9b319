//! lockbox-mock: a local emulator of AWS KMS, DynamoDB, STS and the cloud
//! credential endpoints, speaking the same wire protocols as AWS.

pub mod dynamodb;
pub mod error;
pub mod store;
