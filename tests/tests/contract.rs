//! The backend contract suite against each backend.

mod memory {
    lockbox_tests::contract_suite!(lockbox_tests::MemoryFixture::default());
}

mod emulator {
    lockbox_tests::contract_suite!(lockbox_tests::EmulatorFixture::start().await);
}

/// Two regions of a global table: reads from the replica in `eu-west-1` (keys
/// unwrapped by their replicas there), writes in `us-east-1`.
mod regions {
    lockbox_tests::contract_suite!(lockbox_tests::RegionalFixture::start().await);
}

/// An application builds a lockbox from its own AWS configuration: its region,
/// credentials and HTTP client; lockbox adds only the table and key. A
/// configuration with no region is refused, never defaulted.
mod bring_your_own_config {
    use lockbox::{EncryptionContext, ErrorKind, Lockbox, PutOptions, SecretName, TableMode};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lockbox_from_the_application_s_sdk_config() {
        let fx = lockbox_tests::EmulatorFixture::start().await;
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    lockbox_tests::test_credentials(),
                ),
            )
            .endpoint_url(fx.mock.endpoint_url())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        let lockbox = Lockbox::aws(&config)
            .table("app-secrets")
            .kms_key("alias/A")
            .build()
            .unwrap();
        lockbox.setup(TableMode::Sealed, &[]).await.unwrap();
        let name = SecretName::new("db/password").unwrap();
        lockbox
            .put(&name, &"s3cret".into(), &PutOptions::default())
            .await
            .unwrap();
        let clone = lockbox.clone();
        let got = tokio::spawn(async move { clone.get(&name, &EncryptionContext::new()).await })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.value.expose_str().unwrap(), "s3cret");

        let no_region = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let err = Lockbox::aws(&no_region).build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(err.to_string().contains("no region"), "{err}");
        let err = Lockbox::builder().table("x").build().unwrap_err();
        assert!(err.to_string().contains("Lockbox::aws"), "{err}");
    }
}
