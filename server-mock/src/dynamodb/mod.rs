//! DynamoDB (awsJson1.0, `X-Amz-Target: DynamoDB_20120810.*`).
