//! What to do with one S3 record, with no I/O: decode its key, accept or
//! ignore it (and say why), and derive its trigger key and pipeline inputs.

use aws_lambda_events::s3::S3EventRecord;
use percent_encoding::percent_decode_str;

/// A new training-data object version, ready to start the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewData {
    pub bucket: String,
    /// The decoded key.
    pub key: String,
    pub version_id: Option<String>,
    pub sequencer: String,
    pub etag: String,
    pub size: i64,
    pub event_time: String,
}

impl NewData {
    /// The object version, or (unversioned bucket) the event's sequencer.
    pub fn version_or_sequencer(&self) -> &str {
        self.version_id.as_deref().unwrap_or(&self.sequencer)
    }

    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// CodePipeline's `clientRequestToken`: one per object version.
    pub fn client_request_token(&self) -> String {
        shared::naming::client_request_token(&self.bucket, &self.key, self.version_or_sequencer())
    }

    /// The pipeline variables that hand the data object to the run (and say
    /// what started it: the template's default for `Trigger` is `git`).
    pub fn pipeline_variables(&self) -> [(&'static str, String); 5] {
        [
            ("TrainingDataUri", self.uri()),
            (
                "DataVersionId",
                self.version_id.clone().unwrap_or_else(|| "none".into()),
            ),
            ("DataETag", self.etag.clone()),
            ("DataSize", self.size.to_string()),
            ("Trigger", "s3".to_owned()),
        ]
    }
}

/// Why a record starts nothing. Logged; never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    NotObjectCreated(String),
    Malformed(&'static str),
    FolderMarker,
    Empty,
    OutsidePrefix,
    WrongSuffix,
    /// The key has a character outside [`key_is_safe`]'s set, or makes an
    /// S3 URI longer than the registry keeps.
    UnsafeKey,
}

/// The longest `s3://bucket/key` the run can carry: the model registry keeps
/// metadata values of at most 256 characters.
pub const MAX_DATA_URI: usize = 256;

/// Whether a key may become a run: letters and digits (any script), spaces,
/// and `_ . / = + - @ :`. The key travels into the pipeline's input, which
/// CodePipeline pastes into JSON unescaped (a `"` or `\` would rewrite the
/// run's input), and into the model registry's metadata, which takes only
/// these characters.
pub fn key_is_safe(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "_./=+-@:".contains(c))
}

/// Decodes an S3 event key: `+` is a space, `%XX` are UTF-8 bytes.
pub fn decode_key(raw: &str) -> Option<String> {
    let plus_as_space = raw.replace('+', " ");
    percent_decode_str(&plus_as_space)
        .decode_utf8()
        .ok()
        .map(|k| k.into_owned())
}

/// Accepts a record as new data, or says why it is ignored. Long because it
/// is one check after another, each with its own answer.
pub fn classify(record: &S3EventRecord, prefix: &str, suffix: &str) -> Result<NewData, Ignored> {
    let event = record.event_name.as_deref().unwrap_or_default();
    if !event.starts_with("ObjectCreated:") {
        return Err(Ignored::NotObjectCreated(event.to_owned()));
    }
    let object = &record.s3.object;
    let bucket = record
        .s3
        .bucket
        .name
        .clone()
        .filter(|b| !b.is_empty())
        .ok_or(Ignored::Malformed("no bucket name"))?;
    let raw = object
        .key
        .as_deref()
        .ok_or(Ignored::Malformed("no object key"))?;
    let key = decode_key(raw).ok_or(Ignored::Malformed(
        "the key is not valid percent-encoded UTF-8",
    ))?;
    if key.ends_with('/') {
        return Err(Ignored::FolderMarker);
    }
    if object.size.unwrap_or(0) <= 0 {
        return Err(Ignored::Empty);
    }
    if !key.starts_with(prefix) {
        return Err(Ignored::OutsidePrefix);
    }
    if !key.ends_with(suffix) {
        return Err(Ignored::WrongSuffix);
    }
    if !key_is_safe(&key) || format!("s3://{bucket}/{key}").chars().count() > MAX_DATA_URI {
        return Err(Ignored::UnsafeKey);
    }
    let sequencer = object
        .sequencer
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or(Ignored::Malformed("no sequencer"))?;
    Ok(NewData {
        bucket,
        key,
        version_id: object
            .version_id
            .clone()
            .filter(|v| !v.is_empty() && v != "null"),
        sequencer,
        etag: object.e_tag.clone().unwrap_or_default(),
        size: object.size.unwrap_or(0),
        event_time: record.event_time.to_rfc3339(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::s3::S3Event;
    use proptest::prelude::*;

    fn event(file: &str) -> S3Event {
        serde_json::from_str(&testkit::event_text("start-retraining", file)).unwrap()
    }

    #[test]
    fn keys_are_decoded_as_s3_encodes_them() {
        assert_eq!(
            decode_key("training/new+data%2Bv2/iris%C3%A9.csv").unwrap(),
            "training/new data+v2/irisé.csv"
        );
        assert_eq!(decode_key("a%2Fb").unwrap(), "a/b");
        assert_eq!(decode_key("bad%FF").as_deref(), None);
    }

    #[test]
    fn a_versioned_put_is_new_data() {
        let e = event("put.json");
        let data = classify(&e.records[0], "training/", ".csv").unwrap();
        assert_eq!(data.uri(), "s3://mlops-data/training/iris.csv");
        assert_eq!(
            data.version_or_sequencer(),
            "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY"
        );
        assert_eq!(
            data.pipeline_variables()[1],
            ("DataVersionId", "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY".into())
        );
    }

    #[test]
    fn a_key_that_could_rewrite_the_runs_input_starts_nothing() {
        let mut e = event("put.json");
        for key in [
            "training/x%22%2C%22modelPackageArn%22%3A%22arn%3Aaws%3Asagemaker%3Aus-east-1%3A1%3Amodel-package%2Fg%2F3%22%2C%22rollback%22%3Atrue%2C%22z%22%3A%22a.csv",
            "training/back%5Cslash.csv",
            "training/quote%22.csv",
            "training/new%0Aline.csv",
        ] {
            e.records[0].s3.object.key = Some(key.into());
            assert_eq!(
                classify(&e.records[0], "training/", ".csv"),
                Err(Ignored::UnsafeKey),
                "{key}"
            );
        }
        let long = format!("training/{}.csv", "a".repeat(300));
        e.records[0].s3.object.key = Some(long);
        assert_eq!(
            classify(&e.records[0], "training/", ".csv"),
            Err(Ignored::UnsafeKey)
        );
        e.records[0].s3.object.key = Some("training/2026-11-28/iris_v2+extra data@team.csv".into());
        assert!(classify(&e.records[0], "training/", ".csv").is_ok());
    }

    #[test]
    fn an_encoded_key_is_matched_after_decoding() {
        let e = event("encoded-key.json");
        let data = classify(&e.records[0], "training/new data+v2/", "é.csv").unwrap();
        assert_eq!(data.key, "training/new data+v2/irisé.csv");
    }

    #[test]
    fn an_unversioned_object_is_keyed_by_its_sequencer() {
        let e = event("unversioned.json");
        let data = classify(&e.records[0], "training/", ".csv").unwrap();
        assert_eq!(data.version_id, None);
        assert_eq!(data.version_or_sequencer(), "0062E99A88DC407460");
        assert_eq!(data.pipeline_variables()[1].1, "none");
    }

    #[test]
    fn folder_markers_empty_objects_and_other_keys_are_ignored() {
        let e = event("several-records.json");
        assert_eq!(
            classify(&e.records[1], "training/", ".csv"),
            Err(Ignored::FolderMarker)
        );
        let mut empty = e.records[0].clone();
        empty.s3.object.size = Some(0);
        assert_eq!(classify(&empty, "training/", ".csv"), Err(Ignored::Empty));
        assert_eq!(
            classify(&e.records[0], "other/", ".csv"),
            Err(Ignored::OutsidePrefix)
        );
        assert_eq!(
            classify(&e.records[0], "training/", ".parquet"),
            Err(Ignored::WrongSuffix)
        );
        let mut removed = e.records[0].clone();
        removed.event_name = Some("ObjectRemoved:Delete".into());
        assert!(matches!(
            classify(&removed, "training/", ".csv"),
            Err(Ignored::NotObjectCreated(_))
        ));
    }

    proptest! {
        #[test]
        fn tokens_are_always_valid_and_distinct_per_object_version(
            key in "\\PC{1,200}", version in "[a-zA-Z0-9._-]{1,40}", other in "[a-zA-Z0-9._-]{1,40}"
        ) {
            let data = |v: &str| NewData {
                bucket: "mlops-data".into(), key: key.clone(), version_id: Some(v.into()),
                sequencer: "01".into(), etag: "e".into(), size: 1, event_time: String::new(),
            };
            let token = data(&version).client_request_token();
            prop_assert!(!token.is_empty() && token.len() <= 128);
            prop_assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            prop_assert_eq!(&token, &data(&version).client_request_token());
            if version != other {
                prop_assert_ne!(token, data(&other).client_request_token());
            }
        }

        /// Whatever key S3 sends (raw, or percent-encoded from any text), the
        /// classifier never panics, and a key it accepts is inside the prefix,
        /// has the suffix, and holds nothing that could steer the run's input.
        #[test]
        fn no_key_panics_and_an_accepted_key_is_inside_the_prefix_and_cannot_steer(
            raw in "\\PC{0,200}",
            inner in "\\PC{0,120}",
            encode in proptest::bool::ANY,
        ) {
            let mut e = event("put.json");
            for key in [
                raw.clone(),
                if encode {
                    percent_encoding::utf8_percent_encode(&format!("training/{inner}.csv"), percent_encoding::NON_ALPHANUMERIC).to_string()
                } else {
                    format!("training/{inner}.csv")
                },
            ] {
                e.records[0].s3.object.key = Some(key);
                if let Ok(data) = classify(&e.records[0], "training/", ".csv") {
                    prop_assert!(data.key.starts_with("training/") && data.key.ends_with(".csv"), "{}", data.key);
                    prop_assert!(!data.key.chars().any(|c| c == '"' || c == '\\' || c.is_control()), "{:?}", data.key);
                    let variables = serde_json::to_string(&data.pipeline_variables()).unwrap();
                    let back: serde_json::Value = serde_json::from_str(&variables).unwrap();
                    prop_assert_eq!(back.as_array().map(Vec::len), Some(data.pipeline_variables().len()));
                }
            }
        }

        #[test]
        fn encoding_then_decoding_gives_the_key_back(key in "\\PC{1,100}") {
            let encoded: String = percent_encoding::utf8_percent_encode(&key, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
            prop_assert_eq!(decode_key(&encoded).unwrap(), key);
        }
    }
}
