/* SPDX-License-Identifier: ISC */
/*
 * fuzz-data - libFuzzer harness for the data set readers (lib/learn/data.c):
 * CSV through libcsv, IDX and IDX labels, FLT records of kind dataset,
 * each plain or gzip-compressed.
 *
 * Input layout: byte 0 holds the options (bits 0-1: CSV header detect /
 * yes / no; bit 2: label column "2" instead of the default; bit 3: classes
 * capped at 10; bit 4: features must be 3); the rest is the data file, up
 * to a marker "\xffLB\xff" after which comes the IDX labels file.
 * Invariants, each an abort() when broken:
 *   - a failure comes with a one-line message naming the file;
 *   - a data set read has n >= 1 examples of dim >= 1 features, finite
 *     float features, labels in [0, classes) and below the cap asked for,
 *     dim equal to the count asked for;
 *   - fl_data_get gives finite values for every example;
 *   - round trip: the data set written as a dataset record
 *     (fl_data_to_record, fl_record_write) reads back to the same examples.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/fl.h"

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz-data: invariant broken: %s "	\
		    "(line %d)\n", #cond, __LINE__);			\
		abort();						\
	}								\
} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_error(const struct fl_error *err)
{
	CHECK(err->msg[0] != '\0');
	CHECK(strchr(err->msg, '\n') == NULL);
	CHECK(strncmp(err->msg, "<data>", 6) == 0 ||
	    strncmp(err->msg, "<labels>", 8) == 0);
}

static void
check_data(const struct fl_data *d, const struct fl_data_opts *o)
{
	float *row;

	CHECK(d->n >= 1 && d->dim >= 1);
	CHECK(d->x != NULL && d->y != NULL);
	CHECK(d->xtype == FL_U8 || d->xtype == FL_F32);
	CHECK(d->classes >= 1);
	if (o->features)
		CHECK(d->dim == o->features);
	for (uint64_t i = 0; i < d->n; i++) {
		CHECK(d->y[i] >= 0 && (uint32_t)d->y[i] < d->classes);
		if (o->classes)
			CHECK((uint32_t)d->y[i] < o->classes);
	}
	row = malloc((size_t)d->dim * sizeof(float));
	CHECK(row != NULL);
	for (uint64_t i = 0; i < d->n; i++) {
		fl_data_get(d, NULL, NULL, i, 1, row);
		for (uint64_t j = 0; j < d->dim; j++)
			CHECK(isfinite(row[j]));
	}
	free(row);
}

static void
round_trip(const struct fl_data *d)
{
	struct fl_record rec;
	struct fl_error err;
	struct fl_data e;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;
	size_t esz = d->xtype == FL_U8 ? 1 : 4;

	fl_record_init(&rec);
	CHECK(fl_data_to_record(d, NULL, 0, &rec, &err) == 0);
	fp = open_memstream(&buf, &len);
	CHECK(fp != NULL);
	CHECK(fl_record_write(fp, &rec, 0, &err) == 0);
	fclose(fp);
	fp = fmemopen(buf, len, "rb");
	CHECK(fp != NULL);
	if (fl_data_read(&e, fp, "<data>", NULL, NULL, NULL, &err) != 0) {
		fprintf(stderr, "fuzz-data: round trip: %s\n", err.msg);
		abort();
	}
	fclose(fp);
	CHECK(e.n == d->n && e.dim == d->dim && e.xtype == d->xtype);
	CHECK(memcmp(e.x, d->x, (size_t)(d->n * d->dim) * esz) == 0);
	CHECK(memcmp(e.y, d->y, (size_t)d->n * sizeof(int32_t)) == 0);
	fl_data_free(&e);
	fl_record_free(&rec);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char marker[4] = "\xffLB\xff";
	struct fl_data_opts o;
	struct fl_error err;
	struct fl_data d;
	const uint8_t *lab = NULL;
	size_t dlen, llen = 0;
	FILE *fp, *lf = NULL;
	int rc;

	if (size < 1)
		return 0;
	memset(&o, 0, sizeof(o));
	o.header = (data[0] & 3) == 1 ? 1 : (data[0] & 3) == 2 ? -1 : 0;
	if (data[0] & 4)
		o.label = "2";
	if (data[0] & 8)
		o.classes = 10;
	if (data[0] & 16)
		o.features = 3;
	o.max_bytes = UINT64_C(64) << 20;
	data++;
	size--;
	dlen = size;
	for (size_t i = 0; i + 4 <= size; i++)
		if (memcmp(data + i, marker, 4) == 0) {
			dlen = i;
			lab = data + i + 4;
			llen = size - i - 4;
			break;
		}
	/* fmemopen of 0 bytes is an error in some libcs: use a 1-byte
	 * buffer and read nothing from it then. */
	fp = dlen ? fmemopen((void *)data, dlen, "rb") : fopen("/dev/null",
	    "rb");
	if (fp == NULL)
		return 0;
	if (lab != NULL)
		lf = llen ? fmemopen((void *)lab, llen, "rb") :
		    fopen("/dev/null", "rb");
	rc = fl_data_read(&d, fp, "<data>", lf, "<labels>", &o, &err);
	fclose(fp);
	if (lf != NULL)
		fclose(lf);
	if (rc < 0) {
		check_error(&err);
		fl_data_free(&d);
		return 0;
	}
	check_data(&d, &o);
	round_trip(&d);
	fl_data_free(&d);
	return 0;
}
