// SPDX-License-Identifier: GPL-2.0

//! Requests: a `read(2)`, `write(2)`, io_uring or aio request served as the block layer would
//! serve it on a block device opened with `O_DIRECT`.
//!
//! [`dio`] holds `block/fops.c`'s direct-I/O rules as pure functions of a request's shape;
//! [`kiocb`] the `struct kiocb` and the completion owed for an asynchronous one; [`model`] the
//! per-file device model (DMA delay, service time, queue depth, completion order); [`engine`]
//! the asynchronous requests in flight, and [`inflight`] the pages they lend, for its overlap
//! check; [`transfer`] the synchronous and asynchronous read and write that use them all.

pub(crate) mod dio;
pub(crate) mod engine;
pub(crate) mod inflight;
pub(crate) mod kiocb;
pub(crate) mod model;
pub(crate) mod transfer;
