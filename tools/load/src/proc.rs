//! Signals and what `/proc` says about a process: CPU seconds and resident memory.

use std::process::Command;

use anyhow::bail;

/// Sends `signal` (`-KILL`, `-STOP`, `-CONT`, `-TERM`) to `pid`.
pub fn kill(signal: &str, pid: u32) -> anyhow::Result<()> {
    let status = Command::new("kill").arg(signal).arg(pid.to_string()).status()?;
    if !status.success() {
        bail!("kill {signal} {pid} failed");
    }
    Ok(())
}

pub fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ: 100 on Linux).
const TICKS: f64 = 100.0;

/// `(ppid, user + system CPU seconds)` of one process.
fn stat(pid: u32) -> Option<(u32, f64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((ppid, (utime + stime) / TICKS))
}

/// CPU seconds used so far by `pid` and, with `with_children`, its live child processes
/// (PostgreSQL's backends).
pub fn cpu_seconds(pid: u32, with_children: bool) -> f64 {
    let own = stat(pid).map_or(0.0, |(_, cpu)| cpu);
    if !with_children {
        return own;
    }
    let children: f64 = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
                .filter_map(stat)
                .filter(|(ppid, _)| *ppid == pid)
                .map(|(_, cpu)| cpu)
                .sum()
        })
        .unwrap_or(0.0);
    own + children
}

/// Resident memory in bytes (`VmRSS`), with `with_children` summed over the children.
pub fn rss_bytes(pid: u32, with_children: bool) -> u64 {
    let one = |pid: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
            .map_or(0, |kb| kb * 1024)
    };
    let own = one(pid);
    if !with_children {
        return own;
    }
    let children: u64 = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
                .filter(|p| stat(*p).is_some_and(|(ppid, _)| ppid == pid))
                .map(one)
                .sum()
        })
        .unwrap_or(0);
    own + children
}

/// The machine's load averages (1, 5, 15 minutes).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// This process's own CPU seconds.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_stat_and_memory() {
        let pid = std::process::id();
        assert!(pid_alive(pid));
        assert!(cpu_seconds(pid, true) >= 0.0);
        assert!(rss_bytes(pid, false) > 0);
    }
}
