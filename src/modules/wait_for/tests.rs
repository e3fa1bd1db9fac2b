//! The wait scripts run here, locally, exactly as the module sends them to a node: the command
//! line it builds, the script on stdin.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use super::*;

fn args(pairs: &[(&str, Json)]) -> Map<String, Json> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Run `wait` locally: (exit 0, stderr).
fn run(wait: &Wait) -> (bool, String) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(wait.command())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(wait.script.as_bytes())
        .expect("script sent");
    let out = child.wait_with_output().expect("finished");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A local web server answering every request with `status` (until the test ends).
fn web(status: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = write!(s, "HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n");
        }
    });
    port
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn http_waits_for_every_target_to_answer_the_status() {
    let (a, b) = (web("200 OK"), web("200 OK"));
    let w = plan(&Args(&args(&[
        ("http_status", Json::from(200)),
        (
            "targets",
            Json::from(format!("127.0.0.1:{a} 127.0.0.1:{b}")),
        ),
        ("timeout", Json::from(5)),
    ])))
    .expect("plan");
    assert_eq!(run(&w), (true, String::new()));

    let wrong = web("503 Service Unavailable");
    let w = plan(&Args(&args(&[
        ("http_status", Json::from(200)),
        (
            "targets",
            Json::Array(vec![Json::from(format!("127.0.0.1:{wrong}"))]),
        ),
        ("timeout", Json::from(1)),
    ])))
    .expect("plan");
    let (ok, err) = run(&w);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        format!("no HTTP 200 from 127.0.0.1:{wrong} within 1s")
    );
}

#[test]
fn address_waits_until_the_address_is_local_on_the_interface() {
    let local = plan(&Args(&args(&[
        ("address", Json::from("127.0.0.1")),
        ("interface", Json::from("lo")),
        ("timeout", Json::from(2)),
    ])))
    .expect("plan");
    assert_eq!(run(&local), (true, String::new()));
    // TEST-NET-3: never a local address here.
    let absent = plan(&Args(&args(&[
        ("address", Json::from("203.0.113.77")),
        ("timeout", Json::from(1)),
    ])))
    .expect("plan");
    let (ok, err) = run(&absent);
    assert!(!ok);
    assert_eq!(err.trim(), "203.0.113.77 not local after 1s");
}

#[test]
fn port_waits_for_open_and_for_closed() {
    let open = web("200 OK");
    let closed = closed_port();
    let w = |port: u16, state: &str| {
        plan(&Args(&args(&[
            ("port", Json::from(port)),
            ("state", Json::from(state)),
            ("timeout", Json::from(1)),
        ])))
        .expect("plan")
    };
    assert!(run(&w(open, "started")).0);
    assert!(run(&w(closed, "stopped")).0);
    let (ok, err) = run(&w(closed, "started"));
    assert!(!ok);
    assert_eq!(
        err.trim(),
        format!("timeout after 1s waiting for 127.0.0.1:{closed} to be open")
    );
}

#[test]
fn values_arrive_as_quoted_arguments_never_as_shell_text() {
    let w = plan(&Args(&args(&[
        ("http_status", Json::from(200)),
        ("path", Json::from("/a b;$(touch /tmp/x)")),
        ("targets", Json::from("10.0.0.1:80")),
    ])))
    .expect("plan");
    assert_eq!(
        w.command(),
        "timeout 302 bash -s -- '/a b;$(touch /tmp/x)' 200 300 10.0.0.1/80"
    );
    let bad = plan(&Args(&args(&[
        ("http_status", Json::from(200)),
        ("targets", Json::from("10.0.0.1")),
    ])));
    assert!(bad.is_err());
}
