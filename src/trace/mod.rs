//! `lvslab trace`: watch the director move packets. A few requests go to the VIP from the
//! client while every port of the lab's switch is captured (or, on real hosts, the directors'
//! and real servers' LAN interfaces, with tcpdump over ssh); each request is then shown hop by
//! hop and judged against the configured forwarding method.
//!
//! [`capture`] (AF_PACKET sockets in the lab's namespace), [`remote`] (tcpdump on the nodes over
//! ssh), [`decode`] (Ethernet, IPv4,
//! IP-in-IP, TCP), [`classify`] (hops, and what the director changed), [`pcap`] (files for
//! Wireshark and tcpdump), [`run`] (the whole trace), [`render`] (the sequence diagrams), [`proof`]
//! (verify's check built on a trace).

pub mod capture;
pub mod classify;
pub mod decode;
pub mod pcap;
pub mod proof;
pub mod remote;
pub mod render;
pub mod run;

pub(crate) use run::trace;
pub use run::{Options, Report, TraceError};
