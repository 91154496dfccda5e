/* SPDX-License-Identifier: ISC */
/*
 * privacy/privacy.h - randomness, exact noise samplers, clipping and noise, the accountants, the ledger, and what may leave a device in clear.
 * Part of libfl (fl.h includes every part; see fl(7) for the layers).
 */
#ifndef FL_PRIVACY_H
#define FL_PRIVACY_H

#include "base/base.h"
#include "format/format.h"

/* ---- randomness ---- */

/*
 * Keys are 32 bytes.  A production key comes from the OS (fl_rng_seed_os);
 * fl_rng_seed_text turns a --seed string into a key for reproducible tests
 * and simulations, which makes the output predictable: not private.
 * Purpose keys come from fl_rng_derive (purpose: up to 8 characters, e.g.
 * "dp-noise"; id: e.g. the tensor index).  Wipe keys with fl_rng_wipe or
 * sodium_memzero when done.
 */
#define FL_RNG_KEYBYTES 32

int fl_rng_seed_os(unsigned char key[FL_RNG_KEYBYTES], struct fl_error *err);
void fl_rng_seed_text(unsigned char key[FL_RNG_KEYBYTES], const char *seed);
void fl_rng_derive(unsigned char out[FL_RNG_KEYBYTES],
    const unsigned char master[FL_RNG_KEYBYTES], const char *purpose,
    uint64_t id);

/* n bytes of the ChaCha20 keystream of (key, stream) from 64-byte block
 * `block` on: random access, for chunked and parallel generation. */
void fl_rng_stream(void *out, size_t n, const unsigned char key[FL_RNG_KEYBYTES],
    uint64_t stream, uint64_t block);

/* n 32-bit words of the same keystream, each read little-endian: the
 * same numbers on any byte order (a word read natively would be another
 * number on a big-endian CPU, and another rounding or mask). */
void fl_rng_stream_u32(uint32_t *out, size_t n,
    const unsigned char key[FL_RNG_KEYBYTES], uint64_t stream, uint64_t block);

/* A sequential generator over one keystream. */
struct fl_rng {
	unsigned char key[FL_RNG_KEYBYTES];
	uint64_t stream, block;
	size_t pos;
	unsigned char buf[4096];
};

void fl_rng_init(struct fl_rng *r, const unsigned char key[FL_RNG_KEYBYTES],
    uint64_t stream);
uint64_t fl_rng_u64(struct fl_rng *r);
/* 48 random bits (6 keystream bytes), for samplers that need no more. */
uint64_t fl_rng_u48(struct fl_rng *r);
/* Uniform on [0, bound) by rejection (bound 0: a full 64-bit word). */
uint64_t fl_rng_below(struct fl_rng *r, uint64_t bound);
void fl_rng_wipe(struct fl_rng *r);

/* Poisson sampling (sample.c): the items of 0..n-1, each independently with
 * probability q (0 < q <= 1), ascending into idx (room for cap); returns
 * how many.  When more than cap were chosen, *overflow is set and the
 * caller draws again with more room from a copy of r as it was. */
size_t fl_sample_poisson(uint64_t *idx, size_t cap, uint64_t n, double q,
    struct fl_rng *r, int *overflow);

/*
 * A round's cohort (sample.c): the clients 0..n-1, each with probability
 * q, drawn from key; out becomes a record kind=cohort with round,
 * dp.population, dp.q, dp.sampling=poisson, cohort.seeded=yes when the key
 * came from a seed, and the ascending client numbers as the u64 tensor
 * `clients` (doc/metadata.md).  fl_cohort_from_record checks one.
 */
#define FL_COHORT_MAX_POPULATION ((uint64_t)1 << 40)
struct fl_cohort {
	uint64_t round, population, size;
	double q;
	int seeded;
};
int fl_cohort_draw(struct fl_record *out, uint64_t n, double q,
    uint64_t round, const unsigned char key[FL_RNG_KEYBYTES], int seeded,
    struct fl_error *err);
int fl_cohort_from_record(struct fl_cohort *c, const struct fl_record *rec,
    struct fl_error *err);

/* ---- noise samplers (gauss.c, dgauss.c) ---- */

/* A standard normal sample (ziggurat, double precision; not exact), or n
 * of them into out (the same values as n calls, faster); fl_normal_steps
 * writes round(s x) for each sample x, the same values as n calls of
 * fl_normal with the product rounded to the nearest integer (ties to
 * even; |s x| must stay below 2^51). */
double fl_normal(struct fl_rng *r);
void fl_normal_fill(struct fl_rng *r, double *out, size_t n);
void fl_normal_steps(struct fl_rng *r, double *out, size_t n, double s);

/*
 * The exact discrete Gaussian of Canonne, Kamath and Steinke: P[x] is
 * proportional to exp(-x^2 / (2 sigma^2)) on the integers.  fl_dgauss_init
 * fixes sigma^2 as a rational rounded up (dg->sigma is the scale used) and
 * refuses a variance above FL_DGAUSS_MAX_VAR.
 */
#define FL_DGAUSS_MAX_VAR 72057594037927936.0   /* 2^56 */
struct fl_dgauss {
	uint64_t num, den, t;
	double sigma;
};
int fl_dgauss_init(struct fl_dgauss *dg, double sigma, struct fl_error *err);
int64_t fl_dgauss(struct fl_rng *r, const struct fl_dgauss *dg);

/* Skellam: Poisson(sigma^2/2) - Poisson(sigma^2/2), variance sigma^2
 * (double-precision Poisson sampler: accurate to rounding, not exact). */
int64_t fl_skellam(struct fl_rng *r, double sigma);

/* ---- clipping and noise (dp.c) ---- */

enum fl_mechanism { FL_MECH_GAUSSIAN, FL_MECH_DGAUSS, FL_MECH_SKELLAM };

/*
 * Noise for fl_noise_tensor.  sigma is the standard deviation in the
 * tensor's units: float units for FL_MECH_GAUSSIAN, grid steps for the
 * integer mechanisms.  Float Gaussian noise is added on the power-of-two
 * grid fl_noise_grid(sigma) (the value snapped, integer noise added
 * exactly); exact selects the exact discrete Gaussian on that grid instead
 * of the fast ziggurat.  modulus: integer tensors are a ring mod modulus
 * (0 with u64: mod 2^64; 0 with i32/i64: plain integers, overflow is an
 * error).  key: the record's noise key (chunk streams are derived from it).
 */
struct fl_noise {
	enum fl_mechanism mechanism;
	double sigma;
	int exact;
	uint64_t modulus;
	int threads;
	double max_abs;         /* a known bound on |values| (0: scan them) */
	/* Float values are multiplied by this before the noise: a clip
	 * factor from fl_clip_factor, so clipping costs no pass of its own
	 * (0 means 1; max_abs bounds the scaled values). */
	double scale;
	unsigned char key[FL_RNG_KEYBYTES];
};

/* Sum of squares of a float tensor's values, in double. */
double fl_tensor_sumsq(const struct fl_tensor *t);

/* 0 if every value is finite, else -1 naming the first bad index. */
int fl_tensor_check_finite(const struct fl_tensor *t, struct fl_error *err);

/* Scale float tensors ts[0..n) so their joint L2 norm (in double) is at
 * most clip; *clipped says whether they were over it.  -1 as
 * fl_clip_factor for values that are not finite or too large. */
int fl_clip_tensors(struct fl_tensor **ts, size_t n, double clip,
    int *clipped, struct fl_error *err);

/* The factor min(1, clip (1 - e) / norm) for float tensors ts[0..n) of
 * joint L2 norm `norm`, with a margin e (below 3e-10 at 10M values) that
 * covers the norm's rounding: the values x * factor, each rounded once to
 * double, have a norm of at most clip.  Nothing is scaled: pass the factor
 * as fl_noise.scale, or scale the values.  *clipped is norm > clip.  A
 * value that is not finite is an error naming it. */
int fl_clip_factor(struct fl_tensor **ts, size_t n, double clip,
    double *factor, int *clipped, struct fl_error *err);

/* Multiply float tensors ts[0..n) by f in [0, 1] (1 and above: nothing):
 * |fl(x f)| <= |x|, so a clipped set stays within its bound.  Weighted
 * DP-FedAvg scales a clipped update by its capped weight so. */
void fl_scale_tensors(struct fl_tensor **ts, size_t n, double f);

/* The noise grid for float noise of scale sigma: a power of two with
 * sigma/grid in [2^18, 2^19). */
double fl_noise_grid(double sigma);

/* The noise std sigma that gives d coordinates snapped to
 * fl_noise_grid(sigma) the multiplier z: snapping moves a sum by up to
 * g/2 a coordinate, so the sensitivity is bound + g sqrt(d), and
 * sigma = z (bound + g sqrt(d)) with g the grid of sigma itself (a fixed
 * point, found in a few steps: g takes power-of-two values).  Sets
 * *sens to that sensitivity. */
double fl_noise_sigma_for(double z, double bound, uint64_t d, double *sens);

/* Add noise to t in place; tensor_index tells its streams apart. */
int fl_noise_tensor(struct fl_tensor *t, uint64_t tensor_index,
    const struct fl_noise *nz, struct fl_error *err);

/* Exact sums of squares of integers: 128 bits (a GNU C extension, marked
 * so that -pedantic builds of programs including fl.h stay clean). */
__extension__ typedef unsigned __int128 fl_u128;

/* Add the exact squared L2 norm of an integer tensor (ring values centred
 * on 0) to *acc; -1 if the sum would overflow 128 bits. */
int fl_int_sumsq(const struct fl_tensor *t, uint64_t modulus,
    fl_u128 *acc);

/* Exactly: is ss <= bound^2? */
int fl_int_sumsq_le(fl_u128 ss, double bound);

/* ---- privacy accounting (account.c, pld.c, ledger.c) ---- */

/*
 * A release: `steps` compositions of one mechanism on a Poisson sample of
 * rate q, under add/remove adjacency.  gaussian: noise is the multiplier
 * z = noise std / L2 sensitivity.  discrete-gaussian and skellam (integer
 * noise summed over clients, distributed DP): sigma is the std of one
 * client's share, sens2 and sens1 the L2 and L1 sensitivity (0: derived as
 * sens2 min(sqrt(dim), sens2)), all in grid units; clients is the number
 * of shares in the sum (the survivors) and dim the coordinates noised.
 * indicator: for the integer mechanisms, the noise multiplier of a
 * Gaussian query on the same sample (adaptive clipping's clip indicator),
 * 0 if none; a gaussian release has it folded into noise.  clip (0:
 * unknown) and round (FL_ROUND_NONE: unknown) are informational.
 * (enum fl_mechanism is declared with the noise, above.)
 */
#define FL_ROUND_NONE UINT64_MAX

struct fl_release {
	uint64_t release;       /* 1-based row of a ledger; 0 if none */
	uint64_t round;
	enum fl_mechanism mech;
	double q;
	uint64_t steps;
	double noise;
	double clip;
	uint64_t clients;
	/* Distributed noise: of the clients' shares summed, how many the
	 * server may know (clients colluding with it subtract their own
	 * noise); only the other clients - colluding shares are charged. */
	uint64_t colluding;
	/* The plan: the share count the noise was split into (dp.shares;
	 * 0 or 1: not split) and the multiplier the clients were told
	 * (dp.noise; 0: unknown), beside the one charged (noise). */
	uint64_t shares;
	double planned;
	double sigma, sens2, sens1;
	uint64_t dim;
	double indicator;
	unsigned not_private;   /* FL_NOT_PRIVATE_* bits */
	/* DP-FTRL (ftrl-charge.c): tree_round > 0 marks the charge of the
	 * tree tree_id's rounds after its previous row up to tree_round,
	 * for tree_parts participations tree_sep apart and the node noise
	 * multiplier tree_noise: a Gaussian (q 1, one step) whose noise is
	 * tree_noise / sqrt(sens2(tree_round) - sens2(previous)).
	 * tree_bands > 0: banded MF of tree_bands bands over tree_rounds
	 * rounds instead, sens2 fl_banded_sens2's of its strategy. */
	uint64_t tree_id, tree_round, tree_parts, tree_sep;
	double tree_noise;
	uint64_t tree_bands, tree_rounds;
};

/* Why a release is not private, though charged (fl-account
 * --not-private): its noise, or the choice of who took part, came from a
 * --seed that whoever knows it can replay. */
#define FL_NOT_PRIVATE_NOISE 1u
#define FL_NOT_PRIVATE_SAMPLING 2u

/* The fraction of clients assumed to collude with the server when nothing
 * says otherwise: fl-mask's default --corrupt, so that the ledger charges
 * for the same adversary the secure aggregation is built against. */
#define FL_CORRUPT_DEFAULT 0.05

/* "gaussian", "discrete-gaussian", "skellam"; parse returns 0 or -1. */
const char *fl_mechanism_name(enum fl_mechanism m);
int fl_mechanism_parse(const char *s, enum fl_mechanism *m);

/* The most steps one release may state (the command line's --steps). */
#define FL_MAX_STEPS ((uint64_t)1 << 40)

/* 0 if r is a valid release (q in (0, 1], noise > 0, 1 <= steps <=
 * FL_MAX_STEPS, ...), else -1. */
int fl_release_check(const struct fl_release *r, struct fl_error *err);

/* The effective noise multiplier (distributed: sigma sqrt(clients) / sens2). */
double fl_release_noise(const struct fl_release *r);

/*
 * The release a noised record stands for, from its dp.* metadata
 * (doc/metadata.md): with distributed noise (dp.shares > 1) the noise is
 * that of the `clients` shares actually summed.  q is dp.q, else the
 * planned cohort max(dp.shares, clients) / population if population > 0,
 * else 0 for the caller to set; steps is dp.steps or 1.  The colluding
 * shares of distributed noise: ceil(corrupt x the planned cohort) when
 * corrupt is a fraction in [0, 1); when it is NAN, the record's
 * secagg.corrupt (the roster's count, which fl-aggregate copies into the
 * sum), else FL_CORRUPT_DEFAULT of the planned cohort.
 */
int fl_release_from_record(struct fl_release *r, const struct fl_record *rec,
    uint64_t population, double corrupt, struct fl_error *err);

/* The shares whose noise protects anyone: clients - colluding. */
uint64_t fl_release_honest(const struct fl_release *r);

/* RDP orders: "default" (NULL), "opacus", "dp-accounting", or a list
 * "1.5,2,4-64,128" (LO-HI: every integer), sorted, duplicates dropped. */
#define FL_RDP_MAX_ORDERS 1024
#define FL_RDP_MAX_ORDER 100000
struct fl_orders {
	size_t n;
	double a[FL_RDP_MAX_ORDERS];
};

int fl_orders_parse(struct fl_orders *o, const char *spec,
    struct fl_error *err);

/* RDP of one step of the Poisson-subsampled Gaussian at order alpha. */
double fl_rdp_sgm(double q, double noise, double alpha);

/* RDP of one step of r at each order (rdp: o->n values). */
int fl_rdp_release(const struct fl_release *r, const struct fl_orders *o,
    double *rdp, struct fl_error *err);

/* The smallest epsilon (delta) over the orders for a given delta
 * (epsilon); classic: Mironov's 2017 conversion instead of the tight one.
 * best (may be NULL) gets the index of the order that gave it. */
double fl_rdp_epsilon(const struct fl_orders *o, const double *rdp,
    double delta, int classic, size_t *best);
double fl_rdp_delta(const struct fl_orders *o, const double *rdp,
    double epsilon, int classic, size_t *best);

/* log erfc(x) and log Phi(x), accurate in the far tails. */
/* Log-space sums (normal.c): log(e^a + e^b), and log(e^a - e^b) for a >= b
 * (-inf when they are equal). */
double fl_log_add(double a, double b);
double fl_log_sub(double a, double b);
double fl_log_erfc(double x);
double fl_log_ndtr(double x);

enum fl_accountant { FL_ACC_RDP, FL_ACC_RDP_CLASSIC, FL_ACC_PLD,
	FL_ACC_EXACT };

/* orders: NULL for the default; interval: the PLD grid (0: 1e-4). */
struct fl_account {
	enum fl_accountant accountant;
	const struct fl_orders *orders;
	double interval;
};

/* An answer: order is the best RDP order, interval the PLD grid used
 * (NAN when not applicable). */
struct fl_privacy {
	double epsilon, delta, order, interval;
};

/*
 * Compose the n releases.  given_eps 0: epsilon for delta = given; 1:
 * delta for epsilon = given.  cumulative: out[i] after each release i
 * (n entries), else out[0] for all.  The exact accountant takes only
 * gaussian releases with q = 1, the PLD one only gaussian releases.
 */
int fl_account_run(const struct fl_account *acct, const struct fl_release *r,
    size_t n, int cumulative, int given_eps, double given,
    struct fl_privacy *out, struct fl_error *err);

/*
 * The smallest noise multiplier for tmpl (its noise, or for distributed
 * noise its sigma, ignored) that keeps epsilon at delta, after the fixed
 * releases, at most target: *noise and what it gives in *got.  For
 * distributed noise the multiplier z is that of the full noise: each of
 * tmpl->clients shares has sigma z sens2 / sqrt(clients), and the
 * colluding clients' shares are not counted.
 */
int fl_account_noise(const struct fl_account *acct,
    const struct fl_release *fixed, size_t nfixed,
    const struct fl_release *tmpl, double target, double delta,
    double *noise, struct fl_privacy *got, struct fl_error *err);

/*
 * A privacy loss distribution on the grid loss = (lo + i) d: mass p[i]
 * (n bins, owned) and p_inf at infinity.  fl_pld_sgm discretises one step
 * (add 0: remove direction, 1: add direction) pessimistically; compose
 * operations replace their first argument.
 */
struct fl_pld {
	double d;
	int64_t lo;
	size_t n;
	double *p;
	double pinf;
};

int fl_pld_sgm(struct fl_pld *pl, double q, double noise, int add, double d,
    struct fl_error *err);
int fl_pld_self_compose(struct fl_pld *pl, uint64_t steps,
    struct fl_error *err);
int fl_pld_compose(struct fl_pld *a, const struct fl_pld *b,
    struct fl_error *err);
double fl_pld_width(const struct fl_pld *pl, uint64_t steps);
double fl_pld_epsilon(const struct fl_pld *pl, double delta);
double fl_pld_delta(const struct fl_pld *pl, double epsilon);
void fl_pld_free(struct fl_pld *pl);
/* fl_account_run's PLD half. */
int fl_pld_account(const struct fl_account *acct, const struct fl_release *r,
    size_t n, int cumulative, int given_eps, double given,
    struct fl_privacy *out, struct fl_error *err);

/* The Gaussian mechanism exactly (Balle and Wang 2018), mu = 1 / noise
 * (T steps: sqrt(T) / noise). */
double fl_gaussian_delta(double mu, double epsilon);
double fl_gaussian_epsilon(double mu, double delta);

/*
 * The budget ledger (fl-account(1) describes the file).  fl_ledger_open
 * locks the file (write: exclusively, creating it if missing; else
 * shared) and reads every row, failing on any line it would not have
 * written, named "line N: ...".  fl_ledger_append numbers the rows on,
 * appends them in one write and fsyncs.  The lock lasts until
 * fl_ledger_close.
 */
struct fl_ledger {
	int fd;
	int writable;
	char *path;
	size_t size;            /* bytes in the file */
	struct fl_release *rows;
	uint32_t *checks;       /* each row's check */
	size_t nrows, cap;
	uint32_t chain;         /* check of the last line */
};

int fl_ledger_open(struct fl_ledger *l, const char *path, int write,
    struct fl_error *err);
int fl_ledger_append(struct fl_ledger *l, const struct fl_release *rows,
    size_t n, struct fl_error *err);
void fl_ledger_close(struct fl_ledger *l);

/*
 * The ledger's head anchored outside the file, where the server keeps
 * state anyway (the model fl-apply writes): ledger.releases, its release
 * count, and ledger.check, the check of its last line.  A ledger cut at a
 * line boundary, truncated to its header or to nothing, or rewritten, no
 * longer reaches its anchor: fl_ledger_check_anchor fails (FL_EFORMAT)
 * saying which.  fl_ledger_anchor_read: 1 with the values, 0 when rec has
 * no anchor, -1 on a bad one.
 */
int fl_ledger_anchor_write(const struct fl_ledger *l, struct fl_record *rec,
    struct fl_error *err);
int fl_ledger_anchor_read(const struct fl_record *rec, uint64_t *releases,
    uint32_t *check, struct fl_error *err);
int fl_ledger_check_anchor(const struct fl_ledger *l, uint64_t releases,
    uint32_t check, struct fl_error *err);

/* ---- what may leave a device (release.c) ---- */

/*
 * What may leave a device in clear (release.c).  A masked record carries
 * the update's tensors masked and metadata that does not depend on the
 * data: kind (update), round, arch, client, modulus, the codec's q.* and
 * the mechanism's dp.* parameters, and the protocol's own keys.
 * fl_release_check_masked fails (FL_EFORMAT) naming the first other key,
 * and the way to carry what it says.
 */
int fl_release_check_masked(const struct fl_record *rec, struct fl_error *err);

/* 1 if key of rec may travel in clear beside masked values (the same for
 * every client of a round), else 0 with *why the advice for the keys
 * fltools knows (weight, loss, clients, ...) or NULL.  rec (may be NULL)
 * decides dp.q and dp.steps: public at a public DP-SGD rate (dp.rate). */
int fl_release_key_public(const struct fl_record *rec, const char *key,
    const char **why);

/* Drop the keys fltools writes on a device that depend on the client's
 * data (weight: the example count, loss), from a record about to be
 * released (fl-clip-noise --clip). */
void fl_release_strip(struct fl_record *rec);

/* The training loss carried inside the clipped, noised and masked vector
 * (fl-clip-noise --loss-bound): a tensor of one float value, in units of
 * the record's dp.loss-scale. */
#define FL_LOSS_TENSOR "fl.loss"

/* Take the carried loss out of an aggregate: *loss = its fl.loss value /
 * dp.loss-scale (a mean loss when the aggregate is a mean), the tensor
 * removed; *loss = NAN and nothing changed when there is none.  -1
 * (FL_EFORMAT) when the tensor is not one float value or has no positive
 * dp.loss-scale. */
int fl_release_take_loss(struct fl_record *agg, double *loss,
    struct fl_error *err);

/*
 * How tensor `name` of rec is protected once it leaves the device, from
 * what the record says of itself: noised by dp.mechanism (mechanism, or
 * NULL), or the adaptive-clipping indicator the server noises after the
 * sum (server_noised); a 1/dp.shares share of distributed noise, which is
 * too little on its own until masked (weak_share, shares the count);
 * masked by secure aggregation (mask=secagg); in clear when unmasked and
 * either not noised or the indicator (one client's exact bit).
 */
struct fl_protection {
	const char *mechanism;
	const char *shares;
	int server_noised;
	int weak_share;
	int masked;
	int in_clear;
};

void fl_release_protection(const struct fl_record *rec, const char *name,
    struct fl_protection *p);

/* ---- a release as charged (charge.c) ---- */

/* ceil(x), except that an x within 1e-9 (relative) of an integer is that
 * integer: steps from epochs / q without a spurious extra step. */
uint64_t fl_steps_ceil(double x);

/* The steps of r[0..n) summed, saturating at UINT64_MAX. */
uint64_t fl_release_steps(const struct fl_release *r, size_t n);

/* The steps of `epochs` epochs: epochs population / batch when both are
 * known (nonzero), else epochs / q, rounded up by fl_steps_ceil and at
 * least 1.  -1 (FL_EINVAL, "too many steps") when above 2^40. */
int fl_steps_epochs(uint64_t *steps, double epochs, uint64_t population,
    uint64_t batch, double q, struct fl_error *err);

/* Distributed noise given by its sigma (or, solve, to be solved for),
 * clients and sens2: when solve, sigma becomes the share's for the
 * multiplier 1 (sens2 / sqrt(clients)); colluding becomes ceil(corrupt
 * clients) (corrupt NAN: FL_CORRUPT_DEFAULT), and noise
 * fl_release_noise. */
void fl_release_shares(struct fl_release *r, double corrupt, int solve);

/*
 * A release given by options (fl-account's -m, -z, --sigma, ...) rather
 * than read from a record: r holds what was given, 0 where a value was
 * not (noise, sigma, sens2, sens1, clients, dim); indicator is the std of
 * adaptive clipping's indicator noise (0: none), corrupt the colluding
 * fraction (NAN: not given), solve set when the noise is to be solved for
 * (--target-epsilon).  Checks that these go together for r->mech, then
 * completes r: a Gaussian release gets the multiplier 1 when solving and
 * the indicator composed in (fl_noise_indicator); noise summed from
 * clients' shares gets the indicator and fl_release_shares.  -1
 * (FL_EINVAL, a message naming the options: a usage error) when they do
 * not go together.  The values' own checks are fl_release_check's.
 */
int fl_release_from_options(struct fl_release *r, double indicator,
    double corrupt, int solve, struct fl_error *err);

/* The cohort (fl_cohort_from_record) a release was drawn from, named name
 * in messages: r takes its round and rate, and FL_NOT_PRIVATE_SAMPLING
 * when it was drawn from a seed.  -1 (FL_EINVAL) when r is of another
 * round, or sums more clients than the cohort holds. */
int fl_cohort_apply(struct fl_release *r, const struct fl_cohort *c,
    const char *name, struct fl_error *err);

/*
 * How the releases of records are charged.  population and corrupt go to
 * fl_release_from_record; allow_seeded takes records whose noise came from
 * a seed (dp.seeded: not private), allow_shuffle shuffled batches
 * (dp.sampling=shuffle) as if Poisson sampled; cohort (NULL: none, else
 * named cohort_name) as fl_cohort_apply.  The overrides, for
 * fl_release_override: q (0: the record's), steps (0: the record's),
 * epochs (> 0: steps ceil(epochs / q)), round (FL_ROUND_NONE: the
 * record's), clip (0: the record's).
 */
struct fl_charge {
	uint64_t population;
	double corrupt;
	int allow_seeded, allow_shuffle, allow_short;
	const struct fl_cohort *cohort;
	const char *cohort_name;
	double q;
	uint64_t steps;
	double epochs;
	uint64_t round;
	double clip;
};

/* What fl_release_charge saw and took: noise from a seed, shuffling. */
#define FL_CHARGE_SEEDED 1u
#define FL_CHARGE_SHUFFLED 2u
/* Distributed noise from fewer shares than planned (clients < dp.shares):
 * less noise than the plan, charged as it is. */
#define FL_CHARGE_SHORT 4u

/* The release of rec as c charges it, before the overrides: -1
 * (FL_EINVAL) on seeded noise, shuffled batches or noise short of its
 * planned shares (FL_CHARGE_SHORT) not allowed, or as
 * fl_release_from_record and fl_cohort_apply.  *seen gets FL_CHARGE_*
 * bits for what was taken, also when a later step fails.  r->q may be 0
 * (no rate yet): fl_release_override sets and checks it. */
int fl_release_charge(struct fl_release *r, const struct fl_record *rec,
    const struct fl_charge *c, unsigned *seen, struct fl_error *err);

/* The share count to plan distributed noise for when each of n clients
 * reaches the sum with probability p (dropouts: 1 - p; Poisson sampling
 * from a population: n the population, p = q (1 - dropout)): fewer
 * survive with probability at most FL_SHORT_RISK.  0 if even none is
 * that likely. */
#define FL_SHORT_RISK 0.01
uint64_t fl_shares_planned(uint64_t n, double p);

/* What FL_CHARGE_SHORT means for r, as text: "noise from N of the P
 * planned shares: multiplier Z[, planned Z0]". */
#define FL_SHORT_TEXT 160
const char *fl_release_short(const struct fl_release *r,
    char buf[FL_SHORT_TEXT]);

/* -1 (FL_EINVAL) when c takes a cohort drawn from a seed
 * (cohort.seeded) but not releases that are not private (allow_seeded):
 * sampling amplifies nothing against whoever knows the seed. */
int fl_charge_check(const struct fl_charge *c, struct fl_error *err);

/* c's overrides applied to r, then fl_release_check; -1 (FL_EINVAL) also
 * when no sampling rate is known. */
int fl_release_override(struct fl_release *r, const struct fl_charge *c,
    struct fl_error *err);

/* ---- adaptive clipping's indicator (mechanism.c) ---- */

/* The Gaussian query of multiplier z and the indicator's of std sb
 * (sensitivity 1) on the same sample, composed into one: the multiplier
 * 1 / sqrt(z^-2 + sb^-2). */
double fl_noise_indicator(double z, double sb);

/* ---- accountant names (account.c) ---- */

/* "rdp", "rdp-classic", "pld", "exact"; parse returns 0 or -1. */
const char *fl_accountant_name(enum fl_accountant a);
int fl_accountant_parse(const char *s, enum fl_accountant *a);

/* ---- accounting after a ledger (plan.c) ---- */

/* What is asked of the accountant: epsilon at delta, or delta at epsilon
 * when given_eps; the budget (an epsilon) if has_budget. */
struct fl_question {
	enum fl_accountant accountant;
	int given_eps;
	double epsilon, delta;
	int has_budget;
	double budget;
	/* A plan's answer also says (0: not asked): the share count it
	 * planned for (--dropout), and the target it solved for, printed
	 * as the margin target - epsilon. */
	uint64_t shares;
	double target;
};

/* 1 when p (after a spend, or a ledger's releases) is over q's budget:
 * epsilon above it, or not a number; else 0, also when q asks delta. */
int fl_over_budget(const struct fl_question *q, const struct fl_privacy *p);

/* -1 (FL_EINVAL) when q asks epsilon at a delta not below 1/population
 * (population > 0): the guarantee would allow a release of one whole
 * record. */
int fl_delta_check(const struct fl_question *q, uint64_t population,
    struct fl_error *err);

/* fl_account_run over the nfixed fixed releases (a ledger's rows) followed
 * by r[0..n): out as fl_account_run's for nfixed + n releases. */
int fl_account_after(const struct fl_account *acct,
    const struct fl_release *fixed, size_t nfixed,
    const struct fl_release *r, size_t n, int cumulative, int given_eps,
    double given, struct fl_privacy *out, struct fl_error *err);

/* The points of a curve of `steps` steps every `every`: the pieces
 * (steps + every - 1) / every, in 64-bit unsigned arithmetic. */
uint64_t fl_curve_points(uint64_t steps, uint64_t every);

/*
 * A planning curve: tmpl's steps cut into pieces of `every` steps (the
 * last one what is left), composed after the fixed releases; out[i] the
 * privacy after piece i (as fl_account_run, cumulative) and at[i] the
 * steps then, the fixed ones included (their sum saturating).  out and at
 * have room for fl_curve_points(tmpl->steps, every) entries.
 */
int fl_account_curve(const struct fl_account *acct,
    const struct fl_release *fixed, size_t nfixed,
    const struct fl_release *tmpl, uint64_t every, int given_eps,
    double given, struct fl_privacy *out, uint64_t *at,
    struct fl_error *err);

/* ---- the answers as fl-account prints them (report.c) ---- */

/*
 * Written to fp as text (fl-account(1), OUTPUT) or, json, as one JSON
 * object; write errors stay in fp (ferror).  fl_answer_write: the answer
 * line for p after `steps` steps; noise (NULL: none) first when solved
 * for; count > 0 adds "label count" (the releases of a spend or a
 * report).  fl_report_write: a ledger's report, one row per release r[i]
 * with p[i] the privacy after it (fl_account_after, cumulative), the text
 * ending with the answer line after them all.  fl_curve_write: the
 * planning curve of fl_account_curve, p[i] at at[i] steps.
 */
void fl_answer_write(FILE *fp, const struct fl_question *q,
    const struct fl_privacy *p, const double *noise, uint64_t steps,
    uint64_t count, const char *label, int json);
void fl_report_write(FILE *fp, const struct fl_question *q,
    const struct fl_release *r, size_t n, const struct fl_privacy *p,
    int json);
void fl_curve_write(FILE *fp, const struct fl_question *q,
    const struct fl_privacy *p, const uint64_t *at, size_t n, int json);

/* ---- the ledger's file (ledger.c) ---- */

/* 1 when there is no file at path (a ledger not made yet), else 0. */
int fl_ledger_missing(const char *path);

/* -1 (FL_EFORMAT) when an anchor says releases > 0 but there is no ledger
 * at path (it lost its past), else 0. */
int fl_ledger_check_anchor_path(const char *path, uint64_t releases,
    struct fl_error *err);

/* ---- a record's DP step: clip, weight, loss, noise (dprecord.c) ---- */

/* The summable clip indicator of adaptive clipping: a u32 tensor of one
 * value, 1 if the update was within its bound, else 0; noise passes it
 * by, the server noises its sum (fl_clip_adapt_*). */
#define FL_CLIP_INDICATOR "clip.indicator"

/* The loss coordinate's share s of the clip bound C: the update is clipped
 * to C sqrt(1 - s^2), the loss to s C, so the two together stay within C. */
#define FL_LOSS_SHARE 0.1

/*
 * How a device clips its update (fl-clip-noise --clip).  clip: the L2
 * bound C, > 0.  weight_cap: W of weighted DP-FedAvg, the clipped update
 * scaled by min(weight, W) / W, weight the record's example count (NAN:
 * unweighted).  loss_bound: B, the record's training loss clamped to
 * [0, B] carried as the tensor FL_LOSS_TENSOR inside the bound (NAN: no
 * loss).  per_tensor: each tensor clipped to C sqrt(w_i / sum w), the
 * weights w_i by split: NULL or "equal" (all 1), "size" (values), or
 * "NAME=W,..." (text, as on the command line).  indicator: add
 * FL_CLIP_INDICATOR.
 */
struct fl_dp_clip {
	double clip;
	double weight_cap;
	double loss_bound;
	int per_tensor;
	const char *split;
	int indicator;
};

/*
 * Clip rec's update, every tensor but FL_CLIP_INDICATOR (all must be float;
 * a record already noised is refused), and weight it: in place when factor
 * is NULL, else only the factors are found, into factor[] (the caller's,
 * room for rec->ntensors + 1), for fl_dp_noise_record to apply in its one
 * pass.  Writes dp.clip, dp.clip-split, dp.weight-cap, dp.loss-bound and
 * dp.loss-scale as they apply, drops the data-dependent keys
 * (fl_release_strip) and adds the indicator.  -1 on a record that does not
 * fit (missing weight or loss, values not finite, ...), with FL_EINVAL only
 * when split gives a tensor a weight that is not a number >= 0 (the caller's
 * text, not the record, is at fault); the record may then be partly clipped,
 * and is not to be used.
 */
int fl_dp_clip_record(struct fl_record *rec, const struct fl_dp_clip *c,
    double *factor, struct fl_error *err);

/*
 * How noise is added to a record (fl-clip-noise --noise).  noise: the
 * multiplier z > 0.  sensitivity: the L2 sensitivity (NAN: the record's
 * dp.sensitivity, else for float tensors its dp.clip).  indicator_noise:
 * sigma_b > 0 when adaptive clipping's indicator takes part of the
 * budget (see fl_dp_update_multiplier), else 0 or NAN.  clip: the bound
 * fl_dp_clip_record just clipped the record to (NAN: not clipped here; its
 * float values are then checked finite).  mechanism: an enum fl_mechanism,
 * or -1 for the tensors' own (gaussian for float, discrete-gaussian for
 * integer).  exact: float noise from the exact discrete Gaussian on the
 * grid.  threads: 1 or more (the output is the same).  shares: the noise
 * is one of that many clients' shares (1/shares of the variance).
 */
struct fl_dp_noise {
	double noise;
	double sensitivity;
	double indicator_noise;
	double clip;
	int mechanism;
	int exact;
	int threads;
	uint64_t shares;
};

/*
 * The update's noise multiplier when the clip indicator's noise sigma_b
 * (indicator_noise > 0) shares the budget z (noise): z^-2 = z_update^-2 +
 * sigma_b^-2, the summed 0/1 indicator having sensitivity 1 (Andrew et al.
 * 2021).  *z = noise when indicator_noise is not > 0; -1 (FL_EINVAL) when
 * sigma_b is not above z.
 */
int fl_dp_update_multiplier(double noise, double indicator_noise, double *z,
    struct fl_error *err);

/*
 * Add noise to rec's tensors but FL_CLIP_INDICATOR (all float, or all
 * integer: ring values mod the record's modulus), each scaled first by
 * factor[i] from fl_dp_clip_record (NULL: by 1), with the record's key from
 * master and index (purpose "dp-noise"; wiped after).  An integer share
 * (shares > 1) must be within its sensitivity, checked exactly first.
 * Writes what the accountant needs (doc/metadata.md): dp.mechanism,
 * dp.noise, dp.sigma (the scale used), dp.shares, dp.dim, dp.noise-update
 * and dp.indicator-noise, dp.grid and dp.sensitivity (float: the bound plus
 * the grid's g sqrt(dim)), dp.sensitivity-l1 (skellam); then call
 * fl_dp_noise_marks.  -1 on a record that does not fit; the checks come
 * before any noise, but a tensor's noise can still fail (an i32 value
 * overflowing, say) after others were noised: the record is not to be used.
 */
int fl_dp_noise_record(struct fl_record *rec, const struct fl_dp_noise *p,
    const unsigned char master[FL_RNG_KEYBYTES], uint64_t index,
    const double *factor, struct fl_error *err);

/* After fl_dp_noise_record: dp.sampler (gaussian: exact-discrete-gaussian
 * or ziggurat) and dp.seeded=yes when the key came from a seed (not
 * private).  -1 only when metadata cannot be set. */
int fl_dp_noise_marks(struct fl_record *rec, int exact, int seeded,
    struct fl_error *err);

/* ---- the server step of adaptive clipping (adapt.c) ---- */

/*
 * On an aggregate of clipped updates: fl_clip_adapt_read takes dp.clip,
 * the clients' count (agg.denominator when > 0, else clients) and the
 * summed FL_CLIP_INDICATOR (ring values centred), and the indicator
 * noise's std sigma (NAN: clients / 10), failing (FL_EFORMAT) on an
 * aggregate without them.  fl_clip_adapt_noise draws the exact discrete
 * Gaussian noise of the count from master and index (purpose "dp-indic";
 * none when sigma is 0), failing only on a scale out of range.
 * fl_clip_adapt_write sets frac, the noised fraction within the bound
 * clamped to [0, 1], and next = clip exp(-lr (frac - target)), removes
 * the indicator and writes dp.clip-next, dp.clip-fraction and
 * dp.indicator-noise.
 */
struct fl_clip_adapt {
	double clip, clients, count, sigma;
	int64_t noise;
	double frac, next;
};

int fl_clip_adapt_read(struct fl_clip_adapt *a, const struct fl_record *rec,
    double sigma, struct fl_error *err);
int fl_clip_adapt_noise(struct fl_clip_adapt *a,
    const unsigned char master[FL_RNG_KEYBYTES], uint64_t index,
    struct fl_error *err);
int fl_clip_adapt_write(struct fl_clip_adapt *a, struct fl_record *rec,
    double lr, double target, struct fl_error *err);

/* ---- DP-FTRL: tree aggregation's noise (tree.c) ---- */

/*
 * The tree over rounds 1..T (at most FL_TREE_MAX_ROUNDS).  Node (h, j),
 * height h, covers rounds j 2^h + 1 .. (j + 1) 2^h and is addressed by
 * fl_tree_node_id = h 2^56 + j.  Its noise for tensor i, chunk c (16Ki
 * values) is the normal sampler's (fl_normal_steps; fl_normal_fill for
 * Honaker) on the ChaCha20 stream i 2^32 + c of the key
 * fl_rng_derive(tree key, "ftrl-nod", id), the tree key being
 * fl_rng_derive(secret, "ftrl", tree id): the same secret and id give the
 * same noise in any process.  The prefix n(t) of rounds 1..t sums the
 * nodes of t's cover: one per set bit h of t, node (h, (t >> h) - 1).
 * Estimators: plain (the node's noise; variance popcount(t) s^2) or
 * honaker (each node's estimate from its own noise and its children's
 * estimates by inverse variances; TF Privacy's efficient tree).
 */
#define FL_TREE_MAX_ROUNDS ((uint64_t)1 << 40)
enum fl_tree_estimator { FL_TREE_PLAIN, FL_TREE_HONAKER };

/* "plain", "honaker"; parse returns 0 or -1. */
const char *fl_tree_estimator_name(enum fl_tree_estimator e);
int fl_tree_estimator_parse(const char *s, enum fl_tree_estimator *e);

uint64_t fl_tree_node_id(unsigned h, uint64_t j);

/* The cover of prefix t: (h[i], j[i]), heights descending (room for 64);
 * returns how many (popcount(t)). */
size_t fl_tree_cover(uint64_t t, unsigned *h, uint64_t *j);

/* Honaker at height h: *v the variance of a node's estimate in units of
 * the node noise's variance, *own and *child the weights of its own noise
 * and of each child's estimate (1 and 0 at the leaves). */
void fl_tree_honaker(unsigned h, double *v, double *own, double *child);

/* The variance of n(t) in units of the node noise's variance. */
double fl_tree_prefix_var(uint64_t t, enum fl_tree_estimator e);

/* A tree: its key (wipe with fl_tree_wipe), estimator, the node noise's
 * std sigma in the tensor's units, threads (1 or more; the same output). */
struct fl_tree {
	unsigned char key[FL_RNG_KEYBYTES];
	enum fl_tree_estimator estimator;
	double sigma;
	int threads;
};
void fl_tree_init(struct fl_tree *tr, const unsigned char secret[FL_RNG_KEYBYTES],
    uint64_t tree_id, enum fl_tree_estimator e, double sigma);
void fl_tree_wipe(struct fl_tree *tr);

/* n(t) of tensor tensor_index's first numel coordinates into out, in the
 * tensor's units (0 for t = 0), on the grid fl_noise_grid(sigma). */
int fl_tree_prefix_noise(const struct fl_tree *tr, uint64_t t,
    uint64_t tensor_index, double *out, uint64_t numel, struct fl_error *err);

/*
 * Round t's step (1 <= t): the f32 or f64 tensor x, round t's summed
 * clipped updates, becomes x + n(t) - n(t-1) on the grid g =
 * fl_noise_grid(sigma): x snapped to g plus whole steps of noise, so the
 * output is a lattice point.  The sum of the steps of rounds 1..t is the
 * noisy prefix sum (telescoping).  -1 (FL_EINVAL) on a value that is not
 * finite or is beyond 2^50 g, before anything changes.
 */
int fl_tree_noise_tensor(struct fl_tensor *x, uint64_t tensor_index,
    uint64_t t, const struct fl_tree *tr, struct fl_error *err);

/* Node (h, j)'s noise for tensor tensor_index, chunk `chunk` (values
 * chunk FL_TREE_CHUNK on), as standard normal values (fl_normal_fill on
 * the node's stream: the noise Honaker's estimator scales), n of them. */
#define FL_TREE_CHUNK 16384
void fl_tree_node_normal(const struct fl_tree *tr, unsigned h, uint64_t j,
    uint64_t tensor_index, uint64_t chunk, double *out, size_t n);
/* -1 (FL_EINVAL) unless x is f32 or f64 with finite values within 2^50
 * grid steps of fl_noise_grid(sigma) (what a noise step may take). */
int fl_tree_check_tensor(const struct fl_tensor *x, double sigma,
    struct fl_error *err);

/* ---- DP-FTRL: the release's sensitivity (ftrl-sens.c) ---- */

/*
 * The squared L2 sensitivity, in units of the clip bound squared, of the
 * tree's whole release (every complete node of rounds 1..T) when a
 * client takes part in at most k rounds, any two at least b apart (b 1:
 * any distinct rounds; k 1: single participation, which gives
 * ceil(log2(T + 1))): the maximum over the allowed sets S of
 * sum_v |S n v|^2, exactly (fl-account(1) derives it).  -1 (FL_ELIMIT)
 * when k^2 b^3 is too large to solve; k above what fits is cut to it.
 * fl_tree_sens2_brute: the same by enumeration, for tests (T <= 24).
 */
int fl_tree_sens2(uint64_t T, uint64_t k, uint64_t b, uint64_t *sens2,
    struct fl_error *err);
uint64_t fl_tree_sens2_brute(uint64_t T, uint64_t k, uint64_t b);

/* ---- DP-FTRL: the server's state (ftrl-state.c) ---- */

/*
 * What fl-apply --ftrl keeps between rounds, as a record kind=ftrl-state
 * (fl-apply(1)): the secret the tree's noise is drawn from, the tree id
 * (written as 16 hex digits, also on every model the tree made), the
 * model round of the tree's round 1 (start) and the rounds applied
 * (done), and the mechanism: rounds declared, participations and
 * separation, estimator, noise multiplier, clip bound, and whether the
 * secret came from a seed (not private).  bands > 0: banded matrix
 * factorization (ftrl.mechanism=banded, ftrl.bands) instead of the tree,
 * its strategy and past noise in tensors fl-apply keeps beside.
 * from_record checks every field (FL_EFORMAT naming it); wipe when done.
 */
struct fl_ftrl_state {
	unsigned char secret[FL_RNG_KEYBYTES];
	uint64_t tree_id, start, done, rounds, participations, separation;
	uint64_t bands;
	enum fl_tree_estimator estimator;
	double noise, clip;
	int seeded;
};
int fl_ftrl_state_to_record(struct fl_record *rec,
    const struct fl_ftrl_state *s, struct fl_error *err);
int fl_ftrl_state_from_record(struct fl_ftrl_state *s,
    const struct fl_record *rec, struct fl_error *err);
void fl_ftrl_state_wipe(struct fl_ftrl_state *s);
/* 16 lower-case hex digits into *id: 0, else -1. */
int fl_ftrl_tree_id_parse(const char *s, uint64_t *id);

/* ---- zCDP of a Gaussian mechanism (zcdp.c) ---- */

/*
 * A Gaussian mechanism of sensitivity D and noise std s is rho-zCDP with
 * rho = D^2 / (2 s^2), and its privacy curve is exactly the Gaussian's
 * of mu = D / s = sqrt(2 rho) (Balle and Wang 2018): the tight
 * conversion, fl_gaussian_epsilon.  fl_zcdp_epsilon and fl_zcdp_delta
 * convert so; fl_zcdp_bound is the classical bound rho + 2 sqrt(rho
 * log(1/delta)) (Bun and Steinke 2016), looser, for comparison.
 * fl_zcdp_epsilon_rdp: the conversion that knows only rho, through RDP
 * (a rho at every order a): min over a > 1 of a rho + log(1 - 1/a) +
 * (log(1/delta) - log a) / (a - 1) (Canonne, Kamath and Steinke 2020;
 * Asoodeh et al. 2021), as Gboard's reports convert rho (0.81 -> 8.9 at
 * 1e-10); between the exact one and the classical bound.
 * fl_gaussian_mu: the largest mu whose epsilon at delta is at most eps
 * (bisection to 1e-12 relative; 0 if none).
 */
double fl_zcdp_epsilon(double rho, double delta);
double fl_zcdp_delta(double rho, double epsilon);
double fl_zcdp_bound(double rho, double delta);
double fl_zcdp_epsilon_rdp(double rho, double delta);
double fl_gaussian_mu(double epsilon, double delta);

/* ---- DP-FTRL: charging a tree's rounds (ftrl-charge.c) ---- */

/*
 * The noise multiplier of the Gaussian that charges a tree's rounds
 * prev+1..t (prev < t): z / sqrt(s(t) - s(prev)), s = fl_tree_sens2 for
 * k participations b apart; 0 when those rounds add no node a client can
 * reach (nothing to charge).  Summed over a tree's rows, the RDP is
 * alpha s(t) / (2 z^2), the Gaussian of the whole release so far (and
 * the PLDs compose to it exactly).
 */
int fl_tree_increment(uint64_t prev, uint64_t t, uint64_t k, uint64_t b,
    double z, double *noise, struct fl_error *err);
/* The same for banded MF of `bands` bands over T rounds: s(t) =
 * fl_banded_sens2 of the first t rows of its strategy (the one
 * fl_banded_optimize computes, cached per thread for bands <= 1024). */
int fl_banded_increment(uint64_t prev, uint64_t t, uint64_t T,
    uint64_t bands, uint64_t k, uint64_t b, double z, double *noise,
    struct fl_error *err);

/* The tree's charge r (tree fields set) after the rows[0..n): r becomes
 * a Gaussian release, q 1, one step, its noise fl_tree_increment's after
 * the tree's last row.  1 when there is nothing to charge, 0, or -1
 * (FL_EINVAL) when r's round is not after the last row's, or its pattern
 * or noise differ from the tree's rows. */
int fl_tree_charge(struct fl_release *r, const struct fl_release *rows,
    size_t n, struct fl_error *err);

/* The tree round a model made by fl-apply --ftrl stands for (ftrl.tree,
 * ftrl.round, ftrl.noise-effective, ftrl.participations,
 * ftrl.separation, ftrl.clip; round): 1 with r's tree fields set (not
 * yet charged: fl_tree_charge), 0 when rec has no ftrl.tree, -1
 * (FL_EFORMAT) on a bad field. */
int fl_tree_release_from_record(struct fl_release *r,
    const struct fl_record *rec, struct fl_error *err);

/*
 * The whole release of a tree of T rounds, k participations b apart, node
 * noise multiplier z: sens2 (fl_tree_sens2), rho = sens2 / (2 z^2), and
 * epsilon at delta (or delta at epsilon, given_eps) by fl_zcdp_epsilon,
 * epsilon10 at delta 1e-10 (as Gboard reports), epsilon10_rdp the same by
 * fl_zcdp_epsilon_rdp (Gboard's conversion, from rho alone), bound the
 * classical fl_zcdp_bound at delta.  fl_tree_noise: the smallest z of 6 significant
 * digits (rounded up) whose epsilon at delta is at most target.
 */
struct fl_tree_privacy {
	double sens2, noise, rho, epsilon, delta, epsilon10, epsilon10_rdp,
	    bound;
};
int fl_tree_account(uint64_t T, uint64_t k, uint64_t b, double z,
    int given_eps, double given, struct fl_tree_privacy *out,
    struct fl_error *err);
int fl_tree_noise(uint64_t T, uint64_t k, uint64_t b, double target,
    double delta, double *z, struct fl_error *err);

/* The same for any release of squared sensitivity sens2 (clip units)
 * and noise multiplier z, rho = sens2 / (2 z^2) (the tree's and, with
 * fl_banded_sens2, banded MF's). */
int fl_zcdp_account(double sens2, double z, int given_eps, double given,
    struct fl_tree_privacy *out, struct fl_error *err);
int fl_zcdp_noise(double sens2, double target, double delta, double *z,
    struct fl_error *err);

/* ---- DP-FTRL: banded matrix factorization (banded.c) ---- */

/*
 * The second mechanism: the prefix sums A X released as A C^-1 (C X + Z),
 * C lower-triangular b-banded Toeplitz, c[0] = 1, c[1..b-1] (banded.c
 * and fl-account(1) derive it).  fl_banded_error: F = |A C^-1|_F^2, the
 * total variance of the T prefix sums' noise in units of Z's, and with
 * grad (b entries) its gradient in c[1..b-1].  fl_banded_loss: (sum c^2)
 * F, what the strategy minimizes (equal privacy), and its gradient.
 * fl_banded_start: the series of (1 - x)^-1/2 cut to b terms.
 * fl_banded_optimize: c minimizing the loss from there (L-BFGS, Armijo
 * backtracking: the loss decreases at every step) until the relative
 * gradient |g| |c| / loss is at most FL_BANDED_TOL; deterministic.
 * FL_ELIMIT when T b is above FL_BANDED_MAX_WORK or it does not converge.
 * fl_banded_check: whether b bands fit T rounds and k participations sep
 * apart (FL_EINVAL, saying why, when bands exceed the rounds, or the
 * separation with k > 1: two participations would share rows of C).
 * fl_banded_sens2: the squared sensitivity (clip units) of C X for k
 * participations sep apart, exactly, for a pattern fl_banded_check
 * takes.  fl_banded_sens2_brute: by enumeration of the
 * patterns and signs, for tests (small T).
 */
#define FL_BANDED_MAX_ROUNDS ((uint64_t)1 << 20)
#define FL_BANDED_MAX_WORK 1.6e7
#define FL_BANDED_TOL 1e-8
struct fl_banded_fit {
	double start, loss, gradient;   /* loss before and after */
	uint64_t iterations;
	int converged;
	/* In: room for trace_cap losses, one per step taken (or NULL). */
	double *trace;
	uint64_t trace_cap;
};
int fl_banded_error(uint64_t T, uint64_t b, const double *c, double *F,
    double *grad, struct fl_error *err);
int fl_banded_loss(uint64_t T, uint64_t b, const double *c, double *loss,
    double *grad, struct fl_error *err);
void fl_banded_start(uint64_t b, double *c);
int fl_banded_optimize(uint64_t T, uint64_t b, double *c,
    struct fl_banded_fit *fit, struct fl_error *err);
int fl_banded_check(uint64_t T, uint64_t b, uint64_t k, uint64_t sep,
    struct fl_error *err);
int fl_banded_sens2(uint64_t T, uint64_t b, const double *c, uint64_t k,
    uint64_t sep, double *sens2, struct fl_error *err);
double fl_banded_sens2_brute(uint64_t T, uint64_t b, const double *c,
    uint64_t k, uint64_t sep);
/*
 * Round t's server step (1 <= t): x, round t's summed clipped updates
 * (f32 or f64), becomes x + w_t on the grid g = fl_noise_grid(tr->sigma),
 * w_t = z_t - sum_{l=1}^{b-1} c[l] w_{t-l}, z_t the tree's leaf t - 1
 * noise (fl_tree_node_normal) times sigma: x snapped to g plus w_t in
 * whole steps.  past[l - 1] (l = 1..b-1) points to numel doubles of
 * w_{t-l}, in units of sigma (zeros before round 1).  In place: w_t is
 * written over w_{t-b+1}, the last reader of which is this step, and the
 * pointers are rotated, so that past is round t+1's (past[0] -> w_t): no
 * row of the past is copied.
 * The sum of rounds 1..t is A X + A C^-1 Z's row t (to the grid).
 */
int fl_banded_noise_tensor(struct fl_tensor *x, uint64_t tensor_index,
    uint64_t t, const struct fl_tree *tr, uint64_t b, const double *c,
    double **past, struct fl_error *err);

/* The smallest number of 6 significant digits at or above x > 0, as
 * "%.6g" prints it (account.c): a solved noise a user may copy. */
double fl_round_up_6(double x);

/* ---- DP-FTRL: a device's participations (participation.c) ---- */

/*
 * What a device records of its own participations (a record
 * kind=participation: participation.last, the last round it sent an
 * update for, and participation.count; count 0: none yet).
 * fl_participation_take: -1 (FL_EINVAL, saying why) when taking part in
 * round would break the pattern of at most k participations at least b
 * rounds apart (or go back in rounds), else p records it.
 */
struct fl_participation {
	uint64_t last, count;
};
int fl_participation_from_record(struct fl_participation *p,
    const struct fl_record *rec, struct fl_error *err);
int fl_participation_to_record(struct fl_record *rec,
    const struct fl_participation *p, struct fl_error *err);
int fl_participation_take(struct fl_participation *p, uint64_t round,
    uint64_t k, uint64_t b, struct fl_error *err);

#endif
