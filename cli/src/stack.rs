//! `--stack`: the table, the model package group and the state machine from
//! the stack's outputs, so that people need not copy three names around.
//!
//! The stack is `--stack` (or `MLOPS_STACK`), else `samconfig.toml`'s
//! `stack_name` when `mlops` runs inside the repository. Names given
//! explicitly (`--table`, `--group`, `--state-machine` or their variables)
//! win, and the stack is read only when one is missing.

use std::path::{Path, PathBuf};

/// The outputs `mlops` reads (template.yaml's Outputs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    pub table: Option<String>,
    pub group: Option<String>,
    pub state_machine: Option<String>,
}

impl Outputs {
    pub fn table(&self) -> Result<String, String> {
        required(&self.table, "table", "--table", "TABLE_NAME")
    }

    pub fn group(&self) -> Result<String, String> {
        required(
            &self.group,
            "model package group",
            "--group",
            "MODEL_PACKAGE_GROUP",
        )
    }

    pub fn machine(&self) -> Result<String, String> {
        required(
            &self.state_machine,
            "state machine",
            "--state-machine",
            "STATE_MACHINE_ARN",
        )
    }
}

/// A name the command needs, or how to give it.
fn required(value: &Option<String>, what: &str, flag: &str, env: &str) -> Result<String, String> {
    value.clone().ok_or_else(|| {
        format!("no {what}: pass --stack (or run inside the repository, whose samconfig.toml names it), {flag}, or set {env}")
    })
}

/// `stack_name = "..."` from the nearest samconfig.toml at or above `dir`.
pub fn samconfig_stack(dir: &Path) -> Option<(String, PathBuf)> {
    // Climb no higher than the repository's root (the nearest directory
    // holding .git); outside a repository, read only `dir` itself: a
    // samconfig.toml in a home or temp directory names somebody else's stack.
    let root = dir.ancestors().find(|d| d.join(".git").exists());
    let mut at = Some(dir);
    while let Some(d) = at {
        let file = d.join("samconfig.toml");
        if let Ok(text) = std::fs::read_to_string(&file) {
            let name = text.lines().find_map(|l| {
                let (key, value) = l.split_once('=')?;
                (key.trim() == "stack_name").then(|| value.trim().trim_matches('"').to_owned())
            });
            return name.filter(|n| !n.is_empty()).map(|n| (n, file));
        }
        if root.is_none_or(|r| r == d) {
            break;
        }
        at = d.parent();
    }
    None
}

/// The stack's outputs, or a one-line error naming the stack (and where its name came from).
pub async fn outputs(
    sdk: &shared::aws::SdkConfig,
    stack: &str,
    from: &str,
) -> Result<Outputs, String> {
    let described = aws_sdk_cloudformation::Client::new(sdk)
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            let text = format!("{e:?}");
            if text.contains("does not exist") || text.contains("ValidationError") {
                format!("no stack named {stack} ({from}) in this account and region")
            } else {
                format!(
                    "cannot read stack {stack} ({from}): {}",
                    shared::aws::failure("DescribeStacks", &e).message
                )
            }
        })?;
    let found = described
        .stacks()
        .first()
        .ok_or_else(|| format!("no stack named {stack} ({from}) in this account and region"))?;
    let output = |key: &str| {
        found
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| o.output_value())
            .map(str::to_owned)
    };
    Ok(Outputs {
        table: output("TableName"),
        group: output("ModelPackageGroupName"),
        state_machine: output("StateMachineArn"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_name_comes_from_the_nearest_samconfig() {
        let root = std::env::temp_dir().join(format!("samconfig-{}", std::process::id()));
        let inner = root.join("functions/x");
        std::fs::create_dir_all(&inner).unwrap_or_default();
        std::fs::create_dir_all(root.join(".git")).unwrap_or_default();
        std::fs::write(
            root.join("samconfig.toml"),
            "version = 0.1\n[default.global.parameters]\nstack_name = \"mlops-pipeline\"\n",
        )
        .unwrap_or_default();
        let found = samconfig_stack(&inner).map(|(name, _)| name);
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(found.as_deref(), Some("mlops-pipeline"));
    }

    #[test]
    fn a_samconfig_above_the_repository_or_outside_one_is_not_read() {
        let top = std::env::temp_dir().join(format!("samconfig-above-{}", std::process::id()));
        let repo = top.join("repo");
        let inner = repo.join("cli");
        let loose = top.join("loose/deeper");
        std::fs::create_dir_all(repo.join(".git")).unwrap_or_default();
        std::fs::create_dir_all(&inner).unwrap_or_default();
        std::fs::create_dir_all(&loose).unwrap_or_default();
        std::fs::write(
            top.join("samconfig.toml"),
            "[default.global.parameters]\nstack_name = \"someone-elses\"\n",
        )
        .unwrap_or_default();
        let in_repo = samconfig_stack(&inner);
        let outside = samconfig_stack(&loose);
        let at_top = samconfig_stack(&top).map(|(name, _)| name);
        let _ = std::fs::remove_dir_all(&top);
        assert_eq!(in_repo, None, "climbed past the repository's root");
        assert_eq!(outside, None, "climbed outside any repository");
        assert_eq!(
            at_top.as_deref(),
            Some("someone-elses"),
            "the directory itself is read"
        );
    }
}
