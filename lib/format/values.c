/* SPDX-License-Identifier: ISC */
/*
 * Numbers as text, for building tensors by hand (fl-pack): separated by
 * commas and white space, '#' starts a comment to the end of the line.
 * Floats accept nan and inf (a record may carry them; tools decide).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/internal.h"

#define MAX_TOKEN 63

static int
is_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',';
}

/* Next token at or after *pos; returns its length, 0 at the end. */
static size_t
next_token(const char *text, size_t len, size_t *pos, unsigned long *line,
    const char **tok)
{
	size_t p = *pos, start;

	for (;;) {
		while (p < len && is_sep(text[p])) {
			if (text[p] == '\n')
				(*line)++;
			p++;
		}
		if (p < len && text[p] == '#') {
			while (p < len && text[p] != '\n')
				p++;
			continue;
		}
		break;
	}
	start = p;
	while (p < len && !is_sep(text[p]) && text[p] != '#')
		p++;
	*tok = text + start;
	*pos = p;
	return p - start;
}

size_t
fl_values_count(const char *text, size_t len)
{
	unsigned long line = 1;
	size_t pos = 0, n = 0;
	const char *tok;

	while (next_token(text, len, &pos, &line, &tok) > 0)
		n++;
	return n;
}

/* Is s one of the spellings of a non-finite value we accept? */
static int
nonfinite_word(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	return strcmp(s, "nan") == 0 || strcmp(s, "inf") == 0;
}

/*
 * Decimal floats only (no hex floats, no "infinity"), correctly rounded by
 * strtof/strtod (fl_half_parse for f16 and bf16); a value that overflows to
 * infinity or underflows to zero is an error, not a silent change.  nan,
 * inf and -inf are accepted as such.
 */
static int
store_float(struct fl_tensor *t, uint64_t i, const char *s,
    struct fl_error *err)
{
	double v;
	char *end = NULL;
	int word = nonfinite_word(s);

	if (!word && strspn(s, "0123456789+-.eE") != strlen(s))
		return fl_error_set(err, FL_EINVAL, "not a number");
	if (fl_dtype_is_half(t->dtype)) {
		uint16_t *h = (uint16_t *)t->data + i;

		if (fl_half_parse(t->dtype, s, h) < 0)
			return fl_error_set(err, FL_EINVAL, "not a number");
		v = fl_half_to_float(t->dtype, *h);
	} else if (t->dtype == FL_F32) {
		float f = strtof(s, &end);

		((float *)t->data)[i] = f;
		v = f;
	} else {
		v = strtod(s, &end);
		((double *)t->data)[i] = v;
	}
	if (end != NULL && (end == s || *end != '\0'))
		return fl_error_set(err, FL_EINVAL, "not a number");
	if (word)
		return 0;
	if (isinf(v))
		return fl_error_set(err, FL_EINVAL, "too large for %s",
		    fl_dtype_name(t->dtype));
	if (v == 0 && strpbrk(s, "123456789") != NULL &&
	    strpbrk(s, "123456789") < s + strcspn(s, "eE"))
		return fl_error_set(err, FL_EINVAL, "too small for %s "
		    "(rounds to zero)", fl_dtype_name(t->dtype));
	return 0;
}

static int
store(struct fl_tensor *t, uint64_t i, const char *s, struct fl_error *err)
{
	struct fl_error why;
	char *end;
	int64_t iv = 0, min;
	uint64_t uv = 0, max;

	fl_dtype_int_range(t->dtype, &min, &max);
	switch (t->dtype) {
	case FL_F32:
	case FL_F64:
	case FL_F16:
	case FL_BF16:
		return store_float(t, i, s, err);
	default:
		end = (char *)s + strlen(s);
		if (fl_dtype_is_signed_int(t->dtype)) {
			if (fl_parse_i64(s, min, (int64_t)max, &iv,
			    &why) < 0)
				return fl_error_set(err, FL_EINVAL, "%s for %s",
				    why.msg, fl_dtype_name(t->dtype));
		} else if (s[0] == '-' && strspn(s + 1, "0123456789") ==
		    strlen(s + 1) && strspn(s + 1, "0") != strlen(s + 1)) {
			return fl_error_set(err, FL_EINVAL, "must be at least "
			    "0 for %s", fl_dtype_name(t->dtype));
		} else if (fl_parse_u64(s, 0, max, &uv,
		    &why) < 0) {
			return fl_error_set(err, FL_EINVAL, "%s for %s",
			    why.msg, fl_dtype_name(t->dtype));
		}
		break;
	}
	if (*s == '\0' || *end != '\0')
		return fl_error_set(err, FL_EINVAL, "not a number");
	fl_tensor_set_int(t, i, iv, uv);
	return 0;
}

int
fl_values_parse(struct fl_tensor *t, const char *text, size_t len,
    struct fl_error *err)
{
	unsigned long line = 1;
	size_t pos = 0, n;
	uint64_t i = 0;
	const char *tok;

	while ((n = next_token(text, len, &pos, &line, &tok)) > 0) {
		char buf[MAX_TOKEN + 1], q[FL_QUOTE];
		struct fl_error why;

		if (i == t->numel)
			return fl_error_set(err, FL_EINVAL,
			    "line %lu: more than the %llu values of tensor "
			    "'%s'", line, (unsigned long long)t->numel,
			    t->name);
		if (n > MAX_TOKEN)
			return fl_error_set(err, FL_EINVAL,
			    "line %lu: value %llu is longer than %d "
			    "characters", line, (unsigned long long)i + 1,
			    MAX_TOKEN);
		memcpy(buf, tok, n);
		buf[n] = '\0';
		if (memchr(tok, '\0', n) != NULL ||
		    strspn(buf, "0123456789abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ+-.") != n)
			return fl_error_set(err, FL_EINVAL,
			    "line %lu: value %llu '%s': not a number", line,
			    (unsigned long long)i + 1,
			    fl_escape(q, sizeof(q), tok, n));
		if (store(t, i, buf, &why) < 0)
			return fl_error_set(err, FL_EINVAL,
			    "line %lu: value %llu '%s': %s", line,
			    (unsigned long long)i + 1, buf, why.msg);
		i++;
	}
	if (i != t->numel)
		return fl_error_set(err, FL_EINVAL,
		    "tensor '%s' has %llu element%s, got %llu value%s",
		    t->name, (unsigned long long)t->numel,
		    t->numel == 1 ? "" : "s", (unsigned long long)i,
		    i == 1 ? "" : "s");
	return 0;
}
