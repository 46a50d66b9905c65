// SPDX-License-Identifier: GPL-2.0
/*
 * tbprof: a QEMU TCG plugin that counts guest instructions per translated block, for
 * scripts/insns.sh. Each block gets an inline counter of its executions (no callback, so the
 * guest runs at near its usual TCG speed); at exit the plugin writes one line per block that
 * ran, "VADDR INSNS EXECS" (hex, decimal, decimal), to the file given as out=PATH. A block's
 * instructions are attributed to the symbol its first instruction is in. Under TCG a
 * `rep movs`/`rep stos` iteration is an execution of its own block, so a copy counts in
 * proportion to its length. The counters are not atomic: run the guest with one vCPU.
 *
 * Debian packages no qemu-plugin.h, so the few declarations needed are below, those of
 * version 1 of QEMU's plugin API (QEMU 7.2, Debian 12's). A QEMU that no longer supports
 * that version refuses to load the plugin, and scripts/insns.sh stops with its message.
 *
 * Build: gcc -O2 -shared -fPIC -fvisibility=hidden -o tbprof.so tbprof.c
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef struct {
	const char *target_name;
	struct {
		int min;
		int cur;
	} version;
	bool system_emulation;
	union {
		struct {
			int smp_vcpus;
			int max_vcpus;
		} system;
	};
} qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
					   qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb,
					      enum qemu_plugin_op op, void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
				    void *userdata);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

/* One translated block, keyed by its address and length (a retranslation may differ). */
struct block {
	uint64_t vaddr;
	uint64_t insns;
	uint64_t execs;
};

#define NR_BLOCKS (1u << 22)	/* open addressing; a boot translates a few 100k blocks */

static struct block *blocks;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *out_path = "tbprof.out";

static struct block *block_of(uint64_t vaddr, uint64_t insns)
{
	uint64_t h = (vaddr * 0x9E3779B97F4A7C15ull) ^ insns;

	for (uint32_t i = 0; i < NR_BLOCKS; i++) {
		struct block *b = &blocks[(h + i) & (NR_BLOCKS - 1)];

		if (!b->insns) {
			b->vaddr = vaddr;
			b->insns = insns;
			return b;
		}
		if (b->vaddr == vaddr && b->insns == insns)
			return b;
	}
	return NULL;
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t insns = qemu_plugin_tb_n_insns(tb);
	struct block *b;

	if (!insns)
		return;
	pthread_mutex_lock(&lock);
	b = block_of(qemu_plugin_tb_vaddr(tb), insns);
	pthread_mutex_unlock(&lock);
	if (b)
		qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->execs, 1);
	else
		fprintf(stderr, "tbprof: more than %u blocks, some not counted\n", NR_BLOCKS);
}

static void at_exit(qemu_plugin_id_t id, void *userdata)
{
	FILE *f = fopen(out_path, "w");

	if (!f) {
		perror(out_path);
		return;
	}
	for (uint32_t i = 0; i < NR_BLOCKS; i++)
		if (blocks[i].execs)
			fprintf(f, "%" PRIx64 " %" PRIu64 " %" PRIu64 "\n", blocks[i].vaddr,
				blocks[i].insns, blocks[i].execs);
	fclose(f);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4))
			out_path = argv[i] + 4;
	blocks = calloc(NR_BLOCKS, sizeof(*blocks));
	if (!blocks)
		return -1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
