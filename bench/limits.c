/* SPDX-License-Identifier: ISC */
/*
 * limits - the physical limits that fl-inspect --check is measured against,
 * and a what-if reader for the pipe case.
 *
 *   limits version          zlib's version, and whether libdeflate is there
 *   limits mem [MiB]        memcpy, crc32 from memory and from cache
 *   limits inflate FILE     inflate of FILE's first record, recompressed at
 *                           level 6 (what fl-pack -z writes)
 *   limits readcrc [-dH] [-c CHUNK] [-p PIPE]
 *                           read stdin to EOF into a 256 MiB buffer CHUNK
 *                           bytes at a time (default 1 MiB), crc32 each chunk
 *                           as it lands.  -p: set stdin's pipe buffer to PIPE
 *                           bytes; -H: madvise(MADV_HUGEPAGE) the buffer;
 *                           -d: libdeflate's crc32 instead of zlib's
 *
 * mem and inflate print one line per figure: name, bytes, then the best,
 * mean and standard deviation of the seconds of REPS runs (tab-separated).
 * Figures named *-libdeflate use libdeflate.so.0 when the system has it
 * (loaded with dlopen: no build dependency), to show what a faster CRC or
 * inflate would give; the format's CRC is the same polynomial.
 * Built by bench/run against lib/libfl.a and zlib.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "fl.h"

#define REPS 7
#define MiB ((size_t)1 << 20)

static volatile uint32_t sink;

/* libdeflate, if installed: the few entry points we time. */
static uint32_t (*ld_crc32)(uint32_t, const void *, size_t);
static void *(*ld_alloc_decompressor)(void);
static int (*ld_zlib_decompress)(void *, const void *, size_t, void *, size_t,
    size_t *);

static void
load_libdeflate(void)
{
	void *h = dlopen("libdeflate.so.0", RTLD_NOW);

	if (h == NULL)
		return;
	*(void **)&ld_crc32 = dlsym(h, "libdeflate_crc32");
	*(void **)&ld_alloc_decompressor = dlsym(h,
	    "libdeflate_alloc_decompressor");
	*(void **)&ld_zlib_decompress = dlsym(h, "libdeflate_zlib_decompress");
}

static uint32_t
crc(int libdeflate, uint32_t c, const void *buf, size_t len)
{
	return libdeflate ? ld_crc32(c, buf, len) : (uint32_t)crc32_z(c, buf,
	    len);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL) {
		perror("limits");
		exit(1);
	}
	memset(p, 1, n);        /* fault every page in before timing */
	return p;
}

static void
report(const char *name, size_t bytes, const double *t, int n)
{
	double best = t[0], sum = 0, var = 0;

	for (int i = 0; i < n; i++) {
		best = t[i] < best ? t[i] : best;
		sum += t[i];
	}
	for (int i = 0; i < n; i++)
		var += (t[i] - sum / n) * (t[i] - sum / n);
	printf("%s\t%zu\t%.6f\t%.6f\t%.6f\n", name, bytes, best, sum / n,
	    n > 1 ? sqrt(var / (n - 1)) : 0);
}

static void
mem(size_t size)
{
	unsigned char *a = xmalloc(size), *b = xmalloc(size);
	double t[REPS], t0;

	for (size_t i = 0; i < size; i++)
		a[i] = (unsigned char)(i * 2654435761u >> 13);
	for (int r = 0; r < REPS; r++) {
		t0 = now();
		memcpy(b, a, size);
		t[r] = now() - t0;
		sink += b[r];
	}
	report("memcpy", size, t, REPS);
	for (int ld = 0; ld <= (ld_crc32 != NULL); ld++) {
		for (int r = 0; r < REPS; r++) {
			t0 = now();
			sink += crc(ld, 0, a, size);
			t[r] = now() - t0;
		}
		report(ld ? "crc32-libdeflate" : "crc32", size, t, REPS);
	}
	/* The same bytes 1 MiB at a time, each chunk read twice: the second
	 * pass finds it in cache, as a fused read-and-checksum loop would. */
	for (int r = 0; r < REPS; r++) {
		double in = 0;

		for (size_t off = 0; off < size; off += MiB) {
			sink += crc(0, 0, a + off, MiB);
			t0 = now();
			sink += crc(0, 0, a + off, MiB);
			in += now() - t0;
		}
		t[r] = in;
	}
	report("crc32-cache", size, t, REPS);
	free(a);
	free(b);
}

static int
inflate_limit(const char *path)
{
	struct fl_record rec;
	struct fl_error err;
	unsigned char *z, *out;
	uLongf zlen;
	double t[REPS], t0;
	FILE *fp = fopen(path, "rb");

	fl_record_init(&rec);
	if (fp == NULL || fl_record_read(&rec, fp, NULL, &err) != 1) {
		fprintf(stderr, "limits: %s: cannot read a record\n", path);
		return 1;
	}
	fclose(fp);
	zlen = compressBound(rec.rawlen);
	z = xmalloc(zlen);
	out = xmalloc(rec.rawlen);
	if (compress2(z, &zlen, rec.raw, rec.rawlen, 6) != Z_OK)
		return 1;
	for (int r = 0; r < REPS; r++) {
		uLongf olen = rec.rawlen;

		t0 = now();
		if (uncompress(out, &olen, z, zlen) != Z_OK ||
		    olen != rec.rawlen)
			return 1;
		t[r] = now() - t0;
	}
	report("inflate", rec.rawlen, t, REPS);
	if (ld_alloc_decompressor != NULL && ld_zlib_decompress != NULL) {
		void *d = ld_alloc_decompressor();

		for (int r = 0; r < REPS && d != NULL; r++) {
			size_t olen;

			t0 = now();
			if (ld_zlib_decompress(d, z, zlen, out, rec.rawlen,
			    &olen) != 0 || olen != rec.rawlen)
				return 1;
			t[r] = now() - t0;
		}
		if (d != NULL)
			report("inflate-libdeflate", rec.rawlen, t, REPS);
	}
	free(z);
	free(out);
	fl_record_free(&rec);
	return 0;
}

static int
readcrc(int argc, char **argv)
{
	size_t cap = 256 * MiB, pos = 0, chunk = MiB;
	unsigned char *buf;
	uint32_t c = 0;
	int opt, huge = 0, ld = 0;

	while ((opt = getopt(argc, argv, "c:dHp:")) != -1) {
		switch (opt) {
		case 'c':
			chunk = strtoul(optarg, NULL, 10);
			break;
		case 'd':
			if ((ld = ld_crc32 != NULL) == 0) {
				fprintf(stderr, "limits: no libdeflate\n");
				return 2;
			}
			break;
		case 'H':
			huge = 1;
			break;
		case 'p':
			if (fcntl(0, F_SETPIPE_SZ, atoi(optarg)) < 0)
				perror("limits: F_SETPIPE_SZ");
			break;
		default:
			return 2;
		}
	}
	if (chunk == 0 || chunk > cap || cap % chunk != 0 ||
	    posix_memalign((void **)&buf, 2 * MiB, cap) != 0)
		return 2;
	if (huge)
		madvise(buf, cap, MADV_HUGEPAGE);
	for (;;) {
		size_t got = 0;
		ssize_t n = 1;

		while (got < chunk && (n = read(0, buf + pos + got,
		    chunk - got)) > 0)
			got += (size_t)n;
		if (n < 0)
			return 1;
		c = crc(ld, c, buf + pos, got);
		pos = (pos + chunk) % cap;
		if (got < chunk)
			break;
	}
	sink = c;
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	load_libdeflate();
	if (argc == 2 && strcmp(argv[1], "version") == 0) {
		printf("zlib %s%s\n", zlibVersion(), ld_crc32 != NULL ?
		    ", libdeflate.so.0 present" : "");
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "mem") == 0) {
		mem((argc > 2 ? strtoul(argv[2], NULL, 10) : 256) * MiB);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "inflate") == 0)
		return inflate_limit(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "readcrc") == 0)
		return readcrc(argc - 1, argv + 1);
	fprintf(stderr, "usage: limits version | mem [MiB] | inflate FILE | "
	    "readcrc [-dH] [-c CHUNK] [-p PIPE]\n");
	return 2;
}
