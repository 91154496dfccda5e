/* SPDX-License-Identifier: ISC */
/*
 * learn/learn.h - data sets, models, training and evaluation, partitions for simulations.
 * Part of libfl (fl.h includes every part; see fl(7) for the layers).
 */
#ifndef FL_LEARN_H
#define FL_LEARN_H

#include "base/base.h"
#include "format/format.h"
#include "privacy/privacy.h"

/* ---- data sets (data.c) ---- */

/*
 * A labelled data set in memory: n examples of dim features, row-major,
 * stored as bytes when the source holds bytes (IDX pixels, u8 tensors) and
 * as floats otherwise (a quarter of the memory for Fashion-MNIST).
 * Features are read through fl_data_get, which scales and normalizes.
 * The data set owns x, y, names and label_name (fl_data_free).
 */
enum fl_data_format { FL_DATA_CSV, FL_DATA_IDX, FL_DATA_FLT };

struct fl_data {
	uint64_t n;             /* examples, at least 1 */
	uint64_t dim;           /* features per example, at least 1 */
	enum fl_dtype xtype;    /* FL_U8 or FL_F32 */
	void *x;                /* n * dim features */
	int32_t *y;             /* n labels, each >= 0 */
	uint32_t classes;       /* 1 + the largest label */
	float scale;            /* the default scale: 1/255 for u8, else 1 */
	enum fl_data_format format;
	char **names;           /* CSV header: dim feature names, or NULL */
	char *label_name;       /* CSV header: the label column's name */
};

/*
 * How to read a data set.  Zero-initialised options mean: detect a CSV
 * header row, label column "label" (or the first column without a
 * header), labels file from the IDX images file name, any sizes.
 */
struct fl_data_opts {
	const char *label;      /* CSV label column: header name or 1-based
				   number; NULL: "label", else column 1 */
	int header;             /* CSV: 0 detect (a first row holding a cell
				   that is not a number), 1 yes, -1 no */
	const char *labels;     /* IDX labels file; NULL: the images file
				   name with images-idx3 -> labels-idx1 */
	uint64_t features;      /* 0, or the features each example must have */
	uint32_t classes;       /* 0, or labels must be below this */
	const char *class_names; /* CSV: labels are these names, "a,b,c"
				   (class 0, 1, 2), not numbers; NULL: numbers */
	uint64_t max_bytes;     /* a cap on the features' memory; 0: 16 GiB */
	uint64_t max_cell;      /* CSV: the longest cell in bytes; 0: 1 MiB */
};

/* The number of names if list is a valid --classes list (comma-separated,
 * no empty name, none twice, at most 2^24); else -1 (FL_EINVAL). */
int fl_class_names_check(const char *list, struct fl_error *err);

/*
 * Load a data set from path ("-" is standard input): CSV (through libcsv,
 * streamed), IDX (Fashion-MNIST's ubyte files, with a labels file) or FLT
 * records of kind "dataset" (tensors x [n,dim] and y [n], several records
 * make one data set); each may be gzip-compressed.  Every cell, header and
 * size is checked: ragged rows, cells that are not finite numbers, labels
 * that are not whole numbers in range, feature counts other than
 * o->features, no examples at all.  Memory grows with the data read, not
 * with sizes claimed by headers.  Messages start with the file name and
 * name the line and column (CSV), the example (IDX) or the record:
 * "data.csv: line 3: column 2: not a number: 'x'".  o may be NULL.
 * Returns 0, or -1 with err filled; d needs fl_data_free either way.
 */
int fl_data_load(struct fl_data *d, const char *path,
    const struct fl_data_opts *o, struct fl_error *err);

/* The same from open streams, named name and labels_name in messages;
 * labels (the IDX labels file) may be NULL.  The streams stay open. */
int fl_data_read(struct fl_data *d, FILE *fp, const char *name,
    FILE *labels, const char *labels_name, const struct fl_data_opts *o,
    struct fl_error *err);

void fl_data_free(struct fl_data *d);

/*
 * Feature preprocessing: v = x * scale, then (v - mean[j]) * invstd[j]
 * when mean is not NULL (from a normalizer record of fl-stats).
 */
struct fl_prep {
	float scale;
	const float *mean;
	const float *invstd;
};

/* Features of examples idx[0..m) (or first..first+m when idx is NULL)
 * into out (m * dim floats), preprocessed; p NULL: d->scale alone.
 * Safe to call from several threads at once. */
void fl_data_get(const struct fl_data *d, const struct fl_prep *p,
    const uint64_t *idx, uint64_t first, size_t m, float *out);

/*
 * A data set as an FLT record of kind "dataset": examples idx[0..m) (all
 * when idx is NULL) as tensor x (u8 or f32, [m,dim]) and y (i32, [m]).
 */
int fl_data_to_record(const struct fl_data *d, const uint64_t *idx,
    uint64_t m, struct fl_record *rec, struct fl_error *err);

/* ---- models (model.c) ---- */

/*
 * An architecture: "logreg:IN-CLASSES" (multinomial logistic regression;
 * 2 classes is binary) or "mlp:IN-H1-...-CLASSES" (dense layers, ReLU
 * between them).  The string is the arch metadata key of model records.
 */
#define FL_MAX_LAYERS 16
#define FL_MAX_PARAMS (UINT64_C(1) << 31)
#define FL_ARCH_MAX 256

struct fl_arch {
	int mlp;                                /* 0: logreg, 1: mlp */
	int layers;                             /* dense layers */
	uint64_t sizes[FL_MAX_LAYERS + 1];      /* inputs ... classes */
};

int fl_arch_parse(struct fl_arch *a, const char *s, struct fl_error *err);
/* Write the canonical string into buf (FL_ARCH_MAX bytes). */
void fl_arch_format(const struct fl_arch *a, char buf[FL_ARCH_MAX]);

/*
 * A model: layer l has weights w[l] [sizes[l], sizes[l+1]] (input-major:
 * out = in . w + b) and biases b[l] [sizes[l+1]], named "fcL.w" and
 * "fcL.b" (L from 1) in records.  All parameters live in one 64-aligned
 * block, each tensor at a 64-byte boundary, zeros between.
 */
struct fl_model {
	struct fl_arch arch;
	float *params;                  /* nfloats floats */
	size_t nfloats;                 /* including the gaps */
	uint64_t nparams;               /* weights and biases */
	float *w[FL_MAX_LAYERS];
	float *b[FL_MAX_LAYERS];
};

/* A model of arch a with every parameter zero.  Returns 0 or -1. */
int fl_model_new(struct fl_model *m, const struct fl_arch *a,
    struct fl_error *err);
void fl_model_free(struct fl_model *m);
int fl_model_copy(struct fl_model *dst, const struct fl_model *src,
    struct fl_error *err);

/* He-normal weights for ReLU layers, Glorot-uniform for the output layer,
 * zero biases, all drawn from the ChaCha20 key. */
void fl_model_init_random(struct fl_model *m,
    const unsigned char key[FL_RNG_KEYBYTES]);

/*
 * A model from a record of kind "model": the arch key, tensors fcL.w and
 * fcL.b of dtype f32 and the arch's shapes, every value finite.  An update
 * or any other kind is refused, naming it.
 */
int fl_model_from_record(struct fl_model *m, const struct fl_record *rec,
    struct fl_error *err);

/* Add m's tensors to rec (and the arch key).  If base is not NULL the
 * tensors hold m - base (an update).  Fails on a value that is not
 * finite: a NaN update is never written. */
int fl_model_to_record(const struct fl_model *m, const struct fl_model *base,
    struct fl_record *rec, struct fl_error *err);

/* ---- training and evaluation (train.c) ---- */

/*
 * Minibatch SGD on the mean cross-entropy.  The kernels are plain C that
 * the compiler vectorises (with AVX2 and AVX-512 clones on x86-64 GCC);
 * -ffp-contract stays off, so every code path computes the same bits.
 */

struct fl_train_progress {
	uint64_t step, steps;   /* done, planned */
	uint64_t epoch, epochs; /* the current epoch from 1; planned */
	double loss;            /* mean loss of the current epoch so far */
};

struct fl_train_opts {
	double lr;              /* learning rate, > 0 */
	int cosine;             /* decay lr to 0 along a half cosine */
	double momentum;        /* heavy ball, [0, 1) */
	double weight_decay;    /* L2 coefficient, added to the gradient */
	double prox_mu;         /* FedProx: mu * (w - global) added */
	uint64_t batch;         /* examples per step (DP Poisson: expected) */
	uint64_t epochs;        /* passes over the data, when steps is 0 */
	uint64_t steps;         /* optimizer steps, or 0 */
	int threads;            /* 1 or more; the result does not depend on it */
	unsigned char key[FL_RNG_KEYBYTES];     /* shuffling, sampling, noise */
	struct fl_prep prep;
	const float *class_weights;     /* loss weight per class, or NULL */
	/* DP-SGD: clip each example's gradient to L2 norm clip, snap a
	 * batch's sum to the grid fl_noise_grid(noise * clip) and add Gaussian
	 * noise of std noise * clip in whole grid steps (fl_normal_steps on
	 * ChaCha20 of the key) to every coordinate, divide by the batch size
	 * (Poisson: the expected one).  An example whose loss or gradient is
	 * not finite contributes nothing and is counted (res->skipped). */
	int dp;
	int poisson;            /* Poisson sampling (rate batch/n), else
				   shuffling */
	double rate;            /* Poisson: a public rate instead of batch/n
				   (0: none); an epoch is then ceil(1/rate)
				   steps, so neither depends on n */
	double clip, noise;
	/* called after every step, from the calling thread */
	void (*progress)(void *arg, const struct fl_train_progress *p);
	void *progress_arg;
};

struct fl_train_result {
	uint64_t steps;         /* optimizer steps taken */
	uint64_t seen;          /* examples processed */
	double loss;            /* mean loss over the last epoch */
	double q;               /* sampling rate batch / n */
	double grid;            /* DP-SGD: the noise's grid (0: no noise) */
	uint64_t skipped;       /* DP-SGD: examples whose loss or gradient was
				   not finite, left out (never released) */
};

/*
 * Train m in place on d.  global (may be NULL without prox_mu) is the
 * model the proximal term pulls towards.  The result is a deterministic
 * function of the inputs and o->key, whatever o->threads.  Without DP, a
 * loss that is not finite stops training with an error (FL_EINVAL) naming
 * the step; with DP, so does a weight that is not finite at the end; m is
 * then unspecified.  Labels must be below m's class count and d's
 * features must be m's inputs (else FL_EINVAL).  Returns 0 or -1.
 */
int fl_train(struct fl_model *m, const struct fl_model *global,
    const struct fl_data *d, const struct fl_train_opts *o,
    struct fl_train_result *res, struct fl_error *err);

/*
 * Evaluate m on d: confusion (classes x classes, classes being m's class
 * count; row = true label, column = predicted; zeroed first) and the sum
 * of the cross-entropy losses.  The same for any thread count.  Returns 0
 * or -1.
 */
int fl_evaluate(const struct fl_model *m, const struct fl_data *d,
    const struct fl_prep *p, int threads, uint64_t *confusion,
    double *loss_sum, struct fl_error *err);

/*
 * fl_evaluate, and besides the loss sum per true class: class_loss
 * (classes entries, zeroed first; NULL: not wanted).  Each class's sum
 * adds its examples' losses in the order of the data.
 */
int fl_evaluate_by_class(const struct fl_model *m, const struct fl_data *d,
    const struct fl_prep *p, int threads, uint64_t *confusion,
    double *loss_sum, double *class_loss, struct fl_error *err);

/*
 * The class-weighted figures of an evaluation, with n_c the examples of
 * class c (row c of confusion, classes x classes), L_c their loss sum
 * (class_loss) and w_c = weights[c]: the weighted mean loss
 * sum_c w_c L_c / sum_c w_c n_c (up to a constant factor, the loss that
 * training with these class weights minimises) in *wloss, and the
 * weighted accuracy sum_c w_c confusion[c][c] / sum_c w_c n_c in *wacc.
 * Both are sums over the classes, so evaluations of several clients add
 * up before this.  class_loss may be NULL: *wloss is then NaN; both are
 * NaN without examples.  The weights must be finite and >= 0, and not all 0 over
 * the classes with examples (else FL_EINVAL).  Returns 0 or -1.
 */
int fl_class_weighted(uint64_t classes, const uint64_t *confusion,
    const double *class_loss, const float *weights, double *wloss,
    double *wacc, struct fl_error *err);

/* ---- partitions for simulations (split.c) ---- */

enum fl_split_method {
	FL_SPLIT_IID,           /* shuffled, equal sizes */
	FL_SPLIT_DIRICHLET,     /* label skew: class shares ~ Dir(alpha) */
	FL_SPLIT_SHARDS,        /* sorted by label, `shards` shards each */
	FL_SPLIT_QUANTITY       /* IID labels, sizes ~ Dir(alpha) */
};

struct fl_split_opts {
	enum fl_split_method method;
	double alpha;           /* DIRICHLET, QUANTITY: > 0 */
	uint64_t shards;        /* SHARDS: per client */
	uint64_t min_size;      /* DIRICHLET, QUANTITY: redraw until every
				   client has this many (capped at n/clients;
				   0: 1) */
};

/*
 * Partition d among clients: order (allocated, n entries) lists the
 * examples of client j at order[start[j]..start[j+1]), increasing;
 * start has clients + 1 entries.  Deterministic in key.  Returns 0 or -1.
 */
int fl_split(const struct fl_data *d, uint64_t clients,
    const struct fl_split_opts *o, const unsigned char key[FL_RNG_KEYBYTES],
    uint64_t **order, uint64_t *start, struct fl_error *err);

/* A synthetic data set: n examples of `features` f32 features, labels
 * uniform over `classes`, Gaussian blobs around random class means. */
int fl_data_synthetic(struct fl_data *d, uint64_t n, uint64_t features,
    uint32_t classes, const unsigned char key[FL_RNG_KEYBYTES],
    struct fl_error *err);

#endif
