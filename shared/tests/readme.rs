//! The README's "Error names" table is `ErrorName`, name for name, with the
//! same retried/not-retried answer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

use shared::ErrorName;

#[test]
fn the_readme_error_table_is_the_error_enum() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("## Error names")
        .nth(1)
        .expect("an Error names section");
    let section = section.split("\n## ").next().unwrap();
    let rows: Vec<(String, bool)> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| {
            let name = l.split('`').next().unwrap().to_owned();
            let retried = l
                .trim_end()
                .trim_end_matches('|')
                .trim_end()
                .ends_with("yes");
            (name, retried)
        })
        .collect();
    let expected: Vec<(String, bool)> = ErrorName::ALL
        .iter()
        .map(|n| (n.as_str().to_owned(), n.is_transient()))
        .collect();
    assert_eq!(rows, expected);
}
