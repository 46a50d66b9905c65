// SPDX-License-Identifier: GPL-2.0

//! The misc device `/dev/pinio` and its `file_operations`.
//!
//! `kernel::miscdevice` builds a `file_operations` without `llseek`, `splice_read` and
//! `splice_write`, and cannot allow `O_DIRECT` opens. A block-device-like file needs all of
//! them, so this module registers the misc device with its own table, built the way
//! `miscdevice.rs` builds one: thin `extern "C"` entry points that recover the file's
//! [`OpenFile`] and call safe code ([`crate::requests::transfer`], [`super::ioctl`]). Splice and sendfile
//! use the kernel's `copy_splice_read()` and `iter_file_splice_write()`, which hand
//! `read_iter`/`write_iter` kernel-page (BVEC) iterators.

use super::{
    ioctl,
    open_file::OpenFile, //
};
use crate::{
    disk::Disk,
    glue::{
        compat,
        shim, //
    },
    requests::{
        engine::EngineRef,
        kiocb::IoCb,
        transfer::{
            self,
            Done, //
        },
    },
};
use core::pin::Pin;
use kernel::{
    bindings,
    error::to_result,
    ffi::{
        c_int,
        c_long,
        c_uint,
        c_ulong, //
    },
    fs::Kiocb,
    iov::{
        IovIterDest,
        IovIterSource, //
    },
    prelude::*,
    sync::Arc,
    types::{
        ForeignOwnable,
        Opaque, //
    }, //
};

/// Name of the device node.
const NAME: &CStr = c"pinio";

/// Mode of the device node: root only, as for a block device.
const MODE: u16 = 0o600;

/// The private data of an open `/dev/pinio` file.
type FilePtr = Pin<KBox<OpenFile>>;

/// The registered misc device.
///
/// # Invariants
///
/// `misc` holds a `struct miscdevice` registered with `misc_register()` whose `fops` are
/// [`FOPS`], until [`Drop`] deregisters it; `disk` is initialised before that registration.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration {
    disk: Arc<Disk>,
    engine: EngineRef,
    #[pin]
    misc: Opaque<bindings::miscdevice>,
}

impl Registration {
    /// Registers `/dev/pinio` for `disk`, whose files queue asynchronous requests on
    /// `engine`.
    pub(crate) fn new(disk: Arc<Disk>, engine: EngineRef) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            disk,
            engine,
            misc <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                let mut misc: bindings::miscdevice = pin_init::zeroed();
                misc.minor = bindings::MISC_DYNAMIC_MINOR as c_int;
                misc.name = NAME.as_char_ptr();
                misc.fops = &FOPS.0;
                misc.mode = MODE;
                // SAFETY: The initializer may write to `slot`.
                unsafe { slot.write(misc) };
                // SAFETY: `slot` holds a filled-in miscdevice in pinned memory that stays
                // valid until `PinnedDrop` deregisters it.
                // INVARIANT: `disk` was initialised above, before the device can be opened.
                to_result(unsafe { bindings::misc_register(slot) })
            }),
        })
    }
}

// SAFETY: `misc_deregister()` may be called from any thread, and `disk` is `Send`.
unsafe impl Send for Registration {}

// SAFETY: No `&self` method touches `misc`; `disk` is `Sync`.
unsafe impl Sync for Registration {}

#[pinned_drop]
impl PinnedDrop for Registration {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `misc` is registered (type invariant) and is deregistered exactly once here.
        unsafe { bindings::misc_deregister(self.misc.get()) };
    }
}

/// A `file_operations` table in a `static`.
struct FileOperations(bindings::file_operations);

// SAFETY: The table is never written after initialisation; it holds only function pointers and
// the module pointer, which any thread may read.
unsafe impl Sync for FileOperations {}

/// The file operations of `/dev/pinio`.
static FOPS: FileOperations = FileOperations(bindings::file_operations {
    owner: compat::this_module().as_ptr(),
    open: Some(open),
    release: Some(release),
    llseek: Some(llseek),
    read_iter: Some(read_iter),
    write_iter: Some(write_iter),
    splice_read: Some(bindings::copy_splice_read),
    splice_write: Some(bindings::iter_file_splice_write),
    unlocked_ioctl: Some(ioctl),
    #[cfg(CONFIG_COMPAT)]
    compat_ioctl: bindings::compat_ptr_ioctl,
    // Accept RWF_DONTCACHE where block devices do.
    fop_flags: compat::FOP_FLAGS,
    ..pin_init::zeroed()
});

/// Borrows the [`OpenFile`] of `file`.
///
/// # Safety
///
/// `file` must be a `/dev/pinio` file between a successful [`open`] and its [`release`], and
/// the returned borrow must end before `release`.
unsafe fn open_file<'a>(file: *mut bindings::file) -> Pin<&'a OpenFile> {
    // SAFETY: `open` stored a `FilePtr` in `private_data`, which `release` takes back; until
    // then it may be borrowed (guaranteed by the caller).
    unsafe { <FilePtr as ForeignOwnable>::borrow((*file).private_data) }
}

/// # Safety
///
/// Called by the VFS for a file being opened through `misc_open()`, which set `private_data` to
/// our registered `struct miscdevice` and holds the misc lock, so the registration is alive.
unsafe extern "C" fn open(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `misc_open()` stored the miscdevice it found in `private_data`.
    let misc = unsafe { (*file).private_data }.cast::<bindings::miscdevice>();
    // SAFETY: Only `Registration` registers a miscdevice with these fops, so `misc` is the
    // `misc` field of a live `Registration`, whose `disk` is initialised (type invariants).
    let registration =
        unsafe { &*kernel::container_of!(Opaque::cast_from(misc), Registration, misc) };
    let ptr = match OpenFile::new(registration.disk.clone(), Some(registration.engine)) {
        Ok(ptr) => ptr,
        Err(err) => return err.to_errno(),
    };
    // SAFETY: `file` is being opened; the open path may set its modes and private data.
    unsafe {
        shim::pinio_file_set_can_odirect(file);
        shim::pinio_file_set_nowait(file);
        (*file).private_data = ptr.into_foreign().cast();
    }
    0
}

/// # Safety
///
/// Called by the VFS once, when the last reference to an opened `/dev/pinio` file goes.
unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `open` stored a `FilePtr` in `private_data`; release takes it back exactly once.
    // Dropping it releases everything the file still holds.
    drop(unsafe { <FilePtr as ForeignOwnable>::from_foreign((*file).private_data) });
    0
}

/// # Safety
///
/// Called by the VFS on an open `/dev/pinio` file.
unsafe extern "C" fn llseek(file: *mut bindings::file, offset: i64, whence: c_int) -> i64 {
    // SAFETY: `file` is open (caller), and the borrow ends within this call.
    let size = unsafe { open_file(file) }.disk().store.size();
    // SAFETY: `file` is a valid open file; `fixed_size_llseek()` is what block devices use.
    unsafe { bindings::fixed_size_llseek(file, offset, whence, size as i64) }
}

/// The `read_iter`/`write_iter` return value for `result`.
fn rw_return(result: Result<Done>) -> isize {
    match result {
        Ok(Done::Now(done)) => isize::try_from(done).unwrap_or(isize::MAX),
        Ok(Done::Queued) => -(bindings::EIOCBQUEUED as isize),
        Err(err) => err.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by the VFS (or aio, io_uring) with a valid `kiocb` for an open `/dev/pinio` file and
/// a valid destination iterator.
unsafe extern "C" fn read_iter(
    kiocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: `kiocb` is valid for this call and its file's private data is a `FilePtr`.
    let kiocb = unsafe { Kiocb::<FilePtr>::from_raw(kiocb) };
    let file = kiocb.file();
    // SAFETY: The kiocb is ours to modify for this call; `rw_return` turns `Done::Queued`,
    // which only a request handed to the engine gives, into `-EIOCBQUEUED`.
    let iocb = unsafe { IoCb::new(kiocb) };
    // SAFETY: `iter` is a valid destination iterator for this call.
    let iter = unsafe { IovIterDest::from_raw(iter) };
    rw_return(transfer::read(&file.io, iocb, iter))
}

/// # Safety
///
/// Called by the VFS (or aio, io_uring) with a valid `kiocb` for an open `/dev/pinio` file and
/// a valid source iterator.
unsafe extern "C" fn write_iter(
    kiocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: `kiocb` is valid for this call and its file's private data is a `FilePtr`.
    let kiocb = unsafe { Kiocb::<FilePtr>::from_raw(kiocb) };
    let file = kiocb.file();
    // SAFETY: As in `read_iter`.
    let iocb = unsafe { IoCb::new(kiocb) };
    // SAFETY: `iter` is a valid source iterator for this call.
    let iter = unsafe { IovIterSource::from_raw(iter) };
    rw_return(transfer::write(&file.io, iocb, iter))
}

/// # Safety
///
/// Called by the VFS on an open `/dev/pinio` file.
unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: `file` is open (caller), and the borrow ends within this call.
    let open = unsafe { open_file(file) };
    match ioctl::dispatch(&open, cmd, arg) {
        Ok(ret) => ret as c_long,
        Err(err) => err.to_errno() as c_long,
    }
}

#[kunit_tests(pinio_kernel_io)]
mod tests {
    use super::*;
    use crate::disk::params::Params;
    use kernel::{
        error::from_err_ptr,
        sync::atomic::Relaxed, //
    };

    /// A file with pinio's file operations over a private 1 MiB device, closed on drop.
    ///
    /// KUnit runs in a kthread, whose root need not be the one holding `/dev`, so the test
    /// makes its own file (an anonymous inode with [`FOPS`]) rather than looking up the node.
    struct KernelFile(*mut bindings::file);

    impl KernelFile {
        fn open() -> Result<Self> {
            let params = Params::new(1, 512, 16, 64, 1)?;
            let disk = Arc::pin_init(Disk::new(params, None), GFP_KERNEL)?;
            let private = OpenFile::new(disk, None)?.into_foreign();
            // SAFETY: The name is NUL-terminated, `FOPS` is static, and `private` is a
            // `FilePtr`, which `release` takes back when the file goes.
            let file = from_err_ptr(unsafe {
                shim::pinio_anon_inode_getfile(
                    c"[pinio-kunit]".as_char_ptr(),
                    &FOPS.0,
                    private.cast(),
                    bindings::O_RDWR as i32,
                )
            });
            match file {
                Ok(file) if !file.is_null() => Ok(Self(file)),
                result => {
                    // SAFETY: The file was not created, so `private` is still ours.
                    drop(unsafe { <FilePtr as ForeignOwnable>::from_foreign(private) });
                    Err(result.err().unwrap_or(ENOMEM))
                }
            }
        }

        /// The file's [`OpenFile`].
        fn state(&self) -> Pin<&OpenFile> {
            // SAFETY: The file was opened through our `open`, and the borrow ends before `drop`
            // closes it.
            unsafe { open_file(self.0) }
        }

        fn write(&self, buf: &[u8], pos: i64) -> isize {
            let mut pos = pos;
            // SAFETY: `buf` is valid for reads of its length; `pos` is a valid offset place.
            unsafe { bindings::kernel_write(self.0, buf.as_ptr().cast(), buf.len(), &mut pos) }
        }

        fn read(&self, buf: &mut [u8], pos: i64) -> isize {
            let mut pos = pos;
            // SAFETY: `buf` is valid for writes of its length; `pos` is a valid offset place.
            unsafe { bindings::kernel_read(self.0, buf.as_mut_ptr().cast(), buf.len(), &mut pos) }
        }
    }

    impl Drop for KernelFile {
        fn drop(&mut self) {
            // SAFETY: We own this reference to the file.
            unsafe { bindings::fput(self.0) };
        }
    }

    /// `kernel_write()`/`kernel_read()` on the device hand it KVEC iterators: the bytes
    /// round-trip through the listed (not pinned) path, and unaligned requests fail with
    /// EINVAL, as from user space.
    #[test]
    fn kernel_read_write_use_listed_pages() -> Result {
        let file = KernelFile::open()?;
        let state = file.state();
        let device = state.disk();
        let len = 3 * 4096 + 1024;
        let pos = i64::try_from(device.store.size() - 64 * 1024).map_err(|_| EINVAL)?;
        let mut data = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i as u8) ^ 0x5a ^ ((i >> 9) as u8);
        }
        let pinned = device.counters.bytes_pinned.load(Relaxed);
        let listed = device.counters.bytes_listed.load(Relaxed);

        assert_eq!(file.write(&data, pos), len as isize);
        let mut back = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        assert_eq!(file.read(&mut back, pos), len as isize);
        assert!(back == data);
        assert_eq!(device.counters.bytes_pinned.load(Relaxed), pinned);
        assert_eq!(
            device.counters.bytes_listed.load(Relaxed),
            listed + 2 * len as u64
        );

        // Misaligned position or length: EINVAL, as O_DIRECT on a block device.
        assert_eq!(file.write(&data, pos + 1), EINVAL.to_errno() as isize);
        assert_eq!(file.read(&mut back[..100], pos), EINVAL.to_errno() as isize);
        // Reading at the end gives 0, writing there ENOSPC.
        let end = i64::try_from(device.store.size()).map_err(|_| EINVAL)?;
        assert_eq!(file.read(&mut back, end), 0);
        assert_eq!(file.write(&data, end), ENOSPC.to_errno() as isize);
        Ok(())
    }
}
