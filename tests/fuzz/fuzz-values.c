/* SPDX-License-Identifier: ISC */
/*
 * fuzz-values - libFuzzer harness for the text parsers that take user
 * input: numbers as text (fl_values_count, fl_values_parse), shapes
 * (fl_shape_parse) and the strict number parsers.
 *
 * The first input byte picks a dtype; the rest is the text.  Invariants,
 * each an abort() when broken:
 *   - fl_values_parse fails when the tensor has one element more or fewer
 *     than fl_values_count says, and a one-line message comes with every
 *     failure (shape and number messages quote the caller's string, so
 *     they are one line when that string is);
 *   - a parsed value of an integer dtype is in range, and an accepted text
 *     whose values are written back with fl-inspect's formats parses again
 *     to the same bytes (the same values for f32 and f64; f16 and bf16
 *     without NaN: the same bits);
 *   - fl_shape_parse gives rank <= 8 and a product without overflow, and
 *     the shape written by fl_shape_format parses back to itself;
 *   - the strict number parsers return values in range (finite doubles),
 *     and fl_format_double/float text reads back to the same value;
 *   - tensor selection (lib/format/select.c): a pattern list accepted by
 *     fl_select_add has only name characters and glob syntax, and its
 *     patterns match tensors with fnmatch without crashing; the selection
 *     never takes an integer tensor unless a pattern is its very name;
 *     the text as a q.pass list for fl_select_take either fails with one
 *     line, or moves exactly those tensors,
 *     and fl_select_join puts them back.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/fl.h"

#define MAX_VALUES 4096

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz-values: invariant broken: %s "	\
		    "(line %d)\n", #cond, __LINE__);			\
		abort();						\
	}								\
} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_error(const struct fl_error *err)
{
	CHECK(err->msg[0] != '\0' && strchr(err->msg, '\n') == NULL);
}

/* The shape and number parsers quote the caller's string in their
 * messages: one line only when that string is (a known wart, reported). */
static void
check_error_quoting(const struct fl_error *err, const char *s)
{
	CHECK(err->msg[0] != '\0');
	if (strchr(s, '\n') == NULL)
		CHECK(strchr(err->msg, '\n') == NULL);
}

/* The value as text, in the formats fl-inspect --dump prints. */
static void
format_value(char *buf, size_t n, const struct fl_tensor *t, uint64_t i)
{
	char num[FL_NUMBUF];

	switch (t->dtype) {
	case FL_F32:
		snprintf(buf, n, "%s", fl_format_float(num,
		    ((const float *)t->data)[i]));
		break;
	case FL_F64:
		snprintf(buf, n, "%s", fl_format_double(num,
		    ((const double *)t->data)[i]));
		break;
	case FL_F16:
	case FL_BF16:
		snprintf(buf, n, "%s", fl_format_half(num, t->dtype,
		    ((const uint16_t *)t->data)[i]));
		break;
	case FL_I64:
		snprintf(buf, n, "%lld",
		    (long long)((const int64_t *)t->data)[i]);
		break;
	case FL_U64:
		snprintf(buf, n, "%llu",
		    (unsigned long long)((const uint64_t *)t->data)[i]);
		break;
	default:
		snprintf(buf, n, "%.0f", fl_tensor_get(t, i));
		break;
	}
}

static int
has_nan(const struct fl_tensor *t)
{
	for (uint64_t i = 0; i < t->numel; i++)
		if (isnan(fl_tensor_get(t, i)))
			return 1;
	return 0;
}

/* Parse text into a tensor of numel elements; returns 0 or -1. */
static int
parse_into(struct fl_record *rec, enum fl_dtype dt, uint64_t numel,
    const char *text, size_t len, struct fl_tensor **out)
{
	struct fl_error err;
	struct fl_tensor *t;
	uint64_t dims[1] = { numel };

	fl_record_clear(rec);
	t = fl_tensor_add(rec, "t", dt, 1, dims, &err);
	CHECK(t != NULL);
	if (fl_values_parse(t, text, len, &err) < 0) {
		check_error(&err);
		return -1;
	}
	*out = t;
	return 0;
}

static void
fuzz_values(enum fl_dtype dt, const char *text, size_t len)
{
	struct fl_record rec, again;
	struct fl_tensor *t, *t2;
	size_t n = fl_values_count(text, len);
	char *buf;
	size_t blen = 0;

	CHECK(n <= len);
	if (n > MAX_VALUES)
		return;
	fl_record_init(&rec);
	fl_record_init(&again);
	CHECK(parse_into(&rec, dt, n + 1, text, len, &t) < 0);
	if (n > 0)
		CHECK(parse_into(&rec, dt, n - 1, text, len, &t) < 0);
	if (parse_into(&rec, dt, n, text, len, &t) == 0) {
		/* Print the values and parse the text again. */
		buf = malloc(n * 48 + 1);
		CHECK(buf != NULL);
		for (uint64_t i = 0; i < n; i++) {
			int w;

			format_value(buf + blen, 48, t, i);
			w = (int)strlen(buf + blen);
			blen += (size_t)w;
			buf[blen++] = i + 1 < n ? ',' : '\n';
		}
		CHECK(fl_values_count(buf, blen) == n);
		if (parse_into(&again, dt, n, buf, blen, &t2) < 0) {
			fprintf(stderr, "fuzz-values: '%.*s' does not parse "
			    "back\n", (int)blen, buf);
			abort();
		}
		if (!fl_dtype_is_float(dt) || (fl_dtype_is_half(dt) &&
		    !has_nan(t)))
			CHECK(memcmp(t->data, t2->data, t->nbytes) == 0);
		else
			for (uint64_t i = 0; i < n; i++) {
				double x = fl_tensor_get(t, i);
				double y = fl_tensor_get(t2, i);

				CHECK((isnan(x) && isnan(y)) || x == y);
			}
		free(buf);
	}
	fl_record_free(&rec);
	fl_record_free(&again);
}

static void
fuzz_shape(const char *s)
{
	uint64_t dims[FL_MAX_RANK], dims2[FL_MAX_RANK], numel = 1;
	char buf[FL_MAX_RANK * 21 + 3];
	struct fl_error err;
	int rank = -1, rank2 = -1;

	if (fl_shape_parse(s, &rank, dims, &err) < 0) {
		check_error_quoting(&err, s);
		return;
	}
	CHECK(rank >= 0 && rank <= FL_MAX_RANK);
	for (int i = 0; i < rank; i++)
		CHECK(!__builtin_mul_overflow(numel, dims[i], &numel));
	CHECK(fl_shape_format(buf, sizeof(buf), rank, dims) <
	    (int)sizeof(buf));
	CHECK(fl_shape_parse(buf, &rank2, dims2, &err) == 0);
	CHECK(rank2 == rank);
	CHECK(memcmp(dims, dims2, (size_t)rank * sizeof(dims[0])) == 0);
}

static void
fuzz_numbers(const char *s)
{
	char buf[FL_NUMBUF];
	struct fl_error err;
	uint64_t u;
	int64_t i;
	double d;

	if (fl_parse_u64(s, 10, 1000000, &u, &err) == 0)
		CHECK(u >= 10 && u <= 1000000);
	else
		check_error_quoting(&err, s);
	if (fl_parse_u64(s, 0, UINT64_MAX, &u, &err) == 0) {
		uint64_t u2;

		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)u);
		CHECK(fl_parse_u64(buf, 0, UINT64_MAX, &u2, &err) == 0);
		CHECK(u2 == u);
	} else {
		check_error_quoting(&err, s);
	}
	if (fl_parse_i64(s, -1000, 1000, &i, &err) == 0)
		CHECK(i >= -1000 && i <= 1000);
	else
		check_error_quoting(&err, s);
	if (fl_parse_i64(s, INT64_MIN, INT64_MAX, &i, &err) == 0) {
		int64_t i2;

		snprintf(buf, sizeof(buf), "%lld", (long long)i);
		CHECK(fl_parse_i64(buf, INT64_MIN, INT64_MAX, &i2, &err) == 0);
		CHECK(i2 == i);
	} else {
		check_error_quoting(&err, s);
	}
	if (fl_parse_double(s, -1, 1, &d, &err) == 0)
		CHECK(d >= -1 && d <= 1);
	else
		check_error_quoting(&err, s);
	if (fl_parse_double(s, -INFINITY, INFINITY, &d, &err) == 0) {
		double d2;
		float f = (float)d;

		CHECK(isfinite(d));
		CHECK(fl_parse_double(fl_format_double(buf, d), -INFINITY,
		    INFINITY, &d2, &err) == 0);
		CHECK(d2 == d);
		if (isfinite(f))
			CHECK(strtof(fl_format_float(buf, f), NULL) == f);
	} else {
		check_error_quoting(&err, s);
	}
}

/* A record of names a fuzzer can reach: f32 "a", "a.b", f16 "x/y",
 * i64 "n:1". */
static void
select_record(struct fl_record *rec)
{
	static const char *names[] = { "a", "a.b", "x/y", "n:1" };
	static const enum fl_dtype dts[] = { FL_F32, FL_F32, FL_F16, FL_I64 };
	uint64_t two = 2;

	fl_record_init(rec);
	for (size_t i = 0; i < 4; i++)
		CHECK(fl_tensor_add(rec, names[i], dts[i], 1, &two, NULL) !=
		    NULL);
}

static void
fuzz_select(const char *s, int exclude)
{
	struct fl_select sel;
	struct fl_record rec, aside;
	struct fl_error err;

	select_record(&rec);
	fl_select_init(&sel);
	if (fl_select_add(&sel, exclude, s, &err) < 0) {
		check_error_quoting(&err, s);
		CHECK(sel.n <= strlen(s));
	} else {
		CHECK(strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_.:/-,*?[]!^\\") == strlen(s));
		for (size_t i = 0; i < rec.ntensors; i++) {
			const struct fl_tensor *t = &rec.tensors[i];
			int named = 0;

			for (size_t k = 0; k < sel.n; k++)
				named |= !sel.exclude[k] &&
				    strcmp(sel.pat[k], t->name) == 0;
			if (!fl_dtype_is_float(t->dtype) && !named)
				CHECK(!fl_select_match(&sel, t));
		}
		if (fl_select_check(&sel, &rec, NULL, &err) < 0)
			check_error(&err);
	}
	/* The text as q.pass. */
	fl_record_init(&aside);
	if (fl_select_take(&rec, s, &aside, &err) < 0) {
		check_error_quoting(&err, s);
	} else {
		CHECK(rec.ntensors + aside.ntensors == 4);
		CHECK(fl_select_join(&rec, &aside, &err) == 0);
		CHECK(rec.ntensors == 4);
	}
	fl_record_free(&aside);
	fl_record_free(&rec);
	fl_select_free(&sel);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size == 0)
		return 0;
	fuzz_values((enum fl_dtype)(data[0] % FL_DTYPE_COUNT),
	    (const char *)data + 1, size - 1);
	/* The string parsers take NUL-terminated text. */
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	fuzz_shape(s);
	fuzz_numbers(s);
	fl_meta_check_key(s, strlen(s), NULL);
	fl_meta_check_value(s, strlen(s), NULL);
	fl_tensor_check_name(s, strlen(s), NULL);
	fuzz_select(s, data[0] & 1);
	free(s);
	return 0;
}
