//! [`PathTable`]: per-path state of a controller, keyed by [`PathId`].
//!
//! A connection has a handful of paths, so a `Vec` kept sorted by id beats a
//! hash map: lookups are a binary search, iteration is in id order (a
//! deterministic order for decisions that look at every path), and nothing
//! allocates on the per-event path once the paths are inserted.

use crate::controller::PathId;

/// A small map from [`PathId`] to per-path state `T`, iterated in id order.
///
/// ```
/// use umptcp_cc::{PathId, PathTable};
///
/// let mut table = PathTable::new();
/// table.insert(PathId(2), "second");
/// table.insert(PathId(1), "first");
/// assert_eq!(table.get(PathId(1)), Some(&"first"));
/// let ids: Vec<PathId> = table.iter().map(|(id, _)| id).collect();
/// assert_eq!(ids, [PathId(1), PathId(2)]);
/// assert_eq!(table.remove(PathId(1)), Some("first"));
/// assert_eq!(table.len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTable<T> {
    /// Entries sorted by id, no duplicates.
    entries: Vec<(PathId, T)>,
}

impl<T> Default for PathTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> PathTable<T> {
    /// Make an empty table.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    fn position(&self, id: PathId) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&id, |(k, _)| *k)
    }

    /// Insert `value` for `id`, returning the value it replaces, if any.
    pub fn insert(&mut self, id: PathId, value: T) -> Option<T> {
        match self.position(id) {
            Ok(i) => Some(core::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (id, value));
                None
            }
        }
    }

    /// Remove the state of `id`, returning it if it was there.
    pub fn remove(&mut self, id: PathId) -> Option<T> {
        self.position(id).ok().map(|i| self.entries.remove(i).1)
    }

    /// Return the state of `id`, if any.
    pub fn get(&self, id: PathId) -> Option<&T> {
        self.position(id).ok().map(|i| &self.entries[i].1)
    }

    /// Return the state of `id` for changing, if any.
    pub fn get_mut(&mut self, id: PathId) -> Option<&mut T> {
        match self.position(id) {
            Ok(i) => Some(&mut self.entries[i].1),
            Err(_) => None,
        }
    }

    /// Return whether `id` has state in the table.
    pub fn contains(&self, id: PathId) -> bool {
        self.position(id).is_ok()
    }

    /// Iterate over `(id, state)` in increasing id order.
    pub fn iter(&self) -> impl Iterator<Item = (PathId, &T)> + '_ {
        self.entries.iter().map(|(id, v)| (*id, v))
    }

    /// Iterate over `(id, state)` in increasing id order, for changing.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (PathId, &mut T)> + '_ {
        self.entries.iter_mut().map(|(id, v)| (*id, v))
    }

    /// Return how many paths have state.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Return whether no path has state.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_and_keeps_order() {
        let mut t = PathTable::new();
        assert!(t.is_empty());
        assert_eq!(t.insert(PathId(5), 50), None);
        assert_eq!(t.insert(PathId(1), 10), None);
        assert_eq!(t.insert(PathId(3), 30), None);
        assert_eq!(t.insert(PathId(3), 31), Some(30));
        assert_eq!(t.len(), 3);
        let all: Vec<(PathId, i32)> = t.iter().map(|(id, v)| (id, *v)).collect();
        assert_eq!(all, [(PathId(1), 10), (PathId(3), 31), (PathId(5), 50)]);
    }

    #[test]
    fn get_mut_and_remove() {
        let mut t = PathTable::new();
        t.insert(PathId(7), 1u64);
        *t.get_mut(PathId(7)).unwrap() += 1;
        assert_eq!(t.get(PathId(7)), Some(&2));
        assert!(t.get_mut(PathId(8)).is_none());
        assert!(t.contains(PathId(7)));
        for (_, v) in t.iter_mut() {
            *v = 9;
        }
        assert_eq!(t.remove(PathId(7)), Some(9));
        assert_eq!(t.remove(PathId(7)), None);
        assert!(t.get(PathId(7)).is_none());
        assert_eq!(t.len(), 0);
    }
}
