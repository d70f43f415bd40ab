//! One module per subcommand.

pub mod bench;
pub mod check;
pub mod completions;
pub mod conns;
pub mod daemon;
pub mod doctor;
pub mod endpoint;
pub mod lab;
pub mod limits;
pub mod man;
pub mod monitor;
pub mod pm;
pub mod run;
pub mod status;
pub mod systemd;
