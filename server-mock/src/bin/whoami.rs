//! Test helper: loads credentials with the AWS SDK's default chain (environment,
//! container endpoint, IMDS, web identity...) and prints `GetCallerIdentity`'s ARN,
//! `CALLS` times, `PAUSE_MS` apart: `whoami [CALLS] [PAUSE_MS]`. The identity tests
//! run it as a child process with a hand-built environment. A binary of this
//! package (feature `whoami`, which the package's own tests turn on) so that
//! `cargo test` builds it and the tests find it as `CARGO_BIN_EXE_whoami`.

use std::time::Duration;

use aws_config::BehaviorVersion;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let calls: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let pause = Duration::from_millis(args.next().and_then(|a| a.parse().ok()).unwrap_or(0));
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .load()
        .await;
    let sts = aws_sdk_sts::Client::new(&config);
    for i in 0..calls {
        if i > 0 {
            tokio::time::sleep(pause).await;
        }
        match sts.get_caller_identity().send().await {
            Ok(out) => println!("{}", out.arn().unwrap_or_default()),
            Err(e) => {
                eprintln!("whoami: {}", aws_sdk_sts::error::DisplayErrorContext(&e));
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    std::process::ExitCode::SUCCESS
}
