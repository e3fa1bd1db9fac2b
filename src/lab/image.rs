//! What a lab node boots: a Debian release (`lab_suite`) and whether the service packages come
//! preinstalled (`lab_packages`). Each distinct image is built once into the cache; nodes of
//! one lab may boot different images.
//!
//! A fresh image is what a minimal Debian install has that lvslab needs to reach and drive the
//! node (systemd, sshd, iproute2, kmod, procps; python3 for the Ansible comparison): no web
//! server, keepalived, ipvsadm, net-tools, curl or tcpdump. `setup` installs what it needs with
//! the node's own apt, from a package repository the image carries (the service packages and
//! their dependencies, downloaded from the release's archive when the image is built). A
//! preinstalled image has the service packages and hands-on tools installed already, and keeps
//! the archive's own apt source.

use std::fmt;

/// A Debian release the lab can boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Suite {
    Bullseye,
    Bookworm,
    Trixie,
}

impl Suite {
    pub const ALL: [Suite; 3] = [Suite::Bullseye, Suite::Bookworm, Suite::Trixie];

    pub fn name(self) -> &'static str {
        match self {
            Suite::Bullseye => "bullseye",
            Suite::Bookworm => "bookworm",
            Suite::Trixie => "trixie",
        }
    }

    pub fn parse(s: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// Whether the service packages are on the node before setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Packages {
    /// A fresh install: setup installs the packages from the lab's repository.
    Fresh,
    /// The service packages and hands-on tools are installed in the image (faster setups).
    Preinstalled,
}

impl Packages {
    pub fn name(self) -> &'static str {
        match self {
            Packages::Fresh => "fresh",
            Packages::Preinstalled => "preinstalled",
        }
    }

    pub fn parse(s: &str) -> Option<Packages> {
        [Packages::Fresh, Packages::Preinstalled]
            .into_iter()
            .find(|x| x.name() == s)
    }
}

/// One node image: release and package set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Image {
    pub suite: Suite,
    pub packages: Packages,
}

impl Default for Image {
    fn default() -> Image {
        Image {
            suite: Suite::Bookworm,
            packages: Packages::Fresh,
        }
    }
}

impl fmt::Display for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.suite.name(), self.packages.name())
    }
}

/// On every node: init, sshd, sudo (cloud images have it; the lab's `lab_user` gets sudo
/// rights) and what lvslab's engine and verify use that a minimal Debian install has, plus
/// python3 and python3-apt for the Ansible comparison.
pub const BASE_PACKAGES: &[&str] = &[
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "sudo",
    "iproute2",
    "procps",
    "kmod",
    "python3",
    "python3-apt",
];

/// What `setup` installs (the lab's package repository holds these and their dependencies).
pub const SERVICE_PACKAGES: &[&str] = &["apache2", "keepalived", "ipvsadm"];

/// Hands-on tools a preinstalled image adds.
pub const TOOL_PACKAGES: &[&str] = &["net-tools", "curl", "arping", "tcpdump"];

/// Where a fresh image keeps its package repository, and the apt source naming it.
pub const REPO_DIR: &str = "/srv/lvslab-apt";
pub const REPO_SOURCE: &str = "deb [trusted=yes] file:/srv/lvslab-apt ./";

impl Image {
    /// The packages debootstrap installs into the image's root.
    pub fn rootfs_packages(&self) -> Vec<&'static str> {
        let mut p = BASE_PACKAGES.to_vec();
        if self.packages == Packages::Preinstalled {
            p.extend(SERVICE_PACKAGES);
            p.extend(TOOL_PACKAGES);
        }
        p
    }

    /// Units a pristine node has installed but not running (the playbooks start them).
    pub fn disabled_units(&self) -> &'static [&'static str] {
        match self.packages {
            Packages::Fresh => &["dbus.service"],
            Packages::Preinstalled => &["apache2.service", "keepalived.service", "dbus.service"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Suite::ALL {
            assert_eq!(Suite::parse(s.name()), Some(s));
        }
        assert_eq!(Suite::parse("sid"), None);
        assert_eq!(Packages::parse("fresh"), Some(Packages::Fresh));
        assert_eq!(Packages::parse("none"), None);
    }

    #[test]
    fn fresh_images_lack_the_service_packages() {
        let fresh = Image::default().rootfs_packages();
        for p in SERVICE_PACKAGES.iter().chain(TOOL_PACKAGES) {
            assert!(!fresh.contains(p), "{p}");
        }
        let pre = Image {
            packages: Packages::Preinstalled,
            ..Image::default()
        }
        .rootfs_packages();
        assert!(pre.contains(&"ipvsadm") && pre.contains(&"curl"));
    }
}
