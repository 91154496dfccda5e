/* SPDX-License-Identifier: ISC */
/*
 * What may leave a device in clear.  Masking hides an update's values,
 * not its metadata: a masked record that said "weight=21" or "loss=0.49"
 * would tell the server one client's example count and training loss,
 * and "clients=1000" would make the unmasked sum claim a thousand clients
 * (and the accountant charge it as such).  So a masked record may carry
 * only what does not depend on the client's data, and the check is a list
 * of what is allowed, not of what is known to be bad.
 */
#include <math.h>
#include <string.h>

#include "privacy/internal.h"

/* Keys whose values are public: the same for every client of a round. */
static const char *const public_keys[] = {
	"arch", "client", "kind", "mask", "modulus", "round",
};

/* Prefixes of public parameter families, and the members that are not
 * public after all: DP-SGD's sampling rate B/n and step count give away
 * n, and --adapt's results are the server's, not a client's. */
static const char *const public_prefixes[] = { "dp.", "q.", "secagg." };
static const char *const private_members[] = {
	"dp.q", "dp.steps", "dp.clip-next", "dp.clip-fraction",
};

/* What to say about a key that would leak, by key. */
static const struct {
	const char *key, *why;
} advice[] = {
	{ "weight", "the client's example count, which the server must not "
	    "see: drop it (fl-clip-noise --clip does), or weigh the update "
	    "inside the clip bound (fl-clip-noise --weight-cap)" },
	{ "loss", "the client's training loss: drop it (fl-clip-noise "
	    "--clip does), or carry it inside the vector (fl-clip-noise "
	    "--loss-bound)" },
	{ "clients", "a count of clients: the server counts the masked "
	    "records itself" },
	{ "agg", "an aggregate is not one client's update" },
	{ "dp.q", "DP-SGD's sampling rate gives away the example count "
	    "(fl-train --rate makes it public)" },
	{ "dp.steps", "DP-SGD's step count gives away the example count "
	    "(fl-train --rate makes it public)" },
};

static int
listed(const char *key, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(key, list[i]) == 0)
			return 1;
	return 0;
}

static int
allowed(const char *key)
{
	if (listed(key, public_keys, sizeof(public_keys) /
	    sizeof(public_keys[0])))
		return 1;
	if (listed(key, private_members, sizeof(private_members) /
	    sizeof(private_members[0])))
		return 0;
	for (size_t i = 0; i < sizeof(public_prefixes) /
	    sizeof(public_prefixes[0]); i++)
		if (strncmp(key, public_prefixes[i],
		    strlen(public_prefixes[i])) == 0)
			return 1;
	return 0;
}

/* DP-SGD at a public rate (fl-train --rate): the rate and the step count
 * are the user's choice, not B/n. */
static int
public_rate(const struct fl_record *rec, const char *key)
{
	const char *v = rec != NULL ? fl_meta_get(rec, "dp.rate") : NULL;

	return v != NULL && strcmp(v, "public") == 0 &&
	    (strcmp(key, "dp.q") == 0 || strcmp(key, "dp.steps") == 0);
}

int
fl_release_key_public(const struct fl_record *rec, const char *key,
    const char **why)
{
	*why = NULL;
	if (allowed(key) || public_rate(rec, key))
		return 1;
	for (size_t j = 0; j < sizeof(advice) / sizeof(advice[0]); j++)
		if (strcmp(key, advice[j].key) == 0)
			*why = advice[j].why;
	return 0;
}

int
fl_release_check_masked(const struct fl_record *rec, struct fl_error *err)
{
	const char *kind = fl_meta_get(rec, "kind");
	char q[FL_QUOTE];

	if (kind != NULL && strcmp(kind, "update") != 0)
		return fl_error_set(err, FL_EFORMAT, "a record of kind '%s': "
		    "only a client's update is masked",
		    fl_escape(q, sizeof(q), kind, strlen(kind)));
	for (size_t i = 0; i < rec->nmeta; i++) {
		const char *key = rec->meta[i].key, *why;

		if (fl_release_key_public(rec, key, &why))
			continue;
		if (why != NULL)
			return fl_error_set(err, FL_EFORMAT, "metadata '%s' would "
			    "travel in clear beside the masked values: %s", key,
			    why);
		return fl_error_set(err, FL_EFORMAT, "metadata '%s' would "
		    "travel in clear beside the masked values, and may depend "
		    "on the client's data: drop it before masking", key);
	}
	return 0;
}

/* What fltools itself writes on a device that depends on the data. */
static const char *const data_keys[] = { "loss", "weight" };

void
fl_release_strip(struct fl_record *rec)
{
	for (size_t i = 0; i < sizeof(data_keys) / sizeof(data_keys[0]); i++)
		fl_meta_del(rec, data_keys[i]);
}

int
fl_release_take_loss(struct fl_record *agg, double *loss,
    struct fl_error *err)
{
	const struct fl_tensor *t = fl_tensor_find(agg, FL_LOSS_TENSOR);
	const char *v = fl_meta_get(agg, "dp.loss-scale");
	double scale = NAN;

	*loss = NAN;
	if (t == NULL)
		return 0;
	if (t->numel != 1 || !fl_dtype_is_float(t->dtype))
		return fl_error_set(err, FL_EFORMAT, "tensor '%s' is not one "
		    "float value", FL_LOSS_TENSOR);
	if (v == NULL || fl_parse_double(v, 0, INFINITY, &scale, err) < 0 ||
	    !(scale > 0))
		return fl_error_set(err, FL_EFORMAT, "tensor '%s' without a "
		    "positive dp.loss-scale", FL_LOSS_TENSOR);
	*loss = fl_tensor_get(t, 0) / scale;
	fl_tensor_remove(agg, FL_LOSS_TENSOR);
	return 0;
}

void
fl_release_protection(const struct fl_record *rec, const char *name,
    struct fl_protection *p)
{
	const char *ind = fl_meta_get(rec, "dp.clip-indicator");
	const char *mask = fl_meta_get(rec, "mask");

	p->mechanism = fl_meta_get(rec, "dp.mechanism");
	p->shares = fl_meta_get(rec, "dp.shares");
	p->masked = mask != NULL && strcmp(mask, "secagg") == 0;
	p->server_noised = ind != NULL && strcmp(name, ind) == 0;
	/* One client's share is too little noise on its own: only the
	 * masked sum of dp.shares of them is private. */
	p->weak_share = !p->server_noised && p->mechanism != NULL &&
	    p->shares != NULL && strcmp(p->shares, "1") != 0 && !p->masked;
	/* Unmasked, the indicator is one client's exact bit. */
	p->in_clear = !p->masked && (p->server_noised || p->mechanism == NULL);
}
