//! The signing service of `lockbox_examples::service`, served on a local port.
//!
//! ```sh
//! cargo run -p lockbox-examples --example service            # on the emulator
//! LOCKBOX_TABLE=credential-store cargo run -p lockbox-examples --example service -- --aws
//! curl -s -X POST --data hello http://127.0.0.1:PORT/sign
//! ```
//!
//! Without `--aws` it starts `lockbox-mock` in-process, stores a first signing key
//! and rotates it after ten seconds, so the rotation can be watched with `curl`.
//! With `--aws` it uses the application's own AWS configuration (region,
//! credentials, endpoint), as a deployed service would.

use std::time::Duration;

use anyhow::Context as _;
use lockbox::{CacheConfig, Lockbox, PutOptions, SecretName, TableMode};
use lockbox_examples::service::{follow_rotation, router, AppState};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let key = SecretName::from_static("app/signing-key");
    let aws = std::env::args().any(|a| a == "--aws");
    let (config, mock) = if aws {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        (config, None)
    } else {
        let mock = lockbox_mock::start()
            .await
            .context("starting the emulator")?;
        let config = lockbox_examples::emulator_config(&mock.endpoint_url()).await?;
        (config, Some(mock))
    };
    let table = std::env::var("LOCKBOX_TABLE").unwrap_or_else(|_| lockbox::DEFAULT_TABLE.into());
    let lockbox = Lockbox::aws(&config)
        .table(&table)
        // Served from memory for five minutes; when DynamoDB or KMS is down, the
        // last good key for ten more (marked `stale` in the answer).
        .cache(CacheConfig::new(Duration::from_secs(300)).serve_stale_for(Duration::from_secs(600)))
        .build()?;
    if mock.is_some() {
        lockbox.setup(TableMode::Sealed, &[]).await?;
        lockbox
            .put(&key, &"first-signing-key".into(), &PutOptions::default())
            .await?;
        let writer = lockbox.clone();
        let rotated = key.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            match writer
                .put(
                    &rotated,
                    &"second-signing-key".into(),
                    &PutOptions::default(),
                )
                .await
            {
                Ok(v) => eprintln!("demo: rotated {rotated} to version {v}"),
                Err(e) => eprintln!("demo: rotating {rotated}: {e}"),
            }
        });
    }
    let state = AppState::new(lockbox, key);
    let _watcher = follow_rotation(state.clone(), Duration::from_secs(5));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("serving on http://{}", listener.local_addr()?);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    if let Some(mock) = mock {
        mock.shutdown().await;
    }
    Ok(())
}
