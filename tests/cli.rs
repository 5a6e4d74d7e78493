//! The `tasnif` binary end to end: `serve` as a real process (signals, exit code),
//! the CLI client, batch classification, eval, and the clients of other ecosystems
//! (grpcurl, Python grpcio) when they are installed — `.ci/run` installs both and sets
//! TASNIF_REQUIRE_TOOLS=1 so that they cannot be skipped there.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tasnif");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A `tasnif serve` process, killed when dropped (a failing test leaves no server behind).
struct Server(Child);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `tasnif serve` on an ephemeral port; returns the process and its address.
fn spawn_server(extra: &[&str]) -> (Server, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let addr = common::listening_addr(&mut child);
    (Server(child), addr)
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// [`wait_exit`] for async tests: the runtime keeps polling (and closing) the test's own
/// connections while the server drains.
async fn wait_exit_async(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = exited(child, start, within) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = exited(child, start, within) {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The exit status once `child` has exited; fails the test after `within` from `start`.
fn exited(child: &mut Child, start: Instant, within: Duration) -> Option<std::process::ExitStatus> {
    let status = child.try_wait().unwrap();
    assert!(
        status.is_some() || start.elapsed() < within,
        "server did not exit within {within:?}"
    );
    status
}

fn seed(name: &str) -> String {
    root().join("seeds").join(name).display().to_string()
}

const SEED: &str = "000_e56e3be2487503d7.txt";

/// Runs `tasnif ARGS`, requires success (showing its stderr if not) and returns stdout.
fn tasnif_ok(args: &[&str]) -> Vec<u8> {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tasnif {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `tasnif ARGS` (with `stdin` as its standard input, if given) and returns its exit
/// code, stdout and stderr.
/// Runs `command` to the end and fails the test with its stderr if it did not succeed.
fn run_ok(command: &mut Command) -> std::process::Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn tasnif_run(args: &[&str], stdin: Option<&str>) -> (Option<i32>, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let text = stdin.unwrap_or("").to_string();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(text.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// JSON as grpcurl prints it, made one line: whitespace outside strings removed, and
/// Go's HTML-safe escapes (`\u003c`, `\u003e`, `\u0026`) written as the characters they
/// stand for (the same JSON).
fn minify(json: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !c.is_whitespace() {
            out.push(c);
            in_string = c == '"';
        }
    }
    out.replace("\\u003c", "<")
        .replace("\\u003e", ">")
        .replace("\\u0026", "&")
}

#[test]
fn one_json_shape_in_process_through_the_server_and_in_grpcurl() {
    let (mut child, addr) = spawn_server(&[]);
    let files: Vec<String> = common::seed_articles()
        .into_iter()
        .map(|(name, _)| seed(&name))
        .collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let ask = ["classify", "--segments", "--explain", "5"];
    let local = String::from_utf8(tasnif_ok(&[&ask[..], &files].concat())).unwrap();
    // `host:port` without a scheme is accepted.
    let remote = String::from_utf8(tasnif_ok(
        &[&ask[..], &["--server", &addr], &files].concat(),
    ))
    .unwrap();
    assert_eq!(local.lines().count(), files.len());
    assert_eq!(local, remote, "in process and through the server differ");
    let first: serde_json::Value = serde_json::from_str(local.lines().next().unwrap()).unwrap();
    assert!(first["segments"].as_array().unwrap().len() > 3);
    assert_eq!(
        first["segmentCount"],
        first["segments"].as_array().unwrap().len()
    );
    assert!(first["explanations"].as_array().unwrap().len() >= 3);
    assert_eq!(first["id"], files[0]);

    // Through JSON lines and ClassifyStream, the same lines again.
    let jsonl: String = common::seed_articles()
        .into_iter()
        .map(|(name, text)| serde_json::json!({"id": seed(&name), "text": text}).to_string() + "\n")
        .collect();
    let (code, stream, err) = tasnif_run(
        &[&ask[..], &["--server", &addr, "--jsonl", "-"]].concat(),
        Some(&jsonl),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(stream, local, "the stream's results differ");
    let (code, batch, err) = tasnif_run(&[&ask[..], &["--jsonl", "-"]].concat(), Some(&jsonl));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(batch, local, "--jsonl in process differs");

    // grpcurl (Go's protojson) prints the same bytes, once its indentation is removed.
    if let Some(grpcurl) = find_tool("grpcurl") {
        for ((name, text), line) in common::seed_articles().into_iter().zip(local.lines()) {
            let body = serde_json::json!({
                "text": text, "id": seed(&name), "explainTopN": 5,
                "include": ["INCLUDE_SEGMENTS", "INCLUDE_EXPLANATIONS"],
            });
            let out = Command::new(&grpcurl)
                .args(["-plaintext", "-d", &body.to_string(), &addr])
                .arg("tasnif.v1.TopicClassifier/Classify")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                minify(&String::from_utf8(out.stdout).unwrap()),
                line,
                "{name}"
            );
        }
    } else {
        skip("grpcurl");
    }
    sigterm(&child);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(15)).code(),
        Some(0)
    );
}

#[test]
fn classify_goes_on_past_failures_reports_each_and_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.txt");
    let english = dir.path().join("english.txt");
    std::fs::write(&english, "no Arabic here").unwrap();
    let (code, out, err) = tasnif_run(
        &[
            "classify",
            missing.to_str().unwrap(),
            &seed(SEED),
            english.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, Some(1), "{err}");
    // The good file is classified, between the two failures.
    assert_eq!(out.lines().count(), 1);
    assert!(out.contains(SEED));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].contains("missing.txt"), "{err}");
    // The cause is said once.
    assert_eq!(lines[0].matches("os error 2").count(), 1, "{err}");
    assert!(lines[1].starts_with(english.to_str().unwrap()), "{err}");
    assert!(lines[1].contains("Arabic"), "{err}");
    assert_eq!(lines[2], "error: classified 1 of 3 inputs, 2 failed");

    // Nothing to classify is a usage error.
    let (code, _, err) = tasnif_run(&["classify"], None);
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn classify_jsonl_reports_bad_lines_and_exits_one() {
    let mut lines = Vec::new();
    for (i, (_, text)) in common::seed_articles().into_iter().enumerate() {
        lines.push(serde_json::json!({"id": i, "text": text}).to_string());
    }
    lines.push("{not json".into());
    lines.push(String::new());
    lines.push(r#"["an", "array"]"#.into());
    lines.push(serde_json::json!({"id": "empty", "text": ""}).to_string());
    let input = lines.join("\n");
    let (code, out, err) = tasnif_run(&["classify", "--jsonl", "-"], Some(&input));
    assert_eq!(code, Some(1), "{err}");
    let results: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Numeric ids are accepted and kept as written.
    let ids: Vec<&str> = results.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["0", "1", "2", "3", "4"]);
    let errors: Vec<&str> = err.lines().collect();
    assert!(errors[0].starts_with("line 6: not JSON"), "{err}");
    assert_eq!(
        errors[1],
        r#"line 8: expected an object {"id": …, "text": …}, found an array"#
    );
    assert!(errors[2].starts_with("line 9: id \"empty\": "), "{err}");
    assert_eq!(
        errors[3],
        "error: classified 5 of 8 inputs, 3 failed, 1 blank line skipped"
    );

    // A file that is not JSON lines at all fails, it does not pass silently.
    let (code, out, _) = tasnif_run(&["classify", "--jsonl", "-"], Some("just some text\n"));
    assert_eq!((code, out.as_str()), (Some(1), ""));
}

#[test]
fn classify_through_the_server_truncates_when_asked() {
    let (mut child, addr) = spawn_server(&["--max-article-chars", "300"]);
    let (code, out, err) = tasnif_run(&["classify", "--server", &addr, &seed(SEED)], None);
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
    assert!(
        err.contains("InvalidArgument") && err.contains("300"),
        "{err}"
    );
    let (code, out, err) = tasnif_run(
        &["classify", "--server", &addr, "--truncate", &seed(SEED)],
        None,
    );
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["truncated"], true);
    assert_eq!(v["characters"], 300);
    // An unreachable server is one clear line, not a repeated chain.
    let (code, _, err) = tasnif_run(&["classify", "--server", "127.0.0.1:1", &seed(SEED)], None);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("error: cannot connect to http://127.0.0.1:1: "),
        "{err}"
    );
    assert_eq!(err.matches("connect").count(), 1, "{err}");
    sigterm(&child);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(15)).code(),
        Some(0)
    );
}

#[test]
fn serve_refuses_a_bad_model_file_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, b"{\"format\":\"tasnif-model\",\"format_version\":1,").unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--model",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("truncated or corrupted"), "{err}");
}

#[test]
fn eval_json_reports_metrics_on_a_labelled_file() {
    let out = tasnif_ok(&[
        "eval",
        "--data",
        &root().join("seeds/labels.tsv").display().to_string(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    for key in ["accuracy", "macro_f1", "per_label", "confusion"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    // Training data, classified whole per segment: the model fits it well.
    assert!(v["accuracy"].as_f64().unwrap() > 0.9);
}

#[test]
fn vectorize_prints_terms_indices_and_weights() {
    let text = String::from_utf8(tasnif_ok(&["vectorize", &seed(SEED)])).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("term\tindex\tweight"));
    let rows: Vec<Vec<&str>> = lines
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
        .collect();
    assert!(rows.len() > 50);
    // The TF-IDF part is unit length; the word-vector dimensions (`v:N`) follow it.
    let norm: f64 = rows
        .iter()
        .filter(|r| !r[0].starts_with("v:"))
        .map(|r| r[2].parse::<f64>().unwrap().powi(2))
        .sum();
    assert!((norm - 1.0).abs() < 1e-3);
    let dims = rows.iter().filter(|r| r[0].starts_with("v:")).count();
    assert_eq!(
        dims,
        tasnif::embedding::WordVectors::embedded().unwrap().dims()
    );
}

fn find_tool(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn skip(tool: &str) {
    assert!(
        !common::tools_required(),
        "{tool} is required (TASNIF_REQUIRE_TOOLS=1) but was not found"
    );
    common::skipped(&format!(
        "{tool} not found on PATH (CI installs it; see .ci/run)"
    ));
}

#[test]
fn grpcurl_lists_describes_and_classifies_with_json() {
    let Some(grpcurl) = find_tool("grpcurl") else {
        return skip("grpcurl");
    };
    let (mut child, addr) = spawn_server(&[]);
    let run = |args: &[&str]| {
        let out = Command::new(&grpcurl)
            .arg("-plaintext")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "grpcurl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let list = run(&[&addr, "list"]);
    assert!(list.contains("tasnif.v1.TopicClassifier"), "{list}");
    assert!(list.contains("grpc.health.v1.Health"), "{list}");
    let describe = run(&[&addr, "describe", "tasnif.v1.TopicClassifier"]);
    assert!(describe.contains("rpc Classify"), "{describe}");
    assert!(describe.contains("rpc ClassifyStream"), "{describe}");
    let body = serde_json::json!({"text": "سيطر الجيش السوري على مدينة البوكمال بعد معارك عنيفة مع مسلحي داعش"}).to_string();
    let out = run(&["-d", &body, &addr, "tasnif.v1.TopicClassifier/Classify"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["primary"], "military");
    // A bad request shows the status code and our message.
    let bad = Command::new(&grpcurl)
        .args([
            "-plaintext",
            "-d",
            r#"{"text": "hello"}"#,
            &addr,
            "tasnif.v1.TopicClassifier/Classify",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("InvalidArgument") && err.contains("no Arabic"),
        "{err}"
    );
    sigterm(&child);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(15)).code(),
        Some(0)
    );
}

#[test]
fn python_grpcio_client_generated_from_the_proto() {
    let python = std::env::var("TASNIF_PYTHON").unwrap_or_else(|_| "python3".into());
    let available = Command::new(&python)
        .args(["-c", "import grpc, grpc_tools"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        return skip("python3 with grpcio and grpcio-tools");
    }
    let (mut child, addr) = spawn_server(&[]);
    let out = Command::new(&python)
        .arg(root().join("tests/python/client.py"))
        .args([&addr, &seed(SEED)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    sigterm(&child);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(15)).code(),
        Some(0)
    );
}

/// The commands of a README code block: lines starting with `prefix` (after an optional
/// `$ ` prompt), continuation lines (`\`) joined, each with the output shown under it
/// (in a console block, up to the next prompt or the block's end).
fn readme_commands(prefix: &str) -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut commands: Vec<(String, String)> = Vec::new();
    let (mut in_block, mut current, mut output): (bool, Option<String>, Option<usize>) =
        (false, None, None);
    for line in readme.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            output = None;
            continue;
        }
        if !in_block {
            continue;
        }
        let bare = line.strip_prefix("$ ").unwrap_or(line);
        if let Some(c) = current.as_mut() {
            c.push(' ');
            c.push_str(bare.trim_end_matches('\\').trim());
            if !bare.ends_with('\\') {
                commands.push((current.take().unwrap(), String::new()));
                output = line_is_prompted(&commands);
            }
            continue;
        }
        if bare.starts_with(prefix) {
            let prompted = line.starts_with("$ ");
            if bare.ends_with('\\') {
                current = Some(bare.trim_end_matches('\\').trim().to_string());
                PROMPTED.with(|p| p.set(prompted));
            } else {
                commands.push((bare.to_string(), String::new()));
                output = prompted.then(|| commands.len() - 1);
            }
        } else if line.starts_with("$ ") {
            output = None;
        } else if let Some(i) = output {
            commands[i].1.push_str(line);
            commands[i].1.push('\n');
        }
    }
    commands
}

thread_local! {
    static PROMPTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn line_is_prompted(commands: &[(String, String)]) -> Option<usize> {
    PROMPTED
        .with(|p| p.replace(false))
        .then(|| commands.len() - 1)
}

/// Every grpcurl and curl line of the README, run against a server: it succeeds (or fails as its
/// comment says), and where the README shows the output, prints that.
#[test]
fn the_readmes_grpcurl_lines_print_what_the_readme_shows() {
    let Some(_) = find_tool("grpcurl") else {
        return skip("grpcurl");
    };
    let mut commands = readme_commands("grpcurl -plaintext");
    assert!(commands.len() >= 8, "{commands:?}");
    // And the curl lines of the JSON side.
    commands.extend(readme_commands("curl -s localhost:50051"));
    let (mut child, addr) = spawn_server(&[]);
    for (command, shown) in &commands {
        // Templates with a placeholder text (the auth and TLS examples) are exercised by
        // their own tests, with real tokens and certificates.
        if command.contains('…') {
            continue;
        }
        let command = command.replace("localhost:50051", &addr);
        let out = Command::new("sh").args(["-c", &command]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if command.contains(r#"{"text": "hello"}"#) {
            // Shown as a comment below it: the error grpcurl prints.
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success());
            assert!(err.contains("Code: InvalidArgument"), "{err}");
            assert!(err.contains("text contains no Arabic letters"), "{err}");
            continue;
        }
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if shown.is_empty() {
            continue;
        }
        if shown.trim_start().starts_with('{') {
            assert_eq!(minify(&stdout), minify(shown), "{command}");
        } else {
            // Text: the lines shown (before any `...`) come first.
            let shown: Vec<&str> = shown
                .trim_end()
                .lines()
                .take_while(|l| l.trim() != "...")
                .collect();
            let got: Vec<&str> = stdout.lines().take(shown.len()).collect();
            assert_eq!(got, shown, "{command}");
        }
    }
    sigterm(&child);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(15)).code(),
        Some(0)
    );
}

/// The Python, Node and Go clients shown in the README (examples/clients), run against a
/// server: each prints the primary label and scores the CLI prints for the same text.
#[test]
fn the_readmes_python_node_and_go_clients_work() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for file in ["classify.py", "classify.js", "classify.go"] {
        let code = std::fs::read_to_string(root().join("examples/clients").join(file)).unwrap();
        assert!(
            readme.contains(code.trim()),
            "README.md does not show examples/clients/{file} as it is"
        );
    }
    let text = "سيطر الجيش على المدينة بعد معارك عنيفة. واستقبل الرئيس وفدا روسيا في دمشق.";
    let (code, out, err) = tasnif_run(&["classify", "--segments", "-"], Some(text));
    assert_eq!(code, Some(0), "{err}");
    let want: serde_json::Value = serde_json::from_str(&out).unwrap();
    let check = |who: &str, out: &std::process::Output| {
        assert!(
            out.status.success(),
            "{who}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout.clone()).unwrap();
        let mut lines = stdout.lines();
        let mut first = lines.next().unwrap().split(' ');
        assert_eq!(first.next().unwrap(), want["primary"], "{who}: {stdout}");
        for (got, w) in first.zip(want["scores"].as_array().unwrap()) {
            let (label, p) = got.split_once(':').unwrap();
            assert_eq!(label, w["label"], "{who}");
            let p: f64 = p.parse().unwrap();
            assert!(
                (p - w["probability"].as_f64().unwrap()).abs() < 0.0006,
                "{who}"
            );
        }
        let segments: Vec<&str> = lines.collect();
        assert_eq!(
            segments.len(),
            want["segments"].as_array().unwrap().len(),
            "{who}"
        );
        let last = want["segments"].as_array().unwrap().last().unwrap();
        assert!(segments
            .last()
            .unwrap()
            .ends_with(last["label"].as_str().unwrap()));
    };
    let (mut child, addr) = spawn_server(&[]);

    let python = std::env::var("TASNIF_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_python = Command::new(&python)
        .args(["-c", "import grpc, grpc_tools"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has_python {
        let gen = tempfile::tempdir().unwrap();
        let status = Command::new(&python)
            .args(["-m", "grpc_tools.protoc", "-Iproto"])
            .arg(format!("--python_out={}", gen.path().display()))
            .arg(format!("--grpc_python_out={}", gen.path().display()))
            .arg("proto/tasnif/v1/tasnif.proto")
            .current_dir(root())
            .status()
            .unwrap();
        assert!(status.success());
        let out = Command::new(&python)
            .arg(root().join("examples/clients/classify.py"))
            .args([&addr, text])
            .env("PYTHONPATH", gen.path())
            .output()
            .unwrap();
        check("python", &out);
    } else {
        skip("python3 with grpcio and grpcio-tools");
    }

    let has_node = Command::new("node")
        .args([
            "-e",
            "require.resolve('@grpc/grpc-js'); require.resolve('@grpc/proto-loader')",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has_node {
        let out = Command::new("node")
            .arg(root().join("examples/clients/classify.js"))
            .args([&addr, text])
            .current_dir(root())
            .output()
            .unwrap();
        check("node", &out);
    } else {
        skip("node with @grpc/grpc-js and @grpc/proto-loader (NODE_PATH)");
    }

    // Go in GOPATH mode (modules cannot be fetched here) against Debian's packages:
    // golang-go, golang-google-grpc-dev, golang-google-protobuf-dev (protoc-gen-go is
    // built from its source), golang-github-golang-protobuf-1-5-dev (grpc-go 1.33's codec
    // over protobuf-go messages) and protoc-gen-go-grpc; grpc_tools' protoc generates the code.
    let gocode = std::path::Path::new("/usr/share/gocode/src");
    let has_go = has_python
        && Command::new("go")
            .arg("version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        && gocode.join("google.golang.org/grpc").is_dir()
        // golang/protobuf 1.5 (its go.mod requires protobuf-go), not 1.3.
        && std::fs::read_to_string(gocode.join("github.com/golang/protobuf/go.mod"))
            .is_ok_and(|m| m.contains("google.golang.org/protobuf"))
        && gocode
            .join("google.golang.org/protobuf/cmd/protoc-gen-go")
            .is_dir()
        && Command::new("protoc-gen-go-grpc")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if has_go {
        let dir = tempfile::tempdir().unwrap();
        let go = |args: &[&str]| {
            let mut c = Command::new("go");
            c.args(args)
                .env("GO111MODULE", "off")
                .env("GOFLAGS", "")
                .env(
                    "GOPATH",
                    format!("{}:/usr/share/gocode", dir.path().display()),
                )
                .env("GOCACHE", dir.path().join("cache"))
                .current_dir(root());
            c
        };
        let plugin = dir.path().join("protoc-gen-go");
        run_ok(
            go(&["build", "-o", plugin.to_str().unwrap()])
                .arg("google.golang.org/protobuf/cmd/protoc-gen-go"),
        );
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        run_ok(
            Command::new(&python)
                .args(["-m", "grpc_tools.protoc", "-Iproto"])
                .arg(format!("--plugin=protoc-gen-go={}", plugin.display()))
                .arg(format!("--go_out={}", src.display()))
                .arg(format!("--go-grpc_out={}", src.display()))
                .arg("proto/tasnif/v1/tasnif.proto")
                .current_dir(root()),
        );
        let client = dir.path().join("classify");
        run_ok(&mut go(&[
            "build",
            "-o",
            client.to_str().unwrap(),
            "examples/clients/classify.go",
        ]));
        let out = Command::new(&client).args([&addr, text]).output().unwrap();
        check("go", &out);
    } else {
        skip("go with Debian's golang-google-grpc-dev, golang-google-protobuf-dev, golang-github-golang-protobuf-1-5-dev, protoc-gen-go-grpc and python grpcio-tools");
    }
    sigterm(&child);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(15)).code(),
        Some(0)
    );
}

#[test]
fn impossible_configurations_fail_before_listening() {
    for args in [
        vec!["--max-in-flight", "1"],
        vec!["--max-in-flight", "0"],
        vec!["--workers", "0"],
        vec!["--call-memory", "1000"],
        vec!["--handshake-timeout", "0"],
        vec!["--addr", "no-such-host.invalid:1"],
        vec!["--auth-token-file", "/nonexistent/tokens"],
    ] {
        let mut all = vec!["serve"];
        if args[0] != "--addr" {
            all.extend(["--addr", "127.0.0.1:0"]);
        }
        all.extend(&args);
        let out = Command::new(BIN).args(&all).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: exit code");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains("listening"),
            "{args:?}: said {stdout:?} before failing"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("must") || stderr.contains("resolve") || stderr.contains("token file"),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
}

#[test]
fn host_names_json_logs_and_request_ids() {
    // `localhost` resolves; logs are JSON lines with --log-format json, no colour codes.
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "localhost:0", "--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::listening_addr(&mut child);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().next().expect("a log line");
    let parsed: serde_json::Value = serde_json::from_str(first).expect("JSON log lines");
    assert!(parsed["fields"]["message"].as_str().is_some(), "{first}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI codes");
}

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate, as PEM
/// files in `dir`: (ca, server cert, server key, client cert, client key).
fn make_certificates(dir: &Path) -> [std::path::PathBuf; 5] {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    // Distinct names: a certificate whose subject equals its issuer reads as self-signed.
    let named = |sans: Vec<String>, cn: &str| {
        let mut p = CertificateParams::new(sans).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = named(Vec::new(), "tasnif test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = named(
        vec!["localhost".to_string(), "127.0.0.1".to_string()],
        "localhost",
    )
    .signed_by(&server_key, &issuer)
    .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = named(vec!["client".to_string()], "tasnif test client")
        .signed_by(&client_key, &issuer)
        .unwrap();
    let files = [
        ("ca.pem", ca.pem()),
        ("server.pem", server.pem()),
        ("server.key", server_key.serialize_pem()),
        ("client.pem", client.pem()),
        ("client.key", client_key.serialize_pem()),
    ];
    files.map(|(name, pem)| {
        let p = dir.join(name);
        std::fs::write(&p, pem).unwrap();
        p
    })
}

/// A server with TLS that requires client certificates signed by `ca`.
fn spawn_mtls_server(cert: &Path, key: &Path, ca: &Path) -> (Server, String) {
    let s = |p: &Path| p.display().to_string();
    spawn_server(&[
        "--tls-cert",
        &s(cert),
        "--tls-key",
        &s(key),
        "--tls-client-ca",
        &s(ca),
    ])
}

/// SIGTERM, then the server exits 0 within 15 s.
fn stop_cleanly(child: &mut Child) {
    sigterm(child);
    assert_eq!(wait_exit(child, Duration::from_secs(15)).code(), Some(0));
}

/// The README's bearer-token and TLS grpcurl templates, run as written: the placeholder
/// `…` replaced by a sentence, the port by the test server's, in a directory holding the
/// token and certificate files under the README's names. Without the token, or without
/// the client certificate, the same lines are refused.
#[test]
fn the_readmes_auth_and_tls_templates_work() {
    let Some(_) = find_tool("grpcurl") else {
        return skip("grpcurl");
    };
    let auth: Vec<String> = readme_commands("grpcurl -plaintext -H 'authorization: Bearer")
        .into_iter()
        .map(|c| c.0)
        .collect();
    let tls: Vec<String> = readme_commands("grpcurl -cacert")
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!((auth.len(), tls.len()), (1, 1), "{auth:?} {tls:?}");
    let dir = tempfile::tempdir().unwrap();
    let [ca, cert, key, _, _] = make_certificates(dir.path());
    let tokens = dir.path().join("tokens.txt");
    std::fs::write(&tokens, "OTHER-TOKEN\nMY-TOKEN\n").unwrap();
    let run = |command: &str, addr: &str| {
        let port = addr.rsplit(':').next().unwrap();
        let command = command
            .replace('…', "سيطر الجيش على المدينة بعد اشتباكات عنيفة")
            .replace("localhost:50051", &format!("localhost:{port}"));
        let out = Command::new("sh")
            .args(["-c", &command])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let s = |p: &std::path::PathBuf| p.display().to_string();

    let (mut child, addr) = spawn_server(&["--auth-token-file", &s(&tokens)]);
    let (ok, stdout, stderr) = run(&auth[0], &addr);
    assert!(ok, "{}: {stderr}", auth[0]);
    assert!(stdout.contains(r#""primary": "military""#), "{stdout}");
    let without = auth[0].replace("-H 'authorization: Bearer MY-TOKEN' ", "");
    assert_ne!(without, auth[0]);
    let (ok, _, stderr) = run(&without, &addr);
    assert!(!ok && stderr.contains("Code: Unauthenticated"), "{stderr}");
    assert!(!stderr.contains("OTHER-TOKEN"), "{stderr}");
    stop_cleanly(&mut child);

    let (mut child, addr) = spawn_mtls_server(&cert, &key, &ca);
    let (ok, stdout, stderr) = run(&tls[0], &addr);
    assert!(ok, "{}: {stderr}", tls[0]);
    assert!(stdout.contains(r#""primary": "military""#), "{stdout}");
    let without = tls[0].replace("-cert client.pem -key client.key ", "");
    assert_ne!(without, tls[0]);
    let (ok, _, stderr) = run(&without, &addr);
    assert!(!ok, "served a client without a certificate: {stderr}");
    stop_cleanly(&mut child);
}

#[tokio::test]
async fn mutual_tls_with_tonic_grpcurl_and_python() {
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
    let dir = tempfile::tempdir().unwrap();
    let [ca, cert, key, client_cert, client_key] = make_certificates(dir.path());
    let s = |p: &std::path::PathBuf| p.display().to_string();
    let (mut child, addr) = spawn_mtls_server(&cert, &key, &ca);
    let port = addr.rsplit(':').next().unwrap().to_string();
    let url = format!("https://localhost:{port}");
    let ca_pem = std::fs::read(&ca).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca_pem))
        .domain_name("localhost");
    // With the client certificate: served.
    let channel = Channel::from_shared(url.clone())
        .unwrap()
        .tls_config(tls.clone().identity(Identity::from_pem(
            std::fs::read(&client_cert).unwrap(),
            std::fs::read(&client_key).unwrap(),
        )))
        .unwrap()
        .connect()
        .await
        .expect("mutual TLS connects");
    let mut client =
        tasnif::service::proto::topic_classifier_client::TopicClassifierClient::new(channel);
    let r = client
        .classify(tasnif::service::proto::ClassifyRequest {
            text: "سيطر الجيش على المدينة بعد اشتباكات عنيفة".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.primary, "military");
    // Without one: refused.
    let refused = match Channel::from_shared(url.clone())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
    {
        Err(_) => true,
        Ok(channel) => {
            tasnif::service::proto::topic_classifier_client::TopicClassifierClient::new(channel)
                .get_model_info(tasnif::service::proto::GetModelInfoRequest {})
                .await
                .is_err()
        }
    };
    assert!(
        refused,
        "a client without a certificate is refused under mTLS"
    );
    // Plaintext: refused too.
    let plain = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        assert!(
            tasnif::service::proto::topic_classifier_client::TopicClassifierClient::new(channel)
                .get_model_info(tasnif::service::proto::GetModelInfoRequest {})
                .await
                .is_err()
        );
    }
    // JSON over HTTP on the same TLS port, with curl and the client certificate.
    match find_tool("curl") {
        None => skip("curl"),
        Some(curl) => {
            let out = Command::new(curl)
                .args(["-s", "--cacert", &s(&ca), "--cert", &s(&client_cert)])
                .args(["--key", &s(&client_key)])
                .args([
                    "-d",
                    r#"{"text": "سيطر الجيش على المدينة بعد اشتباكات عنيفة"}"#,
                ])
                .arg(format!("https://localhost:{port}/v1/classify"))
                .output()
                .unwrap();
            let body = String::from_utf8_lossy(&out.stdout);
            assert!(body.contains(r#""primary":"military""#), "{body}");
        }
    }
    // grpcurl with -cacert and the client certificate.
    match find_tool("grpcurl") {
        None => skip("grpcurl"),
        Some(grpcurl) => {
            let out = Command::new(grpcurl)
                .args([
                    "-cacert",
                    &s(&ca),
                    "-cert",
                    &s(&client_cert),
                    "-key",
                    &s(&client_key),
                    "-d",
                    r#"{"text": "سيطر الجيش على المدينة بعد اشتباكات عنيفة"}"#,
                    &format!("localhost:{port}"),
                    "tasnif.v1.TopicClassifier/Classify",
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "grpcurl: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("military"));
        }
    }
    // Python grpcio with ssl_channel_credentials.
    let python = std::env::var("TASNIF_PYTHON").unwrap_or_else(|_| "python3".into());
    let available = Command::new(&python)
        .args(["-c", "import grpc, grpc_tools"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if available {
        let out = Command::new(&python)
            .arg(root().join("tests/python/client.py"))
            .args([&format!("localhost:{port}"), &seed(SEED)])
            .env("TASNIF_TLS_CA", &ca)
            .env("TASNIF_TLS_CERT", &client_cert)
            .env("TASNIF_TLS_KEY", &client_key)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        skip("python3 with grpcio and grpcio-tools");
    }
    drop(client);
    sigterm(&child);
    assert_eq!(
        wait_exit_async(&mut child, Duration::from_secs(15))
            .await
            .code(),
        Some(0)
    );
}

#[tokio::test]
async fn sighup_reloads_the_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    let a = tasnif::classifier::EMBEDDED_MODEL.to_vec();
    std::fs::write(&path, &a).unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&a).unwrap();
    json["calibration"]["temperature"] = serde_json::json!(0.2);
    let b = serde_json::to_vec(&json).unwrap();
    let want = tasnif::Classifier::from_bytes(&b)
        .unwrap()
        .version()
        .to_string();
    let (mut child, addr) = spawn_server(&["--model", &path.display().to_string()]);
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client =
        tasnif::service::proto::topic_classifier_client::TopicClassifierClient::new(channel);
    let version = |r: tonic::Response<tasnif::service::proto::ModelInfo>| r.into_inner().version;
    let before = version(
        client
            .get_model_info(tasnif::service::proto::GetModelInfoRequest {})
            .await
            .unwrap(),
    );
    assert_ne!(before, want);
    std::fs::write(&path, &b).unwrap();
    // No --watch: nothing changes until SIGHUP.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        version(
            client
                .get_model_info(tasnif::service::proto::GetModelInfoRequest {})
                .await
                .unwrap()
        ),
        before
    );
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let mut now = before.clone();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        now = version(
            client
                .get_model_info(tasnif::service::proto::GetModelInfoRequest {})
                .await
                .unwrap(),
        );
        if now == want {
            break;
        }
    }
    assert_eq!(now, want, "SIGHUP swapped in the new file");
    drop(client);
    sigterm(&child);
    assert_eq!(
        wait_exit_async(&mut child, Duration::from_secs(15))
            .await
            .code(),
        Some(0)
    );
}

/// A small training problem in `dir`: three seed articles (eight segments each) as the
/// labelled data, and six segments of the other seeds as a corpus of one-sentence
/// articles (sport, for the `other` examples, and politics, for tune's self-training
/// pool).
/// Returns the data and corpus paths.
fn small_training_set(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let labels = std::fs::read_to_string(root().join("seeds/labels.tsv")).unwrap();
    let mut lines = labels.lines();
    let mut data = format!("{}\n", lines.next().unwrap());
    let mut corpus = String::new();
    let mut docs: Vec<&str> = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        let (doc, index, text) = (fields[0], fields[1], fields[3]);
        if !docs.contains(&doc) {
            docs.push(doc);
        }
        if docs.len() <= 3 {
            if index.parse::<usize>().unwrap() < 8 {
                data.push_str(line);
                data.push('\n');
            }
        } else if corpus.lines().count() < 6 {
            let category = ["sport", "politic"][corpus.lines().count() % 2];
            let article = serde_json::json!({
                "id": format!("{doc}-{index}"),
                "source": "test",
                "category": category,
                "text": text,
            });
            corpus.push_str(&format!("{article}\n"));
        }
    }
    let (data_path, corpus_path) = (dir.join("labels.tsv"), dir.join("corpus.jsonl"));
    std::fs::write(&data_path, data).unwrap();
    std::fs::write(&corpus_path, corpus).unwrap();
    (data_path, corpus_path)
}

#[test]
fn tune_prints_its_table_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (data, corpus) = small_training_set(dir.path());
    let started = Instant::now();
    let out = Command::new(BIN)
        .arg("tune")
        .arg("--data")
        .arg(&data)
        .arg("--corpus")
        .arg(&corpus)
        .arg("--vectors")
        .arg(root().join("models/vectors.bin"))
        .arg("--skip-grid")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tune failed: {stderr}");
    // linfa-bayes' leftover dbg! once printed every class histogram here (72 MB).
    assert!(
        out.stderr.len() < 10_000,
        "{} bytes on stderr, beginning {:?}",
        out.stderr.len(),
        stderr.chars().take(500).collect::<String>()
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.lines().any(|l| l.starts_with("configuration")
            && ["cv_acc", "cv_mF1", "cv_top3"]
                .iter()
                .all(|c| l.contains(c))),
        "no table header in {stdout}"
    );
    assert!(stdout.contains("best, features words"), "{stdout}");
    eprintln!("tune on the small set took {:?}", started.elapsed());
}

#[test]
fn train_writes_its_own_file_not_the_embedded_model() {
    let dir = tempfile::tempdir().unwrap();
    let (data, corpus) = small_training_set(dir.path());
    let shipped = std::fs::read(root().join("models/tasnif.json")).unwrap();
    // Run from the repository root: without --out, models/tasnif.json must stay as it is.
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::create_dir(work.join("models")).unwrap();
    std::fs::write(work.join("models/tasnif.json"), &shipped).unwrap();
    let out = Command::new(BIN)
        .current_dir(&work)
        .arg("train")
        .arg("--data")
        .arg(&data)
        .arg("--corpus")
        .arg(&corpus)
        .arg("--vectors")
        .arg(root().join("models/vectors.bin"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "train failed: {stderr}");
    assert_eq!(
        std::fs::read(work.join("models/tasnif.json")).unwrap(),
        shipped,
        "train without --out overwrote models/tasnif.json"
    );
    // It says where it wrote, on one line.
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("wrote tasnif-model.json ("), "{stderr}");
    let model = std::fs::read(work.join("tasnif-model.json")).unwrap();
    let classifier = tasnif::Classifier::from_bytes(&model).expect("the model loads");
    assert!(classifier.labels().iter().any(|l| l == "military"));
    // --out puts it where asked.
    let elsewhere = dir.path().join("elsewhere.json");
    let out = Command::new(BIN)
        .current_dir(&work)
        .arg("train")
        .arg("--data")
        .arg(&data)
        .arg("--corpus")
        .arg(&corpus)
        .arg("--vectors")
        .arg(root().join("models/vectors.bin"))
        .arg("--out")
        .arg(&elsewhere)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read(&elsewhere).unwrap(),
        model,
        "training is deterministic"
    );
}

/// `tasnif vectors` (the README's command) on a small corpus made of the seed sentences:
/// it writes a vectors file that loads, holds the corpus' frequent words, records the
/// corpus' SHA-256, and is the same bytes when run again (the trainer is deterministic).
#[test]
fn vectors_learns_a_loadable_file_the_same_twice() {
    let dir = tempfile::tempdir().unwrap();
    let labels = std::fs::read_to_string(root().join("seeds/labels.tsv")).unwrap();
    let corpus: String = labels
        .lines()
        .skip(1)
        .enumerate()
        .map(|(i, l)| {
            let text = l.splitn(4, '\t').nth(3).unwrap();
            serde_json::json!({"id": i.to_string(), "category": "politic", "text": text})
                .to_string()
                + "\n"
        })
        .collect();
    let corpus_path = dir.path().join("corpus.jsonl");
    std::fs::write(&corpus_path, &corpus).unwrap();
    let run = |out: &std::path::Path| {
        tasnif_ok(&[
            "vectors",
            "--corpus",
            corpus_path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--dims",
            "8",
            "--vocabulary",
            "100",
        ]);
        std::fs::read(out).unwrap()
    };
    let (a, b) = (
        run(&dir.path().join("a.bin")),
        run(&dir.path().join("b.bin")),
    );
    assert_eq!(a, b, "the same corpus and settings gave different files");
    let v = tasnif::embedding::WordVectors::from_bytes(&a).unwrap();
    assert_eq!((v.len(), v.dims()), (100, 8));
    // Words as the pipeline keys them (normalized: ة → ه; proclitics stripped), the most
    // frequent first: the seeds are about Syria, Geneva and the army.
    assert_eq!(v.words().next(), Some("سوريه"));
    for w in ["جنيف", "جيش", "داعش"] {
        assert!(v.lookup(w).is_some(), "{w} missing");
    }
    let sha: String = {
        use sha2::Digest;
        sha2::Sha256::digest(corpus.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(v.header().provenance.corpus_sha256, sha);
}
