//! The memory of a byte ring, taken when the first byte is written.
//!
//! A connection is created at the SYN, but many never carry a byte: the
//! half-open connections of a SYN flood, a join refused later, a probe.
//! With their buffers allocated at creation, 64 half-open connections
//! cost some 200 MB; with this, none until data arrives or is written.
//! Once taken, the memory is kept for the connection's life (no
//! allocation per packet).

/// `capacity` bytes of ring storage, allocated on first write.
#[derive(Debug)]
pub struct LazyStorage {
    bytes: Box<[u8]>,
    capacity: usize,
}

impl LazyStorage {
    /// Storage for `capacity` bytes; nothing is allocated yet.
    pub fn new(capacity: usize) -> Self {
        LazyStorage {
            bytes: Box::default(),
            capacity,
        }
    }

    /// The bytes it holds once allocated.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether the memory was taken.
    pub fn is_allocated(&self) -> bool {
        self.bytes.len() == self.capacity
    }

    /// Bytes of memory taken: 0, or the capacity.
    pub fn allocated(&self) -> usize {
        self.bytes.len()
    }

    /// The ring for reading: empty until the first write, when nothing
    /// can have been written to read either.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Give the memory back (the caller holds no bytes in it); the next
    /// write takes it again.
    pub fn release(&mut self) {
        self.bytes = Box::default();
    }

    /// The ring for writing, allocated (zeroed) on the first call.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        if !self.is_allocated() {
            self.bytes = vec![0; self.capacity].into_boxed_slice();
        }
        &mut self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_taken_on_the_first_write_only() {
        let mut s = LazyStorage::new(1 << 20);
        assert!(!s.is_allocated());
        assert!(s.bytes().is_empty());
        assert_eq!(s.capacity(), 1 << 20);
        s.bytes_mut()[5] = 7;
        assert!(s.is_allocated());
        assert_eq!(s.bytes()[5], 7);
        assert_eq!(s.bytes().len(), 1 << 20);
        s.release();
        assert_eq!(s.allocated(), 0);
        assert_eq!(s.bytes_mut().len(), 1 << 20, "taken again");
    }
}
