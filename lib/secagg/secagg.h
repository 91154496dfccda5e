/* SPDX-License-Identifier: ISC */
/*
 * secagg/secagg.h - secure aggregation: Shamir sharing, parameters, masks, identities, the protocol and its records.
 * Part of libfl (fl.h includes every part; see fl(7) for the layers).
 */
#ifndef FL_SECAGG_H
#define FL_SECAGG_H

#include "base/base.h"
#include "format/format.h"
#include "privacy/privacy.h"

/* ---- secure aggregation (shamir.c, saparams.c, secagg.c, saident.c,
 * saproto.c, sakey.c, samask.c) ---- */

/*
 * Shamir secret sharing over Z_L, L = 2^252 + 27742317777372353535851937790883648493
 * the order of the ed25519 base point (libsodium's crypto_core_ed25519_scalar_*).
 * Secrets and shares are canonical 32-byte little-endian scalars (< L);
 * share i is f(xs[i]) for a random polynomial f of degree t - 1 with
 * f(0) = secret.  x-coordinates are nonzero and distinct.
 */
#define FL_SCALAR_BYTES 32

/* A uniform scalar: 64 bytes of rng reduced mod L. */
void fl_scalar_random(unsigned char s[FL_SCALAR_BYTES], struct fl_rng *rng);

/* 1 if s is a canonical scalar (< L), else 0. */
int fl_scalar_is_canonical(const unsigned char s[FL_SCALAR_BYTES]);

/*
 * n shares of secret, any t of which rebuild it (1 <= t <= n), the
 * coefficients drawn from rng.  With commit not NULL, also the Feldman
 * commitments of the polynomial: commit[j] = a_j B (ed25519 points,
 * a_0 the secret), which let anyone check a share (fl_shamir_verify)
 * without learning the secret.  -1 (FL_EINVAL) for a non-canonical
 * secret, t out of range, or a zero or repeated x.
 */
int fl_shamir_split(const unsigned char secret[FL_SCALAR_BYTES], size_t t,
    const uint32_t *xs, size_t n, unsigned char (*shares)[FL_SCALAR_BYTES],
    unsigned char (*commit)[FL_SCALAR_BYTES], struct fl_rng *rng,
    struct fl_error *err);

/* The secret from t shares by Lagrange interpolation at 0.  -1 (FL_EINVAL)
 * for t == 0, a zero or repeated x, or a non-canonical share. */
int fl_shamir_combine(const uint32_t *xs,
    const unsigned char (*shares)[FL_SCALAR_BYTES], size_t t,
    unsigned char secret[FL_SCALAR_BYTES], struct fl_error *err);

/* 1 if share y at x lies on the polynomial of the t commitments
 * (y B = sum_j x^j commit[j]), 0 if not or if a commitment is not a
 * valid point. */
int fl_shamir_verify(uint32_t x, const unsigned char y[FL_SCALAR_BYTES],
    const unsigned char (*commit)[FL_SCALAR_BYTES], size_t t);

/*
 * SecAgg+ graph parameters for n clients of which a fraction `corrupt`
 * may collude with the server and a fraction `dropout` may drop: k, the
 * neighbours of each client (even; n - 1 is the full graph), and t, the
 * threshold out of the k + 1 share holders (the neighbours and the client
 * itself).  The rule is in fl-mask(1): the smallest k for which some t has
 * a 2^-40 chance of a client with more than c corrupt holders or of the
 * survivors' graph falling apart, a 2^-20 chance of a client with fewer
 * than t surviving holders, and 2t > k + 1 + c, so that a server lying
 * about who survived cannot collect both shares of one client; t is the
 * largest such.  Small n use the full graph (c = C).  -1 (FL_EINVAL) when
 * no (k, t) meets the bounds, or when the survivors could not be a
 * majority counting the corrupt clients twice (2(n - D) <= n + C), which
 * the consistency round needs.
 */
struct fl_secagg_params {
	uint32_t n, k, t;
	uint32_t corrupt;          /* C: clients assumed corrupt */
	uint32_t corrupt_holders;  /* c: corrupt holders counted per client */
	double log2_security;   /* log2 of the bound on a privacy failure */
	double log2_failure;    /* log2 of the bound on an aborted round */
};

int fl_secagg_params(uint32_t n, double corrupt, double dropout,
    struct fl_secagg_params *p, struct fl_error *err);

/* The clients a fraction stands for: ceil(fraction n), at most n - 1. */
uint32_t fl_secagg_count(uint32_t n, double fraction);

/* Check a given (k, t) for n clients with C corrupt: k even or n - 1, t
 * in [2, k + 1] and 2t > k + 1 + c, c the corrupt holders the rule counts
 * for k (stored in *holders when not NULL).  -1 (FL_EINVAL) if not. */
int fl_secagg_check(uint32_t n, uint32_t k, uint32_t t, uint32_t corrupt,
    uint32_t *holders, struct fl_error *err);

/* The confirmations a client needs before it reveals: a majority of the
 * n clients counting the C corrupt ones twice, and at least t. */
uint32_t fl_secagg_quorum(uint32_t n, uint32_t t, uint32_t corrupt);

/* What a roster must be, for --make-roster and for every client that
 * checks one: the declared fractions of corrupt and dropping clients, and
 * optionally the graph (degree: k, threshold: t; 0 for the rule's).
 * fl_sa_policy_params gives (k, t, C) for n clients: the rule's, or the
 * given k with the smallest safe t, or the rule's k with the given t; all
 * checked by fl_secagg_check. */
struct fl_sa_policy {
	uint32_t min_clients;           /* clients: refuse smaller rosters */
	double corrupt, dropout;
	uint32_t degree, threshold;
};

int fl_sa_policy_params(uint32_t n, const struct fl_sa_policy *pol,
    struct fl_secagg_params *p, struct fl_error *err);

/*
 * The secure-aggregation protocol's pieces (secagg.c), shared by fl-mask
 * (the clients) and fl-aggregate (the server's unmasking).  Clients are
 * numbered 1..n in roster order; the numbers are also the Shamir
 * x-coordinates.  All keys are 32 bytes; see fl-mask(1) for the
 * derivations, which are bound to the session id (a hash of the roster).
 */
#define FL_SA_BYTES 32
#define FL_SA_SIGBYTES 64
#define FL_SA_HEX (2 * FL_SA_BYTES + 1)
#define FL_SA_PLAINBYTES (FL_SA_BYTES + 8 + 2 * FL_SCALAR_BYTES)
#define FL_SA_BOXBYTES (FL_SA_PLAINBYTES + 16)   /* + Poly1305 tag */

/* The SecAgg+ graph: a ring of the n clients in an order drawn from the
 * session id, each client linked to the k/2 ring positions on either side
 * (k = n - 1: everyone).  Clients are 1-based. */
struct fl_sa_graph {
	uint32_t n, k;
	uint32_t *pos;          /* pos[i - 1]: ring position of client i */
	uint32_t *at;           /* at[p]: client at ring position p */
};

int fl_sa_graph_init(struct fl_sa_graph *g, uint32_t n, uint32_t k,
    const unsigned char session[FL_SA_BYTES], struct fl_error *err);
int fl_sa_adjacent(const struct fl_sa_graph *g, uint32_t i, uint32_t j);
/* i's k neighbours, ascending, into out (room for k); returns k. */
size_t fl_sa_neighbours(const struct fl_sa_graph *g, uint32_t i,
    uint32_t *out);
/* The holders of i's shares: its neighbours and i, ascending, into out
 * (room for k + 1); returns k + 1. */
size_t fl_sa_holders(const struct fl_sa_graph *g, uint32_t i, uint32_t *out);
void fl_sa_graph_free(struct fl_sa_graph *g);

/* The key of a --seed run (tests and simulations, not private): from the
 * seed text, the step's purpose and the client id, so that every client
 * and step draws differently. */
void fl_sa_seed_key(unsigned char key[FL_RNG_KEYBYTES], const char *seed,
    const char *purpose, const char *id);

/* The X25519 mask key pair made from its 32-byte seed (the shared secret). */
int fl_sa_mask_keypair(unsigned char pk[FL_SA_BYTES],
    unsigned char sk[FL_SA_BYTES], const unsigned char seed[FL_SA_BYTES]);
/* The envelope key pair (crypto_box) made from a 32-byte seed. */
int fl_sa_box_keypair(unsigned char pk[FL_SA_BYTES],
    unsigned char sk[FL_SA_BYTES], const unsigned char seed[FL_SA_BYTES]);

/* The seed shared by clients a and b: a hash of X25519(sk, peer_pk), the
 * session and the pair.  -1 (FL_EINVAL) when peer_pk is a weak key. */
int fl_sa_pair_seed(unsigned char out[FL_SA_BYTES],
    const unsigned char sk[FL_SA_BYTES], const unsigned char peer_pk[FL_SA_BYTES],
    const unsigned char session[FL_SA_BYTES], uint32_t a, uint32_t b,
    struct fl_error *err);
/* The self-mask seed of a client from its secret b_u and the session. */
void fl_sa_self_seed(unsigned char out[FL_SA_BYTES],
    const unsigned char self_secret[FL_SCALAR_BYTES],
    const unsigned char session[FL_SA_BYTES]);
/* The published commitment to b_u, which lets the server check a rebuilt
 * secret. */
void fl_sa_commit(unsigned char out[FL_SA_BYTES],
    const unsigned char self_secret[FL_SCALAR_BYTES]);
/* The key of the Shamir polynomials a client deals in a session: from its
 * secrets and the session, so that sharing again gives the same bytes and
 * never fresh polynomials under the same envelope nonces. */
void fl_sa_poly_key(unsigned char key[FL_RNG_KEYBYTES],
    const unsigned char mask_seed[FL_SCALAR_BYTES],
    const unsigned char self_secret[FL_SCALAR_BYTES],
    const unsigned char box_seed[FL_SA_BYTES],
    const unsigned char session[FL_SA_BYTES]);

/* One share envelope: from's shares of its two secrets, for `to`. */
struct fl_sa_share {
	unsigned char mask[FL_SCALAR_BYTES];    /* of the mask-key seed */
	unsigned char self[FL_SCALAR_BYTES];    /* of the self-mask secret */
};

int fl_sa_seal(unsigned char box[FL_SA_BOXBYTES], const struct fl_sa_share *s,
    const unsigned char session[FL_SA_BYTES], uint32_t from, uint32_t to,
    const unsigned char from_sk[FL_SA_BYTES],
    const unsigned char to_pk[FL_SA_BYTES], struct fl_error *err);
/* -1 (FL_EFORMAT) when the box fails authentication, was made for
 * another session, sender or recipient, or holds a share that is not a
 * canonical scalar. */
int fl_sa_open(struct fl_sa_share *s, const unsigned char box[FL_SA_BOXBYTES],
    const unsigned char session[FL_SA_BYTES], uint32_t from, uint32_t to,
    const unsigned char to_sk[FL_SA_BYTES],
    const unsigned char from_pk[FL_SA_BYTES], struct fl_error *err);

/*
 * Masks.  A term is one keystream added to (or subtracted from) a tensor:
 * word i is the little-endian uint32 at bytes [4i, 4i + 4) of the ChaCha20
 * keystream of the tensor key, cut to `bits` bits.  fl_sa_mask applies
 * every term to data (n words, values < 2^bits) mod 2^bits, in cache-sized
 * tiles, on up to nthreads threads; the result does not depend on them.
 */
struct fl_sa_term {
	unsigned char key[FL_SA_BYTES];
	int negate;
};

void fl_sa_tensor_key(unsigned char out[FL_SA_BYTES],
    const unsigned char seed[FL_SA_BYTES], const char *name, unsigned bits,
    uint64_t numel);
int fl_sa_mask(uint32_t *data, uint64_t n, unsigned bits,
    const struct fl_sa_term *terms, size_t nterms, int nthreads,
    struct fl_error *err);

/*
 * Device identities and the enrolment (saident.c).  A device has one
 * long-term Ed25519 identity, made once; it signs the device's keys of
 * every round and its confirmation of the survivors.  An operator (an
 * identity the aggregation server need not hold) signs the enrolment: the
 * list of ids and identity keys allowed to take part.  A device trusts the
 * operator key pinned in its identity file, and a roster only if every
 * client in it is enrolled with the key it signed with.
 */
#define FL_SA_MAXID 64

int fl_sa_check_id(const char *id, struct fl_error *err);

/* A device's identity (kind=secagg-identity-secret; its public half is
 * kind=secagg-identity: client and pk.identity). */
struct fl_sa_identity {
	char id[FL_SA_MAXID + 1];
	unsigned char seed[FL_SA_BYTES];        /* the Ed25519 seed */
	unsigned char pk[FL_SA_BYTES];
	int pinned;                             /* operator set */
	unsigned char operator_pk[FL_SA_BYTES]; /* the enrolment key trusted */
};

/* The identity of id from its 32-byte seed, pinning operator_pk (NULL:
 * none, as for the operator's own identity). */
int fl_sa_identity_make(struct fl_sa_identity *ident, const char *id,
    const unsigned char seed[FL_SA_BYTES],
    const unsigned char *operator_pk, struct fl_error *err);
int fl_sa_identity_to_record(const struct fl_sa_identity *ident,
    struct fl_record *rec, struct fl_error *err);
int fl_sa_identity_from_record(struct fl_sa_identity *ident,
    const struct fl_record *rec, struct fl_error *err);
int fl_sa_identity_public_to_record(const struct fl_sa_identity *ident,
    struct fl_record *rec, struct fl_error *err);
/* The id and key of a kind=secagg-identity record. */
int fl_sa_identity_public_from_record(char id[FL_SA_MAXID + 1],
    unsigned char pk[FL_SA_BYTES], const struct fl_record *rec,
    struct fl_error *err);

/* Ed25519 signature of a 32-byte message digest by an identity, and its
 * check (0 valid, -1 not). */
void fl_sa_sign(unsigned char sig[FL_SA_SIGBYTES],
    const unsigned char digest[FL_SA_BYTES],
    const struct fl_sa_identity *ident);
int fl_sa_verify(const unsigned char sig[FL_SA_SIGBYTES],
    const unsigned char digest[FL_SA_BYTES],
    const unsigned char pk[FL_SA_BYTES]);

/* The enrolment (kind=secagg-enrolment): n ids (sorted, distinct) with
 * their identity keys (distinct), signed by the operator. */
struct fl_sa_enrolment {
	unsigned char operator_pk[FL_SA_BYTES];
	size_t n;
	const unsigned char (*id)[FL_SA_MAXID];   /* NUL-padded, in the record */
	const unsigned char (*pk)[FL_SA_BYTES];
};

/* One enrolled device: its id and identity key. */
struct fl_sa_member {
	char id[FL_SA_MAXID + 1];
	unsigned char pk[FL_SA_BYTES];
};

/* Sign the list of n members, in any order, as operator op: the record is
 * filled, sorted.  -1 for a bad or repeated id or key. */
int fl_sa_enrolment_make(struct fl_record *rec,
    const struct fl_sa_member *m, size_t n, const struct fl_sa_identity *op,
    struct fl_error *err);
/* Parse and check an enrolment record, its signature under its own
 * operator key, and that key against pin (NULL: any).  e points into
 * rec. */
int fl_sa_enrolment_read(struct fl_sa_enrolment *e, const struct fl_record *rec,
    const unsigned char *pin, struct fl_error *err);
/* The identity key enrolled for id, or NULL. */
const unsigned char *fl_sa_enrolment_find(const struct fl_sa_enrolment *e,
    const char *id);

/*
 * The protocol's records (saproto.c).  Each parser checks everything the
 * format promises (kind, client id, round, tensor names, dtypes and
 * shapes, hex fields) and fails with FL_EFORMAT and a one-line message.
 * Client ids are 1 to 64 of [A-Za-z0-9._-].
 */

/* A client's secrets for one round, and what it has done with them: its
 * key file (kind=secagg-secret).  A key file serves one session: the
 * first --share binds it, and it masks one update and confirms one
 * survivor set; the hashes are hex, "" until done. */
struct fl_sa_secret {
	char id[FL_SA_MAXID + 1];
	uint64_t round;
	unsigned char mask_seed[FL_SCALAR_BYTES];       /* shared by Shamir */
	unsigned char box_seed[FL_SA_BYTES];
	unsigned char self[FL_SCALAR_BYTES];            /* b_u, shared */
	unsigned char identity[FL_SA_BYTES];    /* the device's identity key */
	unsigned char operator_pk[FL_SA_BYTES]; /* the enrolment key trusted */
	char session[FL_SA_HEX];        /* bound by the first --share */
	char masked[FL_SA_HEX];         /* the update masked, and who shared */
	char confirmed[FL_SA_HEX];      /* the survivor set signed */
};

/* What a client publishes (kind=secagg-public), signed by its identity. */
struct fl_sa_public {
	char id[FL_SA_MAXID + 1];
	uint64_t round;
	unsigned char pk_mask[FL_SA_BYTES], pk_box[FL_SA_BYTES];
	unsigned char commit[FL_SA_BYTES];
	unsigned char identity[FL_SA_BYTES];
	unsigned char sig[FL_SA_SIGBYTES];
};

/* A key file for ident (which must pin an operator) and round, its
 * secrets drawn from rng. */
int fl_sa_secret_new(struct fl_sa_secret *s, const struct fl_sa_identity *ident,
    uint64_t round, struct fl_rng *rng, struct fl_error *err);
int fl_sa_secret_to_record(const struct fl_sa_secret *s,
    struct fl_record *rec, struct fl_error *err);
int fl_sa_secret_from_record(struct fl_sa_secret *s,
    const struct fl_record *rec, struct fl_error *err);
/* The public keys of s, signed by ident (the identity s was made for). */
int fl_sa_public_of(const struct fl_sa_secret *s,
    const struct fl_sa_identity *ident, struct fl_sa_public *p,
    struct fl_error *err);
/* 0 if p's signature is valid under p->identity, else -1 naming p->id. */
int fl_sa_public_verify(const struct fl_sa_public *p, struct fl_error *err);
int fl_sa_public_to_record(const struct fl_sa_public *p,
    struct fl_record *rec, struct fl_error *err);
int fl_sa_public_from_record(struct fl_sa_public *p,
    const struct fl_record *rec, struct fl_error *err);

/*
 * The roster: a kind=secagg-roster record (round, n, k, t, the corrupt
 * clients C assumed, the quorum they give and the session id) followed by
 * the n public records in client-id order.  The session id is a hash of all of it but the
 * signatures, so a client and the server agree on the session only if
 * they hold the same roster.
 */
struct fl_sa_roster {
	uint64_t round;
	uint32_t n, k, t, corrupt;
	uint32_t holders_corrupt;       /* c, from fl_secagg_check */
	uint32_t quorum;                /* confirmations needed to reveal */
	unsigned char session[FL_SA_BYTES];
	struct fl_sa_public *pub;       /* pub[i - 1] is client i */
	size_t npub;
	struct fl_sa_graph graph;
};

/* Sort pub by id, check it (distinct ids and keys, one round, (k, t, C)
 * by fl_secagg_check) and fill the session id and graph.  r takes pub
 * (malloc'd).  Signatures are not checked here: fl_sa_roster_enrolled. */
int fl_sa_roster_init(struct fl_sa_roster *r, struct fl_sa_public *pub,
    size_t n, uint32_t k, uint32_t t, uint32_t corrupt,
    struct fl_error *err);
/* Write the roster's records (head, then the public keys) to fp. */
int fl_sa_roster_write(FILE *fp, const struct fl_sa_roster *r,
    struct fl_error *err);
/* Read a roster from fp, checking its session id against its contents. */
int fl_sa_roster_read(struct fl_sa_roster *r, FILE *fp, struct fl_error *err);
/* The client number of id (1..n), or 0 if it is not in the roster. */
uint32_t fl_sa_roster_find(const struct fl_sa_roster *r, const char *id);
/* Check the roster against the enrolment: every client enrolled with the
 * identity key its keys name, and the signature of client `signed_by`'s
 * neighbours and itself valid (signed_by 0: every client's).  -1 naming
 * the first client that fails. */
int fl_sa_roster_enrolled(const struct fl_sa_roster *r,
    const struct fl_sa_enrolment *e, uint32_t signed_by,
    struct fl_error *err);
void fl_sa_roster_free(struct fl_sa_roster *r);

/* A hash of a set of client numbers (ascending) in the session, as hex:
 * what masked records, confirmations and reveals say about who shared and
 * who survived. */
void fl_sa_set_hash(char out[FL_SA_HEX], const char *what,
    const unsigned char session[FL_SA_BYTES], const uint32_t *set, size_t m);

/* A client's share envelopes (kind=secagg-shares): box[i] is for to[i];
 * commit_mask and commit_self hold the t Feldman commitments of the two
 * polynomials.  The parsed form points into the record. */
struct fl_sa_shares {
	uint32_t from;
	size_t m;
	const uint32_t *to;
	const unsigned char (*box)[FL_SA_BOXBYTES];
	const unsigned char (*commit_mask)[FL_SCALAR_BYTES];
	const unsigned char (*commit_self)[FL_SCALAR_BYTES];
};

int fl_sa_shares_from_record(struct fl_sa_shares *s,
    const struct fl_record *rec, const struct fl_sa_roster *r,
    struct fl_error *err);
int fl_sa_shares_to_record(struct fl_record *rec, const struct fl_sa_roster *r,
    const struct fl_sa_shares *s, struct fl_error *err);

/* A survivor's signature over the survivor set (kind=secagg-confirm): the
 * consistency round.  Points into the record. */
struct fl_sa_confirm {
	uint32_t from;
	char survivors[FL_SA_HEX];
	const unsigned char *sig;
};

/* The digest a confirmation signs: the session and the set's hash. */
void fl_sa_confirm_digest(unsigned char out[FL_SA_BYTES],
    const unsigned char session[FL_SA_BYTES], const char *survivors);
int fl_sa_confirm_from_record(struct fl_sa_confirm *c,
    const struct fl_record *rec, const struct fl_sa_roster *r,
    struct fl_error *err);
int fl_sa_confirm_to_record(struct fl_record *rec,
    const struct fl_sa_roster *r, const struct fl_sa_confirm *c,
    struct fl_error *err);

/* A survivor's answer to the unmask request (kind=secagg-reveal): shares of
 * the self-mask secrets of survivors (self_of) and of the mask-key seeds of
 * clients that dropped after sharing (mask_of).  Points into the record. */
struct fl_sa_reveal {
	uint32_t from;
	char survivors[FL_SA_HEX];
	size_t nself, nmask;
	const uint32_t *self_of, *mask_of;
	const unsigned char (*self_share)[FL_SCALAR_BYTES];
	const unsigned char (*mask_share)[FL_SCALAR_BYTES];
};

int fl_sa_reveal_from_record(struct fl_sa_reveal *v,
    const struct fl_record *rec, const struct fl_sa_roster *r,
    struct fl_error *err);
int fl_sa_reveal_to_record(struct fl_record *rec, const struct fl_sa_roster *r,
    const struct fl_sa_reveal *v, struct fl_error *err);

/*
 * Secret files (sakey.c): key files and identities, 0600, refused when
 * the group or others may read them, read without leaving a copy in
 * freed memory (fl_record_wipe), written atomically.
 *
 * fl_secret_open opens path for reading; with lock, it holds an
 * exclusive flock(2) on the file that is at path (a writer that replaced
 * it in the meantime is waited for), so that check-then-write steps of
 * two processes never interleave.  fl_secret_load reads the one record of
 * the open file.  fl_secret_store writes rec to path atomically, mode
 * 0600; with excl it fails (FL_EINVAL, "exists") when path exists, even
 * against a concurrent writer (link(2), not rename).  fl_secret_close
 * releases the lock.  fl_secret_forget overwrites the file with zeros,
 * syncs it and removes it; fl_secret_zeroed tells (1) whether the open
 * file is nothing but zeros, what a forget cut short between the two
 * leaves behind.
 */
int fl_secret_open(const char *path, int lock, int *fd, struct fl_error *err);
int fl_secret_load(int fd, struct fl_record *rec, struct fl_error *err);
int fl_secret_store(const char *path, const struct fl_record *rec, int excl,
    struct fl_error *err);
void fl_secret_close(int fd);
int fl_secret_forget(const char *path, struct fl_error *err);
int fl_secret_zeroed(int fd);

/*
 * Masking and unmasking whole records (samask.c).  fl_sa_ring_bits checks
 * that rec is a ring record (modulus 2^bits <= 2^32, u32 tensors, values
 * below the modulus).  fl_sa_mask_record masks rec in place as client sec
 * of roster r, with pairwise masks toward its neighbours in `shared` (U2:
 * the clients whose shares went out, ascending).  fl_sa_unmask_record
 * takes the masks out of the modular sum of the survivors' records (surv,
 * ascending) with the reveals rv, after checking them against the
 * protocol and shared_hash (U2's hash from the masked records).  A
 * secret is rebuilt from the first t shares revealed for it; when that
 * misses the owner's commitment or public key, every share is checked
 * against the owner's Feldman commitments (dealt[owner - 1], from the
 * shares file; m == 0 when absent), the ones that fail go to *faults, and
 * the secret is rebuilt from t that pass.  It fails, leaving sum
 * unspecified, when a secret has fewer than t good shares.
 */
struct fl_sa_fault {
	uint32_t from, of;      /* who revealed a bad share, of whose secret */
	int self;               /* 1: of the self-mask secret, 0: mask key */
};

struct fl_sa_faults {
	struct fl_sa_fault *v;
	size_t n, cap;
};

int fl_sa_ring_bits(const struct fl_record *rec, unsigned *bits,
    struct fl_error *err);
int fl_sa_mask_record(struct fl_record *rec, const struct fl_sa_roster *r,
    const struct fl_sa_secret *sec, const uint32_t *shared, size_t nshared,
    int nthreads, struct fl_error *err);
int fl_sa_unmask_record(struct fl_record *sum, const struct fl_sa_roster *r,
    const uint32_t *surv, size_t nsurv, const char *shared_hash,
    const struct fl_sa_reveal *rv, size_t nrv,
    const struct fl_sa_shares *dealt, struct fl_sa_faults *faults,
    int nthreads, struct fl_error *err);

/*
 * A client's steps (saclient.c), apart from its files.  Each checks what
 * a lying server could get wrong on purpose, and records in the key file
 * struct what it did (session, masked, confirmed); the caller stores the
 * key file, under its lock, before anything leaves the device.
 *
 * fl_sa_client_find: this client's number in r, after checking the round
 * and that r lists exactly its keys, and that r is of the session the key
 * file is bound to (bound: that it is bound at all).
 * fl_sa_client_accept: --share's checks of a roster: every client
 * enrolled in e with the identity key it signed with, the signatures of
 * this client's neighbours valid, and the roster's n, k, t and C those of
 * the policy.
 * fl_sa_client_share: the share envelopes and Feldman commitments of
 * client me into rec, the polynomials derived from the secrets and the
 * session (the same bytes every time); binds s to r's session.
 * fl_sa_received_read: the shares file: who shared (U2) and the
 * envelopes for this client, opened and checked when open is 1 (else
 * only counted); fails when fewer than t of its holders shared.
 * Messages about a record start "record N: ".  It is
 * fl_sa_shares_file_read (every record parsed against r, each client
 * sharing once: at most r's n records are kept) then fl_sa_received_take
 * (this client's part), which a process serving several clients of one
 * round calls once and once per client.
 * fl_sa_client_mask: mask the update rec (refusing what the release
 * policy refuses, noise planned for more shares than the roster has
 * clients, and a second, different update in the session).
 * fl_sa_survivors_read: the server's survivor list (one id per line;
 * blank lines and '#' lines skipped), ascending; messages "line N: ".
 * fl_sa_client_confirm: the consistency round: sign the survivor list,
 * once per session, after Bonawitz et al.'s checks (every survivor
 * shared, this client is one, at least the quorum); FL_EINVAL when the
 * key file or identity is at fault (another device's identity, no update
 * masked), FL_EFORMAT when the list is.
 * fl_sa_client_reveal: the answer to the unmask request, only for the
 * list this client confirmed, and only with a quorum of valid
 * confirmations of it from distinct survivors in the stream
 * confirmations: one share per holder, of the self-mask secret of a
 * survivor or of the mask key of a client that shared and dropped.
 */
struct fl_sa_received {
	uint32_t *shared;               /* U2, ascending */
	size_t nshared;
	struct fl_sa_share *mine;       /* mine[c - 1]: from client c */
	unsigned char *has;             /* has[c - 1]: an envelope came */
};

int fl_sa_client_find(const struct fl_sa_roster *r,
    const struct fl_sa_secret *s, int bound, uint32_t *me,
    struct fl_error *err);
int fl_sa_client_accept(const struct fl_sa_roster *r, uint32_t me,
    const struct fl_sa_enrolment *e, const struct fl_sa_policy *pol,
    struct fl_error *err);
int fl_sa_client_share(struct fl_record *rec, const struct fl_sa_roster *r,
    uint32_t me, struct fl_sa_secret *s, struct fl_error *err);
int fl_sa_received_read(struct fl_sa_received *rc, FILE *fp,
    const struct fl_sa_roster *r, const struct fl_sa_secret *s, uint32_t me,
    int open, struct fl_error *err);
struct fl_sa_shares_file {
	struct fl_record *recs;         /* the records, in file order */
	struct fl_sa_shares *sh;        /* sh[i] points into recs[i] */
	size_t n;
};
int fl_sa_shares_file_read(struct fl_sa_shares_file *f, FILE *fp,
    const struct fl_sa_roster *r, struct fl_error *err);
void fl_sa_shares_file_free(struct fl_sa_shares_file *f);
int fl_sa_received_take(struct fl_sa_received *rc,
    const struct fl_sa_shares_file *f, const struct fl_sa_roster *r,
    const struct fl_sa_secret *s, uint32_t me, int open,
    struct fl_error *err);
void fl_sa_received_free(struct fl_sa_received *rc, uint32_t n);
int fl_sa_client_mask(struct fl_record *rec, const struct fl_sa_roster *r,
    struct fl_sa_secret *s, const struct fl_sa_received *rc, int nthreads,
    struct fl_error *err);
int fl_sa_survivors_read(FILE *fp, const struct fl_sa_roster *r,
    uint32_t **surv, size_t *m, struct fl_error *err);
int fl_sa_client_confirm(struct fl_record *rec, const struct fl_sa_roster *r,
    uint32_t me, struct fl_sa_secret *s, const struct fl_sa_identity *ident,
    const struct fl_sa_received *rc, const uint32_t *surv, size_t m,
    struct fl_error *err);
int fl_sa_client_reveal(struct fl_record *rec, const struct fl_sa_roster *r,
    uint32_t me, const struct fl_sa_secret *s,
    const struct fl_sa_received *rc, const uint32_t *surv, size_t m,
    FILE *confirmations, struct fl_error *err);

/* What a key file records of the update it masked, so that it masks one
 * update only: a keyed digest (key from sec's secrets, the session and
 * U2's hash) of the update's metadata and tensors (names, dtypes, shapes,
 * bytes), whatever its compression. */
void fl_sa_masked_digest(char out[FL_SA_HEX], const struct fl_record *rec,
    const struct fl_sa_secret *sec, const unsigned char session[FL_SA_BYTES],
    const char *shared_hash);

/* ---- a client's files and the setup of a round (sakeyfile.c, sasetup.c,
 * saident.c) ---- */

/*
 * A key file open for one step (sakeyfile.c).  fl_sa_keyfile_open loads
 * and parses the key file at path; with lock it keeps the file open under
 * its exclusive lock (fl_secret_open) until the key file is closed,
 * without it closes the file at once (fd -1).  The step then works on s.
 * fl_sa_keyfile_commit stores s at path atomically when the step changed
 * what the key file records (session, masked, confirmed; nothing is
 * written otherwise), then closes it: call it before anything the step
 * made leaves the device.  fl_sa_keyfile_close wipes s and releases the
 * lock (again harmless).  Errors are those of the secret files and of
 * the key file's record; a failed open leaves nothing open and s wiped,
 * a failed commit closes the key file all the same.
 */
struct fl_sa_keyfile {
	int fd;                         /* held open for the lock, or -1 */
	struct fl_sa_secret s;
	char session[FL_SA_HEX];        /* s's steps as loaded */
	char masked[FL_SA_HEX];
	char confirmed[FL_SA_HEX];
};

int fl_sa_keyfile_open(struct fl_sa_keyfile *kf, const char *path, int lock,
    struct fl_error *err);
int fl_sa_keyfile_commit(struct fl_sa_keyfile *kf, const char *path,
    struct fl_error *err);
void fl_sa_keyfile_close(struct fl_sa_keyfile *kf);
/* The end of a round: lock the key file at path, check that it is one (or
 * the zeros an interrupted forget left), overwrite it and remove it
 * (fl_secret_forget).  -1 with the secret files' error, or the record's
 * when the file is neither. */
int fl_sa_keyfile_forget(const char *path, struct fl_error *err);
/* A device's identity from its secret file at path (unlocked); ident is
 * wiped on failure, and the caller wipes it after use. */
int fl_sa_identity_load(struct fl_sa_identity *ident, const char *path,
    struct fl_error *err);

/* The one record of an identity's public half, read from fp
 * (saident.c): its id and key.  -1 (FL_EFORMAT "empty: not an identity")
 * on an empty stream, or the reading or parsing error. */
int fl_sa_identity_public_read(FILE *fp, char id[FL_SA_MAXID + 1],
    unsigned char pk[FL_SA_BYTES], struct fl_error *err);
/* The first record of fp into rec (initialised by the caller, who frees
 * it after e, which points into it), parsed and checked as an enrolment
 * by fl_sa_enrolment_read with pin (saident.c).  -1 (FL_EFORMAT "empty:
 * not an enrolment") on an empty stream, or the reading or parsing
 * error. */
int fl_sa_enrolment_load(struct fl_sa_enrolment *e, struct fl_record *rec,
    FILE *fp, const unsigned char *pin, struct fl_error *err);

/*
 * The setup of a round (sasetup.c).  fl_sa_master_key: the key a step's
 * secrets are drawn from: fl_sa_seed_key of seed, purpose and id when
 * seed is not NULL (reproducible, NOT private), else the operating
 * system's (fl_rng_seed_os, whose error it returns).
 * fl_sa_identity_create: a new identity for id (fl_sa_identity_make from
 * the "sa-identity" master key, pinning operator_pk, NULL for none): its
 * public record (kind=secagg-identity) into pub and its secret file's
 * record into sec, both initialised by the caller; sec holds a secret
 * (fl_record_wipe it) and is wiped on failure.
 * fl_sa_keygen: a key file for round from ident (which must pin an
 * operator), its secrets from the "sa-keys" master key of ident->id: the
 * signed public keys' record into pub, the key file's into sec, as for
 * fl_sa_identity_create.  FL_EINVAL when ident pins no operator (the
 * identity is at fault); other failures have other codes.
 * fl_sa_roster_make: the server's roster of the n public keys pub, with
 * (k, t, C) of fl_sa_policy_params, checked and sorted by
 * fl_sa_roster_init; FL_EINVAL for fewer than 3 or more than 2^24 keys.
 * r takes pub (malloc'd) in every case: fl_sa_roster_free(r) frees it,
 * also after a failure.  Signatures are fl_sa_roster_enrolled's business.
 */
int fl_sa_master_key(unsigned char key[FL_RNG_KEYBYTES], const char *seed,
    const char *purpose, const char *id, struct fl_error *err);
int fl_sa_identity_create(struct fl_record *pub, struct fl_record *sec,
    const char *id, const char *seed, const unsigned char *operator_pk,
    struct fl_error *err);
int fl_sa_keygen(struct fl_record *pub, struct fl_record *sec,
    const struct fl_sa_identity *ident, uint64_t round, const char *seed,
    struct fl_error *err);
int fl_sa_roster_make(struct fl_sa_roster *r, struct fl_sa_public *pub,
    size_t n, const struct fl_sa_policy *pol, struct fl_error *err);

/* ---- the server's unmasking of a round (saunmask.c) ---- */

/*
 * Unmasking the survivors' modular sum, around fl_sa_unmask_record.
 * fl_sa_unmasking_init readies u for roster r (which u points to, and the
 * caller keeps).  fl_sa_unmasking_shares reads the shares file (the
 * clients' share envelopes and commitments, kind=secagg-shares, as sent
 * to the clients): every record, then each parsed; a client may share
 * once.  fl_sa_unmasking_reveals reads the survivors' reveals
 * (kind=secagg-reveal, fl-mask --reveal) the same way; a client may
 * reveal once.  Their failures about a record set u->recno to its number
 * in the file (1 for the first; else 0) and leave it out of err's text.
 * fl_sa_unmasking_run sorts surv (the survivors' client numbers, U3) in
 * place and takes the masks out of sum (fl_sa_unmask_record, with U2's
 * hash shared_hash): the shares that failed their owners' commitments are
 * in u->faults, also when it fails.  fl_sa_unmasking_free wipes the
 * reveals' records before freeing them.
 *
 * fl_sa_unmasked_meta makes an unmasked sum's metadata that of a plain
 * one: no mask, secagg.session or secagg.shared, and secagg.corrupt, the
 * clients r assumed colluding with the server (their noise shares protect
 * no one; fl-account charges without them).
 */
struct fl_sa_unmasking {
	const struct fl_sa_roster *roster;
	struct fl_record *shares, *reveals;     /* the files' records */
	size_t nshares, nreveals;
	struct fl_sa_shares *dealt;     /* dealt[c - 1]: client c's (m 0: none) */
	struct fl_sa_reveal *rv;        /* rv[i]: parsed reveals[i] */
	unsigned char *seen;            /* seen[c - 1]: client c revealed */
	struct fl_sa_faults faults;
	unsigned long recno;            /* the record a failure is about */
};

int fl_sa_unmasking_init(struct fl_sa_unmasking *u,
    const struct fl_sa_roster *r, struct fl_error *err);
int fl_sa_unmasking_shares(struct fl_sa_unmasking *u, FILE *fp,
    struct fl_error *err);
int fl_sa_unmasking_reveals(struct fl_sa_unmasking *u, FILE *fp,
    struct fl_error *err);
int fl_sa_unmasking_run(struct fl_sa_unmasking *u, struct fl_record *sum,
    uint32_t *surv, size_t nsurv, const char *shared_hash, int nthreads,
    struct fl_error *err);
void fl_sa_unmasking_free(struct fl_sa_unmasking *u);
int fl_sa_unmasked_meta(struct fl_record *sum, const struct fl_sa_roster *r,
    struct fl_error *err);

#endif
