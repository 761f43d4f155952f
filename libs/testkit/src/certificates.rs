//! TLS certificates for a test's servers, made with the `openssl` command.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Files of a certificate authority and a server certificate it signed for 127.0.0.1.
pub struct TestCertificates {
    /// The authority's certificate (PEM): what a client trusts.
    pub ca: PathBuf,
    /// The server's certificate and key (PEM).
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Makes an authority and a certificate for 127.0.0.1 in `dir` (valid ten years from now).
pub fn make_certificates(dir: &Path) -> anyhow::Result<TestCertificates> {
    let days = ["-days", "3650"];
    let authority = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem"];
    openssl(dir, &[&authority[..], &days, &["-subj", "/CN=inbox test authority"]].concat())?;
    let request = ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr"];
    openssl(dir, &[&request[..], &["-subj", "/CN=127.0.0.1"]].concat())?;
    let extensions = "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n";
    std::fs::write(dir.join("ext"), extensions)?;
    let sign = ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"];
    openssl(dir, &[&sign[..], &days, &["-out", "server.pem", "-extfile", "ext"]].concat())?;
    Ok(TestCertificates { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server.key") })
}

fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .context("cannot run openssl (apt-get install openssl)")?;
    if !status.success() {
        bail!("openssl {args:?} failed");
    }
    Ok(())
}

/// A server process a test started by hand (one that speaks TLS only, say); killed when dropped.
pub struct ServerProcess(pub std::process::Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
