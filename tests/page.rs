//! The browser page (`GET /`, src/service/page/index.html) in a real browser: a
//! `tasnif serve` process serves it on its gRPC port, `tests/browser/page.py` drives
//! headless Chromium over the DevTools protocol (paste a seed article, click Classify,
//! read what the page shows, hover a sentence, take a screenshot), and what the page
//! shows must be what the gRPC API answers for the same text. Needs Chromium and a
//! Python with websocket-client; skipped without them unless TASNIF_REQUIRE_TOOLS=1.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tasnif::service::proto::{self, topic_classifier_client::TopicClassifierClient};

const BIN: &str = env!("CARGO_BIN_EXE_tasnif");
const SEED: &str = "seeds/000_e56e3be2487503d7.txt";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A `tasnif serve` process, killed when dropped (a failing test leaves no server behind).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Chromium: `CHROMIUM`, else `chromium` or `chromium-browser` on PATH.
fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let paths = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// A Python that can `import websocket` (websocket-client): `TASNIF_PYTHON`, else python3.
fn find_python() -> Option<String> {
    let python = std::env::var("TASNIF_PYTHON").unwrap_or_else(|_| "python3".into());
    Command::new(&python)
        .args(["-c", "import websocket; websocket.create_connection"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        .then_some(python)
}

fn skip(what: &str) {
    assert!(
        !common::tools_required(),
        "{what} is required (TASNIF_REQUIRE_TOOLS=1) but was not found"
    );
    common::skipped(&format!("{what} not found (CI installs it; see .ci/run)"));
}

#[tokio::test]
async fn the_page_shows_what_the_grpc_api_answers() {
    let Some(chromium) = find_chromium() else {
        return skip("chromium (or CHROMIUM=path)");
    };
    let Some(python) = find_python() else {
        return skip("python3 with websocket-client (TASNIF_PYTHON=path)");
    };
    let mut server = Server(
        Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let addr = common::listening_addr(&mut server.0);

    // The page is served on the gRPC port, as embedded in the binary.
    let (status, body) = common::http_get(&format!("http://{addr}/")).await;
    assert_eq!(status, 200, "GET / on the gRPC port: {body}");
    assert!(
        body.contains(include_str!("../src/service/page/index.html")),
        "GET / is not src/service/page/index.html: {}",
        body.chars().take(300).collect::<String>()
    );

    // What the API answers for the seed article.
    let article_file = root().join(SEED);
    let article = std::fs::read_to_string(&article_file).unwrap();
    let mut client = TopicClassifierClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
        .max_decoding_message_size(64 << 20);
    let expected = client
        .classify(proto::ClassifyRequest {
            text: article.clone(),
            include: vec![proto::Include::Segments as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    // What the page shows for it in Chromium.
    let artifacts = root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("page.png");
    let _ = std::fs::remove_file(&screenshot);
    let out = {
        let mut command = Command::new(&python);
        command
            .arg(root().join("tests/browser/page.py"))
            .arg(&chromium)
            .arg(&addr)
            .arg(&article_file)
            .arg(&screenshot);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "page.py failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("page.py printed no JSON ({e}): {stdout}"));

    assert_eq!(page["error"], serde_json::Value::Null, "{page}");
    assert_eq!(page["primary"], expected.primary.as_str(), "{page}");
    let topics: Vec<&str> = page["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(topics, expected.topics, "{page}");

    let shares = page["shares"].as_array().unwrap();
    assert_eq!(shares.len(), expected.scores.len(), "{page}");
    for score in &expected.scores {
        let shown = shares
            .iter()
            .find(|s| s["label"] == score.label.as_str())
            .unwrap_or_else(|| panic!("no share for {} on the page: {page}", score.label));
        let share = shown["share"].as_f64().unwrap();
        assert!(
            (share - f64::from(score.probability)).abs() <= 1e-6,
            "{}: the page shows {share}, the API answers {}",
            score.label,
            score.probability
        );
    }

    // Every sentence at its code-point offsets, with its label and its own text.
    let chars: Vec<char> = article.chars().collect();
    let segments = page["segments"].as_array().unwrap();
    assert_eq!(segments.len(), expected.segments.len(), "{page}");
    for (shown, want) in segments.iter().zip(&expected.segments) {
        assert_eq!(shown["start"], want.start, "{shown}");
        assert_eq!(shown["end"], want.end, "{shown}");
        assert_eq!(shown["label"], want.label.as_str(), "{shown}");
        let text: String = chars[want.start as usize..want.end as usize]
            .iter()
            .collect();
        assert_eq!(shown["text"], text.as_str(), "segment {}", want.index);
    }

    let tooltip = page["tooltip"].as_str().unwrap_or_default();
    assert!(!tooltip.trim().is_empty(), "no tooltip: {page}");

    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 10 << 10, "screenshot of {} bytes", png.len());
}
