//! A deliberately tiny HTTP/1.0 client for the VIP checks. It binds each connection to a chosen
//! client source address (the lab's bridge carries several), because with LVS persistence one
//! source always lands on one real server; no HTTP library offers binding before connect with
//! blocking timeouts this simply. Its sockets are created on the calling thread, so a thread
//! that entered the lab's network namespace gets sockets inside it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// What one request got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
    /// The client's address and port of the exchange (to find it in the director's table).
    pub local: Option<SocketAddrV4>,
}

/// Why a request failed, in words for the check's detail.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connect from {} to {target}: {err}", shown(*from, *local))]
    Connect {
        from: Ipv4Addr,
        /// The port the kernel gave the attempt, when it got one (to find it in IPVS's table).
        local: Option<SocketAddrV4>,
        target: SocketAddrV4,
        err: std::io::Error,
    },
    #[error("talking to {target} from {}: {err}", shown(*from, *local))]
    Io {
        target: SocketAddrV4,
        from: Ipv4Addr,
        local: Option<SocketAddrV4>,
        err: std::io::Error,
    },
    #[error("{target} sent no valid HTTP status line")]
    Malformed { target: SocketAddrV4 },
}

impl HttpError {
    /// The client's address and port of the failed exchange, when the kernel had chosen one.
    pub fn local(&self) -> Option<SocketAddrV4> {
        match self {
            HttpError::Connect { local, .. } | HttpError::Io { local, .. } => *local,
            HttpError::Malformed { .. } => None,
        }
    }
}

fn shown(from: Ipv4Addr, local: Option<SocketAddrV4>) -> String {
    local.map_or_else(|| from.to_string(), |l| l.to_string())
}

fn local_v4(addr: std::io::Result<socket2::SockAddr>) -> Option<SocketAddrV4> {
    addr.ok()?.as_socket_ipv4().filter(|a| a.port() != 0)
}

/// Open a TCP connection to `target` from `source` (port chosen by the kernel).
pub fn connect(
    source: Option<Ipv4Addr>,
    target: SocketAddrV4,
    timeout: Duration,
) -> Result<TcpStream, HttpError> {
    open(source, target, timeout).map(|(stream, _)| stream)
}

/// [`connect`], and the client address and port the kernel gave the connection.
fn open(
    source: Option<Ipv4Addr>,
    target: SocketAddrV4,
    timeout: Duration,
) -> Result<(TcpStream, Option<SocketAddrV4>), HttpError> {
    let src = source.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let fail = |err, local| HttpError::Connect {
        from: src,
        local,
        target,
        err,
    };
    let socket =
        Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).map_err(|e| fail(e, None))?;
    if let Some(source) = source {
        if !bind_outside_table(&socket, source) {
            defer_port_choice(&socket);
            socket
                .bind(&SocketAddr::from(SocketAddrV4::new(source, 0)).into())
                .map_err(|e| fail(e, None))?;
        }
    }
    socket
        .connect_timeout(&SocketAddr::from(target).into(), timeout)
        .map_err(|e| fail(e, local_v4(socket.local_addr())))?;
    let local = local_v4(socket.local_addr());
    let stream: TcpStream = socket.into();
    let io = |err| HttpError::Io {
        target,
        from: src,
        local,
        err,
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    Ok((stream, local))
}

thread_local! {
    /// Client addresses and ports the director's IPVS table holds entries for, set by the
    /// thread that makes a check's traffic (its sockets are made on that thread).
    static AVOID: RefCell<BTreeSet<SocketAddrV4>> = const { RefCell::new(BTreeSet::new()) };
}

/// Connections this thread opens from then on take no client port the director's IPVS table
/// already holds an entry for. An entry outlives its connection (FIN_WAIT up to two minutes)
/// and keeps the forwarding method it was made with: a new connection from the same address and
/// port is forwarded along it, not scheduled, and after a switch of method (TUN to NAT, say)
/// goes where nothing answers. Ports are what a client cannot control, so the check does.
pub fn avoid_ports(entries: impl IntoIterator<Item = SocketAddrV4>) {
    AVOID.with(|a| *a.borrow_mut() = entries.into_iter().collect());
}

/// Bind `socket` to `source` and a random port of the local port range that is not in
/// [`avoid_ports`]'s set; false (nothing bound) when the set holds no port of `source` or no
/// free port was found in a few tries, leaving the choice to the kernel.
fn bind_outside_table(socket: &Socket, source: Ipv4Addr) -> bool {
    let avoid: BTreeSet<u16> = AVOID.with(|a| {
        a.borrow()
            .iter()
            .filter(|s| *s.ip() == source)
            .map(|s| s.port())
            .collect()
    });
    if avoid.is_empty() {
        return false;
    }
    let (low, high) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            let mut w = t.split_whitespace().map(str::parse::<u16>);
            Some((w.next()?.ok()?, w.next()?.ok()?))
        })
        .filter(|(l, h)| l < h)
        .unwrap_or((32768, 60999));
    let seed = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(source.into());
        h.finish()
    };
    let span = u64::from(high - low) + 1;
    (0..64u64)
        .map(|i| low + ((seed.wrapping_add(i.wrapping_mul(7919))) % span) as u16)
        .filter(|p| !avoid.contains(p))
        .any(|p| {
            socket
                .bind(&SocketAddr::from(SocketAddrV4::new(source, p)).into())
                .is_ok()
        })
}

/// Bind the source address only; the port is chosen at `connect` (IP_BIND_ADDRESS_NO_PORT), as
/// for any client that does not bind. Chosen at bind time, a port is picked at random and may be
/// one the client closed a minute ago while the director's IPVS table still holds that
/// connection (FIN_WAIT/TIME_WAIT entries live up to two minutes): IPVS then forwards the new
/// SYN the old way, which after a switch of forwarding method (from NAT) never answers. At
/// connect time the kernel walks the ports of one destination in order. Best effort: an older
/// kernel without the option picks at bind time.
fn defer_port_choice(socket: &Socket) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on a socket this function's caller owns, with a pointer to a live
    // c_int and its size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            std::ptr::addr_of!(one).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// `GET path` on `target` from `source`; the whole exchange bounded by `timeout` per step.
pub fn get(
    source: Option<Ipv4Addr>,
    target: SocketAddrV4,
    path: &str,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let (mut stream, local) = open(source, target, timeout)?;
    exchange(&mut stream, local, source, target, path)
}

/// [`get`], then end the connection with a reset instead of a FIN. The director's IPVS entry
/// of a reset connection is gone within seconds (CLOSE state), where a closed one stays up to
/// two minutes (FIN_WAIT, TIME_WAIT); an entry that stays keeps its persistence template alive.
pub fn get_then_reset(
    source: Option<Ipv4Addr>,
    target: SocketAddrV4,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let (mut stream, local) = open(source, target, timeout)?;
    let r = exchange(&mut stream, local, source, target, "/");
    // A zero linger time makes close send RST. Best effort: without it the entry lingers, and
    // the check that needed it gone reads the table and says so.
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    r
}

/// Send `GET path` on an open connection and read the whole answer.
fn exchange(
    stream: &mut TcpStream,
    local: Option<SocketAddrV4>,
    source: Option<Ipv4Addr>,
    target: SocketAddrV4,
    path: &str,
) -> Result<Response, HttpError> {
    let io = |err| HttpError::Io {
        target,
        from: source.unwrap_or(Ipv4Addr::UNSPECIFIED),
        local,
        err,
    };
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {}\r\nUser-Agent: lvslab-verify\r\nConnection: close\r\n\r\n",
        target.ip()
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream.take(1 << 20).read_to_end(&mut raw).map_err(io)?;
    let mut r = parse_response(&raw).ok_or(HttpError::Malformed { target })?;
    r.local = local;
    Ok(r)
}

/// A connection to the VIP held open with its request unfinished: the real server has accepted
/// it and waits for the rest, and the director counts it as an active connection to that server
/// until [`Held::finish`] completes the request and learns from the page where it went.
pub struct Held {
    stream: TcpStream,
    target: SocketAddrV4,
    from: Ipv4Addr,
    local: Option<SocketAddrV4>,
}

/// Open a connection from `source` and send all of a `GET /` but its last line.
pub fn hold(
    source: Option<Ipv4Addr>,
    target: SocketAddrV4,
    timeout: Duration,
) -> Result<Held, HttpError> {
    let (mut stream, local) = open(source, target, timeout)?;
    let from = source.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let head = format!(
        "GET / HTTP/1.0\r\nHost: {}\r\nUser-Agent: lvslab-verify\r\nConnection: close\r\n",
        target.ip()
    );
    stream
        .write_all(head.as_bytes())
        .map_err(|err| HttpError::Io {
            target,
            from,
            local,
            err,
        })?;
    Ok(Held {
        stream,
        target,
        from,
        local,
    })
}

impl Held {
    /// Send the request's last line and read the answer.
    pub fn finish(mut self) -> Result<Response, HttpError> {
        let (target, from, local) = (self.target, self.from, self.local);
        let io = |err| HttpError::Io {
            target,
            from,
            local,
            err,
        };
        self.stream.write_all(b"\r\n").map_err(io)?;
        let mut raw = Vec::new();
        self.stream
            .take(1 << 20)
            .read_to_end(&mut raw)
            .map_err(io)?;
        let mut r = parse_response(&raw).ok_or(HttpError::Malformed { target })?;
        r.local = local;
        Ok(r)
    }
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status_line = head.lines().next()?;
    let mut words = status_line.split_whitespace();
    if !words.next()?.starts_with("HTTP/") {
        return None;
    }
    let status = words.next()?.parse().ok()?;
    Some(Response {
        status,
        body: body.to_string(),
        local: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn parses_status_and_body() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nfrom node02\n").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "from node02\n");
        assert!(parse_response(b"garbage").is_none());
    }

    #[test]
    fn connections_take_no_port_the_table_holds() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = match listener.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        let lo = Ipv4Addr::LOCALHOST;
        // Three ports in four taken by (pretend) table entries, on the thread that connects:
        // the kernel's own choice would land on one within a few connections.
        let taken: BTreeSet<SocketAddrV4> = (1024..=u16::MAX)
            .filter(|p| p % 4 != 0)
            .map(|p| SocketAddrV4::new(lo, p))
            .collect();
        let t = taken.clone();
        let ports = std::thread::spawn(move || {
            avoid_ports(t);
            (0..20)
                .map(|_| {
                    let (_, local) = open(Some(lo), target, Duration::from_secs(2)).unwrap();
                    local.unwrap()
                })
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        assert!(ports.iter().all(|p| !taken.contains(p)), "{ports:?}");
    }

    #[test]
    fn gets_from_a_real_listener_on_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = match listener.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        let server = std::thread::spawn(move || {
            let (mut s, peer) = listener.accept().unwrap();
            let mut buf = [0u8; 512];
            let n = s.read(&mut buf).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /x HTTP/1.0"));
            s.write_all(format!("HTTP/1.0 404 Not Found\r\n\r\npeer {}", peer.ip()).as_bytes())
                .unwrap();
        });
        let r = get(
            Some(Ipv4Addr::LOCALHOST),
            addr,
            "/x",
            Duration::from_secs(5),
        )
        .unwrap();
        server.join().unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.body, "peer 127.0.0.1");
    }
}
