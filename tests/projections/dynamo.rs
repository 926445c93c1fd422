//! Projections on DynamoDB Local: the stream runner, the Lambda entry point
//! and rebuilds, on tables of their own.
