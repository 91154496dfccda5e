/* SPDX-License-Identifier: ISC */
/*
 * Tensor selection: which tensors of a record a program changes, from
 * --only and --exclude glob patterns (fnmatch(3)) on tensor names.  The
 * programs that change values share this one rule; the tensors it leaves
 * out are set aside and put back untouched (or dropped, fl-clip-noise).
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"

#define GLOB_CHARS "*?[]!^\\"

void
fl_select_init(struct fl_select *s)
{
	memset(s, 0, sizeof(*s));
}

void
fl_select_free(struct fl_select *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->pat[i]);
	free(s->pat);
	free(s->exclude);
	fl_select_init(s);
}

int
fl_select_active(const struct fl_select *s)
{
	return s->n > 0;
}

static const char *
kind_name(int exclude)
{
	return exclude ? "--exclude" : "--only";
}

/* One pattern of len bytes: tensor-name characters and glob syntax, a
 * bracket expression closed. */
static int
check_pattern(const char *p, size_t len, int exclude, struct fl_error *err)
{
	char q[FL_QUOTE];

	if (len == 0)
		return fl_error_set(err, FL_EINVAL, "invalid %s '': an empty "
		    "pattern", kind_name(exclude));
	if (len > FL_MAX_NAME)
		return fl_error_set(err, FL_EINVAL, "invalid %s: a pattern "
		    "longer than %d bytes", kind_name(exclude), FL_MAX_NAME);
	fl_escape(q, sizeof(q), p, len);
	/* Every byte, inside brackets too, before the syntax. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("_.:/-", c) != NULL ||
		    strchr(GLOB_CHARS, c) != NULL) || c == 0)
			return fl_error_set(err, FL_EINVAL, "invalid %s '%s': "
			    "a tensor name has no '%c' (names are "
			    "[A-Za-z0-9_.:/-])", kind_name(exclude), q,
			    c >= 0x20 && c < 0x7f ? c : '?');
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\\' && (i + 1 == len))
			return fl_error_set(err, FL_EINVAL, "invalid %s '%s': "
			    "ends in a backslash", kind_name(exclude), q);
		if (c == '\\') {
			i++;
			continue;
		}
		if (c == '[') {
			size_t j = i + 1;

			if (j < len && (p[j] == '!' || p[j] == '^'))
				j++;
			if (j < len && p[j] == ']')
				j++;
			while (j < len && p[j] != ']')
				j++;
			if (j >= len)
				return fl_error_set(err, FL_EINVAL, "invalid "
				    "%s '%s': a '[' without its ']'",
				    kind_name(exclude), q);
			i = j;
		}
	}
	return 0;
}

int
fl_select_add(struct fl_select *s, int exclude, const char *patterns,
    struct fl_error *err)
{
	const char *p = patterns;

	/* Tensor names have no commas: "a*,b" is two patterns. */
	for (;;) {
		size_t len = strcspn(p, ",");
		char **pat;
		unsigned char *ex;

		if (check_pattern(p, len, exclude, err) < 0)
			return -1;
		if ((pat = realloc(s->pat, (s->n + 1) * sizeof(*pat))) == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		s->pat = pat;
		if ((ex = realloc(s->exclude, s->n + 1)) == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		s->exclude = ex;
		if ((s->pat[s->n] = strndup(p, len)) == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		s->exclude[s->n++] = (unsigned char)(exclude != 0);
		s->nonly += !exclude;
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
}

/* A pattern without glob syntax names one tensor. */
static int
literal(const char *pat)
{
	return strpbrk(pat, GLOB_CHARS) == NULL;
}

enum fl_select_why
fl_select_why(const struct fl_select *s, const struct fl_tensor *t)
{
	int only = s->nonly == 0, named = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (fnmatch(s->pat[i], t->name, 0) != 0)
			continue;
		if (s->exclude[i])
			return FL_SELECT_EXCLUDED;
		only = 1;
		named |= literal(s->pat[i]);
	}
	if (!only)
		return FL_SELECT_EXCLUDED;
	if (!fl_dtype_is_float(t->dtype) && !named)
		return FL_SELECT_INTEGER;
	return FL_SELECT_YES;
}

int
fl_select_match(const struct fl_select *s, const struct fl_tensor *t)
{
	return fl_select_why(s, t) == FL_SELECT_YES;
}

/* Is name one of keep's (NULL-terminated; keep may be NULL)? */
static int
kept(const char *const *keep, const char *name)
{
	for (; keep != NULL && *keep != NULL; keep++)
		if (strcmp(*keep, name) == 0)
			return 1;
	return 0;
}

int
fl_select_check(const struct fl_select *s, const struct fl_record *rec,
    const char *const *keep, struct fl_error *err)
{
	size_t selected = 0;
	char q[FL_QUOTE];

	for (size_t i = 0; i < rec->ntensors; i++)
		if (!kept(keep, rec->tensors[i].name) &&
		    fl_select_match(s, &rec->tensors[i]))
			selected++;
	/* Each pattern must do something: a --only pattern select a
	 * tensor, an --exclude pattern leave one out that would be
	 * selected without it (a typo would otherwise pass unseen). */
	for (size_t k = 0; k < s->n; k++) {
		size_t hits = 0, ints = 0;

		for (size_t i = 0; i < rec->ntensors; i++) {
			const struct fl_tensor *t = &rec->tensors[i];

			if (kept(keep, t->name) ||
			    fnmatch(s->pat[k], t->name, 0) != 0)
				continue;
			if (s->exclude[k] || fl_select_match(s, t))
				hits++;
			else if (!fl_dtype_is_float(t->dtype))
				ints++;
		}
		fl_escape(q, sizeof(q), s->pat[k], strlen(s->pat[k]));
		if (hits == 0)
			return fl_error_set(err, FL_EFORMAT, "%s '%s' matches "
			    "no tensor%s", kind_name(s->exclude[k]), q,
			    ints ? " (an integer tensor is selected only by "
			    "its full name)" : "");
	}
	if (selected == 0)
		return fl_error_set(err, FL_EFORMAT, "%s", s->n ? "--only and "
		    "--exclude select no tensor" : "no float tensor to "
		    "change (integer tensors are selected only by name: "
		    "--only NAME)");
	return 0;
}

int
fl_select_split(const struct fl_select *s, struct fl_record *rec,
    const char *const *keep, struct fl_record *aside, struct fl_error *err)
{
	for (size_t i = 0; i < rec->ntensors;) {
		struct fl_tensor *t = &rec->tensors[i], *u;

		if (kept(keep, t->name) || fl_select_match(s, t)) {
			i++;
			continue;
		}
		if (aside != NULL) {
			if ((u = fl_tensor_add(aside, t->name, t->dtype,
			    t->rank, t->dims, err)) == NULL)
				return -1;
			/* (fl_tensor_add may move aside's payload, never
			 * rec's.) */
			memcpy(u->data, rec->tensors[i].data, u->nbytes);
		}
		fl_tensor_remove(rec, rec->tensors[i].name);
	}
	return 0;
}

int
fl_select_join(struct fl_record *rec, const struct fl_record *aside,
    struct fl_error *err)
{
	for (size_t i = 0; i < aside->ntensors; i++) {
		const struct fl_tensor *a = &aside->tensors[i];
		struct fl_tensor *t;

		if (fl_tensor_find(rec, a->name) != NULL)
			return fl_error_set(err, FL_EFORMAT, "tensor '%s' left "
			    "out by --only/--exclude is in the result too",
			    a->name);
		if ((t = fl_tensor_add(rec, a->name, a->dtype, a->rank,
		    a->dims, err)) == NULL)
			return -1;
		memcpy(t->data, a->data, t->nbytes);
	}
	return 0;
}

int
fl_select_names(const struct fl_record *aside, char *buf, size_t n,
    struct fl_error *err)
{
	size_t len = 0;

	if (n > 0)
		buf[0] = '\0';
	for (size_t i = 0; i < aside->ntensors; i++) {
		const char *name = aside->tensors[i].name;
		size_t m = strlen(name);

		if (len + (i > 0) + m + 1 > n)
			return fl_error_set(err, FL_ELIMIT, "the names of the "
			    "tensors passed through take more than %zu bytes",
			    n - 1);
		if (i > 0)
			buf[len++] = ',';
		memcpy(buf + len, name, m + 1);
		len += m;
	}
	return 0;
}

int
fl_select_take(struct fl_record *rec, const char *names,
    struct fl_record *aside, struct fl_error *err)
{
	char name[FL_MAX_NAME + 1];
	const char *p = names;

	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		const struct fl_tensor *t;
		struct fl_tensor *u;

		if (len == 0 || len > FL_MAX_NAME)
			return fl_error_set(err, FL_EFORMAT, "a bad list of "
			    "tensor names");
		memcpy(name, p, len);
		name[len] = '\0';
		if ((t = fl_tensor_find(rec, name)) == NULL)
			return fl_error_set(err, FL_EFORMAT, "no tensor '%s'",
			    name);
		if ((u = fl_tensor_add(aside, t->name, t->dtype, t->rank,
		    t->dims, err)) == NULL)
			return -1;
		memcpy(u->data, t->data, u->nbytes);
		fl_tensor_remove(rec, name);
		p += len + (p[len] == ',');
	}
	return 0;
}
