// SPDX-License-Identifier: GPL-2.0

//! The char device on top: `/dev/pinio`, its open files and its ioctls.
//!
//! [`fops`] registers the misc device with its own `file_operations` and turns each entry
//! point into a call of the layers below; [`open_file`] is the state of one open file (its
//! requests' side and its pin table, with the lock order); [`ioctl`] moves ioctl arguments
//! across the user boundary and dispatches them.

pub(crate) mod fops;
pub(crate) mod ioctl;
pub(crate) mod open_file;
