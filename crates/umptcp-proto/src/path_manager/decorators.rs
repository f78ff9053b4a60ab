//! Path-manager decorators: a host's own address policy laid over any
//! [`PathManager`], so that every connection follows it whichever policy
//! opens its subflows (the kernel keeps the same apart: its `signal` and
//! `backup` endpoint flags apply whatever the path manager).

use std::net::IpAddr;

use umptcp_wire::AddrId;

use super::{PathManager, PmAction, PmView};
use crate::event::MptcpEvent;

/// Announces `addresses` (ADD_ADDR, with their IDs) on every connection
/// once it speaks MPTCP, beside whatever `inner` does.
#[derive(Debug)]
pub struct AnnounceAlso {
    /// The policy decorated.
    pub inner: Box<dyn PathManager>,
    /// The addresses, with the IDs they are announced under.
    pub addresses: Vec<(AddrId, IpAddr)>,
}

impl PathManager for AnnounceAlso {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn on_event(&mut self, view: &PmView<'_>, event: &MptcpEvent, actions: &mut Vec<PmAction>) {
        if *event == (MptcpEvent::Connected { mptcp: true }) {
            for &(id, addr) in &self.addresses {
                actions.push(PmAction::Announce { id, addr });
            }
        }
        self.inner.on_event(view, event, actions);
    }
}

/// Makes every subflow from one of `addresses` a backup (RFC 8684 §3.3.8):
/// those `inner` opens start as backups (the B flag of their MP_JOIN), and
/// any other, the initial one and those the peer opens, gets MP_PRIO once
/// established.
#[derive(Debug)]
pub struct BackupFrom {
    /// The policy decorated.
    pub inner: Box<dyn PathManager>,
    /// Our addresses whose subflows are backups.
    pub addresses: Vec<IpAddr>,
}

impl PathManager for BackupFrom {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn on_event(&mut self, view: &PmView<'_>, event: &MptcpEvent, actions: &mut Vec<PmAction>) {
        let first = actions.len();
        self.inner.on_event(view, event, actions);
        for action in &mut actions[first..] {
            if let PmAction::Open { local, backup, .. } = action
                && self.addresses.contains(&local.ip())
            {
                *backup = true;
            }
        }
        let established = matches!(event, MptcpEvent::SubflowEstablished(_))
            || *event == (MptcpEvent::Connected { mptcp: true });
        if !established {
            return;
        }
        for s in view.subflows {
            if !s.closed && !s.backup && self.addresses.contains(&s.tuple.local.ip()) {
                actions.push(PmAction::SetBackup {
                    subflow: s.id,
                    backup: true,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use umptcp_tcp::FourTuple;

    use super::*;
    use crate::connection::{Role, SubflowStats};
    use crate::id::SubflowId;
    use crate::path_manager::{Fullmesh, Manual};

    fn stats(id: u32, local: &str, backup: bool, closed: bool) -> SubflowStats {
        SubflowStats {
            id: SubflowId(id),
            tuple: FourTuple {
                local: local.parse().unwrap(),
                remote: "10.9.0.1:80".parse().unwrap(),
            },
            established: !closed,
            backup,
            closed,
            srtt: None,
            cwnd: 0,
            bytes_sent: 0,
            bytes_received: 0,
            retransmissions: 0,
        }
    }

    fn view<'a>(subflows: &'a [SubflowStats], extra: &'a [IpAddr]) -> PmView<'a> {
        PmView {
            role: Role::Client,
            initial_local: "10.0.0.2:4000".parse::<SocketAddr>().unwrap(),
            initial_remote: "10.9.0.1:80".parse().unwrap(),
            extra_local: extra,
            subflows,
            remote: &[],
            closing: false,
        }
    }

    #[test]
    fn announce_also_adds_its_addresses_once_mptcp_and_keeps_the_inner_policy() {
        let addr: IpAddr = "192.0.2.7".parse().unwrap();
        let mut pm = AnnounceAlso {
            inner: Box::new(Manual),
            addresses: vec![(AddrId(5), addr)],
        };
        assert_eq!(pm.name(), "manual");
        let subflows = [stats(0, "10.0.0.2:4000", false, false)];
        let mut actions = Vec::new();
        pm.on_event(
            &view(&subflows, &[]),
            &MptcpEvent::Connected { mptcp: false },
            &mut actions,
        );
        assert!(actions.is_empty(), "not on a fallen-back connection");
        pm.on_event(
            &view(&subflows, &[]),
            &MptcpEvent::Connected { mptcp: true },
            &mut actions,
        );
        assert_eq!(
            actions,
            [PmAction::Announce {
                id: AddrId(5),
                addr
            }]
        );
    }

    #[test]
    fn backup_from_marks_opens_and_established_subflows_of_its_addresses() {
        let backup: IpAddr = "10.0.1.2".parse().unwrap();
        let mut pm = BackupFrom {
            inner: Box::new(Fullmesh::default()),
            addresses: vec![backup],
        };
        let subflows = [
            stats(0, "10.0.0.2:4000", false, false),
            stats(1, "10.0.1.2:4001", false, false),
            stats(2, "10.0.1.2:4002", true, false),
            stats(3, "10.0.1.2:4003", false, true),
        ];
        let extra = [backup];
        let mut actions = Vec::new();
        pm.on_event(
            &view(&subflows[..1], &extra),
            &MptcpEvent::Connected { mptcp: true },
            &mut actions,
        );
        let opens: Vec<_> = actions
            .iter()
            .filter_map(|a| match a {
                PmAction::Open { local, backup, .. } => Some((local.ip(), *backup)),
                _ => None,
            })
            .collect();
        assert_eq!(
            opens,
            [(backup, true)],
            "fullmesh's open from the backup address"
        );
        actions.clear();
        pm.on_event(
            &view(&subflows, &extra),
            &MptcpEvent::SubflowEstablished(SubflowId(1)),
            &mut actions,
        );
        let marked: Vec<_> = actions
            .iter()
            .filter_map(|a| match a {
                PmAction::SetBackup {
                    subflow,
                    backup: true,
                } => Some(subflow.0),
                _ => None,
            })
            .collect();
        assert_eq!(marked, [1], "open and not yet a backup, from the address");
    }
}
