// SPDX-License-Identifier: GPL-2.0

//! ioctl dispatch for `/dev/pinio`.
//!
//! Commands and argument structs come from the uapi header ([`crate::glue::uapi`]). Each command's
//! direction decides how its argument crosses the user boundary: `_IOR` commands only write a
//! struct out, `_IOW` only read one in, `_IOWR` read, handle and write back.

use super::open_file::OpenFile;
use crate::glue::uapi;
use core::mem::size_of;
use kernel::{
    prelude::*,
    transmute::{
        AsBytes,
        FromBytes, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    }, //
};

/// Handles `cmd` with argument `arg` on `file`. Unknown commands give `ENOTTY`, a bad argument
/// pointer `EFAULT`.
pub(crate) fn dispatch(file: &OpenFile, cmd: u32, arg: usize) -> Result<isize> {
    match cmd {
        uapi::PINIO_IOC_INFO => write_out(arg, &file.disk().info()),
        uapi::PINIO_IOC_SET_CONFIG => read_in(arg, |config| file.io.set_config(config)),
        uapi::PINIO_IOC_GET_CONFIG => write_out(arg, &file.io.config().to_uapi()),
        uapi::PINIO_IOC_PIN => pin(file, arg),
        uapi::PINIO_IOC_UNPIN => read_update_write(arg, |unpin| file.unpin(unpin)),
        uapi::PINIO_IOC_QUERY => read_update_write(arg, |query| file.query(query)),
        uapi::PINIO_IOC_DMA => read_update_write(arg, |dma| file.dma(dma)),
        uapi::PINIO_IOC_DUMP => read_update_write(arg, |d| dump(file, d)),
        uapi::PINIO_IOC_WHY => read_update_write(arg, |w| why(file, w)),
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

/// Records `PINIO_IOC_DUMP` takes under the pin table lock at a time: 4 KiB of them.
const DUMP_BATCH: usize = 64;

/// `PINIO_IOC_DUMP`: writes the records of a handle's pages to the user array batch by batch,
/// outside the pin table lock (the writes may fault). After the first record, a record that
/// cannot be written or a handle released meanwhile ends the call with a short `count`.
fn dump(file: &OpenFile, arg: &mut uapi::pinio_dump) -> Result {
    if arg.reserved.iter().any(|&r| r != 0) {
        return Err(EINVAL);
    }
    let room = arg.count as usize;
    let bytes = room
        .checked_mul(size_of::<uapi::pinio_page_record>())
        .ok_or(EINVAL)?;
    let records = usize::try_from(arg.records).map_err(|_| EFAULT)?;
    let mut writer = UserSlice::new(UserPtr::from_addr(records), bytes).writer();
    // An offset beyond `usize` is past the end of any range: no records.
    let offset = usize::try_from(arg.offset).unwrap_or(usize::MAX);
    let mut batch = KVec::with_capacity(DUMP_BATCH.min(room), GFP_KERNEL)?;
    let mut nr_pages = file.dump_records(arg.handle, offset, 0, &mut batch)?;
    let mut done = 0usize;
    'batches: while done < room {
        batch.clear();
        let at = offset.saturating_add(done);
        match file.dump_records(arg.handle, at, room - done, &mut batch) {
            Ok(n) => nr_pages = n,
            // Released by another thread after the first batch: what was written stands.
            Err(_) if done != 0 => break,
            Err(err) => return Err(err),
        }
        if batch.is_empty() {
            break;
        }
        for record in batch.iter() {
            if let Err(err) = writer.write(record) {
                if done == 0 {
                    return Err(err);
                }
                break 'batches;
            }
            done += 1;
        }
    }
    arg.count = done as u32;
    arg.nr_pages = nr_pages as u64;
    Ok(())
}

/// `PINIO_IOC_WHY`: the explanation of the file's last failed pin, and up to `count` of its
/// records written to the user array. `EINVAL` for reserved fields set; `EFAULT` if the
/// records cannot be written.
fn why(file: &OpenFile, arg: &mut uapi::pinio_why) -> Result {
    if arg.reserved.iter().any(|&r| r != 0) {
        return Err(EINVAL);
    }
    let room = (arg.count as usize).min(uapi::PINIO_WHY_MAX_RECORDS as usize);
    let records_addr = usize::try_from(arg.records).map_err(|_| EFAULT)?;
    let mut records = KVec::new();
    let answer = file.why(room, &mut records)?;
    let bytes = records.len() * size_of::<uapi::pinio_page_record>();
    let mut writer = UserSlice::new(UserPtr::from_addr(records_addr), bytes).writer();
    for record in records.iter() {
        writer.write(record)?;
    }
    *arg = uapi::pinio_why {
        count: records.len() as u32,
        records: arg.records,
        ..answer
    };
    Ok(())
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
