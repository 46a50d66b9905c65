// SPDX-License-Identifier: GPL-2.0
/*
 * pinio's ABI as a 32-bit and a 64-bit caller see it. This one source is built twice:
 * pinio_abi_test (native, 64-bit) and pinio_abi32_test (gcc -m32 -static, run by the kernel's
 * IA32 emulation, so every ioctl goes through compat_ptr_ioctl and every read, write, readv,
 * writev, pread and pwrite through the compat system calls). Both assert the same values:
 *
 *  - the uapi structs have the same size and field offsets, and the ioctl numbers (which
 *    encode the size) are the same;
 *  - every ioctl (INFO, PIN, QUERY, DMA, UNPIN, SET_CONFIG) gives the same results, including
 *    64-bit fields with high bits set, which a 32-bit caller must not see truncated;
 *  - the data path gives the same counts and errors, including file offsets above 4 GiB.
 *
 * Store use (the store is shared with the other programs of a boot, see pinio_test.h): this
 * program writes only [40 MiB, 41 MiB) and the last 512 bytes of the store.
 */
#define _FILE_OFFSET_BITS 64
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <elf.h>
#include <stddef.h>
#include <sys/uio.h>

#include "pinio_test.h"

#ifndef PINIO_TEST_BITS
#define PINIO_TEST_BITS 64
#endif

#define KiB		1024ULL
#define MiB		(1024ULL * KiB)
#define PAGE		4096ULL
#define AREA		(40 * MiB)	/* the store range this program writes */
#define NPAGES		16
#define HIGH_BIT	(1ULL << 47)	/* above any user address, 32- or 64-bit */
#define ABOVE_4G	(1ULL << 32)

/*
 * The layout, checked at build time for each ABI: the same literals for both. On i386 a __u64
 * is aligned to 4 bytes only, so a field after an odd number of __u32 would move; pinio's
 * explicit padding keeps every __u64 at a multiple of 8, and every size a multiple of 8.
 */
#define LAYOUT(type, field, off) \
	_Static_assert(offsetof(struct type, field) == (off), #type "." #field " offset")
#define SIZE(type, size) _Static_assert(sizeof(struct type) == (size), #type " size")

SIZE(pinio_info, 72);
LAYOUT(pinio_info, store_size, 16);
LAYOUT(pinio_info, block_size, 24);
LAYOUT(pinio_info, max_pinned_pages, 32);
LAYOUT(pinio_info, config_flags, 40);
LAYOUT(pinio_info, max_queue_depth, 44);
LAYOUT(pinio_info, dma_mask_bits, 48);
LAYOUT(pinio_info, info_flags, 52);
LAYOUT(pinio_info, reserved, 56);
SIZE(pinio_pin, 72);
LAYOUT(pinio_pin, len, 8);
LAYOUT(pinio_pin, flags, 16);
LAYOUT(pinio_pin, handle, 24);
LAYOUT(pinio_pin, nr_pages, 32);
LAYOUT(pinio_pin, pin_ns, 48);
LAYOUT(pinio_pin, unpin_ns, 56);
LAYOUT(pinio_pin, reserved, 64);
SIZE(pinio_unpin, 32);
LAYOUT(pinio_unpin, unpin_ns, 8);
LAYOUT(pinio_unpin, reserved, 16);
SIZE(pinio_query, 144);
LAYOUT(pinio_query, addr, 8);
LAYOUT(pinio_query, charged_pages, 88);
LAYOUT(pinio_query, refcount_min, 96);
LAYOUT(pinio_query, mapcount_max, 108);
LAYOUT(pinio_query, dma_kept_maps, 112);
LAYOUT(pinio_query, dma_kept_slots, 120);
LAYOUT(pinio_query, reserved, 128);
SIZE(pinio_dma, 56);
LAYOUT(pinio_dma, range_offset, 8);
LAYOUT(pinio_dma, done, 32);
LAYOUT(pinio_dma, bounced, 40);
LAYOUT(pinio_dma, reserved, 48);
SIZE(pinio_config, 32);
LAYOUT(pinio_config, flags, 4);
LAYOUT(pinio_config, latency_us, 8);
LAYOUT(pinio_config, queue_depth, 12);
LAYOUT(pinio_config, reserved, 16);
SIZE(pinio_page_record, 64);
LAYOUT(pinio_page_record, flags, 16);
LAYOUT(pinio_page_record, pincount, 36);
LAYOUT(pinio_page_record, expected_refs, 40);
LAYOUT(pinio_page_record, reserved0, 44);
LAYOUT(pinio_page_record, reserved, 48);
SIZE(pinio_dump, 64);
LAYOUT(pinio_dump, offset, 8);
LAYOUT(pinio_dump, records, 16);
LAYOUT(pinio_dump, nr_pages, 24);
LAYOUT(pinio_dump, reserved, 32);
SIZE(pinio_why, 200);
LAYOUT(pinio_why, seq, 8);
LAYOUT(pinio_why, tid, 16);
LAYOUT(pinio_why, addr, 24);
LAYOUT(pinio_why, pages_per_call, 40);
LAYOUT(pinio_why, page_index, 48);
LAYOUT(pinio_why, vma_flags, 64);
LAYOUT(pinio_why, vma_start, 72);
LAYOUT(pinio_why, charge_pages, 88);
LAYOUT(pinio_why, pinned_vm, 112);
LAYOUT(pinio_why, held_pages, 120);
LAYOUT(pinio_why, nr_probed, 136);
LAYOUT(pinio_why, nr_records, 152);
LAYOUT(pinio_why, count, 156);
LAYOUT(pinio_why, records, 160);
LAYOUT(pinio_why, reserved, 168);
_Static_assert(PINIO_IOC_INFO == 0x8048b900, "PINIO_IOC_INFO");
_Static_assert(PINIO_IOC_PIN == 0xc048b901, "PINIO_IOC_PIN");
_Static_assert(PINIO_IOC_UNPIN == 0xc020b902, "PINIO_IOC_UNPIN");
_Static_assert(PINIO_IOC_QUERY == 0xc090b903, "PINIO_IOC_QUERY");
_Static_assert(PINIO_IOC_DMA == 0xc038b904, "PINIO_IOC_DMA");
_Static_assert(PINIO_IOC_SET_CONFIG == 0x4020b905, "PINIO_IOC_SET_CONFIG");
_Static_assert(PINIO_IOC_GET_CONFIG == 0x8020b906, "PINIO_IOC_GET_CONFIG");
_Static_assert(PINIO_IOC_WHY == 0xc0c8b908, "PINIO_IOC_WHY");
_Static_assert(sizeof(off_t) == 8, "64-bit file offsets");

static int dev_open(void)
{
	return open(PINIO_DEV, O_RDWR | O_DIRECT);
}

/* Page-aligned private anonymous memory in small pages, filled with @byte. */
static uint8_t *small_pages(size_t len, uint8_t byte)
{
	uint8_t *p = map_small(len);

	if (p)
		memset(p, byte, len);
	return p;
}

/* The ELF class of the running program, as the kernel loaded it. */
static int elf_class(void)
{
	unsigned char ident[EI_NIDENT];
	int fd = open("/proc/self/exe", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, ident, sizeof(ident));
	close(fd);
	return n == sizeof(ident) ? ident[EI_CLASS] : -1;
}

TEST(abi_is_the_one_built_for)
{
	ASSERT_EQ(PINIO_TEST_BITS, (int)(sizeof(long) * 8));
	ASSERT_EQ(PINIO_TEST_BITS == 32 ? ELFCLASS32 : ELFCLASS64, elf_class());
	ksft_print_msg("running as a %d-bit program\n", PINIO_TEST_BITS);
}

TEST(info)
{
	int fd = dev_open();
	struct pinio_info info;

	ASSERT_LE(0, fd);
	memset(&info, 0xff, sizeof(info));
	ASSERT_EQ(0, ioctl(fd, PINIO_IOC_INFO, &info));
	EXPECT_EQ(PINIO_ABI_VERSION, info.abi_version);
	EXPECT_EQ(PINIO_PIN_FLAGS_ALL, info.pin_flags);
	EXPECT_EQ(PINIO_UNPIN_FLAGS_ALL, info.unpin_flags);
	EXPECT_EQ(PINIO_DMA_FLAGS_ALL, info.dma_flags);
	EXPECT_EQ(64 * MiB, info.store_size);
	EXPECT_EQ(512, info.block_size);
	EXPECT_EQ(PAGE, info.page_size);
	EXPECT_EQ(1024 * MiB / PAGE, info.max_pinned_pages);
	EXPECT_EQ(PINIO_CONFIG_FLAGS_ALL, info.config_flags);
	EXPECT_EQ(PINIO_QUEUE_DEPTH_MAX, info.max_queue_depth);
	EXPECT_EQ(64, info.dma_mask_bits);
	EXPECT_EQ(0, info.info_flags);
	for (int i = 0; i < 2; i++)
		EXPECT_EQ(0, info.reserved[i]);
	EXPECT_EQ((long long)info.store_size, lseek(fd, 0, SEEK_END));
	/* A bad argument pointer is EFAULT, an unknown command ENOTTY. */
	EXPECT_EQ(-1, ioctl(fd, PINIO_IOC_INFO, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(fd, _IOR(PINIO_IOC_MAGIC, 0x7f, struct pinio_info), &info));
	EXPECT_EQ(ENOTTY, errno);
	/* The same number with another size is another command. */
	EXPECT_EQ(-1, ioctl(fd, _IOR(PINIO_IOC_MAGIC, 0x00, struct pinio_unpin), &info));
	EXPECT_EQ(ENOTTY, errno);
	close(fd);
}

/* PIN, QUERY, DMA both ways and UNPIN of one range, with every output field checked. */
TEST(pin_query_dma_unpin)
{
	const size_t len = NPAGES * PAGE;
	uint8_t *buf = small_pages(len, 'A');
	uint8_t *io = small_pages(len, 0);
	struct pinio_pin pin;
	struct pinio_query q;
	struct pinio_dma dma;
	struct pinio_unpin unpin;
	uint32_t handle;
	long h;
	int fd = dev_open();

	ASSERT_LE(0, fd);
	ASSERT_TRUE(buf != NULL);
	ASSERT_TRUE(io != NULL);

	h = ioc_pin(fd, buf, len, PINIO_PIN_WRITE, 0, &pin);
	ASSERT_LT(0, h) TH_LOG("PIN: %s", strerror(-h));
	handle = (uint32_t)h;
	EXPECT_EQ((uintptr_t)buf, pin.addr);
	EXPECT_EQ(len, pin.len);
	EXPECT_EQ(PINIO_PIN_WRITE, pin.flags);
	EXPECT_EQ(NPAGES, pin.nr_pages);
	EXPECT_EQ(0, pin.charged_pages);
	EXPECT_EQ(0, pin.reserved0);
	EXPECT_EQ(0, pin.unpin_ns);	/* PINIO_PIN_BENCH only */
	EXPECT_EQ(0, pin.reserved[0]);

	/* QUERY answers every field; the reserved ones come back zeroed. */
	memset(&q, 0, sizeof(q));
	q.handle = handle;
	q.flags = 0xffffffff;
	ASSERT_EQ(0, ioctl(fd, PINIO_IOC_QUERY, &q));
	EXPECT_EQ(handle, q.handle);
	EXPECT_EQ(PINIO_PIN_WRITE, q.flags);
	EXPECT_EQ((uintptr_t)buf, q.addr);
	EXPECT_EQ(len, q.len);
	EXPECT_EQ(NPAGES, q.nr_pages);
	EXPECT_EQ(NPAGES, q.nr_folios);
	EXPECT_EQ(0, q.nr_large_folios);
	EXPECT_EQ(NPAGES, q.nr_dma_pinned);
	EXPECT_EQ(NPAGES, q.nr_longterm_pinnable);
	EXPECT_EQ(NPAGES, q.nr_anon);
	EXPECT_EQ(NPAGES, q.nr_anon_exclusive);
	EXPECT_EQ(0, q.nr_zero_page);
	EXPECT_EQ(0, q.charged_pages);
	/*
	 * The mapping + GUP_PIN_COUNTING_BIAS, and possibly the reference of a per-CPU LRU batch
	 * that has not been drained yet (a freshly faulted page waits there).
	 */
	EXPECT_LE(1 + 1024, q.refcount_min);
	EXPECT_GE(1 + 1024 + 1, q.refcount_max);
	EXPECT_EQ(1, q.mapcount_min);
	EXPECT_EQ(1, q.mapcount_max);
	EXPECT_EQ(0, q.dma_kept_maps);
	EXPECT_EQ(0, q.dma_kept_slots);
	for (int i = 0; i < 2; i++)
		EXPECT_EQ(0, q.reserved[i]);

	/* DMA into the pages: a pattern written to the store lands in buf. */
	fill_pattern(io, len, 13, AREA);
	ASSERT_EQ((ssize_t)len, pwrite(fd, io, len, AREA));
	EXPECT_EQ((long long)len, ioc_dma(fd, handle, PINIO_DMA_TO_PAGES, 0, AREA, len));
	EXPECT_EQ(len, pattern_mismatch(buf, len, 13, AREA));

	/* DMA out of the pages, part of the range, read back with pread. */
	fill_pattern(buf, len, 14, 0);
	memset(&dma, 0, sizeof(dma));
	dma.handle = handle;
	dma.flags = PINIO_DMA_FROM_PAGES;
	dma.range_offset = 2 * PAGE;
	dma.store_offset = AREA + len;
	dma.len = 3 * PAGE + 512;
	dma.done = 0xdeadbeefdeadbeefULL;
	ASSERT_EQ(0, ioctl(fd, PINIO_IOC_DMA, &dma));
	EXPECT_EQ(3 * PAGE + 512, dma.done);
	EXPECT_EQ(2 * PAGE, dma.range_offset);
	EXPECT_EQ(0, dma.bounced);	/* this boot bounces nothing (dma_mask_bits=64) */
	EXPECT_EQ(0, dma.reserved[0]);
	ASSERT_EQ((ssize_t)(4 * PAGE), pread(fd, io, 4 * PAGE, AREA + len));
	EXPECT_EQ(3 * PAGE + 512, pattern_mismatch(io, 3 * PAGE + 512, 14, 2 * PAGE));

	/* 64-bit offsets with high bits set are refused, not truncated to their low half. */
	EXPECT_EQ(-EINVAL, ioc_dma(fd, handle, PINIO_DMA_TO_PAGES, ABOVE_4G, AREA, PAGE));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, handle, PINIO_DMA_TO_PAGES, 0, ABOVE_4G + AREA, PAGE));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, handle, PINIO_DMA_TO_PAGES, 0, AREA, ABOVE_4G + PAGE));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, handle, PINIO_DMA_TO_PAGES, 0, AREA, len + 1));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, handle, PINIO_DMA_TO_PAGES | PINIO_DMA_FROM_PAGES, 0,
				   AREA, PAGE));

	/* UNPIN returns its duration and zeroes the reserved fields; the handle is gone. */
	memset(&unpin, 0, sizeof(unpin));
	unpin.handle = handle;
	unpin.flags = PINIO_UNPIN_DIRTY;
	ASSERT_EQ(0, ioctl(fd, PINIO_IOC_UNPIN, &unpin));
	EXPECT_EQ(handle, unpin.handle);
	EXPECT_EQ(0, unpin.reserved[0]);
	EXPECT_EQ(-EINVAL, ioc_unpin(fd, handle, 0));
	EXPECT_EQ(-EINVAL, ioc_query(fd, handle, &q));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, handle, PINIO_DMA_TO_PAGES, 0, AREA, PAGE));
	close(fd);
	munmap(buf, len);
	munmap(io, len);
	ASSERT_PINS_BALANCED();
}

/* Addresses and lengths in the 64-bit fields: the kernel sees all 64 bits from both ABIs. */
TEST(pin_64bit_fields)
{
	uint8_t *buf = small_pages(PAGE, 'B');
	struct pinio_pin pin;
	int fd = dev_open();

	ASSERT_LE(0, fd);
	ASSERT_TRUE(buf != NULL);
	/* The low half is a valid pinnable address; with a high bit it is none. */
	memset(&pin, 0, sizeof(pin));
	pin.addr = (uintptr_t)buf | HIGH_BIT;
	pin.len = PAGE;
	EXPECT_EQ(-1, ioctl(fd, PINIO_IOC_PIN, &pin));
	EXPECT_EQ(EFAULT, errno);
	/* 4 GiB and one page: more than the per-file cap (ENOMEM), not one page. */
	pin.addr = (uintptr_t)buf;
	pin.len = ABOVE_4G + PAGE;
	EXPECT_EQ(-1, ioctl(fd, PINIO_IOC_PIN, &pin));
	EXPECT_EQ(ENOMEM, errno);
	/* A range that wraps around the 64-bit address space. */
	pin.addr = ~0ULL - PAGE + 1;
	pin.len = 2 * PAGE;
	EXPECT_EQ(-1, ioctl(fd, PINIO_IOC_PIN, &pin));
	EXPECT_EQ(EINVAL, errno);
	/* Reserved fields and flags are checked in full. */
	pin.addr = (uintptr_t)buf;
	pin.len = PAGE;
	pin.reserved[0] = 1ULL << 40;
	EXPECT_EQ(-1, ioctl(fd, PINIO_IOC_PIN, &pin));
	EXPECT_EQ(EINVAL, errno);
	pin.reserved[0] = 0;
	pin.flags = 1U << 31;
	EXPECT_EQ(-1, ioctl(fd, PINIO_IOC_PIN, &pin));
	EXPECT_EQ(EINVAL, errno);
	pin.flags = PINIO_PIN_GET | PINIO_PIN_LONGTERM;
	EXPECT_EQ(-1, ioctl(fd, PINIO_IOC_PIN, &pin));
	EXPECT_EQ(EINVAL, errno);
	/* The same struct, cleaned, pins (FOLL_GET, one page per call) and releases. */
	pin.flags = PINIO_PIN_GET;
	pin.pages_per_call = 1;
	ASSERT_EQ(0, ioctl(fd, PINIO_IOC_PIN, &pin));
	EXPECT_EQ(1, pin.nr_pages);
	EXPECT_EQ(0, ioc_unpin(fd, pin.handle, 0));
	close(fd);
	munmap(buf, PAGE);
	ASSERT_PINS_BALANCED();
}

/* Long-term pins are charged to pinned_vm (VmPin) and uncharged on unpin and close. */
TEST(longterm_charge)
{
	const size_t len = 4 * PAGE;
	uint8_t *buf = small_pages(len, 'C');
	struct pinio_pin pin;
	struct pinio_query q;
	long h;
	int fd = dev_open();

	ASSERT_LE(0, fd);
	ASSERT_TRUE(buf != NULL);
	ASSERT_EQ(0, vmpin_kb(0));
	h = ioc_pin(fd, buf, len, PINIO_PIN_LONGTERM | PINIO_PIN_NOFAULT, 0, &pin);
	ASSERT_LT(0, h) TH_LOG("PIN: %s", strerror(-h));
	EXPECT_EQ(4, pin.nr_pages);
	EXPECT_EQ(4, pin.charged_pages);
	EXPECT_EQ(16, vmpin_kb(0));
	ASSERT_EQ(0, ioc_query(fd, (uint32_t)h, &q));
	EXPECT_EQ(PINIO_PIN_LONGTERM | PINIO_PIN_NOFAULT, q.flags);
	EXPECT_EQ(4, q.charged_pages);
	EXPECT_EQ(4, q.nr_dma_pinned);
	/* A read-only pin cannot be DMA'd into. */
	EXPECT_EQ(-EPERM, ioc_dma(fd, (uint32_t)h, PINIO_DMA_TO_PAGES, 0, AREA, PAGE));
	EXPECT_EQ(0, ioc_unpin(fd, (uint32_t)h, 0));
	EXPECT_EQ(0, vmpin_kb(0));
	/* Released on close too. */
	ASSERT_LT(0, ioc_pin(fd, buf, len, PINIO_PIN_LONGTERM, 0, NULL));
	EXPECT_EQ(16, vmpin_kb(0));
	close(fd);
	EXPECT_EQ(0, vmpin_kb(0));
	munmap(buf, len);
	ASSERT_PINS_BALANCED();
}

TEST(set_config)
{
	struct pinio_config c;
	uint8_t *buf = small_pages(PAGE, 0);
	int fd = dev_open();

	ASSERT_LE(0, fd);
	ASSERT_TRUE(buf != NULL);
	EXPECT_EQ(0, pinio_set_dma_delay(fd, 1000));
	EXPECT_EQ((ssize_t)PAGE, pread(fd, buf, PAGE, AREA));
	EXPECT_EQ(0, pinio_set_dma_delay(fd, 1000000));
	EXPECT_EQ(-1, pinio_set_dma_delay(fd, 1000001));
	EXPECT_EQ(EINVAL, errno);
	memset(&c, 0, sizeof(c));
	c.reserved[1] = 1ULL << 63;
	EXPECT_EQ(-1, ioctl(fd, PINIO_IOC_SET_CONFIG, &c));
	EXPECT_EQ(EINVAL, errno);
	c.reserved[1] = 0;
	c.flags = 1U << 31;
	EXPECT_EQ(-1, ioctl(fd, PINIO_IOC_SET_CONFIG, &c));
	EXPECT_EQ(EINVAL, errno);
	/* ABI 2: the whole model comes back through the compat path too. */
	c.flags = PINIO_CONFIG_FIFO;
	c.latency_us = 1234;
	c.queue_depth = 7;
	EXPECT_EQ(0, ioctl(fd, PINIO_IOC_SET_CONFIG, &c));
	memset(&c, 0xff, sizeof(c));
	EXPECT_EQ(0, ioctl(fd, PINIO_IOC_GET_CONFIG, &c));
	EXPECT_EQ(PINIO_CONFIG_FIFO, c.flags);
	EXPECT_EQ(1234, c.latency_us);
	EXPECT_EQ(7, c.queue_depth);
	EXPECT_EQ(0, c.reserved[0]);
	memset(&c, 0, sizeof(c));
	EXPECT_EQ(0, ioctl(fd, PINIO_IOC_SET_CONFIG, &c));
	EXPECT_EQ(0, pinio_set_dma_delay(fd, 0));
	close(fd);
	munmap(buf, PAGE);
}

/* read, write, readv, writev, pread, pwrite, preadv, pwritev: the same counts and errors. */
TEST(data_path)
{
	const size_t len = 8 * PAGE;
	uint8_t *out = small_pages(len, 0);
	uint8_t *in = small_pages(len, 0);
	uint8_t *none = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	off_t size, pos = AREA + 64 * KiB;
	struct iovec wv[3], rv[4];
	int fd = dev_open();

	ASSERT_LE(0, fd);
	ASSERT_TRUE(out != NULL);
	ASSERT_TRUE(in != NULL);
	ASSERT_TRUE(none != MAP_FAILED);
	size = lseek(fd, 0, SEEK_END);
	ASSERT_EQ(64 * MiB, size);

	/* pwrite / pread */
	fill_pattern(out, len, 21, pos);
	EXPECT_EQ((ssize_t)len, pwrite(fd, out, len, pos));
	EXPECT_EQ((ssize_t)len, pread(fd, in, len, pos));
	EXPECT_EQ(len, pattern_mismatch(in, len, 21, pos));

	/* write / read at the file position, which moves */
	pos += len;
	fill_pattern(out, len, 22, pos);
	ASSERT_EQ(pos, lseek(fd, pos, SEEK_SET));
	EXPECT_EQ((ssize_t)len, write(fd, out, len));
	EXPECT_EQ(pos + (off_t)len, lseek(fd, 0, SEEK_CUR));
	ASSERT_EQ(pos, lseek(fd, pos, SEEK_SET));
	memset(in, 0, len);
	EXPECT_EQ((ssize_t)len, read(fd, in, len));
	EXPECT_EQ(len, pattern_mismatch(in, len, 22, pos));

	/* writev / readv with different cuts (compat iovecs are converted by the kernel) */
	pos += len;
	fill_pattern(out, len, 23, pos);
	wv[0] = (struct iovec){ out, 512 };
	wv[1] = (struct iovec){ out + 512, 3 * PAGE - 512 };
	wv[2] = (struct iovec){ out + 3 * PAGE, 5 * PAGE };
	ASSERT_EQ(pos, lseek(fd, pos, SEEK_SET));
	EXPECT_EQ((ssize_t)len, writev(fd, wv, 3));
	memset(in, 0, len);
	rv[0] = (struct iovec){ in, PAGE };
	rv[1] = (struct iovec){ in + PAGE, 0 };
	rv[2] = (struct iovec){ in + PAGE, 1024 };
	rv[3] = (struct iovec){ in + PAGE + 1024, len - PAGE - 1024 };
	ASSERT_EQ(pos, lseek(fd, pos, SEEK_SET));
	EXPECT_EQ((ssize_t)len, readv(fd, rv, 4));
	EXPECT_EQ(len, pattern_mismatch(in, len, 23, pos));

	/* pwritev / preadv, and preadv2 with a flag */
	pos += len;
	fill_pattern(out, len, 24, pos);
	EXPECT_EQ((ssize_t)len, pwritev(fd, wv, 3, pos));
	memset(in, 0, len);
	EXPECT_EQ((ssize_t)len, preadv(fd, rv, 4, pos));
	EXPECT_EQ(len, pattern_mismatch(in, len, 24, pos));
	memset(in, 0, len);
	EXPECT_EQ((ssize_t)len, preadv2(fd, rv, 4, pos, RWF_HIPRI));
	EXPECT_EQ(len, pattern_mismatch(in, len, 24, pos));

	/* Offsets above 4 GiB: past the end, not wrapped to their low half. */
	EXPECT_EQ(0, pread(fd, in, PAGE, ABOVE_4G + AREA));
	EXPECT_EQ(-1, pwrite(fd, out, PAGE, ABOVE_4G + AREA));
	EXPECT_EQ(ENOSPC, errno);
	EXPECT_EQ(0, preadv(fd, rv, 4, ABOVE_4G));
	EXPECT_EQ(-1, lseek(fd, ABOVE_4G, SEEK_SET));
	EXPECT_EQ(EINVAL, errno);

	/* Across the end: short; at the end: 0 and ENOSPC. */
	EXPECT_EQ(512, pread(fd, in, 1024, size - 512));
	EXPECT_EQ(512, pwrite(fd, out, 1024, size - 512));
	EXPECT_EQ(0, pread(fd, in, 512, size));
	EXPECT_EQ(-1, pwrite(fd, out, 512, size));
	EXPECT_EQ(ENOSPC, errno);

	/* Alignment: offset, length, buffer address, segment length. */
	EXPECT_EQ(-1, pread(fd, in, 512, AREA + 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pread(fd, in, 100, AREA));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pwrite(fd, out + 1, 512, AREA));
	EXPECT_EQ(EINVAL, errno);
	wv[1].iov_len = 100;
	EXPECT_EQ(-1, pwritev(fd, wv, 3, AREA));
	EXPECT_EQ(EINVAL, errno);

	/* Memory that cannot be pinned: EFAULT if nothing moved, else the short count. */
	EXPECT_EQ(-1, pread(fd, none, PAGE, AREA));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, pwrite(fd, none, PAGE, AREA));
	EXPECT_EQ(EFAULT, errno);
	rv[0] = (struct iovec){ in, PAGE };
	rv[1] = (struct iovec){ none, PAGE };
	EXPECT_EQ((ssize_t)PAGE, preadv(fd, rv, 2, AREA));

	close(fd);
	munmap(out, len);
	munmap(in, len);
	munmap(none, PAGE);
	ASSERT_PINS_BALANCED();
}

TEST_HARNESS_MAIN
