/* SPDX-License-Identifier: ISC */
/*
 * DP-FTRL's server state as a record (kind=ftrl-state): the 32-byte
 * secret (u8 tensor `secret`) and in metadata the tree id, the round
 * counter and the mechanism's parameters.  The noise is regenerated from
 * it, so that a restarted server continues the same tree, and a server
 * that lost it cannot continue at all (fresh noise would average out).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "privacy/internal.h"

#define NOT_STATE "not a DP-FTRL state"

int
fl_ftrl_state_to_record(struct fl_record *rec, const struct fl_ftrl_state *s,
    struct fl_error *err)
{
	uint64_t dims[1] = { FL_RNG_KEYBYTES };
	struct fl_tensor *t;
	char b1[FL_NUMBUF], b2[FL_NUMBUF];

	if (fl_meta_set(rec, "kind", "ftrl-state", err) < 0 ||
	    fl_meta_setf(rec, err, "ftrl.tree", "%016" PRIx64,
	    s->tree_id) < 0 ||
	    fl_meta_setf(rec, err, "ftrl.start", "%" PRIu64, s->start) < 0 ||
	    fl_meta_setf(rec, err, "ftrl.done", "%" PRIu64, s->done) < 0 ||
	    fl_meta_setf(rec, err, "ftrl.rounds", "%" PRIu64, s->rounds) < 0 ||
	    fl_meta_setf(rec, err, "ftrl.participations", "%" PRIu64,
	    s->participations) < 0 ||
	    fl_meta_setf(rec, err, "ftrl.separation", "%" PRIu64,
	    s->separation) < 0 ||
	    fl_meta_set(rec, "ftrl.estimator",
	    fl_tree_estimator_name(s->estimator), err) < 0 ||
	    fl_meta_set(rec, "ftrl.noise", fl_format_double(b1, s->noise),
	    err) < 0 ||
	    fl_meta_set(rec, "ftrl.clip", fl_format_double(b2, s->clip),
	    err) < 0 ||
	    (s->seeded && fl_meta_set(rec, "ftrl.seeded", "yes", err) < 0) ||
	    (s->bands > 0 && (fl_meta_set(rec, "ftrl.mechanism", "banded",
	    err) < 0 || fl_meta_setf(rec, err, "ftrl.bands", "%" PRIu64,
	    s->bands) < 0)))
		return -1;
	if ((t = fl_tensor_add(rec, "secret", FL_U8, 1, dims, err)) == NULL)
		return -1;
	memcpy(t->data, s->secret, FL_RNG_KEYBYTES);
	return 0;
}

/* A DP-FTRL record's required number (fl_meta_u64, fl_meta_double, whose
 * messages name the key and value); absent: "no 'KEY': ABSENT". */
int
fl_ftrl_meta_u64(const struct fl_record *rec, const char *key, uint64_t min,
    uint64_t max, uint64_t *v, const char *absent, struct fl_error *err)
{
	int rc = fl_meta_u64(rec, key, min, max, v, err);

	if (rc == 0)
		return fl_error_set(err, FL_EFORMAT, "no '%s': %s", key,
		    absent);
	return rc < 0 ? -1 : 0;
}

/* The same for a positive finite number. */
int
fl_ftrl_meta_positive(const struct fl_record *rec, const char *key,
    double *v, const char *absent, struct fl_error *err)
{
	int rc = fl_meta_double(rec, key, 0, INFINITY, v, err);

	if (rc == 0)
		return fl_error_set(err, FL_EFORMAT, "no '%s': %s", key,
		    absent);
	if (rc < 0)
		return -1;
	if (!(*v > 0) || !isfinite(*v))
		return fl_error_set(err, FL_EFORMAT, "metadata %s '%s': must "
		    "be a positive number", key, fl_meta_get(rec, key));
	return 0;
}

int
fl_ftrl_tree_id_parse(const char *s, uint64_t *id)
{
	uint64_t v = 0;

	if (s == NULL || strlen(s) != 16)
		return -1;
	for (int i = 0; i < 16; i++) {
		int c = s[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*id = v;
	return 0;
}

int
fl_ftrl_state_from_record(struct fl_ftrl_state *s,
    const struct fl_record *rec, struct fl_error *err)
{
	const char *kind = fl_meta_get(rec, "kind");
	const char *est = fl_meta_get(rec, "ftrl.estimator");
	const char *seeded = fl_meta_get(rec, "ftrl.seeded");
	const char *mech = fl_meta_get(rec, "ftrl.mechanism");
	const struct fl_tensor *t = fl_tensor_find(rec, "secret");

	memset(s, 0, sizeof(*s));
	if (kind == NULL || strcmp(kind, "ftrl-state") != 0)
		return fl_error_set(err, FL_EFORMAT, "not a DP-FTRL state "
		    "(kind=ftrl-state)");
	if (fl_ftrl_tree_id_parse(fl_meta_get(rec, "ftrl.tree"),
	    &s->tree_id) < 0)
		return fl_error_set(err, FL_EFORMAT, "bad or missing "
		    "'ftrl.tree': want 16 lower-case hex digits");
	if (fl_ftrl_meta_u64(rec, "ftrl.rounds", 1, FL_TREE_MAX_ROUNDS,
	    &s->rounds, NOT_STATE, err) < 0 ||
	    fl_ftrl_meta_u64(rec, "ftrl.start", 0,
	    UINT64_MAX - 1 - FL_TREE_MAX_ROUNDS, &s->start, NOT_STATE,
	    err) < 0 ||
	    fl_ftrl_meta_u64(rec, "ftrl.done", 0, s->rounds, &s->done,
	    NOT_STATE, err) < 0 ||
	    fl_ftrl_meta_u64(rec, "ftrl.participations", 1,
	    FL_TREE_MAX_ROUNDS, &s->participations, NOT_STATE, err) < 0 ||
	    fl_ftrl_meta_u64(rec, "ftrl.separation", 1, FL_TREE_MAX_ROUNDS,
	    &s->separation, NOT_STATE, err) < 0 ||
	    fl_ftrl_meta_positive(rec, "ftrl.noise", &s->noise, NOT_STATE,
	    err) < 0 ||
	    fl_ftrl_meta_positive(rec, "ftrl.clip", &s->clip, NOT_STATE,
	    err) < 0)
		return -1;
	if (est == NULL || fl_tree_estimator_parse(est, &s->estimator) < 0)
		return fl_error_set(err, FL_EFORMAT, "bad or missing "
		    "'ftrl.estimator': want plain or honaker");
	if (seeded != NULL && strcmp(seeded, "yes") != 0)
		return fl_error_set(err, FL_EFORMAT, "bad 'ftrl.seeded': "
		    "want yes");
	s->seeded = seeded != NULL;
	if (mech != NULL && strcmp(mech, "banded") == 0) {
		if (fl_ftrl_meta_u64(rec, "ftrl.bands", 1, s->rounds <
		    FL_BANDED_MAX_ROUNDS ? s->rounds : FL_BANDED_MAX_ROUNDS,
		    &s->bands, "it goes with ftrl.mechanism=banded", err) < 0)
			return -1;
	} else if (mech != NULL && strcmp(mech, "tree") != 0) {
		return fl_error_set(err, FL_EFORMAT, "bad 'ftrl.mechanism': "
		    "want tree or banded");
	} else if (fl_meta_get(rec, "ftrl.bands") != NULL) {
		return fl_error_set(err, FL_EFORMAT, "'ftrl.bands' without "
		    "ftrl.mechanism=banded");
	}
	if (t == NULL || t->dtype != FL_U8 || t->numel != FL_RNG_KEYBYTES)
		return fl_error_set(err, FL_EFORMAT, "no 32-byte u8 tensor "
		    "'secret'");
	memcpy(s->secret, t->data, FL_RNG_KEYBYTES);
	return 0;
}

void
fl_ftrl_state_wipe(struct fl_ftrl_state *s)
{
	sodium_memzero(s, sizeof(*s));
}
