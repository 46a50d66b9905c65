// SPDX-License-Identifier: GPL-2.0
/*
 * copycal: how fast this CPU (or emulator) copies memory with each x86 copy idiom the kernel
 * chooses between: `rep movsb` (copy_to_user()/copy_from_user() and memcpy() with ERMS/FSRM),
 * `rep movsq` (copy_user without ERMS) and an unrolled 8-byte move loop (memcpy_orig()).
 * Under QEMU TCG `rep movsb` moves one byte per emulated iteration and is several times slower
 * than the others, which on hardware it is not; `make bench` prints these figures so that the
 * data-path results can be read with that in mind.
 *
 *   copycal [BYTES]     prints: COPYCAL idiom=NAME bytes=N best_ns=T MBps=R
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}

static void rep_movsb(void *d, const void *s, size_t n)
{
	asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

static void rep_movsq(void *d, const void *s, size_t n)
{
	n /= 8;
	asm volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

static void loop8(void *d, const void *s, size_t n)
{
	uint64_t *D = d;
	const uint64_t *S = s;

	for (size_t i = 0; i < n / 8; i += 4) {
		uint64_t a = S[i], b = S[i + 1], c = S[i + 2], e = S[i + 3];

		asm volatile("" : : : "memory"); /* keep it a plain move loop */
		D[i] = a;
		D[i + 1] = b;
		D[i + 2] = c;
		D[i + 3] = e;
	}
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 1 << 20;
	char *a, *b;
	struct { const char *name; void (*f)(void *, const void *, size_t); } v[] = {
		{ "rep_movsb", rep_movsb }, { "rep_movsq", rep_movsq }, { "mov_loop_8x4", loop8 },
	};

	n &= ~(size_t)31;
	a = aligned_alloc(4096, n);
	b = aligned_alloc(4096, n);
	if (!a || !b)
		return 1;
	memset(a, 1, n);
	memset(b, 2, n);
	for (size_t k = 0; k < ARRAY_SIZE(v); k++) {
		uint64_t best = UINT64_MAX;

		for (int r = 0; r < 20; r++) {
			uint64_t t = now_ns();

			v[k].f(b, a, n);
			t = now_ns() - t;
			if (t < best)
				best = t;
		}
		printf("COPYCAL idiom=%s bytes=%zu best_ns=%llu MBps=%.0f\n", v[k].name, n,
		       (unsigned long long)best, n * 1e3 / best);
	}
	return 0;
}
