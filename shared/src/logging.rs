//! The functions' log subscriber: lambda_runtime's own default, read from
//! Lambda's advanced logging controls (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`;
//! `AWS_LAMBDA_LOG_FORMAT=JSON`), with one difference: the runtime's, the
//! SDK's and the HTTP stack's own crates never log below INFO, whatever level
//! is asked for. At DEBUG and TRACE they log each raw event, response and
//! request body, which would put task tokens, approval ids and form bodies
//! into CloudWatch. Our own crates follow the level asked.

use std::str::FromStr;

use lambda_runtime::tracing::subscriber::filter::{EnvFilter, LevelFilter};
use lambda_runtime::tracing::subscriber::fmt::MakeWriter;

/// The crates held at INFO or quieter: they see raw events, requests and
/// bodies. Each is a prefix of targets (`aws_sdk` covers every service crate,
/// `hyper` covers hyper_util), as tracing's filter matches them.
pub const PINNED: [&str; 8] = [
    "lambda_runtime",
    "lambda_http",
    "aws_smithy",
    "aws_sdk",
    "aws_config",
    "hyper",
    "h2",
    "rustls",
];

/// The filter for a level as Lambda passes it (`TRACE`, `debug`…; anything
/// unreadable is INFO): that level for everything, the [`PINNED`] crates at
/// no more than INFO.
pub fn filter(level: Option<&str>) -> EnvFilter {
    let level = level
        .and_then(|l| LevelFilter::from_str(l.trim()).ok())
        .unwrap_or(LevelFilter::INFO);
    let pinned = level.min(LevelFilter::INFO);
    PINNED.iter().fold(
        EnvFilter::builder()
            .with_default_directive(level.into())
            .parse_lossy(""),
        |filter, target| match format!("{target}={pinned}").parse() {
            Ok(directive) => filter.add_directive(directive),
            Err(_) => filter,
        },
    )
}

/// Installs the subscriber on stdout, once, at init (every function's `main`).
pub fn init() {
    init_with_writer(std::io::stdout);
}

/// [`init`] with another writer (the tests capture what would be logged).
pub fn init_with_writer<W>(writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = lambda_runtime::tracing::subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter(level.as_deref()))
        .with_writer(writer);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "in a test a failed unwrap is a failed test"
    )]

    use super::*;
    use std::sync::{Arc, Mutex};

    /// Everything written, kept for the test to read.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `f` logs through [`filter`] at `level`.
    fn logged(level: &str, f: impl FnOnce()) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = lambda_runtime::tracing::subscriber::fmt()
            .with_env_filter(filter(Some(level)))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn at_trace_the_runtimes_raw_event_is_not_logged_and_our_own_trace_is() {
        let text = logged("TRACE", || {
            // What lambda_runtime logs at TRACE and the SDK at DEBUG.
            tracing::trace!(target: "lambda_runtime::layers::api_client", body = "taskToken=SECRET-TOKEN", "raw JSON event received from Lambda");
            tracing::trace!(target: "lambda_runtime_api_client::body", "SECRET-TOKEN");
            tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "request body taskToken=SECRET-TOKEN");
            tracing::debug!(target: "aws_sdk_dynamodb::operation", "item SECRET-TOKEN");
            tracing::trace!(target: "hyper_util::client", "wrote SECRET-TOKEN");
            tracing::info!(target: "lambda_runtime", "runtime info still shows");
            tracing::trace!(target: "handle_approval::decide", "our own trace shows");
        });
        assert!(!text.contains("SECRET-TOKEN"), "{text}");
        assert!(text.contains("runtime info still shows"), "{text}");
        assert!(text.contains("our own trace shows"), "{text}");
    }

    #[test]
    fn a_quieter_level_stays_quiet_for_the_pinned_crates_too() {
        let text = logged("warn", || {
            tracing::info!(target: "lambda_runtime", "pinned info hidden at warn");
            tracing::info!(target: "record_metadata", "own info hidden at warn");
            tracing::warn!(target: "record_metadata", "own warning shows");
        });
        assert!(!text.contains("hidden"), "{text}");
        assert!(text.contains("own warning shows"), "{text}");
        // Unreadable levels are INFO, as lambda_runtime reads them.
        assert_eq!(filter(Some("loud")).to_string(), filter(None).to_string());
    }
}
