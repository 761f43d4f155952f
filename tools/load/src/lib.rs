//! The whole fleet under load and under faults, measured from outside: `just load` and
//! `just chaos` (see `docs/operations.md`). Private servers per run ([`infra`]), the services
//! as processes ([`fleet`]), customers through the public edges ([`traffic`]), agents on
//! their sockets and the REST API ([`agents`]), a local Graph API ([`provider`]), the proofs
//! ([`run`]), and the two scenarios ([`load`], [`chaos`]).

pub mod agents;
pub mod chaos;
pub mod fleet;
pub mod http1;
pub mod infra;
pub mod load;
pub mod netns;
pub mod proc;
pub mod provider;
pub mod run;
pub mod stages;
pub mod traffic;
