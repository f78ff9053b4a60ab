//! The handles by which an application names what the core holds. Four-
//! tuples, the third identity, are `umptcp_wire::FourTuple`.

/// A connection's handle within its endpoint. Handles are not reused
/// while the endpoint lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

/// A subflow's handle, stable for the life of its connection (never
/// reused within it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubflowId(pub u32);
