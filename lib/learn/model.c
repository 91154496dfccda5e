/* SPDX-License-Identifier: ISC */
/*
 * Models: the architecture string, the parameter block and its mapping to
 * and from records.  Weights are input-major ([in, out]) so that both the
 * forward pass (out = in . w) and the weight gradient (in^T . delta) run
 * along contiguous rows, which is what lets plain C vectorise them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "learn/learn.h"

#define MAX_WIDTH (UINT64_C(1) << 24)

int
fl_arch_parse(struct fl_arch *a, const char *s, struct fl_error *err)
{
	char q[FL_QUOTE];
	const char *p;
	uint64_t total = 0;
	int n = 0;

	memset(a, 0, sizeof(*a));
	if (strncmp(s, "logreg:", 7) == 0) {
		p = s + 7;
	} else if (strncmp(s, "mlp:", 4) == 0) {
		a->mlp = 1;
		p = s + 4;
	} else {
		return fl_error_set(err, FL_EINVAL, "unknown architecture "
		    "'%s': want logreg:IN-CLASSES or mlp:IN-HIDDEN...-CLASSES",
		    fl_escape(q, sizeof(q), s, strlen(s)));
	}
	for (;;) {
		uint64_t v = 0;
		const char *start = p;

		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (uint64_t)(*p - '0');
			if (v > MAX_WIDTH)
				return fl_error_set(err, FL_EINVAL, "architecture "
				    "'%s': a layer wider than %llu",
				    fl_escape(q, sizeof(q), s, strlen(s)),
				    (unsigned long long)MAX_WIDTH);
			p++;
		}
		if (p == start || v == 0 || (start[0] == '0' && p - start > 1))
			return fl_error_set(err, FL_EINVAL, "architecture '%s': "
			    "sizes must be numbers from 1, separated by '-'",
			    fl_escape(q, sizeof(q), s, strlen(s)));
		if (n > FL_MAX_LAYERS)
			return fl_error_set(err, FL_EINVAL, "architecture '%s': "
			    "more than %d layers", fl_escape(q, sizeof(q), s,
			    strlen(s)), FL_MAX_LAYERS);
		a->sizes[n++] = v;
		if (*p == '\0')
			break;
		if (*p++ != '-')
			return fl_error_set(err, FL_EINVAL, "architecture '%s': "
			    "sizes must be numbers from 1, separated by '-'",
			    fl_escape(q, sizeof(q), s, strlen(s)));
	}
	a->layers = n - 1;
	if (!a->mlp && n != 2)
		return fl_error_set(err, FL_EINVAL, "architecture '%s': logreg "
		    "takes two sizes, inputs and classes", fl_escape(q,
		    sizeof(q), s, strlen(s)));
	if (a->mlp && n < 3)
		return fl_error_set(err, FL_EINVAL, "architecture '%s': mlp "
		    "takes inputs, hidden sizes and classes", fl_escape(q,
		    sizeof(q), s, strlen(s)));
	if (a->sizes[n - 1] < 2)
		return fl_error_set(err, FL_EINVAL, "architecture '%s': at "
		    "least 2 classes", fl_escape(q, sizeof(q), s, strlen(s)));
	for (int l = 0; l < a->layers; l++)
		total += a->sizes[l] * a->sizes[l + 1] + a->sizes[l + 1];
	if (total > FL_MAX_PARAMS)
		return fl_error_set(err, FL_ELIMIT, "architecture '%s': more "
		    "than %llu parameters", fl_escape(q, sizeof(q), s,
		    strlen(s)), (unsigned long long)FL_MAX_PARAMS);
	return 0;
}

void
fl_arch_format(const struct fl_arch *a, char buf[FL_ARCH_MAX])
{
	size_t o = (size_t)snprintf(buf, FL_ARCH_MAX, "%s:",
	    a->mlp ? "mlp" : "logreg");

	for (int l = 0; l <= a->layers && o < FL_ARCH_MAX; l++)
		o += (size_t)snprintf(buf + o, FL_ARCH_MAX - o, "%s%llu",
		    l ? "-" : "", (unsigned long long)a->sizes[l]);
}

/* Floats from a 64-byte boundary to the next. */
static size_t
round16(uint64_t n)
{
	return (size_t)((n + 15) & ~(uint64_t)15);
}

int
fl_model_new(struct fl_model *m, const struct fl_arch *a,
    struct fl_error *err)
{
	size_t total = 0, off = 0;

	memset(m, 0, sizeof(*m));
	m->arch = *a;
	for (int l = 0; l < a->layers; l++) {
		total += round16(a->sizes[l] * a->sizes[l + 1]);
		total += round16(a->sizes[l + 1]);
		m->nparams += a->sizes[l] * a->sizes[l + 1] + a->sizes[l + 1];
	}
	if ((m->params = fl_alloc_aligned(total * sizeof(float))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory for %zu "
		    "parameters", total);
	memset(m->params, 0, total * sizeof(float));
	m->nfloats = total;
	for (int l = 0; l < a->layers; l++) {
		m->w[l] = m->params + off;
		off += round16(a->sizes[l] * a->sizes[l + 1]);
		m->b[l] = m->params + off;
		off += round16(a->sizes[l + 1]);
	}
	return 0;
}

void
fl_model_free(struct fl_model *m)
{
	if (m == NULL)
		return;
	free(m->params);
	memset(m, 0, sizeof(*m));
}

int
fl_model_copy(struct fl_model *dst, const struct fl_model *src,
    struct fl_error *err)
{
	if (fl_model_new(dst, &src->arch, err) < 0)
		return -1;
	memcpy(dst->params, src->params, src->nfloats * sizeof(float));
	return 0;
}

/* Box-Muller on two 53-bit uniforms: initialisation needs a Gaussian
 * once per weight, not a fast one. */
static double
gauss(struct fl_rng *r)
{
	double u1 = (double)((fl_rng_u64(r) >> 11) + 1) * 0x1p-53;
	double u2 = (double)(fl_rng_u64(r) >> 11) * 0x1p-53;

	return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

void
fl_model_init_random(struct fl_model *m,
    const unsigned char key[FL_RNG_KEYBYTES])
{
	const struct fl_arch *a = &m->arch;
	unsigned char k[FL_RNG_KEYBYTES];

	fl_rng_derive(k, key, "init", 0);
	for (int l = 0; l < a->layers; l++) {
		uint64_t in = a->sizes[l], out = a->sizes[l + 1];
		uint64_t n = in * out;
		struct fl_rng r;

		/* One stream per layer: a layer's values do not depend on
		 * the layers before it. */
		fl_rng_init(&r, k, (uint64_t)l);
		if (l + 1 < a->layers) {
			double sd = sqrt(2.0 / (double)in);     /* He */

			for (uint64_t i = 0; i < n; i++)
				m->w[l][i] = (float)(sd * gauss(&r));
		} else {
			/* Glorot uniform on [-lim, lim) */
			double lim = sqrt(6.0 / (double)(in + out));

			for (uint64_t i = 0; i < n; i++)
				m->w[l][i] = (float)(lim * (2 *
				    (double)(fl_rng_u64(&r) >> 11) * 0x1p-53 -
				    1));
		}
		memset(m->b[l], 0, out * sizeof(float));
		fl_rng_wipe(&r);
	}
	memset(k, 0, sizeof(k));
}

static void
tensor_name(char buf[32], int layer, char what)
{
	snprintf(buf, 32, "fc%d.%c", layer + 1, what);
}

int
fl_model_from_record(struct fl_model *m, const struct fl_record *rec,
    struct fl_error *err)
{
	const char *kind = fl_meta_get(rec, "kind");
	const char *arch = fl_meta_get(rec, "arch");
	char q[FL_QUOTE], name[32];
	struct fl_arch a;

	memset(m, 0, sizeof(*m));
	if (kind == NULL || strcmp(kind, "model") != 0) {
		if (kind == NULL)
			return fl_error_set(err, FL_EFORMAT, "no kind: not a "
			    "model record");
		return fl_error_set(err, FL_EFORMAT, "kind=%s, not a model%s",
		    fl_escape(q, sizeof(q), kind, strlen(kind)),
		    strcmp(kind, "update") == 0 ? " (apply the update to "
		    "its model first)" : "");
	}
	if (arch == NULL)
		return fl_error_set(err, FL_EFORMAT, "a model without an arch "
		    "key");
	if (fl_arch_parse(&a, arch, err) < 0)
		return -1;
	/* Every tensor the arch names, checked against the record before
	 * the model is built: an arch that claims billions of parameters
	 * beside a few bytes of tensors allocates nothing. */
	for (int l = 0; l < a.layers; l++) {
		for (int bias = 0; bias <= 1; bias++) {
			const struct fl_tensor *t;
			uint64_t want0 = bias ? a.sizes[l + 1] : a.sizes[l];

			tensor_name(name, l, bias ? 'b' : 'w');
			t = fl_tensor_find(rec, name);
			if (t == NULL)
				return fl_error_set(err, FL_EFORMAT, "no tensor "
				    "%s (arch %s)", name, fl_escape(q,
				    sizeof(q), arch, strlen(arch)));
			if (t->dtype != FL_F32 || t->rank != 2 - bias ||
			    t->dims[0] != want0 || (!bias &&
			    t->dims[1] != a.sizes[l + 1])) {
				char shape[64];

				fl_shape_format(shape, sizeof(shape), t->rank,
				    t->dims);
				if (bias)
					return fl_error_set(err, FL_EFORMAT,
					    "tensor %s is %s %s, want f32 "
					    "[%llu] (arch %s)", name,
					    fl_dtype_name(t->dtype), shape,
					    (unsigned long long)want0,
					    fl_escape(q, sizeof(q), arch,
					    strlen(arch)));
				return fl_error_set(err, FL_EFORMAT, "tensor %s "
				    "is %s %s, want f32 [%llu,%llu] (arch %s)",
				    name, fl_dtype_name(t->dtype), shape,
				    (unsigned long long)want0,
				    (unsigned long long)a.sizes[l + 1],
				    fl_escape(q, sizeof(q), arch,
				    strlen(arch)));
			}
			for (uint64_t i = 0; i < t->numel; i++)
				if (!isfinite(((const float *)t->data)[i]))
					return fl_error_set(err, FL_EFORMAT,
					    "tensor %s: value %llu is not "
					    "finite", name,
					    (unsigned long long)i);
		}
	}
	if (fl_model_new(m, &a, err) < 0)
		return -1;
	for (int l = 0; l < a.layers; l++)
		for (int bias = 0; bias <= 1; bias++) {
			const struct fl_tensor *t;

			tensor_name(name, l, bias ? 'b' : 'w');
			t = fl_tensor_find(rec, name);
			memcpy(bias ? m->b[l] : m->w[l], t->data, t->nbytes);
		}
	return 0;
}

int
fl_model_to_record(const struct fl_model *m, const struct fl_model *base,
    struct fl_record *rec, struct fl_error *err)
{
	const struct fl_arch *a = &m->arch;
	char buf[FL_ARCH_MAX], name[32];

	fl_arch_format(a, buf);
	if (fl_meta_set(rec, "arch", buf, err) < 0)
		return -1;
	for (int l = 0; l < a->layers; l++) {
		for (int bias = 0; bias <= 1; bias++) {
			uint64_t dims[2] = { a->sizes[l], a->sizes[l + 1] };
			const float *src = bias ? m->b[l] : m->w[l];
			const float *sub = base ? (bias ? base->b[l] :
			    base->w[l]) : NULL;
			struct fl_tensor *t;
			float *dst;

			if (bias)
				dims[0] = a->sizes[l + 1];
			tensor_name(name, l, bias ? 'b' : 'w');
			if ((t = fl_tensor_add(rec, name, FL_F32, 2 - bias,
			    dims, err)) == NULL)
				return -1;
			dst = t->data;
			for (uint64_t i = 0; i < t->numel; i++) {
				dst[i] = sub ? src[i] - sub[i] : src[i];
				if (!isfinite(dst[i]))
					return fl_error_set(err, FL_EINVAL,
					    "tensor %s: value %llu is not "
					    "finite", name,
					    (unsigned long long)i);
			}
		}
	}
	return 0;
}
