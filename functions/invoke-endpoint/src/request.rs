//! Parsing and validating a prediction request, with no I/O.
//!
//! The rule for status codes: a body that is not the API's shape (not JSON, no
//! `data`, `data` of the wrong type) is **400**; the right shape with bad
//! values (an empty row, a field that is not a finite number, the wrong number
//! of fields, too many rows) is **422**. Both answer
//! `{"error": {"code", "message"}}` saying what to fix.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::response::ApiError;

/// Limits, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_rows: usize,
    /// When set, every row must have exactly this many fields.
    pub feature_count: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 256 * 1024,
            max_rows: 100,
            feature_count: None,
        }
    }
}

/// A valid request: one row or a batch, as the CSV the endpoint receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    /// `text/csv`, one row per line.
    pub csv: String,
    pub rows: usize,
    /// `{"data": [...]}`: the answer is `{"results": [...]}`.
    pub batch: bool,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Data {
    One(String),
    Many(Vec<String>),
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// Validates method, content type, size and body, in that order, each with
/// its own answer, on the hot path (no allocation before the body is known
/// to be worth reading).
pub fn parse(
    method: &str,
    content_type: Option<&str>,
    body: &[u8],
    limits: &Limits,
) -> Result<Prediction, ApiError> {
    if !method.eq_ignore_ascii_case("POST") {
        return Err(ApiError::MethodNotAllowed);
    }
    if !is_json(content_type) {
        return Err(ApiError::UnsupportedMediaType);
    }
    if body.len() > limits.max_body_bytes {
        return Err(ApiError::TooLarge(limits.max_body_bytes));
    }
    let (rows, batch) = rows_of(body)?;
    if rows.is_empty() {
        return Err(ApiError::unprocessable(
            "empty_batch",
            "\"data\" is an empty list",
        ));
    }
    if rows.len() > limits.max_rows {
        return Err(ApiError::unprocessable(
            "too_many_rows",
            format!(
                "at most {} rows per request, got {}",
                limits.max_rows,
                rows.len()
            ),
        ));
    }
    let mut csv = String::with_capacity(body.len());
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            csv.push('\n');
        }
        append_row(&mut csv, row, i, batch, limits.feature_count)?;
    }
    Ok(Prediction {
        csv,
        rows: rows.len(),
        batch,
    })
}

/// The body's rows, and whether it was a batch (`"data"` a list): a 400
/// when the body is not the API's shape.
fn rows_of(body: &[u8]) -> Result<(Vec<String>, bool), ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("invalid_json", "the body is not UTF-8 JSON"))?;
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("the body is not a JSON object like {{\"data\": \"4.5,1.3,0.3,0.3\"}} ({e})"),
        )
    })?;
    let raw = envelope.data.ok_or_else(|| {
        ApiError::bad_request(
            "missing_data",
            "the body needs a \"data\" field: a CSV row or a list of rows",
        )
    })?;
    let data: Data = serde_json::from_str(raw.get()).map_err(|_| {
        ApiError::bad_request(
            "invalid_data_type",
            "\"data\" must be a string (one CSV row) or a list of strings (one row each)",
        )
    })?;
    Ok(match data {
        Data::One(row) => (vec![row], false),
        Data::Many(rows) => (rows, true),
    })
}

/// Checks one row and appends it, normalized (fields trimmed), to `csv`.
/// Long because it is the hot path's per-field checks, each with its answer,
/// in one pass without allocating.
fn append_row(
    csv: &mut String,
    row: &str,
    index: usize,
    batch: bool,
    feature_count: Option<usize>,
) -> Result<(), ApiError> {
    let which = || {
        if batch {
            format!("row {index}")
        } else {
            "the row".to_owned()
        }
    };
    let row = row.trim();
    if row.is_empty() {
        return Err(ApiError::unprocessable(
            "empty_row",
            format!("{} is empty", which()),
        ));
    }
    let mut fields = 0;
    for (n, field) in row.split(',').enumerate() {
        let field = field.trim();
        let finite = field.parse::<f64>().is_ok_and(f64::is_finite);
        if !finite {
            let shown: String = field.chars().take(32).collect();
            return Err(ApiError::unprocessable(
                "invalid_number",
                format!("{} field {n} ({shown:?}) is not a finite number", which()),
            ));
        }
        if n > 0 {
            csv.push(',');
        }
        csv.push_str(field);
        fields += 1;
    }
    if let Some(expected) = feature_count
        && fields != expected
    {
        return Err(ApiError::unprocessable(
            "wrong_field_count",
            format!(
                "{} has {fields} fields; the model takes {expected}",
                which()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: Option<&str> = Some("application/json");

    fn ok(body: &str) -> Prediction {
        parse("POST", JSON, body.as_bytes(), &Limits::default()).unwrap()
    }

    fn err(body: &str) -> ApiError {
        parse("POST", JSON, body.as_bytes(), &Limits::default()).unwrap_err()
    }

    #[test]
    fn one_row_becomes_one_csv_line() {
        let p = ok(r#"{"data": "4.5,1.3,0.3,0.3"}"#);
        assert_eq!(p.csv, "4.5,1.3,0.3,0.3");
        assert_eq!((p.rows, p.batch), (1, false));
    }

    #[test]
    fn a_batch_becomes_one_line_per_row_with_fields_trimmed() {
        let p = ok(r#"{"data": [" 5.1, 3.5,1.4,0.2 ", "6.4,3.2,4.5,1.5"]}"#);
        assert_eq!(p.csv, "5.1,3.5,1.4,0.2\n6.4,3.2,4.5,1.5");
        assert_eq!((p.rows, p.batch), (2, true));
    }

    #[test]
    fn the_shape_is_400_and_the_values_are_422() {
        assert_eq!(err("not json").code(), "invalid_json");
        assert_eq!(err("not json").status(), 400);
        assert_eq!(err(r#"{"rows": "1,2"}"#).code(), "missing_data");
        assert_eq!(err(r#"[1,2]"#).status(), 400);
        assert_eq!(err(r#"{"data": 4.5}"#).code(), "invalid_data_type");
        assert_eq!(err(r#"{"data": [1, 2]}"#).code(), "invalid_data_type");
        assert_eq!(err(r#"{"data": ""}"#).code(), "empty_row");
        assert_eq!(err(r#"{"data": ""}"#).status(), 422);
        assert_eq!(err(r#"{"data": []}"#).code(), "empty_batch");
        assert_eq!(err(r#"{"data": "4.5,abc,0.3"}"#).code(), "invalid_number");
        assert_eq!(err(r#"{"data": "4.5,NaN,0.3"}"#).code(), "invalid_number");
        assert_eq!(err(r#"{"data": "4.5,inf,0.3"}"#).code(), "invalid_number");
        assert_eq!(err(r#"{"data": "4.5,,0.3"}"#).code(), "invalid_number");
    }

    #[test]
    fn a_row_cannot_smuggle_a_second_row() {
        assert_eq!(
            err(r#"{"data": "4.5,1.3\n0.3,0.3"}"#).code(),
            "invalid_number"
        );
    }

    #[test]
    fn the_message_says_which_row_and_field() {
        let e = err(r#"{"data": ["1,2,3,4", "1,x,3,4"]}"#);
        assert!(e.message().contains("row 1 field 1"), "{}", e.message());
    }

    #[test]
    fn the_field_count_is_checked_when_configured() {
        let limits = Limits {
            feature_count: Some(4),
            ..Limits::default()
        };
        let e = parse("POST", JSON, br#"{"data": "1,2,3"}"#, &limits).unwrap_err();
        assert_eq!((e.code(), e.status()), ("wrong_field_count", 422));
        assert!(parse("POST", JSON, br#"{"data": "1,2,3,4"}"#, &limits).is_ok());
    }

    #[test]
    fn method_type_and_size_come_first() {
        let limits = Limits {
            max_body_bytes: 10,
            max_rows: 2,
            feature_count: None,
        };
        let big = br#"{"data": "1,2,3,4"}"#;
        assert_eq!(parse("GET", JSON, big, &limits).unwrap_err().status(), 405);
        assert_eq!(
            parse("POST", Some("text/csv"), big, &limits)
                .unwrap_err()
                .status(),
            415
        );
        assert_eq!(parse("POST", None, big, &limits).unwrap_err().status(), 415);
        assert_eq!(parse("POST", JSON, big, &limits).unwrap_err().status(), 413);
        let roomy = Limits::default();
        assert!(
            parse(
                "POST",
                Some("Application/JSON; charset=utf-8"),
                br#"{"data":"1"}"#,
                &roomy
            )
            .is_ok()
        );
    }

    #[test]
    fn too_many_rows_is_refused() {
        let limits = Limits {
            max_rows: 2,
            ..Limits::default()
        };
        let e = parse("POST", JSON, br#"{"data": ["1","2","3"]}"#, &limits).unwrap_err();
        assert_eq!(e.code(), "too_many_rows");
    }
}
