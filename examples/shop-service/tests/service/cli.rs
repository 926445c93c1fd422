//! The binaries' command lines: clap's parsing, `--help`, `--version`, and
//! usage errors (exit status 2) for bad input.

use std::process::Command;

use shop_service::cli::{ProjectionArgs, ServiceArgs};

fn service(args: &[&str]) -> Result<ServiceArgs, String> {
    ServiceArgs::try_parse_args(std::iter::once("shop-service").chain(args.iter().copied()))
        .map_err(|e| e.to_string())
}

fn projection(args: &[&str]) -> Result<ProjectionArgs, String> {
    ProjectionArgs::try_parse_args(std::iter::once("shop-projection").chain(args.iter().copied()))
        .map_err(|e| e.to_string())
}

#[test]
fn the_command_line_takes_listen_and_dynamodb() {
    let args = service(&[]).expect("no arguments");
    assert_eq!(
        (args.listen, args.dynamodb),
        ("127.0.0.1:3000".parse().unwrap(), false)
    );
    let args = service(&["--listen", "127.0.0.1:0", "--dynamodb"]).expect("valid");
    assert_eq!(
        (args.listen, args.dynamodb),
        ("127.0.0.1:0".parse().unwrap(), true)
    );
    let args = service(&["--dynamodb", "--listen=[::1]:8080", "--table", "shop-1"]).expect("valid");
    assert_eq!(args.listen, "[::1]:8080".parse().unwrap());
    assert_eq!(args.tables.table, "shop-1");
    assert_eq!(args.tables.view_table(), "shop-1-views");
    for (args, says) in [
        (
            vec!["--listen"],
            "a value is required for '--listen <ADDR>'",
        ),
        (vec!["--listen", "localhost"], "invalid value 'localhost'"),
        (
            vec!["--lisen", "127.0.0.1:1"],
            "unexpected argument '--lisen'",
        ),
        (vec!["--dynamodb=yes"], "unexpected value 'yes'"),
        (vec!["serve"], "unexpected argument 'serve'"),
        (vec!["--table", "a b"], "a DynamoDB table name is"),
    ] {
        let err = service(&args).expect_err("a usage error");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn the_projection_command_line_needs_dynamodb() {
    let args = projection(&["--dynamodb"]).expect("valid");
    assert!(args.dynamodb && !args.catch_up && !args.rebuild);
    assert!(projection(&["--catch-up", "--dynamodb"]).unwrap().catch_up);
    assert!(projection(&["--dynamodb", "--rebuild"]).unwrap().rebuild);
    let args = projection(&["--dynamodb", "--reapply", "Product#mug", "Cart#a#b"]).unwrap();
    assert_eq!(
        args.reapply,
        [
            ("Product".into(), "mug".into()),
            ("Cart".into(), "a#b".into())
        ]
    );
    let args = projection(&["--dynamodb", "--reapply-failures", "-"]).unwrap();
    assert_eq!(
        args.reapply_failures.as_deref(),
        Some(std::path::Path::new("-"))
    );
    let args = projection(&["--dynamodb", "--view-table", "mine"]).unwrap();
    assert_eq!(args.tables.view_table(), "mine");
    for (args, says) in [
        (vec![], "--dynamodb"),
        (vec!["--catch-up"], "--dynamodb"),
        (
            vec!["--dynamodb", "--listen"],
            "unexpected argument '--listen'",
        ),
        (
            vec!["--dynamodb", "--rebuild", "--catch-up"],
            "cannot be used with",
        ),
        (
            vec!["--dynamodb", "--reapply", "Shelf#1"],
            "an aggregate is `Product#{id}` or `Cart#{id}`",
        ),
        (
            vec!["--dynamodb", "--reapply", "Product#"],
            "an aggregate is `Product#{id}` or `Cart#{id}`",
        ),
        (
            vec!["--dynamodb", "--reapply", "Product#a", "--rebuild"],
            "cannot be used with",
        ),
    ] {
        let err = projection(&args).expect_err("a usage error");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// Runs a built binary with `args` and no Lambda or table variables.
fn run(binary: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(binary);
    command
        .args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("ES_TABLE")
        .env_remove("ES_VIEW_TABLE");
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().expect("run the binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `--help` names the environment variables the tables fall back on and
/// their values; `--version` the package's version; bad input is a usage
/// error with status 2 that names the argument, never a panic.
#[test]
fn binaries_have_help_version_and_usage_errors() {
    let version = format!(" {}", env!("CARGO_PKG_VERSION"));
    for binary in [
        env!("CARGO_BIN_EXE_shop-service"),
        env!("CARGO_BIN_EXE_shop-projection"),
    ] {
        let (code, help, _) = run(binary, &["--help"], &[("ES_TABLE", "from-env")]);
        assert_eq!(code, 0, "{binary} --help");
        for says in [
            "[env: ES_TABLE=from-env]",
            "[env: ES_VIEW_TABLE=]",
            "--version",
        ] {
            assert!(
                help.contains(says),
                "{binary} --help lacks {says:?}:\n{help}"
            );
        }
        let (code, out, _) = run(binary, &["--version"], &[]);
        assert_eq!(code, 0, "{binary} --version");
        assert!(
            out.trim_end().ends_with(&version),
            "{binary} --version: {out}"
        );
        for bad in [&["--nope"][..], &["--table", "x"], &["--listen", "1.2.3"]] {
            let (code, _, err) = run(binary, bad, &[]);
            assert_eq!(code, 2, "{binary} {bad:?}: {err}");
            assert!(
                err.starts_with("error: ") && err.contains("--help") && !err.contains("panicked"),
                "{binary} {bad:?}: {err}"
            );
        }
    }
    let (code, _, err) = run(env!("CARGO_BIN_EXE_shop-projection"), &[], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--dynamodb"), "{err}");
}

/// The README's `cargo run -p shop-service -- --listen ..` needs cargo to
/// know which of the package's two binaries to run.
#[test]
fn cargo_run_runs_the_api() {
    let manifest = include_str!("../../Cargo.toml");
    assert!(
        manifest
            .lines()
            .any(|line| line.trim() == r#"default-run = "shop-service""#),
        "Cargo.toml must say `default-run = \"shop-service\"`"
    );
}

/// A hot-products list that does not parse stops the service before it
/// serves anything: leaving a product out would sell it from an aggregate
/// whose stock sits in its buckets.
#[test]
fn a_malformed_hot_products_list_stops_the_service_at_start() {
    let (code, _, err) = run(
        env!("CARGO_BIN_EXE_shop-service"),
        &["--listen", "127.0.0.1:0"],
        &[("SHOP_HOT_PRODUCTS", "mug=8,tee=0")],
    );
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(r#"SHOP_HOT_PRODUCTS="mug=8,tee=0": "tee=0": "0" is not a number of buckets from 1 to 99"#)
            && !err.contains("panicked"),
        "{err}"
    );
}
