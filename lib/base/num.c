/* SPDX-License-Identifier: ISC */
/*
 * Strict number parsing: the whole string, decimal only, in range.  strtoull
 * alone would accept " 12", "-1" (wrapping to 2^64-1) and "12abc"; strtod
 * would accept "nan", "inf" and hex floats.  Programs never call setlocale,
 * so strtod sees the C locale's decimal point.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

/* Float arithmetic must be IEEE single precision, as on every machine the
 * records' bytes are compared across: a compiler that evaluates float in
 * double (FLT_EVAL_METHOD 1, GCC on s390x under -std=c11) rounds once
 * where the others round twice, and a clipped update or an encoding would
 * differ in its last bits (the Makefile passes -fexcess-precision=fast). */
#if FLT_EVAL_METHOD != 0
#error "float evaluated in higher precision: build with -fexcess-precision=fast"
#endif

static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

int
fl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    struct fl_error *err)
{
	unsigned long long v;
	char *end;

	if (!all_digits(s))
		return fl_error_set(err, FL_EINVAL, "not a whole number");
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || v > max)
		return fl_error_set(err, FL_EINVAL, "must be at most %llu",
		    (unsigned long long)max);
	if (v < min)
		return fl_error_set(err, FL_EINVAL, "must be at least %llu",
		    (unsigned long long)min);
	*out = v;
	return 0;
}

int
fl_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out,
    struct fl_error *err)
{
	long long v;
	char *end;

	if (!all_digits(s[0] == '-' ? s + 1 : s))
		return fl_error_set(err, FL_EINVAL, "not a whole number");
	errno = 0;
	v = strtoll(s, &end, 10);
	if ((errno == ERANGE && v > 0) || v > max)
		return fl_error_set(err, FL_EINVAL, "must be at most %lld",
		    (long long)max);
	if (errno == ERANGE || v < min)
		return fl_error_set(err, FL_EINVAL, "must be at least %lld",
		    (long long)min);
	*out = v;
	return 0;
}

int
fl_parse_double(const char *s, double min, double max, double *out,
    struct fl_error *err)
{
	char buf[FL_NUMBUF];
	char *end;
	double v;

	if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
		return fl_error_set(err, FL_EINVAL, "not a number");
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0')
		return fl_error_set(err, FL_EINVAL, "not a number");
	if (!isfinite(v))
		return fl_error_set(err, FL_EINVAL, "not a finite number");
	if (v < min)
		return fl_error_set(err, FL_EINVAL, "must be at least %s",
		    fl_format_double(buf, min));
	if (v > max)
		return fl_error_set(err, FL_EINVAL, "must be at most %s",
		    fl_format_double(buf, max));
	*out = v;
	return 0;
}

/*
 * The fewest significant digits that read back exactly (0.1 prints as 0.1,
 * not 0.1000..1), but never fewer than the integer digits of a number
 * below 1e17, so 100 prints as 100 and not 1e+02.
 */
static int
min_digits(double v)
{
	double a = fabs(v);

	return a >= 1 && a < 1e17 ? (int)floor(log10(a)) + 1 : 1;
}

char *
fl_format_double(char buf[FL_NUMBUF], double v)
{
	int lo = isfinite(v) ? min_digits(v) : 1;

	/* log10 of a value just below 1e17 can round to 17: never start past
	 * the 17 digits that always suffice, or nothing is written. */
	for (int prec = lo < 17 ? lo : 17; prec <= 17; prec++) {
		snprintf(buf, FL_NUMBUF, "%.*g", prec, v);
		if (strtod(buf, NULL) == v || isnan(v))
			return buf;
	}
	return buf;
}

void
fl_json_number(FILE *fp, double v)
{
	char buf[FL_NUMBUF];

	fputs(isfinite(v) ? fl_format_double(buf, v) : "null", fp);
}

char *
fl_format_float(char buf[FL_NUMBUF], float v)
{
	int lo = isfinite(v) ? min_digits(v) : 1;

	for (int prec = lo < 9 ? lo : 9; prec <= 9; prec++) {
		snprintf(buf, FL_NUMBUF, "%.*g", prec, (double)v);
		if (strtof(buf, NULL) == v || isnan(v))
			return buf;
	}
	return buf;
}
