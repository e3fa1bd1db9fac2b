//! The scheduler check's connections, opened from the client (inside the lab's network
//! namespace when the calling thread entered it): each step in order, held connections kept
//! open until every step is done, then finished to learn from their pages where they went.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use super::{Pick, Step};
use crate::verify::checks::page_names;
use crate::verify::http::{self, Response};

/// Open the planned connections from `sources` (taken in turn) to `target`; `names`: the real
/// servers, whose pages name them. Stops at the first connection that fails (the check fails
/// on it, and a dead service would otherwise cost a timeout per step).
pub fn run(
    steps: &[Step],
    sources: &[Option<Ipv4Addr>],
    target: SocketAddrV4,
    names: &[String],
    timeout: Duration,
) -> Vec<Pick> {
    let mut picks: Vec<Pick> = Vec::with_capacity(steps.len());
    let mut held = Vec::new();
    let source_of = |i: usize| sources.get(i % sources.len().max(1)).copied().flatten();
    for step in steps {
        let pick = match *step {
            Step::Request { source } => {
                let source = source_of(source);
                Pick {
                    held: false,
                    source,
                    server: http::get(source, target, "/", timeout)
                        .map_err(|e| e.to_string())
                        .and_then(|r| named(&r, names)),
                }
            }
            Step::Hold { source } => {
                let source = source_of(source);
                let server = match http::hold(source, target, timeout) {
                    Ok(h) => {
                        held.push((picks.len(), h));
                        Ok(String::new())
                    }
                    Err(e) => Err(e.to_string()),
                };
                Pick {
                    held: true,
                    source,
                    server,
                }
            }
        };
        let failed = pick.server.is_err();
        picks.push(pick);
        if failed {
            break;
        }
    }
    for (i, h) in held {
        picks[i].server = h
            .finish()
            .map_err(|e| e.to_string())
            .and_then(|r| named(&r, names));
    }
    picks
}

/// The real server a page names.
fn named(r: &Response, names: &[String]) -> Result<String, String> {
    if r.status != 200 {
        return Err(format!("HTTP {}", r.status));
    }
    page_names(&r.body, names)
        .map(str::to_string)
        .ok_or_else(|| "the page names no real server".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A local server answering each connection with the page of the name it is given in
    /// turn, only once the request is complete: held connections learn their server when
    /// finished, after the requests that came later.
    #[test]
    fn held_connections_learn_their_server_when_finished() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = match listener.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            std::net::SocketAddr::V6(_) => unreachable!(),
        };
        let server = std::thread::spawn(move || {
            let mut conns = Vec::new();
            for name in ["web-1", "web-2"] {
                let (s, _) = listener.accept().unwrap();
                conns.push((s, name));
            }
            // Answer the second (a whole request) first, then the held one.
            for (mut s, name) in conns.into_iter().rev() {
                let mut req = Vec::new();
                let mut buf = [0u8; 512];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).unwrap();
                    assert!(n > 0, "the request was finished");
                    req.extend_from_slice(&buf[..n]);
                }
                write!(s, "HTTP/1.0 200 OK\r\n\r\n<h1>from {name}</h1>").unwrap();
            }
        });
        let names = vec!["web-1".to_string(), "web-2".to_string()];
        let picks = run(
            &[Step::Hold { source: 0 }, Step::Request { source: 1 }],
            &[Some(Ipv4Addr::LOCALHOST)],
            target,
            &names,
            Duration::from_secs(5),
        );
        server.join().unwrap();
        assert_eq!(picks.len(), 2);
        assert!(picks[0].held && !picks[1].held);
        assert_eq!(picks[0].server.as_deref(), Ok("web-1"));
        assert_eq!(picks[1].server.as_deref(), Ok("web-2"));
    }
}
