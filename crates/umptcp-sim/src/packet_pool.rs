//! Packet buffers in flight: a slab of reusable `Vec<u8>`, so that a steady
//! run allocates nothing per packet.

/// A slab of packet buffers addressed by `u32` slots.
#[derive(Debug, Default)]
pub(crate) struct PacketPool {
    bufs: Vec<Vec<u8>>,
    free: Vec<u32>,
}

impl PacketPool {
    /// Store a copy of `data` and return its slot.
    pub(crate) fn insert(&mut self, data: &[u8]) -> u32 {
        if let Some(slot) = self.free.pop() {
            let buf = &mut self.bufs[slot as usize];
            buf.clear();
            buf.extend_from_slice(data);
            slot
        } else {
            // Slots are bounded by packets in flight, far below 2^32.
            let slot = self.bufs.len() as u32;
            self.bufs.push(data.to_vec());
            slot
        }
    }

    /// Store a copy of the packet in `slot` and return the new slot.
    pub(crate) fn duplicate(&mut self, slot: u32) -> u32 {
        let new = match self.free.pop() {
            Some(new) => new,
            None => {
                self.bufs.push(Vec::new());
                (self.bufs.len() - 1) as u32
            }
        };
        let mut buf = core::mem::take(&mut self.bufs[new as usize]);
        buf.clear();
        buf.extend_from_slice(&self.bufs[slot as usize]);
        self.bufs[new as usize] = buf;
        new
    }

    /// Return the packet in `slot`.
    pub(crate) fn get(&self, slot: u32) -> &[u8] {
        &self.bufs[slot as usize]
    }

    /// Return the packet in `slot`, mutably.
    pub(crate) fn get_mut(&mut self, slot: u32) -> &mut [u8] {
        &mut self.bufs[slot as usize]
    }

    /// Give `slot` back for reuse.
    pub(crate) fn release(&mut self, slot: u32) {
        self.free.push(slot);
    }

    /// Return the number of packets stored.
    pub(crate) fn in_use(&self) -> usize {
        self.bufs.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused() {
        let mut pool = PacketPool::default();
        let a = pool.insert(&[1, 2, 3]);
        let b = pool.duplicate(a);
        assert_eq!(pool.get(b), &[1, 2, 3]);
        pool.get_mut(b)[0] = 9;
        assert_eq!(pool.get(a), &[1, 2, 3]);
        pool.release(a);
        let c = pool.insert(&[7]);
        assert_eq!(c, a);
        assert_eq!(pool.get(c), &[7]);
        assert_eq!(pool.in_use(), 2);
    }
}
