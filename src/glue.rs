// SPDX-License-Identifier: GPL-2.0

//! The bottom layer: what binds pinio to C and to the running kernel.
//!
//! [`shim`] is bindgen's output for pinio's C shims (`rust-bindings/pinio_shim.h`: static
//! inlines and macros Rust cannot call), [`uapi`] the ioctl ABI generated from
//! `include/uapi/linux/pinio.h`, [`compat`] what differs between the kernel series pinio
//! supports; the rest are small questions to the kernel that its Rust crate does not answer yet. Every layer above may use this one; it uses only `kernel::`.

pub(crate) mod compat;
pub(crate) mod meminfo;
pub(crate) mod shim;
pub(crate) mod signal;
pub(crate) mod uapi;
pub(crate) mod workqueue;
