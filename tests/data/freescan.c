/* SPDX-License-Identifier: ISC */
/*
 * freescan.so - preloaded by tests/secagg-attacks.bats: an attacker who
 * can read what a process gave back to the allocator (a later heap
 * overread, a core dump, swap) looks for secrets there.  Every free() and
 * realloc() scans the block it releases for the 32-byte secrets listed in
 * FL_FREESCAN (hex, comma-separated) and appends a line to
 * FL_FREESCAN_LOG for each one found.  FL_FREESCAN_SELFTEST frees a copy
 * of the first secret at start, so that a test can see the scanner work.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned char secrets[16][32];
static int nsecrets = -1, busy;
static void (*real_free)(void *);
static void *(*real_realloc)(void *, size_t);

static int
hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ?
	    c - 'a' + 10 : -1;
}

static void
load(void)
{
	const char *s = getenv("FL_FREESCAN");

	nsecrets = 0;
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	while (s != NULL && *s && nsecrets < 16) {
		for (int i = 0; i < 32; i++) {
			int hi = hexval(s[2 * i]), lo = hi < 0 ? -1 :
			    hexval(s[2 * i + 1]);

			if (lo < 0)
				return;
			secrets[nsecrets][i] = (unsigned char)(hi << 4 | lo);
		}
		nsecrets++;
		s += 64;
		if (*s == ',')
			s++;
	}
}

static void
scan(void *p)
{
	const char *log = getenv("FL_FREESCAN_LOG");
	size_t n;

	if (p == NULL || busy || log == NULL)
		return;
	busy = 1;
	n = malloc_usable_size(p);
	for (int k = 0; k < nsecrets; k++)
		if (n >= 32 && memmem(p, n, secrets[k], 32) != NULL) {
			char line[96];
			int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0600);
			int len = snprintf(line, sizeof(line), "pid %d: secret "
			    "%d in a freed block of %zu bytes\n", (int)getpid(),
			    k, n);

			if (fd >= 0) {
				if (write(fd, line, (size_t)len) < 0) {
				}
				close(fd);
			}
		}
	busy = 0;
}

void
free(void *p)
{
	if (nsecrets < 0)
		load();
	scan(p);
	real_free(p);
}

void *
realloc(void *p, size_t n)
{
	if (nsecrets < 0)
		load();
	/* realloc may move the block and free the old one, secrets and
	 * all: scan it first (a conservative report). */
	scan(p);
	return real_realloc(p, n);
}

__attribute__((constructor)) static void
selftest(void)
{
	if (nsecrets < 0)
		load();
	/* Through volatile pointers: the compiler may not drop the pair. */
	if (getenv("FL_FREESCAN_SELFTEST") != NULL && nsecrets > 0) {
		void *(*volatile get)(size_t) = malloc;
		void (*volatile put)(void *) = free;
		unsigned char *p = get(64);

		if (p != NULL) {
			memcpy(p + 16, secrets[0], 32);
			put(p);
		}
	}
}
