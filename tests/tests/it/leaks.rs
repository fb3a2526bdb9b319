//! SDK half of the leak suite: the `Debug` and `Display` of a `Lockbox`, a read
//! `Secret` and every error a failed read returns (with its whole source chain,
//! where AWS SDK errors keep the raw response) never show the value.

use lockbox::backend::TableMode;
use lockbox::{EncryptionContext, PutOptions, SecretName, SecretValue};
use lockbox_tests::{add_fault, EmulatorFixture, Fixture};
use serde_json::json;

/// Everything `e` can print: Display, alternate Display, Debug, pretty Debug, and
/// each source's.
fn all_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = format!("{e} {e:#} {e:?} {e:#?}");
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_and_error_strings_never_show_the_value() {
    let canary = format!(
        "LbxSdkCanary{:016x}Zq",
        std::process::id() as u64 * 0x9e37_79b9
    );
    let fx = EmulatorFixture::start().await;
    let endpoint = fx.mock.endpoint_url();
    let lb = fx.lockbox().await.build().unwrap();
    lb.setup(TableMode::Sealed, &[]).await.unwrap();
    let name = SecretName::new("leak/canary").unwrap();
    let value = SecretValue::from(canary.as_str());
    assert!(!format!("{value:?}").contains(&canary));
    lb.put(&name, &value, &PutOptions::default()).await.unwrap();
    let secret = lb.get(&name, &EncryptionContext::new()).await.unwrap();
    let shown = format!("{secret:?} {secret:#?} {lb:?}");
    assert!(!shown.contains(&canary), "{shown}");

    let mut errors = Vec::new();
    let wrong = EncryptionContext::from_pairs(["env=dev"]).unwrap();
    errors.push(lb.get(&name, &wrong).await.unwrap_err());
    for rule in [
        json!({"target": "kms:Decrypt", "error": "AccessDeniedException", "count": 1}),
        json!({"target": "kms:Decrypt", "error": "ValidationException", "message": "x", "count": 1}),
        json!({"target": "kms:GenerateDataKey", "error": "DisabledException", "count": 1}),
    ] {
        add_fault(&endpoint, rule).await;
        let err = match lb.get(&name, &EncryptionContext::new()).await {
            Err(e) => e,
            Ok(_) => lb
                .put(&name, &value, &PutOptions::default())
                .await
                .unwrap_err(),
        };
        errors.push(err);
    }
    // Each case failed the way it is meant to, so its message and sources are
    // the ones under test.
    use lockbox::Error as E;
    assert!(
        matches!(errors[0], E::ContextMismatch { .. }),
        "{:?}",
        errors[0]
    );
    assert!(
        matches!(errors[1], E::AccessDenied { .. }),
        "{:?}",
        errors[1]
    );
    assert!(matches!(errors[2], E::Backend { .. }), "{:?}", errors[2]);
    assert!(
        matches!(errors[3], E::KeyUnavailable { .. }),
        "{:?}",
        errors[3]
    );
    for e in &errors {
        let text = all_text(e);
        assert!(!text.contains(&canary), "{text}");
    }
}
