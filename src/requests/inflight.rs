// SPDX-License-Identifier: GPL-2.0

//! The pages a file's queued requests have lent to the device, counted per page: whether a new
//! request shares a page with them costs one lookup per page of it, however many are in
//! flight (the engine's overlap check, [`super::engine`]).
//!
//! An open-addressing hash table with linear probing and backward-shift deletion, keyed by the
//! address of the page's `struct page` (never dereferenced), counting for each page the
//! in-flight requests that lend it and, of those, the device writes. It grows by doubling
//! (rehashing every entry) when half full; a growth that cannot allocate turns the table off
//! until the file has nothing in flight again, and the caller's check then finds nothing.

use kernel::{
    alloc::Flags,
    prelude::*, //
};

/// One page lent by requests in flight.
#[derive(Clone, Copy, Default)]
struct Entry {
    /// The `struct page` address; 0: a free slot.
    page: usize,
    /// Requests lending it (a page a request lends twice counts twice).
    users: u32,
    /// Of those, device writes (`DMA_FROM_DEVICE`).
    writers: u32,
}

/// The pages lent by a file's queued requests.
///
/// # Invariants
///
/// If `slots` is not empty, its length is a power of two, fewer than half its entries are in
/// use (`used`), and every entry in use is reachable from its home slot by linear probing
/// without crossing a free slot.
pub(crate) struct InFlightPages {
    slots: KVec<Entry>,
    used: usize,
    /// A growth failed: nothing is counted until the file has nothing in flight.
    off: bool,
}

impl InFlightPages {
    /// An empty table, allocating nothing.
    pub(crate) const fn new() -> Self {
        Self {
            slots: KVec::new(),
            used: 0,
            off: false,
        }
    }

    fn home(&self, page: usize) -> usize {
        // Fibonacci hashing of the page's index in the memory map (`struct page` is 64 bytes).
        let h = ((page >> 6) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> 32) as usize & (self.slots.len() - 1)
    }

    /// The slot holding `page`, if any.
    fn find(&self, page: usize) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(page);
        loop {
            let e = self.slots[i];
            if e.page == page {
                return Some(i);
            }
            if e.page == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Whether `page` is lent by a request in flight in a way that conflicts with a new request
    /// that `writes` it or not: a device write against anything, anything against a device
    /// write. Always `false` while the table is off.
    pub(crate) fn conflicts(&self, page: usize, writes: bool) -> bool {
        self.find(page).is_some_and(|i| {
            let e = self.slots[i];
            e.writers != 0 || (writes && e.users != 0)
        })
    }

    /// Makes room for `more` pages, growing with `flags`; turns the table off if it cannot.
    pub(crate) fn reserve(&mut self, more: usize, flags: Flags) {
        if self.off {
            return;
        }
        let need = self.used.saturating_add(more).saturating_mul(2).max(16);
        if need <= self.slots.len() {
            return;
        }
        let Some(cap) = need.checked_next_power_of_two() else {
            self.turn_off();
            return;
        };
        let Ok(fresh) = KVec::from_elem(Entry::default(), cap, flags) else {
            self.turn_off();
            return;
        };
        let old = core::mem::replace(&mut self.slots, fresh);
        self.used = 0;
        for e in old.iter().filter(|e| e.page != 0) {
            self.insert(*e);
        }
    }

    fn turn_off(&mut self) {
        self.off = true;
        self.slots = KVec::new();
        self.used = 0;
    }

    /// Puts `e` (a page not in the table) in its place; there is room (invariant).
    fn insert(&mut self, e: Entry) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(e.page);
        while self.slots[i].page != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = e;
        self.used += 1;
    }

    /// Counts one more request lending `page`, a device write if `writes`. Nothing if the
    /// table is off; [`InFlightPages::reserve`] must have made room.
    pub(crate) fn add(&mut self, page: usize, writes: bool) {
        if self.off || self.used.saturating_add(1).saturating_mul(2) > self.slots.len() {
            // Only without room (a caller that did not reserve): stop counting altogether, so
            // that no later removal finds a page it never added.
            if !self.off {
                self.turn_off();
            }
            return;
        }
        match self.find(page) {
            Some(i) => {
                self.slots[i].users += 1;
                self.slots[i].writers += u32::from(writes);
            }
            None => self.insert(Entry {
                page,
                users: 1,
                writers: u32::from(writes),
            }),
        }
    }

    /// Counts one request fewer lending `page` (added by [`InFlightPages::add`]).
    pub(crate) fn remove(&mut self, page: usize, writes: bool) {
        let Some(mut i) = self.find(page) else {
            return;
        };
        let e = &mut self.slots[i];
        e.users = e.users.saturating_sub(1);
        e.writers = e.writers.saturating_sub(u32::from(writes));
        if e.users != 0 {
            return;
        }
        // Backward-shift deletion: move later entries of the probe run into the hole when
        // their home slot does not lie (cyclically) after it.
        let mask = self.slots.len() - 1;
        self.slots[i] = Entry::default();
        self.used -= 1;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let next = self.slots[j];
            if next.page == 0 {
                break;
            }
            let home = self.home(next.page);
            // `next` may move to `i` unless its home is in (i, j], cyclically.
            let stays = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !stays {
                self.slots[i] = next;
                self.slots[j] = Entry::default();
                i = j;
            }
        }
    }

    /// The file has nothing in flight: forget everything, and count again if turned off.
    pub(crate) fn reset(&mut self) {
        if self.off || self.used != 0 {
            self.slots = KVec::new();
            self.used = 0;
            self.off = false;
        }
    }
}

#[kunit_tests(pinio_inflight)]
mod tests {
    use super::*;

    /// The `struct page` address of the `i`-th page of a test: scattered (splitmix64), as the
    /// pages of a user buffer are in the memory map, so that probe runs form and cross.
    fn page(i: usize) -> usize {
        let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        0xffff_ea00_0000_0000usize.wrapping_add(((z & ((1 << 34) - 1)) as usize) << 6)
    }

    /// Pages added are found, with their kinds, after growing and after removals that shift
    /// others back; removed ones are gone; a reset forgets all.
    #[test]
    fn add_find_remove() -> Result {
        let mut t = InFlightPages::new();
        const N: usize = 3000;
        for i in 0..N {
            t.reserve(1, GFP_KERNEL);
            t.add(page(i), i % 3 == 0);
        }
        // Every third one is written: it conflicts with a read; the others only with a write.
        for i in 0..N {
            assert_eq!(t.conflicts(page(i), false), i % 3 == 0);
            assert!(t.conflicts(page(i), true));
        }
        assert!(!t.conflicts(page(N + 1), true));
        // A page lent twice stays until both go.
        t.reserve(1, GFP_KERNEL);
        t.add(page(7), false);
        t.remove(page(7), false);
        assert!(t.conflicts(page(7), true));
        for i in (0..N).filter(|i| i % 2 == 0) {
            t.remove(page(i), i % 3 == 0);
        }
        for i in 0..N {
            assert_eq!(t.conflicts(page(i), true), i % 2 == 1 || i == 7);
        }
        t.remove(page(7), false);
        assert!(!t.conflicts(page(7), true));
        t.reset();
        for i in 0..N {
            assert!(!t.conflicts(page(i), true));
        }
        Ok(())
    }
}
