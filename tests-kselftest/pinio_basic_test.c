// SPDX-License-Identifier: GPL-2.0
/*
 * pinio basics: the device node opens with and without O_DIRECT, its size is the store
 * size (the same as the brd ramdisk the runner sets up), unknown ioctls fail with ENOTTY,
 * the ABI query answers, and no pin is left behind.
 */
#include "pinio_test.h"

TEST(open_buffered)
{
	int fd = open(PINIO_DEV, O_RDWR);

	ASSERT_LE(0, fd) TH_LOG("open %s: %s", PINIO_DEV, strerror(errno));
	ASSERT_EQ(0, close(fd));
}

TEST(open_direct)
{
	int fd = open(PINIO_DEV, O_RDWR | O_DIRECT);

	ASSERT_LE(0, fd) TH_LOG("open O_DIRECT: %s", strerror(errno));
	/* O_DIRECT can also be switched on later, which needs FMODE_CAN_ODIRECT too. */
	ASSERT_EQ(0, close(fd));
	fd = open(PINIO_DEV, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fcntl(fd, F_SETFL, O_DIRECT));
	ASSERT_NE(0, fcntl(fd, F_GETFL) & O_DIRECT);
	ASSERT_EQ(0, close(fd));
}

TEST(size_is_store_size)
{
	int fd = open(PINIO_DEV, O_RDONLY | O_DIRECT);
	int ram = open(RAM_DEV, O_RDONLY | O_DIRECT);
	struct pinio_info info;
	long long size, ram_size;

	if (kconfig_missing(BRD_CONFIG))
		SKIP(return, "%s is not set in this kernel", kconfig_missing(BRD_CONFIG));
	ASSERT_LE(0, fd);
	ASSERT_LE(0, ram) TH_LOG("the runner provides %s", RAM_DEV);
	ASSERT_EQ(0, ioctl(fd, PINIO_IOC_INFO, &info));
	size = lseek(fd, 0, SEEK_END);
	ram_size = dev_size(ram);
	ASSERT_LT(0, size);
	EXPECT_EQ(ram_size, size);
	EXPECT_EQ(info.store_size, (unsigned long long)size);
	/* The position really moved: SEEK_CUR reports it, SEEK_SET goes back. */
	EXPECT_EQ(size, lseek(fd, 0, SEEK_CUR));
	EXPECT_EQ(512, lseek(fd, 512, SEEK_SET));
	EXPECT_EQ(1024, lseek(fd, 512, SEEK_CUR));
	EXPECT_EQ(size - 512, lseek(fd, -512, SEEK_END));
	/* Before the start or past the end is EINVAL, as for a block device. */
	EXPECT_EQ(-1, lseek(fd, -1, SEEK_SET));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, lseek(fd, 1, SEEK_END));
	EXPECT_EQ(EINVAL, errno);
	close(ram);
	close(fd);
}

TEST(abi_info)
{
	int fd = open(PINIO_DEV, O_RDONLY);
	struct pinio_info info;

	ASSERT_LE(0, fd);
	memset(&info, 0xff, sizeof(info));
	ASSERT_EQ(0, ioctl(fd, PINIO_IOC_INFO, &info));
	EXPECT_EQ(PINIO_ABI_VERSION, info.abi_version);
	EXPECT_EQ(PINIO_PIN_FLAGS_ALL, info.pin_flags);
	EXPECT_EQ(PINIO_UNPIN_FLAGS_ALL, info.unpin_flags);
	EXPECT_EQ(PINIO_DMA_FLAGS_ALL, info.dma_flags);
	EXPECT_EQ(512, info.block_size);
	EXPECT_EQ(psize(), info.page_size);
	EXPECT_EQ(PINIO_CONFIG_FLAGS_ALL, info.config_flags);
	EXPECT_EQ(PINIO_QUEUE_DEPTH_MAX, info.max_queue_depth);
	EXPECT_LE(32, info.dma_mask_bits);
	EXPECT_GE(64, info.dma_mask_bits);
	/* make test's first boot loads pinio without experiments (dma_leak_experiment=0, ...). */
	EXPECT_EQ(0, info.info_flags);
	for (int i = 0; i < 2; i++)
		EXPECT_EQ(0, info.reserved[i]);
	/* A bad argument pointer is EFAULT. */
	EXPECT_EQ(EFAULT, ioc_errno(fd, PINIO_IOC_INFO, (void *)8));
	close(fd);
}

TEST(unknown_ioctl_is_enotty)
{
	int fd = open(PINIO_DEV, O_RDWR);
	unsigned long arg = 0;

	ASSERT_LE(0, fd);
	EXPECT_EQ(ENOTTY, ioc_errno(fd, _IO(PINIO_IOC_MAGIC, 0x7f), &arg));
	EXPECT_EQ(ENOTTY, ioc_errno(fd, _IOWR('x', 1, unsigned long), &arg));
	/* Right number, wrong size: a different command. */
	EXPECT_EQ(ENOTTY, ioc_errno(fd, _IOWR(PINIO_IOC_MAGIC, 0x01, unsigned long), &arg));
	close(fd);
}

TEST(node_is_root_only)
{
	struct stat st;

	ASSERT_EQ(0, stat(PINIO_DEV, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 0777);
}

TEST(pins_balanced)
{
	EXPECT_LE(0, vmstat_read("nr_foll_pin_acquired"));
	ASSERT_PINS_BALANCED();
}

TEST_HARNESS_MAIN
