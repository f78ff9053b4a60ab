//! MP_JOIN (RFC 8684 §3.2): authenticating a new subflow of an existing
//! connection, in both roles.
//!
//! ```text
//!   initiator (A)                                     responder (B)
//!   SYN      MP_JOIN (token of B's key, R-A, id, B flag)  ->
//!                   <- SYN/ACK  MP_JOIN (64-bit HMAC of B, R-B, id, B flag)
//!   ACK      MP_JOIN (160-bit HMAC of A)                  ->
//!                   <- ACK (the fourth: A may now send data)
//! ```
//!
//! A failed check resets the subflow with MP_TCPRST "MPTCP-specific error",
//! as the kernel does; the connection is untouched.

use umptcp_crypto::{
    JOIN_ACK_HMAC_LEN, join_ack_hmac, join_synack_hmac, token, verify_join_ack_hmac,
    verify_join_synack_hmac,
};
use umptcp_wire::mptcp::{MpJoin, TcpRstReason};
use umptcp_wire::{AddrId, Key, Nonce};

/// Why a join is refused. Each maps to the MP_TCPRST reason the subflow's
/// reset carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The peer's HMAC does not match: it does not know the keys.
    #[error("MP_JOIN HMAC mismatch")]
    BadHmac,
    /// The option is not the one this step of the handshake expects.
    #[error("unexpected MP_JOIN form for this step of the handshake")]
    UnexpectedForm,
}

impl JoinError {
    /// The MP_TCPRST reason of the reset this error causes.
    pub fn reset_reason(self) -> TcpRstReason {
        TcpRstReason::MptcpSpecific
    }
}

/// What each side says about itself in its MP_JOIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinParams {
    /// The address ID of the sender's address on this subflow.
    pub addr_id: AddrId,
    /// The sender wants this subflow used only as a backup.
    pub backup: bool,
}

/// The initiator's side of one join.
#[derive(Clone, Debug)]
pub struct JoinInitiator {
    local_key: Key,
    peer_key: Key,
    local_nonce: Nonce,
    local: JoinParams,
    /// The responder's nonce and parameters, from its SYN/ACK.
    peer: Option<(Nonce, JoinParams)>,
}

impl JoinInitiator {
    /// Start a join with the connection's keys and a fresh nonce.
    pub fn new(local_key: Key, peer_key: Key, local_nonce: Nonce, local: JoinParams) -> Self {
        JoinInitiator {
            local_key,
            peer_key,
            local_nonce,
            local,
            peer: None,
        }
    }

    /// The SYN's option: the token of the responder's key.
    pub fn syn_option(&self) -> MpJoin {
        MpJoin::Syn {
            backup: self.local.backup,
            addr_id: self.local.addr_id,
            token: token(self.peer_key),
            nonce: self.local_nonce,
        }
    }

    /// Check the SYN/ACK's truncated HMAC; on success the responder's
    /// parameters are known and [`JoinInitiator::ack_option`] can be sent.
    ///
    /// # Errors
    ///
    /// [`JoinError::BadHmac`] if the HMAC does not match,
    /// [`JoinError::UnexpectedForm`] if the option is not a SYN/ACK form.
    pub fn on_syn_ack(&mut self, option: &MpJoin) -> Result<JoinParams, JoinError> {
        let MpJoin::SynAck {
            backup,
            addr_id,
            hmac,
            nonce,
        } = *option
        else {
            return Err(JoinError::UnexpectedForm);
        };
        if !verify_join_synack_hmac(self.peer_key, self.local_key, nonce, self.local_nonce, hmac) {
            return Err(JoinError::BadHmac);
        }
        let params = JoinParams { addr_id, backup };
        self.peer = Some((nonce, params));
        Ok(params)
    }

    /// The third ACK's option: the full HMAC, once the SYN/ACK checked out.
    pub fn ack_option(&self) -> Option<MpJoin> {
        let (peer_nonce, _) = self.peer?;
        Some(MpJoin::Ack {
            hmac: join_ack_hmac(self.local_key, self.peer_key, self.local_nonce, peer_nonce),
        })
    }
}

/// The responder's side of one join, built from the SYN once the endpoint
/// found the connection by its token.
#[derive(Clone, Debug)]
pub struct JoinResponder {
    local_key: Key,
    peer_key: Key,
    local_nonce: Nonce,
    peer_nonce: Nonce,
    local: JoinParams,
    peer: JoinParams,
}

impl JoinResponder {
    /// Answer the SYN's MP_JOIN with the connection's keys and a fresh
    /// nonce.
    ///
    /// # Errors
    ///
    /// [`JoinError::UnexpectedForm`] if `syn` is not the SYN form.
    pub fn new(
        syn: &MpJoin,
        local_key: Key,
        peer_key: Key,
        local_nonce: Nonce,
        local: JoinParams,
    ) -> Result<Self, JoinError> {
        let MpJoin::Syn {
            backup,
            addr_id,
            nonce,
            ..
        } = *syn
        else {
            return Err(JoinError::UnexpectedForm);
        };
        Ok(JoinResponder {
            local_key,
            peer_key,
            local_nonce,
            peer_nonce: nonce,
            local,
            peer: JoinParams { addr_id, backup },
        })
    }

    /// What the initiator said about itself.
    pub fn peer(&self) -> JoinParams {
        self.peer
    }

    /// The SYN/ACK's option: the truncated HMAC and our nonce.
    pub fn syn_ack_option(&self) -> MpJoin {
        MpJoin::SynAck {
            backup: self.local.backup,
            addr_id: self.local.addr_id,
            hmac: join_synack_hmac(
                self.local_key,
                self.peer_key,
                self.local_nonce,
                self.peer_nonce,
            ),
            nonce: self.local_nonce,
        }
    }

    /// Check the third ACK's HMAC, in constant time.
    ///
    /// # Errors
    ///
    /// [`JoinError::BadHmac`] if it does not match,
    /// [`JoinError::UnexpectedForm`] if the option is not the ACK form.
    pub fn on_ack(&self, option: &MpJoin) -> Result<(), JoinError> {
        let MpJoin::Ack { hmac } = option else {
            return Err(JoinError::UnexpectedForm);
        };
        let hmac: &[u8; JOIN_ACK_HMAC_LEN] = hmac;
        if verify_join_ack_hmac(
            self.peer_key,
            self.local_key,
            self.peer_nonce,
            self.local_nonce,
            hmac,
        ) {
            Ok(())
        } else {
            Err(JoinError::BadHmac)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: Key = Key(0x0123_4567_89ab_cdef);
    const KEY_B: Key = Key(0xfedc_ba98_7654_3210);

    fn params(id: u8, backup: bool) -> JoinParams {
        JoinParams {
            addr_id: AddrId(id),
            backup,
        }
    }

    #[test]
    fn a_join_between_holders_of_the_keys_succeeds() {
        let mut a = JoinInitiator::new(KEY_A, KEY_B, Nonce(11), params(2, true));
        let syn = a.syn_option();
        assert!(matches!(syn, MpJoin::Syn { token: t, .. } if t == token(KEY_B)));
        let b = JoinResponder::new(&syn, KEY_B, KEY_A, Nonce(22), params(0, false)).unwrap();
        assert_eq!(b.peer(), params(2, true));
        assert_eq!(a.ack_option(), None, "no HMAC before the SYN/ACK");
        assert_eq!(a.on_syn_ack(&b.syn_ack_option()), Ok(params(0, false)));
        let ack = a.ack_option().unwrap();
        assert_eq!(b.on_ack(&ack), Ok(()));
    }

    #[test]
    fn wrong_keys_or_forms_are_refused() {
        let mut a = JoinInitiator::new(KEY_A, KEY_B, Nonce(11), params(1, false));
        let syn = a.syn_option();
        // A responder that holds another key.
        let impostor =
            JoinResponder::new(&syn, Key(5), KEY_A, Nonce(22), params(0, false)).unwrap();
        assert_eq!(
            a.on_syn_ack(&impostor.syn_ack_option()),
            Err(JoinError::BadHmac)
        );
        assert_eq!(a.on_syn_ack(&syn), Err(JoinError::UnexpectedForm));
        // An initiator that holds another key.
        let b = JoinResponder::new(&syn, KEY_B, KEY_A, Nonce(22), params(0, false)).unwrap();
        let mut forger = JoinInitiator::new(Key(6), KEY_B, Nonce(11), params(1, false));
        forger.on_syn_ack(&b.syn_ack_option()).unwrap_err();
        let mut honest = JoinInitiator::new(KEY_A, KEY_B, Nonce(11), params(1, false));
        honest.on_syn_ack(&b.syn_ack_option()).unwrap();
        let MpJoin::Ack { mut hmac } = honest.ack_option().unwrap() else {
            unreachable!()
        };
        hmac[19] ^= 1;
        assert_eq!(b.on_ack(&MpJoin::Ack { hmac }), Err(JoinError::BadHmac));
        assert!(
            JoinResponder::new(
                &b.syn_ack_option(),
                KEY_B,
                KEY_A,
                Nonce(1),
                params(0, false)
            )
            .is_err()
        );
        assert_eq!(
            JoinError::BadHmac.reset_reason(),
            TcpRstReason::MptcpSpecific
        );
    }
}
