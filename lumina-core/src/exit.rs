//! Exit statuses of every Lumina command, in one place (they are documented in the README
//! and in `lumina --help`).

/// How a Lumina command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: done; the machine matches the registry.
    Success,
    /// 1: an operational error (I/O, permissions, a failed system call).
    Failure,
    /// 2: bad input: command line, registry or configuration. Nothing was changed.
    BadInput,
    /// 3: conflicts: something Lumina does not own is in the way. Nothing was changed.
    Conflict,
    /// 4: `lumina status` found drift between the registry and the machine.
    Drift,
}

impl ExitStatus {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
            Self::BadInput => 2,
            Self::Conflict => 3,
            Self::Drift => 4,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s.code())
    }
}
