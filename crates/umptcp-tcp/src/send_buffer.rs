//! The send buffer: a fixed-capacity ring of bytes the application wrote and
//! the peer has not yet acknowledged. Offset 0 is SND.UNA's first data byte.
//! Public because the MPTCP layer keeps its data-level send buffer in one
//! too (offset 0 there is the oldest byte not DATA_ACKed).

use crate::LazyStorage;

/// A byte ring allocated once, at the first write: appended at the back,
/// read at any offset, dropped from the front.
#[derive(Debug)]
pub struct SendBuffer {
    storage: LazyStorage,
    /// Index of the oldest byte.
    head: usize,
    len: usize,
}

impl SendBuffer {
    /// A ring of `capacity` bytes (allocated at the first write, never
    /// again).
    pub fn new(capacity: usize) -> Self {
        SendBuffer {
            storage: LazyStorage::new(capacity),
            head: 0,
            len: 0,
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Return whether no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most bytes it can hold.
    pub fn capacity(&self) -> usize {
        self.storage.capacity()
    }

    /// Bytes of memory it holds: 0 until the first write.
    pub fn allocated(&self) -> usize {
        self.storage.allocated()
    }

    /// Room left.
    pub fn free(&self) -> usize {
        self.capacity() - self.len
    }

    /// Append as much of `data` as fits; return how much did.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        let cap = self.capacity();
        let start = (self.head + self.len) % cap.max(1);
        let first = n.min(cap - start);
        let storage = self.storage.bytes_mut();
        storage[start..start + first].copy_from_slice(&data[..first]);
        storage[..n - first].copy_from_slice(&data[first..n]);
        self.len += n;
        n
    }

    /// Copy up to `out.len()` bytes starting `offset` bytes past the oldest
    /// into `out`; return how many were copied.
    pub fn peek(&self, offset: usize, out: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let n = out.len().min(self.len - offset);
        let cap = self.capacity();
        let start = (self.head + offset) % cap;
        let first = n.min(cap - start);
        let storage = self.storage.bytes();
        out[..first].copy_from_slice(&storage[start..start + first]);
        out[first..n].copy_from_slice(&storage[..n - first]);
        n
    }

    /// The up to `n` bytes starting `offset` bytes past the oldest, as the
    /// (at most) two slices of the ring they occupy: no copy.
    pub fn slices(&self, offset: usize, n: usize) -> (&[u8], &[u8]) {
        if offset >= self.len {
            return (&[], &[]);
        }
        let n = n.min(self.len - offset);
        let cap = self.capacity();
        let start = (self.head + offset) % cap;
        let first = n.min(cap - start);
        let storage = self.storage.bytes();
        (&storage[start..start + first], &storage[..n - first])
    }

    /// Drop the `n` oldest bytes (acknowledged by the peer).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.head = (self.head + n) % self.capacity().max(1);
        self.len -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_around() {
        let mut buf = SendBuffer::new(8);
        assert_eq!(buf.write(b"abcdef"), 6);
        buf.consume(4);
        assert_eq!(buf.write(b"ghijklmn"), 6);
        assert_eq!(buf.len(), 8);
        assert_eq!(buf.free(), 0);
        let mut out = [0; 8];
        assert_eq!(buf.peek(0, &mut out), 8);
        assert_eq!(&out, b"efghijkl");
        let mut out = [0; 3];
        assert_eq!(buf.peek(3, &mut out), 3);
        assert_eq!(&out, b"hij");
        assert_eq!(buf.peek(8, &mut out), 0);
        // The same bytes as two slices of the ring, without a copy.
        assert_eq!(buf.slices(0, 8), (&b"efgh"[..], &b"ijkl"[..]));
        assert_eq!(buf.slices(1, 2), (&b"fg"[..], &b""[..]));
        assert_eq!(buf.slices(5, 100), (&b"jkl"[..], &b""[..]));
        assert_eq!(buf.slices(8, 1), (&b""[..], &b""[..]));
        buf.consume(100);
        assert_eq!(buf.len(), 0);
    }
}
