//! Lumina's core library: the `lumina.yaml` registry and the safe linker.
//!
//! The crate is split the way its effects are split:
//!
//! ```text
//!   registry  (pure: YAML text -> validated Registry, with file:line:column errors)
//!      |
//!   link::desired (walks sources)  link::observe (lstat of targets)  link::record (state file)
//!      \______________________________|_________________________________/
//!                                     v
//!                              link::plan  (pure: desired x observed x record -> Plan)
//!                                     v
//!                              link::apply (effects, through `fs` only)
//! ```
//!
//! Only [`fs`] touches the disk for writing and only [`user`] changes credentials; clippy's
//! `disallowed-methods` keeps it that way.

pub mod apply;
pub mod capture;
pub mod cmd;
pub mod config;
pub mod drift;
pub mod error;
pub mod exit;
pub mod fs;
pub mod hardware;
pub mod init;
pub mod link;
pub mod manpage;
pub mod pacman;
pub mod paths;
pub mod perm;
pub mod profile;
pub mod registry;
pub mod root;
pub mod snapshot;
pub mod stable;
pub mod theme;
pub mod user;

pub use error::Error;
