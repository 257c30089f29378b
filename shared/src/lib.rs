//! Types and pure logic shared by the pipeline's Lambdas.
//!
//! - [`config`]: typed configuration from environment variables, read once at init.
//! - [`error`]: the fixed set of error names a failed invocation carries as its `errorType`.
//! - [`contract`]: the JSON (camelCase) between the state machine and each Lambda.
//! - [`naming`]: SageMaker and CodePipeline names derived deterministically.
//! - [`conditional`]: the table's conditional writes (`Done` or `Missed`) and the lease their claims share.
//! - [`keys`]: the DynamoDB single-table key layout.
//! - [`items`]: each kind of table item as one serde type (the approval, a link, the guard, the champion).
//! - [`ids`]: an approval's identifiers as types: the id (a capability, never shown), its hash, the task token.
//! - [`aws`]: SDK configuration and classification of SDK errors into error names.
//! - [`lambda`]: every event-driven function runs through [`lambda::serve`], which decodes its payload (`InvalidInput`, naming the field) inside a span naming the run.
//! - [`report`]: the model-quality report evaluate-model writes and the approval page reads.
//! - [`sample`]: the stratified sample of a batch output the approval page shows.
//! - [`logging`]: the log subscriber every function installs (the runtime's and SDK's crates held at INFO).
//! - [`metrics`]: business metrics in CloudWatch's Embedded Metric Format, and their one list of names.

pub mod aws;
pub mod clock;
pub mod conditional;
pub mod config;
pub mod contract;
pub mod drift;
pub mod error;
pub mod ids;
pub mod items;
pub mod keys;
pub mod lambda;
pub mod logging;
pub mod metrics;
pub mod naming;
mod pem;
pub mod report;
pub mod sample;

pub use config::{ConfigError, Env};
pub use error::{ErrorName, Failure};
pub use ids::{ApprovalHash, ApprovalId, TaskToken};
