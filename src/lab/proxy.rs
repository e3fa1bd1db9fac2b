//! `lvslab lab proxy HOST PORT`: ssh's ProxyCommand for lab nodes. Enters the lab's network
//! namespace (this process is single-threaded here: setns is per thread), connects to HOST:PORT
//! and pipes stdin/stdout through the connection.

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use super::{netns, topology, LabError};

pub fn run(inventory: &Path, host: &str, port: u16) -> Result<(), LabError> {
    let topo = topology::load(inventory)?;
    let ns = topo.netns();
    if !netns::exists(&ns) {
        return Err(LabError::NotUp(topo.lab_name.clone()));
    }
    let ip: IpAddr = match topo.node(host) {
        Some(n) => IpAddr::V4(n.address),
        None => host.parse().map_err(|_| {
            LabError::Network(format!(
                "{host} is neither an address nor a node of lab {}",
                topo.lab_name
            ))
        })?,
    };
    netns::enter(&ns)?;
    let stream = TcpStream::connect_timeout(&SocketAddr::new(ip, port), Duration::from_secs(10))
        .map_err(|e| {
            LabError::Network(format!("connect {ip}:{port} in lab {}: {e}", topo.lab_name))
        })?;
    let _ = stream.set_nodelay(true);
    let mut up = stream
        .try_clone()
        .map_err(|e| LabError::Network(format!("proxy: {e}")))?;
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if up.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = up.shutdown(Shutdown::Write);
        // ssh closed our stdin: it is done with the connection. A live node answers the FIN
        // at once and the copy below ends; a node that went away (`lab down`) never will,
        // and this process would wait on it forever.
        std::thread::sleep(Duration::from_secs(5));
        std::process::exit(0);
    });
    let mut down = stream;
    let mut stdout = std::io::stdout().lock();
    let mut buf = [0u8; 32 * 1024];
    loop {
        match down.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stdout.write_all(&buf[..n]).is_err() || stdout.flush().is_err() {
                    break;
                }
            }
        }
    }
    Ok(())
}
