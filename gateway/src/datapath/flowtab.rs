//! The kernel's flow tables read as memory: the arrays are `BPF_F_MMAPABLE`, so a
//! collection is a scan of mapped pages, not a syscall per flow (see
//! `gateway_common::FlowSet` for their layout and why they are arrays).

use std::{
    collections::HashMap,
    os::fd::{AsFd as _, AsRawFd as _},
    path::Path,
};

use aya::maps::MapData;
use gateway_common::{Counters, FLOW_USED, FLOW_WAYS, FlowSet, FlowValue};

use super::DatapathError;

/// A read-only mapping of one pinned flow table.
pub struct FlowTable<const W: usize> {
    ptr: *const FlowSet<W>,
    sets: usize,
    len: usize,
    /// Kept open for the mapping's lifetime (it would survive a close; this documents
    /// which map it is).
    _map: MapData,
}

// SAFETY: the mapping is only read, through volatile loads; the kernel writes it
// concurrently by design (see `sets`).
unsafe impl<const W: usize> Send for FlowTable<W> {}
unsafe impl<const W: usize> Sync for FlowTable<W> {}

impl<const W: usize> FlowTable<W> {
    pub fn open(dir: &Path, name: &'static str) -> Result<Self, DatapathError> {
        let map = MapData::from_pin(dir.join(name))
            .map_err(|source| DatapathError::OpenMap { name, source })?;
        let info = map
            .info()
            .map_err(|source| DatapathError::OpenMap { name, source })?;
        if info.value_size() as usize != size_of::<FlowSet<W>>() {
            return Err(DatapathError::FlowTable {
                name,
                why: format!(
                    "value size {} where this build expects {}",
                    info.value_size(),
                    size_of::<FlowSet<W>>()
                ),
            });
        }
        let sets = info.max_entries() as usize;
        let len = sets * size_of::<FlowSet<W>>();
        // SAFETY: a shared read-only mapping of the array's pages; `len` is within the
        // array (max_entries × value size, value size a multiple of 8).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                map.fd().as_fd().as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(DatapathError::FlowTable {
                name,
                why: format!("mmap: {}", std::io::Error::last_os_error()),
            });
        }
        Ok(Self {
            ptr: ptr.cast(),
            sets,
            len,
            _map: map,
        })
    }

    /// Every flow held in any CPU's part, once per set that holds it (a flow seen by two
    /// CPUs is in one set of each CPU's part; each part is replaced on its own, so its
    /// counters are counted on their own). The kernel may replace a way while it is read:
    /// a way is taken only if its key reads the same before and after its value (the
    /// kernel writes key-last, see `FlowSet`).
    pub fn flows(&self) -> HashMap<([u64; W], u32), Counters> {
        let mut out: HashMap<([u64; W], u32), Counters> = HashMap::new();
        for s in 0..self.sets {
            // SAFETY: s < sets; every field is a plain integer, read volatile because the
            // kernel writes concurrently.
            let set = unsafe { self.ptr.add(s) };
            for w in 0..FLOW_WAYS {
                let (key, value) = unsafe {
                    let keyp = std::ptr::addr_of!((*set).keys[w]);
                    let before = std::ptr::read_volatile(keyp);
                    if !used(&before) {
                        continue;
                    }
                    let value: FlowValue =
                        std::ptr::read_volatile(std::ptr::addr_of!((*set).values[w]));
                    let after = std::ptr::read_volatile(keyp);
                    if after != before {
                        continue;
                    }
                    (before, value)
                };
                out.entry((key, s as u32)).or_default().add(&value.counters);
            }
        }
        out
    }
}

/// The `used` byte of a key is byte 3 of its last word (`FlowKeyV4::used`, `FlowKeyV6::used`).
fn used<const W: usize>(key: &[u64; W]) -> bool {
    (key[W - 1] >> 24) as u8 == FLOW_USED
}

impl<const W: usize> Drop for FlowTable<W> {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`, unmapped once.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}
