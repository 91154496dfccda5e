/* SPDX-License-Identifier: ISC */
/*
 * The setup of a round, apart from its files: a device's identity (made
 * once), a round's key file and the public keys it signs, and the roster
 * the server makes of the keys it collected.  The secrets are drawn from
 * the operating system, or from --seed text (reproducible and not
 * private: tests and simulations); every intermediate copy is wiped.
 */
#include <string.h>

#include <sodium.h>

#include "secagg/internal.h"

int
fl_sa_master_key(unsigned char key[FL_RNG_KEYBYTES], const char *seed,
    const char *purpose, const char *id, struct fl_error *err)
{
	if (seed != NULL) {
		fl_sa_seed_key(key, seed, purpose, id);
		return 0;
	}
	return fl_rng_seed_os(key, err);
}

int
fl_sa_identity_create(struct fl_record *pub, struct fl_record *sec,
    const char *id, const char *seed, const unsigned char *operator_pk,
    struct fl_error *err)
{
	struct fl_sa_identity ident;
	unsigned char key[FL_RNG_KEYBYTES];
	int rc;

	if (fl_sa_master_key(key, seed, "sa-identity", id, err) < 0)
		return -1;
	rc = fl_sa_identity_make(&ident, id, key, operator_pk, err);
	sodium_memzero(key, sizeof(key));
	if (rc == 0 && (fl_sa_identity_public_to_record(&ident, pub, err) < 0 ||
	    fl_sa_identity_to_record(&ident, sec, err) < 0))
		rc = -1;
	sodium_memzero(&ident, sizeof(ident));
	if (rc < 0)
		fl_record_wipe(sec);
	return rc;
}

int
fl_sa_keygen(struct fl_record *pub, struct fl_record *sec,
    const struct fl_sa_identity *ident, uint64_t round, const char *seed,
    struct fl_error *err)
{
	struct fl_sa_secret s;
	struct fl_sa_public p;
	struct fl_rng rng;
	unsigned char key[FL_RNG_KEYBYTES];
	int rc;

	if (fl_sa_master_key(key, seed, "sa-keys", ident->id, err) < 0)
		return -1;
	fl_rng_init(&rng, key, 0);
	sodium_memzero(key, sizeof(key));
	rc = fl_sa_secret_new(&s, ident, round, &rng, err);
	fl_rng_wipe(&rng);
	if (rc == 0 && (fl_sa_public_of(&s, ident, &p, err) < 0 ||
	    fl_sa_public_to_record(&p, pub, err) < 0 ||
	    fl_sa_secret_to_record(&s, sec, err) < 0))
		rc = -1;
	sodium_memzero(&s, sizeof(s));
	if (rc < 0)
		fl_record_wipe(sec);
	return rc;
}

int
fl_sa_roster_make(struct fl_sa_roster *r, struct fl_sa_public *pub, size_t n,
    const struct fl_sa_policy *pol, struct fl_error *err)
{
	struct fl_secagg_params prm;

	memset(r, 0, sizeof(*r));
	r->pub = pub;
	r->npub = n;
	if (n < 3)
		return fl_error_set(err, FL_EINVAL, "%zu public keys: secure "
		    "aggregation needs at least 3 clients", n);
	if (n > (1u << 24))
		return fl_error_set(err, FL_EINVAL, "%zu public keys: too many",
		    n);
	if (fl_sa_policy_params((uint32_t)n, pol, &prm, err) < 0)
		return -1;
	return fl_sa_roster_init(r, pub, n, prm.k, prm.t, prm.corrupt, err);
}
