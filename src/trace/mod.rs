//! `lvslab trace`: watch the director move packets. A few requests go to the VIP from the lab's
//! client while every port of the lab's switch is captured; each request is then shown hop by
//! hop and judged against the configured forwarding method.
//!
//! [`capture`] (AF_PACKET sockets in the lab's namespace), [`decode`] (Ethernet, IPv4,
//! IP-in-IP, TCP), [`classify`] (hops, and what the director changed), [`pcap`] (files for
//! Wireshark and tcpdump), [`run`] (the whole trace), [`render`] (the sequence diagrams), [`proof`]
//! (verify's check built on a trace).

pub mod capture;
pub mod classify;
pub mod decode;
pub mod pcap;
pub mod proof;
pub mod render;
pub mod run;

pub use run::{trace, Options, Report, TraceError};
