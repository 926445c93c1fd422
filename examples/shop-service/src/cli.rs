//! The command lines of the `shop-service` and `shop-projection` binaries,
//! when they are not on Lambda: `clap`'s derive, with `--help`,
//! `--version`, and the tables' environment variables (`ES_TABLE`,
//! `ES_VIEW_TABLE`) shown in the help as the options' fallbacks.
//!
//! A bad argument is a usage error (exit status 2) that names it, never a
//! panic: [`ServiceArgs::parse_from`] and [`ProjectionArgs::parse_from`]
//! leave printing and exiting to clap, and the `try_` forms return the
//! error for a caller (or a test) to look at.

use std::net::SocketAddr;

use clap::{ArgGroup, Parser};

/// The table `--dynamodb` uses when neither `--table` nor `ES_TABLE` names one.
pub const DEFAULT_TABLE: &str = "es-shop";

/// The environment variable that names the events table.
pub const TABLE_VAR: &str = "ES_TABLE";

/// `shop-service`'s command line.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "shop-service",
    version,
    about = "Serves the shopping API over HTTP.",
    long_about = "Serves the shopping API over HTTP on a local address. On AWS Lambda \
(AWS_LAMBDA_RUNTIME_API set) it takes no arguments and serves API Gateway's events \
instead, on DynamoDB, in the tables ES_TABLE and ES_VIEW_TABLE.\n\n\
The view routes (GET /products/{id}/stock, GET /carts/{id}/view) read the shop's \
views: with --dynamodb from the view table, which shop-projection keeps; in memory, \
from views the service keeps from its own events.\n\n\
SIGTERM or Ctrl-C stops it: it takes no new connections, finishes the requests in \
hand, and exits 0. RUST_LOG sets the log level (default info); logs are JSON lines \
on stdout."
)]
pub struct ServiceArgs {
    /// The address to listen on, as IP:PORT (port 0 picks a free one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Store events in DynamoDB, through the usual AWS configuration
    /// (AWS_ENDPOINT_URL_DYNAMODB for DynamoDB Local), in the table --table,
    /// created if missing; without it, events are kept in memory.
    #[arg(long)]
    pub dynamodb: bool,

    /// How long a buy holds stock for its cart unless the cart checks out,
    /// in seconds (1 to 86400).
    #[arg(long, value_name = "SECONDS", env = "SHOP_HOLD_SECONDS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub hold_seconds: u64,

    /// The events and view tables.
    #[command(flatten)]
    pub tables: Tables,

    /// The customers' keys (with --dynamodb).
    #[command(flatten)]
    pub keys: Keys,
}

/// The two tables, as both binaries take them.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// The events table (with --dynamodb).
    #[arg(long, value_name = "NAME", env = TABLE_VAR, default_value = DEFAULT_TABLE,
          value_parser = table_name)]
    pub table: String,

    /// The view table (with --dynamodb) [default: the events table's name
    /// with -views appended].
    #[arg(long, value_name = "NAME", env = crate::projection::VIEW_TABLE_VAR,
          value_parser = table_name)]
    pub view_table: Option<String>,
}

impl Tables {
    /// The view table: `--view-table` (or `ES_VIEW_TABLE`), else the events
    /// table's name with `-views` appended. One rule for both binaries, so
    /// that locally the API reads the table the projection writes.
    pub fn view_table(&self) -> String {
        self.view_table
            .clone()
            .unwrap_or_else(|| format!("{}-views", self.table))
    }
}

/// Where the keys of the shop's data subjects are, and what wraps them:
/// with `--dynamodb`, every store a binary builds seals and opens its
/// customers' personal data through them (`crate::keys`). The development
/// master key is read from `ES_MASTER_KEY` alone: a flag would show it to
/// anyone who lists the machine's processes.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The key table (with --dynamodb), created if missing [default: the
    /// events table's name with -keys appended].
    #[arg(long, value_name = "NAME", env = crate::keys::KEYS_TABLE_VAR,
          value_parser = table_name)]
    pub keys_table: Option<String>,

    /// The KMS key that wraps the customers' data keys (with --dynamodb): a
    /// key id, ARN or alias. Without it, ES_MASTER_KEY must hold a local
    /// master key, for development.
    #[arg(long, value_name = "KEY", env = crate::keys::KMS_KEY_VAR)]
    pub kms_key_id: Option<String>,
}

impl Keys {
    /// The key table of the events table `table`: `--keys-table` (or
    /// `SHOP_KEYS_TABLE`), else `{table}-keys`.
    pub fn keys_table(&self, table: &str) -> String {
        self.keys_table
            .clone()
            .unwrap_or_else(|| crate::keys::default_keys_table(table))
    }

    /// What wraps the keys: `--kms-key-id` (or `SHOP_KMS_KEY_ID`), else
    /// `ES_MASTER_KEY`, else why there is nothing to start with.
    pub fn wrapping(&self) -> Result<crate::keys::Wrapping, String> {
        crate::keys::Wrapping::choose(
            self.kms_key_id.as_deref(),
            std::env::var(crate::keys::MASTER_KEY_VAR).ok().as_deref(),
        )
    }
}

/// `Name#id`, an aggregate of the shop's.
fn aggregate_key(key: &str) -> Result<(String, String), String> {
    match key.split_once('#') {
        Some((name @ ("Product" | "Cart"), id)) if !id.is_empty() => {
            Ok((name.to_owned(), id.to_owned()))
        }
        _ => Err("an aggregate is `Product#{id}` or `Cart#{id}`".into()),
    }
}

/// DynamoDB's rule for table names: 3 to 255 of `a-z A-Z 0-9 _ - .`.
fn table_name(name: &str) -> Result<String, String> {
    let ok = (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(
            "a DynamoDB table name is 3 to 255 characters of a-z, A-Z, 0-9, `_`, `-` and `.`"
                .into(),
        )
    }
}

impl ServiceArgs {
    /// Parses `args`, the program name first; a bad one is clap's error.
    pub fn try_parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        <Self as Parser>::try_parse_from(args)
    }
}

/// `shop-projection`'s command line.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "shop-projection",
    version,
    about = "Keeps the shop's views from the events table's DynamoDB Stream.",
    long_about = "Keeps the shop's views (stock per product, cart per cart) from the \
events table's DynamoDB Stream. On AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it takes no \
arguments and handles the stream batches of its event source mapping, writing to the \
view table ES_VIEW_TABLE.\n\n\
Locally it reads the stream itself, as Lambda would, with es's stream runner, until \
Ctrl-C or SIGTERM, which stop it after the batch in hand. Run `shop-service --dynamodb` \
beside it, with the same tables, and its GET /products/{id}/stock and GET \
/carts/{id}/view show the views as this process updates them. RUST_LOG sets the log \
level (default info); logs are JSON lines on stdout, one per event applied.",
    group(ArgGroup::new("mode").args(["catch_up", "rebuild", "reapply_failures", "reapply"]).multiple(false))
)]
pub struct ProjectionArgs {
    /// Follow the stream of the events table into the view table, both
    /// created if missing, through the usual AWS configuration
    /// (AWS_ENDPOINT_URL_DYNAMODB for DynamoDB Local). Required: there is
    /// no stream in memory, and the in-memory shop-service keeps its views
    /// itself.
    #[arg(long, required = true)]
    pub dynamodb: bool,

    /// Project what the stream holds now, then exit.
    #[arg(long)]
    pub catch_up: bool,

    /// Project the whole history of the events table (not only the
    /// stream's last 24 hours) into the view table, then exit: for a new or
    /// changed view. An interrupted rebuild started again resumes.
    #[arg(long)]
    pub rebuild: bool,

    /// Reapply the stream batches that went to the projection's failure
    /// destination: FILE holds its messages (`-` for stdin), in any shape
    /// they travel in: the invocation records Lambda writes, SNS
    /// notifications of them, SQS messages, or `aws sqs receive-message`
    /// output. Each batch's records are read back from the stream (24
    /// hours), and their aggregates caught up from the events table.
    #[arg(long, value_name = "FILE")]
    pub reapply_failures: Option<std::path::PathBuf>,

    /// Catch these aggregates up from the events table, such as those of a
    /// batch whose records have left the stream: `Product#mug Cart#alice`.
    #[arg(long, value_name = "AGGREGATE#ID", num_args = 1.., value_parser = aggregate_key)]
    pub reapply: Vec<(String, String)>,

    /// The events and view tables.
    #[command(flatten)]
    pub tables: Tables,

    /// The customers' keys (with --dynamodb).
    #[command(flatten)]
    pub keys: Keys,
}

impl ProjectionArgs {
    /// Parses `args`, the program name first; a bad one is clap's error.
    pub fn try_parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        <Self as Parser>::try_parse_from(args)
    }
}

/// `shop-publisher`'s command line.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "shop-publisher",
    version,
    about = "Publishes the shop's integration events from the events table's stream to EventBridge.",
    long_about = "Maps the events table's stream to the shop's integration events \
(OrderPlaced, StockDepleted; docs/publishing.md) and puts them on the EventBridge bus \
ES_EVENT_BUS, before its positions move in the view table. On AWS Lambda \
(AWS_LAMBDA_RUNTIME_API set) it takes no arguments and handles its event source \
mapping's batches; locally it reads the stream with es's stream runner until Ctrl-C or \
SIGTERM."
)]
pub struct PublisherArgs {
    /// Publish what the stream holds now, then exit.
    #[arg(long)]
    pub catch_up: bool,

    /// The events and view tables.
    #[command(flatten)]
    pub tables: Tables,

    /// The customers' keys (with --dynamodb).
    #[command(flatten)]
    pub keys: Keys,
}
