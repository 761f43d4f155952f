//! Network namespaces joined to the host by veth pairs, for faults on the wire: a process run
//! inside one reaches the host (and the other namespaces, routed by the host) only through its
//! link, which can be cut (`ip link set down`: every packet dropped, TCP retransmits) or
//! slowed (a token bucket, `tc qdisc tbf`: a slow, queueing, lossy link).
//!
//! `tc netem` would give a fixed delay, but this machine's kernel has no `sch_netem` (and no
//! tc classifiers): `tbf` is the queueing discipline available here.

use std::process::Command;

use anyhow::{Context, bail};

/// One namespace and its link.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub host_if: String,
    pub inner_if: String,
    /// The host's end of the link (what the namespace's processes connect to).
    pub host_ip: String,
    /// The namespace's end (what the host connects to).
    pub inner_ip: String,
}

/// Namespaces made by this run; deleted when dropped.
#[derive(Debug)]
pub struct Namespaces {
    pub members: Vec<Member>,
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("ip").args(args).output().context("cannot run ip (iproute2)")?;
    if !output.status.success() {
        bail!("ip {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

fn tc(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("tc").args(args).output().context("cannot run tc (iproute2)")?;
    if !output.status.success() {
        bail!("tc {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

impl Namespaces {
    /// `count` namespaces `<prefix>1..`, on `10.<net>.<i>.0/24` each.
    pub fn create(prefix: &str, net: u8, count: u8) -> anyhow::Result<Namespaces> {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").context("cannot enable IP forwarding (root needed)")?;
        let mut namespaces = Namespaces { members: Vec::new() };
        for i in 1..=count {
            let member = Member {
                name: format!("{prefix}{i}"),
                host_if: format!("{prefix}h{i}"),
                inner_if: format!("{prefix}i{i}"),
                host_ip: format!("10.{net}.{i}.1"),
                inner_ip: format!("10.{net}.{i}.2"),
            };
            // Left over from a run that was killed: start clean.
            let _ = ip(&["netns", "del", &member.name]);
            let _ = ip(&["link", "del", &member.host_if]);
            ip(&["netns", "add", &member.name])?;
            namespaces.members.push(member.clone());
            ip(&["link", "add", &member.host_if, "type", "veth", "peer", "name", &member.inner_if])?;
            ip(&["link", "set", &member.inner_if, "netns", &member.name])?;
            ip(&["addr", "add", &format!("{}/24", member.host_ip), "dev", &member.host_if])?;
            ip(&["link", "set", &member.host_if, "up"])?;
            let inside = |args: &[&str]| {
                let mut all = vec!["netns", "exec", &member.name, "ip"];
                all.extend_from_slice(args);
                ip(&all)
            };
            inside(&["addr", "add", &format!("{}/24", member.inner_ip), "dev", &member.inner_if])?;
            inside(&["link", "set", &member.inner_if, "up"])?;
            inside(&["link", "set", "lo", "up"])?;
            inside(&["route", "add", "default", "via", &member.host_ip])?;
        }
        Ok(namespaces)
    }

    pub fn member(&self, name: &str) -> anyhow::Result<&Member> {
        self.members.iter().find(|m| m.name == name).with_context(|| format!("no namespace {name}"))
    }
}

impl Member {
    /// Every packet to and from the namespace dropped.
    pub fn cut(&self) -> anyhow::Result<()> {
        ip(&["link", "set", &self.host_if, "down"])
    }

    pub fn restore(&self) -> anyhow::Result<()> {
        ip(&["link", "set", &self.host_if, "up"])
    }

    /// Both directions through a token bucket of `rate` (e.g. `256kbit`) queueing up to
    /// `latency` (e.g. `500ms`) before dropping.
    pub fn slow(&self, rate: &str, latency: &str) -> anyhow::Result<()> {
        tc(&[
            "qdisc",
            "replace",
            "dev",
            &self.host_if,
            "root",
            "tbf",
            "rate",
            rate,
            "burst",
            "8kb",
            "latency",
            latency,
        ])?;
        let args = ["netns", "exec", &self.name, "tc", "qdisc", "replace", "dev", &self.inner_if, "root", "tbf"];
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&["rate", rate, "burst", "8kb", "latency", latency]);
        let output = Command::new("ip").args(&all).output()?;
        if !output.status.success() {
            bail!("tc in {} failed: {}", self.name, String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(())
    }

    pub fn unslow(&self) -> anyhow::Result<()> {
        let _ = tc(&["qdisc", "del", "dev", &self.host_if, "root"]);
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.name, "tc", "qdisc", "del", "dev", &self.inner_if, "root"])
            .output();
        Ok(())
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for member in &self.members {
            let _ = ip(&["link", "del", &member.host_if]);
            let _ = ip(&["netns", "del", &member.name]);
        }
    }
}
