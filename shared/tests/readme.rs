//! The documentation against the code and itself:
//! - the "Error names" table (docs/reference/configuration.md) is `ErrorName`, name for
//!   name, with the same retried/not-retried answer;
//! - every document is under one of docs/{tutorial,how-to,reference,explanation};
//!   every relative link in README.md and the docs reaches a file, and an
//!   anchor reaches a heading of it; every `docs/…` the code names is there;
//! - the facts written twice stay equal: the architecture diagram (README.md
//!   and docs/explanation/architecture.md), which names every function crate, and the
//!   README's count of the template's functions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "in a test a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};

use shared::ErrorName;

fn root() -> PathBuf {
    Path::new(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("..")
}

#[test]
fn the_error_table_is_the_error_enum() {
    let doc = std::fs::read_to_string(root().join("docs/reference/configuration.md")).unwrap();
    let section = doc
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

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

/// The first mermaid block of a document.
fn diagram(text: &str) -> String {
    let start = text.find("```mermaid").expect("a mermaid diagram");
    let end = text[start + 3..].find("```").expect("the diagram's end") + start + 3;
    text[start..end].to_owned()
}

#[test]
fn the_architecture_diagram_is_the_readmes_and_names_every_function() {
    let readme = diagram(&read("README.md"));
    assert_eq!(diagram(&read("docs/explanation/architecture.md")), readme);
    let crates: Vec<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(crates.len() >= 9, "{crates:?}");
    for name in &crates {
        assert!(readme.contains(name.as_str()), "the diagram lacks {name}");
    }
}

#[test]
fn the_readme_counts_the_templates_functions() {
    let functions = read("template.yaml")
        .matches("BuildProperties: {Binary: ")
        .count();
    let words = [
        "", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten",
        "Eleven", "Twelve",
    ];
    let counted = format!("{} small Rust Lambdas", words[functions]);
    assert!(
        read("README.md").contains(&counted),
        "the README should say \"{counted}\""
    );
}

/// GitHub's anchor for a heading: lower case, punctuation dropped but for
/// hyphens and underscores, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && line.starts_with('#') {
            out.push(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// `[text](target)` links outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    out
}

fn broken_links(doc: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(doc).unwrap();
    let dir = doc.parent().unwrap();
    let mut broken = Vec::new();
    for link in links(&text) {
        if link.starts_with("http://")
            || link.starts_with("https://")
            || link.starts_with("mailto:")
        {
            continue;
        }
        let (file, anchor) = link.split_once('#').unwrap_or((&link, ""));
        let target = if file.is_empty() {
            doc.to_path_buf()
        } else {
            dir.join(file)
        };
        if !target.exists() {
            broken.push(format!("{}: {link} (no such file)", doc.display()));
            continue;
        }
        if !anchor.is_empty() {
            let text = std::fs::read_to_string(&target).unwrap_or_default();
            if !anchors(&text).iter().any(|a| a == anchor) {
                broken.push(format!("{}: {link} (no such heading)", doc.display()));
            }
        }
    }
    broken
}

/// Every file under `dir` whose name ends with one of `endings`, recursively,
/// leaving out what is not the project's (build output, tools, git).
fn files_under(dir: &Path, endings: &[&str], out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !name.starts_with('.') && !matches!(name.as_str(), "target" | "node_modules") {
                files_under(&path, endings, out);
            }
        } else if endings.iter().any(|e| name.ends_with(e)) {
            out.push(path);
        }
    }
}

/// The documents arranged by purpose: every one is in one of the four.
const PURPOSES: [&str; 4] = ["tutorial", "how-to", "reference", "explanation"];

#[test]
fn every_link_between_the_docs_resolves() {
    let mut docs = vec![root().join("README.md")];
    files_under(&root().join("docs"), &[".md"], &mut docs);
    assert!(docs.len() > 10, "{docs:?}");
    for doc in &docs[1..] {
        let purpose = doc.parent().unwrap().file_name().unwrap().to_string_lossy();
        assert!(
            PURPOSES.contains(&purpose.as_ref()),
            "{} is not under one of docs/{{{}}}",
            doc.display(),
            PURPOSES.join(",")
        );
    }
    let broken: Vec<String> = docs.iter().flat_map(|d| broken_links(d)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_check_notices_a_missing_file_and_a_missing_heading() {
    let dir = std::env::temp_dir().join(format!("links-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.md"),
        "# A\n\n## Real heading\n\n[x](b.md) [y](#real-heading) [z](#nope)\n",
    )
    .unwrap();
    let broken = broken_links(&dir.join("a.md"));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(
        broken[0].contains("b.md") && broken[1].contains("#nope"),
        "{broken:?}"
    );
}

/// `docs/<path>` as the code, the template, the definition and the scripts
/// name it (in comments, descriptions and messages): each must be there.
#[test]
fn every_doc_the_code_names_exists() {
    let mut sources = Vec::new();
    for dir in [
        "functions",
        "shared",
        "cli",
        "testkit",
        "scripts",
        "statemachine",
        "container",
        "bench",
        ".ci",
    ] {
        files_under(&root().join(dir), &[""], &mut sources);
    }
    for file in ["template.yaml", "Makefile", "samconfig.toml"] {
        sources.push(root().join(file));
    }
    let mut named = 0;
    let mut missing = Vec::new();
    for source in &sources {
        let Ok(text) = std::fs::read_to_string(source) else {
            continue;
        };
        for (i, _) in text.match_indices("docs/") {
            let path: String = text[i..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
                .collect();
            let path = path.trim_end_matches('.');
            if ![".md", ".json", ".png"].iter().any(|e| path.ends_with(e)) {
                continue;
            }
            // Another project's docs quoted in a comment (`https://…/docs/…`).
            if text[..i].ends_with('/')
                || text[..i].chars().last().is_some_and(char::is_alphanumeric)
            {
                continue;
            }
            named += 1;
            if !root().join(path).exists() {
                missing.push(format!("{}: {path}", source.display()));
            }
        }
    }
    assert!(named > 10, "the scan found only {named} names");
    assert!(
        missing.is_empty(),
        "named but missing:\n{}",
        missing.join("\n")
    );
}
