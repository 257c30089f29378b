//! Types and pure logic shared by the pipeline's eight Lambdas.
//!
//! - [`config`]: typed configuration from environment variables, read once at init.
//! - [`error`]: the fixed set of error names a failed invocation carries as its `errorType`.
//! - [`contract`]: the JSON (camelCase) between the state machine and each Lambda.
//! - [`naming`]: SageMaker and CodePipeline names derived deterministically.
//! - [`keys`]: the DynamoDB single-table key layout.
//! - [`aws`]: SDK configuration and classification of SDK errors into error names.
//! - [`door`]: every event-driven function decodes its payload here (`InvalidInput`, naming the field).
//! - [`sample`]: the stratified sample of a batch output the approval page shows.
//! - [`logging`]: the log subscriber every function installs (the runtime's and SDK's crates held at INFO).
//! - [`metrics`]: business metrics in CloudWatch's Embedded Metric Format, and their one list of names.

pub mod aws;
pub mod clock;
pub mod config;
pub mod contract;
pub mod door;
pub mod error;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod naming;
mod pem;
pub mod sample;

pub use config::{ConfigError, Env};
pub use error::{ErrorName, Failure};
