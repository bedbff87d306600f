//! Resident memory of a process as Linux reports it in `/proc/<pid>/status`.

/// `VmRSS` (now) and `VmHWM` (peak) of process `pid` (`"self"` for this
/// one), in MB; 0 where the file or the field is missing.
pub fn resident_and_peak_mb(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
