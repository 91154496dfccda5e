/* SPDX-License-Identifier: ISC */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/internal.h"

int
fl_meta_check_key(const char *key, size_t len, struct fl_error *err)
{
	if (len == 0)
		return fl_error_set(err, FL_EINVAL, "empty metadata key");
	if (len > FL_MAX_KEY)
		return fl_error_set(err, FL_ELIMIT,
		    "metadata key longer than %d bytes", FL_MAX_KEY);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (i > 0 && (c == '.' || c == '_' || c == '-'));
		if (!ok) {
			char q[FL_QUOTE];

			return fl_error_set(err, FL_EFORMAT,
			    "bad metadata key '%s': keys are lower-case "
			    "letters, digits and . _ - (not first)",
			    fl_escape(q, sizeof(q), key, len));
		}
	}
	if (len == 6 && memcmp(key, "tensor", 6) == 0)
		return fl_error_set(err, FL_EFORMAT,
		    "'tensor' is reserved for tensor lines");
	return 0;
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

int
fl_meta_check_value(const char *value, size_t len, struct fl_error *err)
{
	const unsigned char *s = (const unsigned char *)value;

	if (len > FL_MAX_VALUE)
		return fl_error_set(err, FL_ELIMIT,
		    "metadata value longer than %d bytes", FL_MAX_VALUE);
	if (len > 0 && (s[0] == ' ' || s[len - 1] == ' '))
		return fl_error_set(err, FL_EFORMAT,
		    "metadata value has leading or trailing spaces");
	for (size_t i = 0; i < len;) {
		size_t n;

		if (s[i] < 0x20 || s[i] == 0x7f)
			return fl_error_set(err, FL_EFORMAT,
			    "control character 0x%02x in metadata value", s[i]);
		n = utf8_len(s + i, len - i);
		if (n == 0)
			return fl_error_set(err, FL_EFORMAT,
			    "metadata value is not valid UTF-8");
		i += n;
	}
	return 0;
}

/* Index of key, or of where it would go (with *found = 0). */
static size_t
meta_search(const struct fl_record *rec, const char *key, int *found)
{
	size_t lo = 0, hi = rec->nmeta;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(rec->meta[mid].key, key);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

const char *
fl_meta_get(const struct fl_record *rec, const char *key)
{
	int found;
	size_t i = meta_search(rec, key, &found);

	return found ? rec->meta[i].value : NULL;
}

int
fl_meta_set(struct fl_record *rec, const char *key, const char *value,
    struct fl_error *err)
{
	size_t klen = strlen(key), vlen = strlen(value), i;
	char *v;
	int found;

	if (fl_meta_check_key(key, klen, err) < 0 ||
	    fl_meta_check_value(value, vlen, err) < 0)
		return -1;
	i = meta_search(rec, key, &found);
	if ((v = strdup(value)) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	if (found) {
		free(rec->meta[i].value);
		rec->meta[i].value = v;
		return 0;
	}
	if (rec->nmeta >= FL_MAX_META) {
		free(v);
		return fl_error_set(err, FL_ELIMIT,
		    "more than %d metadata keys", FL_MAX_META);
	}
	if (rec->nmeta == rec->metacap) {
		size_t cap = rec->metacap ? rec->metacap * 2 : 16;
		struct fl_meta *m = realloc(rec->meta, cap * sizeof(*m));

		if (m == NULL) {
			free(v);
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		}
		rec->meta = m;
		rec->metacap = cap;
	}
	if ((rec->meta[rec->nmeta].key = strdup(key)) == NULL) {
		free(v);
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	}
	/* Insert in order: records are small, a memmove beats a tree. */
	{
		struct fl_meta m = { rec->meta[rec->nmeta].key, v };

		memmove(rec->meta + i + 1, rec->meta + i,
		    (rec->nmeta - i) * sizeof(*rec->meta));
		rec->meta[i] = m;
	}
	rec->nmeta++;
	return 0;
}

int
fl_meta_setf(struct fl_record *rec, struct fl_error *err, const char *key,
    const char *fmt, ...)
{
	char buf[FL_MAX_VALUE + 2];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return fl_error_set(err, FL_ELIMIT,
		    "metadata value longer than %d bytes", FL_MAX_VALUE);
	return fl_meta_set(rec, key, buf, err);
}

int
fl_meta_del(struct fl_record *rec, const char *key)
{
	int found;
	size_t i = meta_search(rec, key, &found);

	if (!found)
		return 0;
	free(rec->meta[i].key);
	free(rec->meta[i].value);
	memmove(rec->meta + i, rec->meta + i + 1,
	    (rec->nmeta - i - 1) * sizeof(*rec->meta));
	rec->nmeta--;
	return 1;
}

int
fl_meta_copy(struct fl_record *dst, const struct fl_record *src,
    struct fl_error *err)
{
	for (size_t i = 0; i < src->nmeta; i++)
		if (fl_meta_set(dst, src->meta[i].key, src->meta[i].value,
		    err) < 0)
			return -1;
	return 0;
}

/* ---- numbers under a key ---- */

static int
meta_bad(const char *key, const char *v, const struct fl_error *why,
    struct fl_error *err)
{
	char q[FL_QUOTE];

	return fl_error_set(err, FL_EFORMAT, "metadata %s '%s': %s", key,
	    fl_escape(q, sizeof(q), v, strlen(v)), why->msg);
}

int
fl_meta_double(const struct fl_record *rec, const char *key, double min,
    double max, double *out, struct fl_error *err)
{
	const char *v = fl_meta_get(rec, key);
	struct fl_error why;

	if (v == NULL)
		return 0;
	if (fl_parse_double(v, min, max, out, &why) < 0)
		return meta_bad(key, v, &why, err);
	return 1;
}

int
fl_meta_u64(const struct fl_record *rec, const char *key, uint64_t min,
    uint64_t max, uint64_t *out, struct fl_error *err)
{
	const char *v = fl_meta_get(rec, key);
	struct fl_error why;

	if (v == NULL)
		return 0;
	if (fl_parse_u64(v, min, max, out, &why) < 0)
		return meta_bad(key, v, &why, err);
	return 1;
}
