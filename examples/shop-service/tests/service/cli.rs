//! The binary's command line.

use shop_service::cli::{parse, Command, Options};

#[test]
fn the_command_line_takes_listen_and_dynamodb() {
    let serve = |listen: &str, dynamodb| {
        Command::Serve(Options {
            listen: listen.parse().expect("an address"),
            dynamodb,
        })
    };
    assert_eq!(
        parse(Vec::<String>::new()),
        Ok(serve("127.0.0.1:3000", false))
    );
    assert_eq!(
        parse(["--listen", "127.0.0.1:0", "--dynamodb"]),
        Ok(serve("127.0.0.1:0", true))
    );
    assert_eq!(
        parse(["--dynamodb", "--listen=[::1]:8080"]),
        Ok(serve("[::1]:8080", true))
    );
    assert_eq!(parse(["--help"]), Ok(Command::Help));
    for (args, says) in [
        (vec!["--listen"], "--listen needs an address"),
        (vec!["--listen", "localhost"], "is not an IP:PORT address"),
        (
            vec!["--lisen", "127.0.0.1:1"],
            "unknown argument \"--lisen\"",
        ),
        (vec!["--dynamodb=yes"], "unknown argument"),
        (vec!["serve"], "unknown argument \"serve\""),
    ] {
        let err = parse(args.clone()).expect_err("a usage error");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn the_projection_command_line_needs_dynamodb() {
    use shop_service::cli::{parse_projection, ProjectionCommand};
    assert_eq!(
        parse_projection(["--dynamodb"]),
        Ok(ProjectionCommand::Follow { catch_up: false })
    );
    assert_eq!(
        parse_projection(["--catch-up", "--dynamodb"]),
        Ok(ProjectionCommand::Follow { catch_up: true })
    );
    assert_eq!(
        parse_projection(["--dynamodb", "--rebuild"]),
        Ok(ProjectionCommand::Rebuild)
    );
    assert_eq!(parse_projection(["-h"]), Ok(ProjectionCommand::Help));
    for (args, says) in [
        (vec![], "needs --dynamodb"),
        (vec!["--catch-up"], "needs --dynamodb"),
        (
            vec!["--dynamodb", "--listen"],
            "unknown argument \"--listen\"",
        ),
        (vec!["--dynamodb", "--rebuild", "--catch-up"], "give one"),
    ] {
        let err = parse_projection(args.clone()).expect_err("a usage error");
        assert!(err.contains(says), "{args:?}: {err}");
    }
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
