//! The lab's package repository: what `setup` installs on a fresh node, with the dependencies
//! that node lacks, downloaded from the release's archive by the image's own apt (run in a
//! chroot of its root filesystem, so the dependencies are resolved against exactly what the
//! node has), and a flat apt index (`Packages`) the nodes read as a `[trusted=yes]` source.

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

use super::LabError;

/// Bump when the way the repository is built changes (forces a rebuild of `repo/`).
pub const RECIPE: &str = "lvslab-repo-v2 no-recommends";

/// Where the download lands inside the root filesystem while it runs.
const DOWNLOAD_DIR: &str = "var/tmp/lvslab-repo";

/// Build the repository of `packages` into `dir` from the apt state of `rootfs`.
pub fn build(dir: &Path, rootfs: &Path, packages: &[&str]) -> Result<(), LabError> {
    let dl = rootfs.join(DOWNLOAD_DIR);
    let _ = std::fs::remove_dir_all(&dl);
    std::fs::create_dir_all(dl.join("partial")).map_err(io(&dl))?;
    let built = download(rootfs, packages).and_then(|_| publish(&dl, dir));
    let _ = std::fs::remove_dir_all(&dl);
    built
}

fn io(p: &Path) -> impl FnOnce(std::io::Error) -> LabError + '_ {
    move |e| LabError::Build(format!("{}: {e}", p.display()))
}

/// `apt-get install --download-only --no-install-recommends` in the root filesystem: the
/// packages and every dependency it does not have, as setup installs them (a tool that asks
/// for recommendations too gets the packages without them: apt skips a recommendation it
/// cannot find).
fn download(rootfs: &Path, packages: &[&str]) -> Result<(), LabError> {
    let out = Command::new("chroot")
        .arg(rootfs)
        .args([
            "apt-get",
            "install",
            "--download-only",
            "--no-install-recommends",
        ])
        .args(["-y", "-q"])
        .arg(format!("-o=Dir::Cache::Archives=/{DOWNLOAD_DIR}/"))
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|e| LabError::Build(format!("cannot run chroot apt-get: {e}")))?;
    if !out.status.success() {
        return Err(LabError::Build(format!(
            "downloading {} in {} failed ({}): {}",
            packages.join(" "),
            rootfs.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Move the downloaded packages into `dir` and write its index.
fn publish(dl: &Path, dir: &Path) -> Result<(), LabError> {
    let tmp = dir.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let mut debs: Vec<_> = std::fs::read_dir(dl)
        .map_err(io(dl))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    debs.sort();
    if debs.is_empty() {
        return Err(LabError::Build(format!(
            "the package download left no .deb in {}",
            dl.display()
        )));
    }
    let mut index = String::new();
    for deb in &debs {
        let name = deb
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let data = std::fs::read(deb).map_err(io(deb))?;
        let control = control_fields(deb)?;
        index.push_str(&stanza(&control, &name, &data));
        std::fs::rename(deb, tmp.join(&name)).map_err(io(deb))?;
    }
    std::fs::write(tmp.join("Packages"), index).map_err(io(&tmp))?;
    std::fs::write(tmp.join(".done"), "").map_err(io(&tmp))?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir).map_err(io(dir))
}

/// The control paragraph of a .deb (`dpkg-deb -f`).
fn control_fields(deb: &Path) -> Result<String, LabError> {
    let out = Command::new("dpkg-deb")
        .arg("-f")
        .arg(deb)
        .output()
        .map_err(|e| LabError::Build(format!("cannot run dpkg-deb: {e}")))?;
    if !out.status.success() {
        return Err(LabError::Build(format!(
            "dpkg-deb -f {}: {}",
            deb.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One index stanza: the package's control fields plus where the file is, its size and hash
/// (what `dpkg-scanpackages` writes).
fn stanza(control: &str, file: &str, data: &[u8]) -> String {
    let sha: String = Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}\nFilename: ./{file}\nSize: {}\nSHA256: {sha}\n\n",
        control.trim_end(),
        data.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanza_adds_location_size_and_hash() {
        let s = stanza(
            "Package: ipvsadm\nVersion: 1:1.31-1\nDescription: x\n more\n",
            "ipvsadm_1.31-1_amd64.deb",
            b"abc",
        );
        assert_eq!(
            s,
            "Package: ipvsadm\nVersion: 1:1.31-1\nDescription: x\n more\n\
             Filename: ./ipvsadm_1.31-1_amd64.deb\nSize: 3\n\
             SHA256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n\n"
        );
    }
}
