/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Read by bindgen only, never compiled: exposes the uapi header's structs and
 * constants to Rust. Function-like macros (_IOWR(...)) are invisible to
 * bindgen, so each ioctl number is restated here as a constant whose value
 * clang computes from the header; the build strips the PINIO_RUST_CONST_
 * prefix, as rust/bindings does with RUST_CONST_HELPER_.
 */
#include "../include/uapi/linux/pinio.h"

#define PINIO_RUST_CONST(name) const __u32 PINIO_RUST_CONST_##name = name

PINIO_RUST_CONST(PINIO_IOC_INFO);
PINIO_RUST_CONST(PINIO_IOC_PIN);
PINIO_RUST_CONST(PINIO_IOC_UNPIN);
PINIO_RUST_CONST(PINIO_IOC_QUERY);
PINIO_RUST_CONST(PINIO_IOC_DMA);
PINIO_RUST_CONST(PINIO_IOC_SET_CONFIG);
PINIO_RUST_CONST(PINIO_IOC_GET_CONFIG);
PINIO_RUST_CONST(PINIO_IOC_DUMP);
PINIO_RUST_CONST(PINIO_IOC_WHY);
