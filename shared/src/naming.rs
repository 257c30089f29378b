//! Names derived deterministically, so a retried step reuses its own name
//! instead of colliding with itself, and two executions never share one.
//!
//! Every name this stack makes in an account-wide namespace (SageMaker jobs,
//! models and endpoint configs, EventBridge schedules) carries the stack's
//! [`StackToken`] right after its kind, and the template's IAM patterns name
//! the same prefix (`training-job/train-<token>-*`): two stacks in one account
//! can neither collide on a name nor act on each other's resources.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// SageMaker's limit for job, model and endpoint config names.
pub const SAGEMAKER_NAME_MAX: usize = 63;
/// SageMaker's limit for hyperparameter tuning job names.
pub const TUNING_JOB_NAME_MAX: usize = 32;
/// CodePipeline's limit for `clientRequestToken`.
pub const CLIENT_REQUEST_TOKEN_MAX: usize = 128;

/// Hex characters of the digest appended to every derived name (48 bits).
const DIGEST_HEX: usize = 12;
/// The shortest digest a name keeps when its limit is tight (tuning jobs: 44 bits).
const DIGEST_HEX_MIN: usize = 8;

/// What makes this stack's names its own: the first group of the UUID in the
/// stack's id (`arn:…:stack/<name>/<uuid>`), eight lowercase hex digits, set as
/// `NAME_TOKEN` by the template. It differs between two stacks (and between a
/// stack and the one re-created under its name), stays the same across
/// updates, and has no `-`, so the IAM prefix `kind-<token>-` of one stack can
/// never match a name of another: both must have the same token to share it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StackToken(String);

impl StackToken {
    /// The most characters a token has (a UUID group).
    pub const MAX: usize = 8;

    /// A token of 1 to 8 lowercase letters and digits.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty()
            || raw.len() > Self::MAX
            || !raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(format!(
                "a stack token is 1 to {} lowercase letters or digits (the first group of the stack id's UUID)",
                Self::MAX
            ));
        }
        Ok(StackToken(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for StackToken {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StackToken::parse(s)
    }
}

impl std::fmt::Display for StackToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hex SHA-256 of the parts, each length-prefixed so that ("ab","c") and ("a","bc") differ.
pub(crate) fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex(&hasher.finalize())
}

/// Lower-case hex of `bytes`, as a SHA-256 digest is written.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `source` reduced to `[a-zA-Z0-9-]`, runs of anything else folded to one `-`,
/// without leading or trailing `-`, at most `max` characters.
fn sanitize(source: &str, max: usize) -> String {
    let mut out = String::with_capacity(source.len().min(max));
    for c in source.chars() {
        if out.len() == max {
            break;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// This stack's SageMaker name `<kind>-<token>-<readable part of source>-<digest>`,
/// at most `max` characters; the digest covers the token, so it differs
/// between stacks too. When the limit is tight (tuning jobs) the readable part
/// goes first, then the digest shrinks to no fewer than 8 hex digits.
pub fn scoped_name(kind: &str, token: &StackToken, source: &str, max: usize) -> String {
    let hash = digest(&[kind, token.as_str(), source]);
    let prefix = format!("{}-{}", sanitize(kind, 12), token.as_str());
    let digest_len = DIGEST_HEX
        .min(max.saturating_sub(prefix.len() + 1))
        .max(DIGEST_HEX_MIN);
    let room = max.saturating_sub(prefix.len() + digest_len + 2);
    let readable = sanitize(source, room);
    let mut name = prefix;
    if !readable.is_empty() {
        name.push('-');
        name.push_str(&readable);
    }
    name.push('-');
    name.push_str(&hash[..digest_len]);
    name
}

/// Room a job name leaves for the `-<redrive count>-<retry count>` the state
/// machine appends (`$$.Execution.RedriveCount`, at most 1,000 redrives, and
/// `$$.State.RetryCount`, below 10: `shared/tests/statemachine.rs` holds
/// every job's retriers to fewer attempts), so that neither a redriven run's jobs nor a
/// retried create collide with the job an earlier attempt made.
pub const ATTEMPT_SUFFIX_MAX: usize = 7;

/// The SageMaker names of one run, derived from the Step Functions execution name.
///
/// Job names (processing, training, tuning, transform) are bases: the state
/// machine appends `-<redrive count>-<retry count>`, because a job keeps its
/// name for good, failed or not. The model name is used as is: a retried
/// CreateModel that meets this name finds the model its lost answer made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunNames {
    pub processing_job_name: String,
    pub training_job_name: String,
    pub tuning_job_name: String,
    pub model_name: String,
    pub transform_job_name: String,
}

impl RunNames {
    pub fn for_execution(token: &StackToken, execution_name: &str) -> Self {
        let job = SAGEMAKER_NAME_MAX - ATTEMPT_SUFFIX_MAX;
        let name = |kind, max| scoped_name(kind, token, execution_name, max);
        RunNames {
            processing_job_name: name("process", job),
            training_job_name: name("train", job),
            tuning_job_name: name("tune", TUNING_JOB_NAME_MAX - ATTEMPT_SUFFIX_MAX),
            model_name: name("model", SAGEMAKER_NAME_MAX),
            transform_job_name: name("transform", job),
        }
    }
}

/// The endpoint config for a model and the config's content (variant, instance
/// type and count, data capture, canonically serialized by the caller): a retry
/// finds its own config, and a changed content gets a new one.
pub fn endpoint_config_name(token: &StackToken, model_name: &str, content: &str) -> String {
    scoped_name(
        "config",
        token,
        &format!("{model_name}|{content}"),
        SAGEMAKER_NAME_MAX,
    )
}

/// The endpoint a stack serves from when `EndpointName` is left empty:
/// `iris-<token>`, lowercase as IAM's endpoint ARNs are.
pub fn default_endpoint_name(token: &StackToken) -> String {
    format!("iris-{token}")
}

/// CodePipeline's `clientRequestToken` for one object version (or, in an
/// unversioned bucket, one event sequencer): 1–128 characters of `[a-zA-Z0-9-]`.
pub fn client_request_token(bucket: &str, key: &str, version_or_sequencer: &str) -> String {
    format!("s3-{}", digest(&[bucket, key, version_or_sequencer]))
}

/// The one-time schedule that starts the pipeline for a quiet window: every
/// upload under `prefix` within window `window` (epoch seconds / the quiet
/// period) names the same schedule, so a burst becomes one run. EventBridge
/// Scheduler names: at most 64 of `[0-9a-zA-Z-_.]`.
pub fn retrain_window_name(
    token: &StackToken,
    pipeline: &str,
    prefix: &str,
    window: u64,
) -> String {
    format!(
        "retrain-{token}-{}-{window}",
        &digest(&[pipeline, prefix])[..16]
    )
}

/// The one-time schedule that reminds of an approval close to its deadline:
/// named after the approval's hash (never its id), so a retried request finds
/// the schedule it already made. At most 64 of `[0-9a-zA-Z-_.]`.
pub fn approval_reminder_name(token: &StackToken, approval_hash: &crate::ApprovalHash) -> String {
    // A hash is 64 hex characters: its first half names the schedule.
    let hex = approval_hash.as_str().get(..32).unwrap_or_default();
    format!("approval-{token}-{hex}")
}

/// Whether `name` is a valid SageMaker name of at most `max` characters.
pub fn is_valid_sagemaker_name(name: &str, max: usize) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_windows_schedule_name_is_the_same_for_every_upload_of_it_and_fits_the_scheduler() {
        let t = StackToken::parse("5e1f0c70").unwrap();
        let a = retrain_window_name(&t, "mlops-pipeline", "training/", 5_986_275);
        assert_eq!(
            a,
            retrain_window_name(&t, "mlops-pipeline", "training/", 5_986_275)
        );
        assert_ne!(
            a,
            retrain_window_name(&t, "mlops-pipeline", "training/", 5_986_276)
        );
        assert_ne!(a, retrain_window_name(&t, "other", "training/", 5_986_275));
        assert!(
            a.len() <= 64 && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{a}"
        );
    }

    use super::*;
    use proptest::prelude::*;

    fn token() -> StackToken {
        StackToken::parse("5e1f0c70").unwrap()
    }

    fn sagemaker_name(kind: &str, source: &str, max: usize) -> String {
        scoped_name(kind, &token(), source, max)
    }

    #[test]
    fn a_token_is_lowercase_letters_and_digits_without_a_dash() {
        assert!(StackToken::parse("5e1f0c70").is_ok());
        for bad in ["", "5E1F0C70", "5e1f-c70", "5e1f0c701", "a b"] {
            assert!(StackToken::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn two_stacks_name_the_same_execution_apart_and_each_name_carries_its_own_token() {
        let other = StackToken::parse("9a3b11f0").unwrap();
        let (a, b) = (
            RunNames::for_execution(&token(), "run-1"),
            RunNames::for_execution(&other, "run-1"),
        );
        assert_ne!(a, b);
        assert!(a.training_job_name.starts_with("train-5e1f0c70-run-1-"));
        assert!(b.model_name.starts_with("model-9a3b11f0-run-1-"));
        assert!(a.tuning_job_name.starts_with("tune-5e1f0c70-"));
        let config = endpoint_config_name(&other, &b.model_name, "x");
        assert!(config.starts_with("config-9a3b11f0-"), "{config}");
        assert!(retrain_window_name(&other, "p", "training/", 1).starts_with("retrain-9a3b11f0-"));
        let hash = crate::ApprovalId::from_bytes([1; 16]).hash();
        let reminder = approval_reminder_name(&other, &hash);
        assert_eq!(
            reminder,
            format!("approval-9a3b11f0-{}", &hash.as_str()[..32])
        );
        assert_eq!(default_endpoint_name(&other), "iris-9a3b11f0");
    }

    #[test]
    fn names_read_as_their_execution() {
        let names = RunNames::for_execution(&token(), "run-2026-11-21-abc123");
        assert!(
            names
                .training_job_name
                .starts_with("train-5e1f0c70-run-2026-11-21-abc123-")
        );
        assert!(
            names
                .model_name
                .starts_with("model-5e1f0c70-run-2026-11-21-abc123-")
        );
        assert_ne!(names.training_job_name, names.transform_job_name);
    }

    proptest! {
        /// Any execution name (Step Functions allows 80 characters) leaves each
        /// job name room for the longest attempt suffix: the 1,000th redrive's
        /// ninth retry, `-1000-9`.
        #[test]
        fn job_names_keep_room_for_the_attempt_suffix(exec in "[a-zA-Z0-9_-]{1,80}") {
            let names = RunNames::for_execution(&token(), &exec);
            for (job, max) in [
                (&names.processing_job_name, SAGEMAKER_NAME_MAX),
                (&names.training_job_name, SAGEMAKER_NAME_MAX),
                (&names.transform_job_name, SAGEMAKER_NAME_MAX),
                (&names.tuning_job_name, TUNING_JOB_NAME_MAX),
            ] {
                let last = format!("{job}-1000-9");
                prop_assert!(is_valid_sagemaker_name(&last, max), "{last}");
            }
            prop_assert!(is_valid_sagemaker_name(&names.model_name, SAGEMAKER_NAME_MAX));
        }
    }

    #[test]
    fn a_long_execution_name_is_cut_to_the_limit() {
        let exec = "e".repeat(80);
        let name = sagemaker_name("transform", &exec, SAGEMAKER_NAME_MAX);
        assert_eq!(name.len(), SAGEMAKER_NAME_MAX);
        assert!(is_valid_sagemaker_name(&name, SAGEMAKER_NAME_MAX));
    }

    #[test]
    fn executions_that_sanitize_alike_still_differ() {
        assert_ne!(
            sagemaker_name("train", "a_b", 63),
            sagemaker_name("train", "a.b", 63)
        );
    }

    #[test]
    fn tokens_are_valid_for_codepipeline() {
        let token = client_request_token("bucket", "training/data.csv", "v1");
        assert!(token.len() <= CLIENT_REQUEST_TOKEN_MAX);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        );
    }

    proptest! {
        #[test]
        fn derived_names_are_always_valid(exec in "\\PC{0,120}", max in 40usize..=63) {
            for kind in ["train", "model", "transform", "process", "config", "tune"] {
                let name = sagemaker_name(kind, &exec, max);
                prop_assert!(is_valid_sagemaker_name(&name, max), "{name:?}");
            }
        }

        #[test]
        fn derived_names_are_stable(exec in "\\PC{0,120}") {
            prop_assert_eq!(RunNames::for_execution(&token(), &exec), RunNames::for_execution(&token(), &exec));
        }

        #[test]
        fn distinct_executions_get_distinct_names(a in "\\PC{0,100}", b in "\\PC{0,100}") {
            prop_assume!(a != b);
            prop_assert_ne!(RunNames::for_execution(&token(), &a).training_job_name,
                            RunNames::for_execution(&token(), &b).training_job_name);
        }

        #[test]
        fn tuning_names_fit_their_shorter_limit(exec in "[a-zA-Z0-9-]{0,80}") {
            let name = sagemaker_name("tune", &exec, TUNING_JOB_NAME_MAX);
            prop_assert!(is_valid_sagemaker_name(&name, TUNING_JOB_NAME_MAX), "{name:?}");
        }

        #[test]
        fn distinct_objects_get_distinct_tokens(
            k1 in "\\PC{1,60}", k2 in "\\PC{1,60}", v in "[a-zA-Z0-9._]{0,32}"
        ) {
            prop_assume!(k1 != k2);
            prop_assert_ne!(client_request_token("b", &k1, &v), client_request_token("b", &k2, &v));
        }
    }
}
