/* SPDX-License-Identifier: ISC */
/*
 * fuzz-ledger - libFuzzer harness for the privacy budget ledger's reader
 * (lib/privacy/ledger.c).
 *
 * Each input is written to a file and opened as a ledger, as it is and
 * with the check of every line repaired (the fuzzer seldom forges a CRC
 * chain, and the repaired input reaches the field grammar).  Invariants,
 * each an abort() when broken:
 *   - a ledger the reader accepts holds only valid releases
 *     (fl_release_check), numbered 1, 2, ...;
 *   - one canonical form: the same releases appended to a new ledger give
 *     back the very bytes that were read, so no line the reader accepts
 *     could have been written differently (an edit always shows).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "../../lib/fl.h"

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz-ledger: invariant broken: %s "	\
		    "(line %d)\n", #cond, __LINE__);			\
		abort();						\
	}								\
} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[64], out_path[64];

static void
write_file(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	CHECK(close(fd) == 0);
}

static char *
read_file(const char *path, size_t *size)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	CHECK(fp != NULL);
	CHECK(fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	CHECK(buf != NULL && fread(buf, 1, (size_t)n, fp) == (size_t)n);
	fclose(fp);
	*size = (size_t)n;
	return buf;
}

/* A copy of data with each line's " check=XXXXXXXX" made right: the CRC-32
 * of the text before it, chained from the line before (the header's CRC
 * for the first).  Lines without a well-placed check stay as they are. */
static uint8_t *
repair(const uint8_t *data, size_t size)
{
	uint8_t *out = malloc(size + 1);
	size_t pos = 0;
	uLong chain = 0;
	int first = 1;

	CHECK(out != NULL);
	memcpy(out, data, size);
	while (pos < size) {
		uint8_t *nl = memchr(out + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - (out + pos)) : size - pos;
		char hex[9];

		if (first)
			chain = crc32(0, out + pos, (uInt)len);
		else if (len >= 15 && memcmp(out + pos + len - 15, " check=",
		    7) == 0) {
			chain = crc32(chain, out + pos, (uInt)(len - 15));
			snprintf(hex, sizeof(hex), "%08lx", chain & 0xffffffffUL);
			memcpy(out + pos + len - 8, hex, 8);
		}
		first = 0;
		pos += len + 1;
	}
	return out;
}

static void check_one(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed = repair(data, size);

	check_one(data, size);
	if (memcmp(fixed, data, size) != 0)
		check_one(fixed, size);
	free(fixed);
	return 0;
}

static void
check_one(const uint8_t *data, size_t size)
{
	struct fl_ledger in, out;
	struct fl_release *rows;
	struct fl_error err;
	size_t n, got_size;
	char *got;

	if (in_path[0] == '\0') {
		const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

		snprintf(in_path, sizeof(in_path), "%.40s/fuzz-ledger-in.%d",
		    dir, (int)getpid());
		snprintf(out_path, sizeof(out_path), "%.40s/fuzz-ledger-out.%d",
		    dir, (int)getpid());
	}
	write_file(in_path, data, size);
	if (fl_ledger_open(&in, in_path, 0, &err) < 0)
		return;
	n = in.nrows;
	rows = malloc((n + 1) * sizeof(*rows));
	CHECK(rows != NULL);
	for (size_t i = 0; i < n; i++) {
		CHECK(in.rows[i].release == i + 1);
		CHECK(fl_release_check(&in.rows[i], &err) == 0);
		rows[i] = in.rows[i];
		rows[i].release = 0;
	}
	fl_ledger_close(&in);

	unlink(out_path);
	CHECK(fl_ledger_open(&out, out_path, 1, &err) == 0);
	CHECK(n == 0 || fl_ledger_append(&out, rows, n, &err) == 0);
	fl_ledger_close(&out);
	got = read_file(out_path, &got_size);
	/* Without releases the header is written with the first one: an
	 * accepted ledger of none is empty or the header line alone. */
	if (n > 0)
		CHECK(got_size == size && memcmp(got, data, size) == 0);
	else
		CHECK(size == 0 || (size == 22 &&
		    memcmp(data, "# fl-account ledger 1\n", 22) == 0));
	free(got);
	free(rows);
	unlink(in_path);
	unlink(out_path);
}
