//! The shopping service's tests, in one test binary (each binary links the
//! AWS SDK, which costs link time and disk): the HTTP API over a real
//! loopback socket on both stores, the Lambda path on an API Gateway event,
//! the read side (the views in memory, and the projection function's
//! handler on a DynamoDB Streams event), the command lines, and the
//! deployment template.
//!
//! The DynamoDB variants run on DynamoDB Local when `AWS_ENDPOINT_URL_DYNAMODB`
//! is set (`scripts/test.sh` starts it), each on a new table of its own; with
//! no endpoint they say `skipped: …` and pass, unless `ES_DYNAMODB=1`.

#[path = "service/cli.rs"]
mod cli;
#[path = "service/client.rs"]
mod client;
#[path = "service/erasure.rs"]
mod erasure;
#[path = "service/hot.rs"]
mod hot;
#[path = "service/http.rs"]
mod http;
#[path = "service/lambda.rs"]
mod lambda;
#[path = "service/lambda_runtime.rs"]
mod lambda_runtime;
#[path = "service/process.rs"]
mod process;
#[path = "service/projection.rs"]
mod projection;
#[path = "service/publish.rs"]
mod publish;
#[path = "service/resources.rs"]
mod resources;
#[path = "service/runtime.rs"]
mod runtime;
#[path = "service/template.rs"]
mod template;
