//! The deployment template passes cfn-lint.

use std::path::Path;
use std::process::Command;

/// Runs `scripts/cfn-lint.sh` on `examples/shop-service/template.yaml`.
///
/// `scripts/test.sh` installs cfn-lint first and sets `ES_CFN_LINT=1`, and
/// then (as under `ES_DYNAMODB=1` or in CI) a missing cfn-lint fails the
/// test. Elsewhere the test lints only with a cfn-lint already installed,
/// and otherwise says `skipped: …` and passes.
#[test]
fn template_passes_cfn_lint() {
    let required = ["ES_CFN_LINT", "ES_DYNAMODB"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|v| v == "1"))
        || std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = manifest.join("../../scripts/cfn-lint.sh");
    let template = manifest.join("template.yaml");
    let mut command = Command::new("bash");
    command.arg(&script).arg(&template);
    if !required {
        command.env("ES_CFN_LINT_NO_INSTALL", "1");
    }
    let output = command.output().expect("run scripts/cfn-lint.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(3) && !required {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: template_passes_cfn_lint: cfn-lint is not installed (scripts/cfn-lint.sh install; scripts/test.sh does it)"
        );
        return;
    }
    assert!(
        output.status.success(),
        "cfn-lint found problems in {}:\n{stdout}\n{stderr}",
        template.display()
    );
}

/// `sam build` builds both functions from the template, with SAM's
/// rust-cargolambda build method (cargo-lambda and zig, for
/// provided.al2023 on arm64), and `sam validate --lint` passes: what
/// `scripts/sam-build.sh` does, which installs the pinned tools first.
///
/// A release build of both binaries for another architecture takes minutes
/// and gigabytes (the numbers are in the shop-service README), so it runs
/// only when asked: `ES_SAM_BUILD=1`. Otherwise it says `skipped: …` and
/// passes.
#[test]
fn template_builds_with_sam() {
    if !std::env::var("ES_SAM_BUILD").is_ok_and(|v| v == "1") {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: template_builds_with_sam: set ES_SAM_BUILD=1 to run `sam build` (scripts/sam-build.sh)"
        );
        return;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("bash")
        .arg(manifest.join("../../scripts/sam-build.sh"))
        .output()
        .expect("run scripts/sam-build.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scripts/sam-build.sh failed:\n{stdout}\n{stderr}"
    );
    let build = manifest.join(".aws-sam/build");
    for function in ["ShopApiFunction", "ShopProjectionFunction"] {
        let bootstrap = std::fs::read(build.join(function).join("bootstrap"))
            .unwrap_or_else(|e| panic!("{function}/bootstrap: {e}"));
        // An ELF executable for aarch64 (e_machine 183).
        assert_eq!(&bootstrap[..4], b"\x7fELF", "{function}");
        assert_eq!(
            u16::from_le_bytes([bootstrap[18], bootstrap[19]]),
            183,
            "{function}/bootstrap is not for aarch64"
        );
        assert!(
            stdout.contains(&format!("{function}: bootstrap ")),
            "{stdout}"
        );
    }
}
