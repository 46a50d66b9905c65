# SPDX-License-Identifier: GPL-2.0
"""The plan of the upstream series (read by gen.py): where each module of pinio's pages layer
lands in the kernel's Rust crate, which patch adds what, and each patch's message.

The code of every patch comes from pinio's sources; only the words are here. Messages follow
Documentation/process/submitting-patches.rst: imperative subject with the subsystem prefix,
a body that says why, wrapped at 72 columns, and no Signed-off-by (whoever sends the series
adds theirs).
"""

import os

# pinio module (src/pages/NAME.rs) -> (parent module in the kernel crate, module name):
# rust/kernel/PARENT/NAME.rs. The pages layer's other module, inspect.rs (what the kernel thinks
# of a page's folio, for pinio's experiments), stays out.
MODULES = {
    "view": ("page", "view"),
    "copy": ("page", "copy"),
    "gup": ("mm", "gup"),
    "iter": ("iov", "iter"),
    "extract": ("iov", "extract"),
    "batch": ("iov", "batch"),
    "owned": ("iov", "owned"),
}

# The opening of a helper file the series creates.
HELPER_FILE_HEAD = {
    "uio.c": "// SPDX-License-Identifier: GPL-2.0\n\n#include <linux/uio.h>\n",
}

PATCHES = [
    {
        "subject": "rust: helpers: add memcpy_page(), memzero_page() and flush_dcache_page()",
        "helpers": {"page.c": ["memcpy_page", "memzero_page", "flush_dcache_page"]},
        "body": """
Rust code that moves bytes between pages it does not own (pages pinned
from user space, or listed by a kernel iterator) must not form Rust
references to their contents: user space, another thread or a device
may change them at any time. It has to copy through C, with short-lived
local mappings, as memcpy_page() and memzero_page() do, and flush the
destination page afterwards on architectures with aliasing data caches.

All three are static inlines (flush_dcache_page() is one on most
architectures), so bindgen cannot see them. Add helpers for them; the
next patches use them for page-to-page copies.
""",
    },
    {
        "subject": "rust: helpers: add the iov_iter inlines page extraction needs",
        "helpers": {"uio.c": [
            "iov_iter_type", "iov_iter_count", "iov_iter_is_kvec", "user_backed_iter",
            "iter_iov_addr", "iter_iov_len", "iov_iter_truncate", "iov_iter_reexpand",
            "iov_iter_extract_will_pin",
        ]},
        "maintainers": [("USERSPACE COPYIN/COPYOUT (UIOVEC)", "rust/helpers/uio.c")],
        "body": """
A driver that does direct I/O takes the pages of an iov_iter with
iov_iter_extract_pages(), and releases them the way
iov_iter_extract_will_pin() says: unpinned if they were pinned, left
alone if they were merely listed. It also needs what the block layer's
direct I/O checks before extracting: the iterator's type, its count,
its segments (iter_iov_addr(), iter_iov_len()), and a truncation undone
when the transfer ends (iov_iter_truncate(), iov_iter_reexpand()).

All of these are static inlines or macros in <linux/uio.h>. Add helpers
for them, in a new rust/helpers/uio.c named after the header.
""",
    },
    {
        "subject": "rust: uapi: add <linux/mman.h>",
        "lines": [("rust/uapi/uapi_helper.h", "#include <uapi/linux/mman.h>",
                   r"#include <uapi/linux/[\w/.-]+>")],
        "body": """
The PROT_* and MAP_* flags are user ABI that Rust code has no name for.
KUnit tests that need user memory (kunit_vm_mmap()), such as the
doctests of the user-page abstractions that follow, pass them, and so
would a driver that maps memory for user space.
""",
    },
    {
        "subject": "rust: page: add views of lent pages, with the access in the type",
        "modules": ["view", "copy"],
        "maintainers": [("MEMORY MANAGEMENT - RUST", "rust/kernel/page/")],
        "body": """
BorrowedPage<'a> lends a &Page for 'a, but Page's raw accessors need no
proof that the page may be written, and a &Page cannot be copied into
the several places a scatter-gather list or a device descriptor ring
needs it. Pages a driver borrows from user space or from an iterator
come with a right that matters more than their lifetime: a page pinned
without FOLL_WRITE, or listed by a source iterator, must never be
written, and one a device wrote into must be released dirty.

Add kernel::page::view: PageRef<'a> and PageMut<'a>, Copy handles of a
page that its lender keeps alive for 'a, PageMut carrying the right to
write; the Access trait with its two implementations, ReadOnly and
Writable, so that containers of lent pages can carry the device's
access in their type; and Span, a byte range in one page.

Pages lent to a device are shared with user space and with other
threads exactly like DMA memory, so the views never hand out &[u8] or
&mut [u8]: bytes move only through kernel::page::copy, which copies and
zeroes through memcpy_page() and memzero_page(), in C.
""",
    },
    {
        "subject": "rust: mm: add HeldPages, FOLL_PIN pins of a user range",
        "modules": ["gup"],
        "maintainers": [("MEMORY MANAGEMENT - GUP (GET USER PAGES)", "rust/kernel/mm/gup.rs")],
        "body": """
There is no Rust abstraction for pinning user memory: a driver that
lets a device read or write a user buffer calls pin_user_pages_fast()
and unpin_user_pages_dirty_lock() through bindings, with its own
unsafe bookkeeping of which pages are pinned, whether they may be
written, and whether they must be dirtied.

Add kernel::mm::gup::HeldPages<A>, a guard that owns the FOLL_PIN pins
of a user range of the current task, taken with pin_user_pages_fast()
(FOLL_WRITE when A is Writable, FOLL_LONGTERM and FOLL_NOFAULT as
HoldOptions say), all or nothing. Views of its pages are borrowed from
it, so no view outlives the pins; it unpins every page exactly once
when dropped, dirty if writable views were handed out. This is case 5
of Documentation/core-api/pin_user_pages.rst, "pin, write to the page,
unpin", with FOLL_LONGTERM for pins held indefinitely.

The guard exposes no page reference counts and no folios: it holds
pins, and pins are released only by unpinning them.
""",
    },
    {
        "subject": "rust: iov: add the Iter trait over source and destination iterators",
        "modules": ["iter"],
        "maintainers": [("USERSPACE COPYIN/COPYOUT (UIOVEC)", "rust/kernel/iov/iter.rs")],
        "body": """
IovIterSource and IovIterDest offer copies, but a driver doing direct
I/O needs what the block layer checks before it extracts pages: the
iterator's type, its alignment (iov_iter_alignment()), the pages it
spans (iov_iter_npages()), a walk over its segments that leaves the
iterator where it is, and a truncation that is undone when the
transfer ends, as blkdev_read_iter() does.

Add kernel::iov::iter: the Iter trait, implemented by both iterator
types, whose associated Access type says whether a device may write
into the iterator's pages (a destination iterator: Writable) or only
read them (a source iterator: ReadOnly); the segment walk; and the
Truncated and Rewind guards.
""",
    },
    {
        "subject": "rust: iov: add ExtractedPages, a batch of an iov_iter's pages",
        "modules": ["extract", "batch"],
        "maintainers": [("USERSPACE COPYIN/COPYOUT (UIOVEC)", "rust/kernel/iov/batch.rs"),
                        ("USERSPACE COPYIN/COPYOUT (UIOVEC)", "rust/kernel/iov/extract.rs")],
        "body": """
iov_iter_extract_pages() pins the pages of a user-backed iterator and
merely lists those of a kernel-page iterator; the caller must tell the
two apart with iov_iter_extract_will_pin() and release each the right
way: unpin_user_pages_dirty_lock() for pins, nothing for listed pages,
which the iterator's owner keeps alive. Getting this wrong leaks pins
or drops references that were never taken.

Add kernel::iov::extract (the extraction call, and Retention, what is
held on the pages) and kernel::iov::batch::ExtractedPages, one batch of
up to BATCH_PAGES pages taken from the front of an iterator into an
array on the caller's stack. The batch borrows the iterator mutably
for its lifetime, so listed pages cannot outlive their owner and the
iterator cannot move while its pages are in use; it hands out views
with the iterator's access and releases the pages when dropped, dirty
if the device wrote into them.
""",
    },
    {
        "subject": "rust: iov: add OwnedPages, the extracted pages of an asynchronous request",
        "modules": ["owned"],
        "maintainers": [("USERSPACE COPYIN/COPYOUT (UIOVEC)", "rust/kernel/iov/owned.rs")],
        "body": """
A request that completes after ->read_iter() or ->write_iter() returned
(-EIOCBQUEUED) must take all of its pages before it returns: the
iterator and its segment array may be gone as soon as it does. The
pages are then released in another context, by whatever completes the
request.

Add kernel::iov::owned::OwnedPages<A>, every page of the first bytes of
an iterator, taken with iov_iter_extract_pages() as often as needed,
optionally without faulting and without sleeping allocations (for
IOCB_NOWAIT), and released when dropped, dirty if the device wrote
into them. It owns its pins and is Send: FOLL_PIN pins are not tied to
the task that took them, and unpinning is allowed from any task in
process context. Listed pages stay the iterator owner's: the
constructor is unsafe, and its caller promises to keep them alive until
the value is dropped (until ki_complete(), for a kiocb).
""",
    },
]


def cover_letter(version, reused):
    """The cover letter's subject and text (cover-letter.txt, with the kernel version)."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cover-letter.txt"),
              encoding="utf-8") as f:
        text = f.read()
    subject, _, body = text.partition("\n\n")
    reused_text = ", ".join(f"{n}()" for n in reused) if reused else "none needed"
    return subject.strip(), body.replace("@VERSION@", version).replace("@REUSED@", reused_text)
