// SPDX-License-Identifier: GPL-2.0

//! ioctl dispatch for `/dev/pinio`.
//!
//! Commands and argument structs come from the uapi header ([`crate::uapi`]). Each command's
//! direction decides how its argument crosses the user boundary: `_IOR` commands only write a
//! struct out, `_IOW` only read one in, `_IOWR` read, handle and write back.

use crate::{open_file::OpenFile, uapi};
use core::mem::size_of;
use kernel::{
    prelude::*,
    transmute::{AsBytes, FromBytes},
    uaccess::{UserPtr, UserSlice},
};

/// Handles `cmd` with argument `arg` on `file`. Unknown commands give `ENOTTY`, a bad argument
/// pointer `EFAULT`.
pub(crate) fn dispatch(file: &OpenFile, cmd: u32, arg: usize) -> Result<isize> {
    match cmd {
        uapi::PINIO_IOC_INFO => write_out(arg, &file.device.info()),
        uapi::PINIO_IOC_SET_CONFIG => read_in(arg, |config| file.set_config(config)),
        uapi::PINIO_IOC_GET_CONFIG => write_out(arg, &file.config().to_uapi()),
        uapi::PINIO_IOC_PIN => pin(file, arg),
        uapi::PINIO_IOC_UNPIN => read_update_write(arg, |unpin| file.unpin(unpin)),
        uapi::PINIO_IOC_QUERY => read_update_write(arg, |query| file.query(query)),
        uapi::PINIO_IOC_DMA => read_update_write(arg, |dma| file.dma(dma)),
        _ => Err(ENOTTY),
    }
}

/// `PINIO_IOC_PIN`: like any `_IOWR` command, except that a pin whose result cannot be copied
/// back is undone, so that no handle exists that the caller never learnt.
fn pin(file: &OpenFile, arg: usize) -> Result<isize> {
    let (mut reader, mut writer) =
        UserSlice::new(UserPtr::from_addr(arg), size_of::<uapi::pinio_pin>()).reader_writer();
    let mut pin = reader.read::<uapi::pinio_pin>()?;
    file.pin(&mut pin)?;
    if let Err(err) = writer.write(&pin) {
        let mut unpin = uapi::pinio_unpin {
            handle: pin.handle,
            ..Default::default()
        };
        // The handle was just created by this call; releasing it cannot fail.
        let _ = file.unpin(&mut unpin);
        return Err(err);
    }
    Ok(0)
}

/// `_IOR`: copies `value` out to the user struct at `arg`.
fn write_out<T: AsBytes>(arg: usize, value: &T) -> Result<isize> {
    UserSlice::new(UserPtr::from_addr(arg), size_of::<T>())
        .writer()
        .write(value)?;
    Ok(0)
}

/// `_IOW`: reads the user struct at `arg` and hands it to `handle`.
fn read_in<T: FromBytes>(arg: usize, handle: impl FnOnce(&T) -> Result) -> Result<isize> {
    let value = UserSlice::new(UserPtr::from_addr(arg), size_of::<T>())
        .reader()
        .read::<T>()?;
    handle(&value)?;
    Ok(0)
}

/// `_IOWR`: reads the user struct at `arg`, lets `handle` update it, and writes it back.
fn read_update_write<T: FromBytes + AsBytes>(
    arg: usize,
    handle: impl FnOnce(&mut T) -> Result,
) -> Result<isize> {
    let (mut reader, mut writer) =
        UserSlice::new(UserPtr::from_addr(arg), size_of::<T>()).reader_writer();
    let mut value = reader.read::<T>()?;
    handle(&mut value)?;
    writer.write(&value)?;
    Ok(0)
}
