//! Capturing frames on several interfaces of one network namespace at once: one AF_PACKET
//! socket per interface (what tcpdump opens, without needing tcpdump), opened by a thread that
//! entered the namespace, read with `poll` until told to stop. Each frame keeps the kernel's
//! receive timestamp, so frames seen on different interfaces sort into the order they crossed
//! the switch.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

const ETH_P_ALL: u16 = 0x0003;
/// Receive buffer per socket: a few requests are a few hundred frames, far below this.
const RCVBUF: libc::c_int = 4 << 20;

/// Where frames are captured: a name for people (node or "client") and the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    pub name: String,
    pub interface: String,
}

/// One frame as captured at one point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Index into the points the capture was started with.
    pub point: usize,
    /// Kernel timestamp, since the Unix epoch.
    pub ts: Duration,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(transparent)]
    Lab(#[from] crate::lab::LabError),
    #[error("capture on {interface}: {source}")]
    Socket {
        interface: String,
        source: io::Error,
    },
    #[error("the capture thread stopped unexpectedly")]
    Thread,
}

/// A capture running on its own thread.
pub struct Capture {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Vec<Frame>, CaptureError>>,
}

impl Capture {
    /// Open every point's socket inside namespace `ns`; returns once all are listening.
    pub fn start(ns: &str, points: &[Point]) -> Result<Capture, CaptureError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), CaptureError>>();
        let (ns, points, flag) = (ns.to_string(), points.to_vec(), stop.clone());
        let thread = std::thread::spawn(move || {
            let opened = crate::lab::netns::enter(&ns)
                .map_err(CaptureError::from)
                .and_then(|()| open_all(&points));
            let socks = match opened {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return Ok(Vec::new());
                }
            };
            read_until(&socks, &flag)
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Capture { stop, thread }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(CaptureError::Thread),
        }
    }

    /// Stop, read what is still queued, and return every frame in capture order per point.
    pub fn stop(self) -> Result<Vec<Frame>, CaptureError> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().map_err(|_| CaptureError::Thread)?
    }
}

/// A packet socket bound to one interface.
struct Sock {
    fd: i32,
    ifindex: i32,
    interface: String,
}

impl Drop for Sock {
    fn drop(&mut self) {
        // SAFETY: closing the fd this socket owns, once.
        unsafe { libc::close(self.fd) };
    }
}

fn open_all(points: &[Point]) -> Result<Vec<Sock>, CaptureError> {
    points
        .iter()
        .map(|p| {
            open(&p.interface).map_err(|source| CaptureError::Socket {
                interface: p.interface.clone(),
                source,
            })
        })
        .collect()
}

fn open(interface: &str) -> io::Result<Sock> {
    let cname = std::ffi::CString::new(interface)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a valid NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) } as i32;
    if ifindex == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain socket(2); the fd is owned by `Sock` and closed on drop.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(ETH_P_ALL.to_be()),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let sock = Sock {
        fd,
        ifindex,
        interface: interface.to_string(),
    };
    let one: libc::c_int = 1;
    for (opt, val) in [(libc::SO_RCVBUF, RCVBUF), (libc::SO_TIMESTAMP, one)] {
        // SAFETY: setting an int option of the right size on our socket.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                &val as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ALL.to_be();
    sll.sll_ifindex = ifindex;
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` is a valid sockaddr_ll of the given length.
    if unsafe { libc::bind(fd, &sll as *const _ as *const libc::sockaddr, len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}

/// How long a stop waits at most for the capture thread to notice it.
const POLL_MS: libc::c_int = 10;

/// Poll every socket until `stop` is set, then drain what is queued once more.
fn read_until(socks: &[Sock], stop: &AtomicBool) -> Result<Vec<Frame>, CaptureError> {
    let mut frames = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut fds: Vec<libc::pollfd> = socks
        .iter()
        .map(|s| libc::pollfd {
            fd: s.fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        let last = stop.load(Ordering::SeqCst);
        // SAFETY: `fds` is a live array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, POLL_MS) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(CaptureError::Socket {
                    interface: "poll".into(),
                    source: e,
                });
            }
        }
        for (i, s) in socks.iter().enumerate() {
            drain(s, i, &mut buf, &mut frames).map_err(|source| CaptureError::Socket {
                interface: s.interface.clone(),
                source,
            })?;
        }
        if last {
            return Ok(frames);
        }
    }
}

/// Read every frame queued on `s` without blocking, each with its kernel timestamp (taken
/// when the frame crossed the interface, not when it was read).
fn drain(s: &Sock, point: usize, buf: &mut [u8], out: &mut Vec<Frame>) -> io::Result<()> {
    loop {
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut control = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = &mut from as *mut _ as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&control);
        // SAFETY: every pointer in `msg` refers to a live buffer of the stated length.
        let n = unsafe { libc::recvmsg(s.fd, &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(()),
                io::ErrorKind::Interrupted => continue,
                _ => Err(e),
            };
        }
        // Frames queued between socket() and bind() may come from any interface.
        if from.sll_ifindex != s.ifindex {
            continue;
        }
        out.push(Frame {
            point,
            ts: timestamp(&msg).unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
            }),
            data: buf[..(n as usize).min(buf.len())].to_vec(),
        });
    }
}

/// The `SO_TIMESTAMP` control message of a received frame.
fn timestamp(msg: &libc::msghdr) -> Option<Duration> {
    // SAFETY: walking the control buffer recvmsg filled, with the libc macros made for it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_TIMESTAMP {
                let tv = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timeval);
                return Some(Duration::new(tv.tv_sec as u64, (tv.tv_usec as u32) * 1000));
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_interface_is_named() {
        let err = open_all(&[Point {
            name: "x".into(),
            interface: "nosuch-if0".into(),
        }])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.starts_with("capture on nosuch-if0:"), "{err}");
    }
}
