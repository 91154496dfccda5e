/* SPDX-License-Identifier: ISC */
/*
 * The privacy budget ledger: an append-only text file, one line per
 * release, holding what the release was (never its epsilon, which is
 * recomputed from all rows).  A line is canonical key=value text ending in
 * a CRC-32 that chains on the line before, so a hand edit, a removed or
 * reordered line, or a torn write is found and named by its line number.
 * Readers and writers take flock(2) locks; an append is one write(2) to a
 * file opened O_APPEND, then fsync.  Nothing here rewrites the file; the
 * one truncation puts back, under the lock, the size the file had before
 * an append that failed part-way (a full disk), so that it never keeps a
 * torn line.
 *
 *   # fl-account ledger 1
 *   release=1 round=7 mechanism=gaussian q=0.01 steps=1 noise=1.1 clip=1
 *       clients=100 colluding=5 shares=90 planned-noise=1.2 check=5d0e4b7a
 *
 * (one line; the CRC covers the text before " check=", seeded with the
 * previous line's CRC, the header's for the first).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "privacy/privacy.h"

#define HEADER "# fl-account ledger 1"
#define MAXLINE 4096

/* The not-private field's values, by FL_NOT_PRIVATE_* bits. */
static const char *const not_private_names[4] = { "", "noise", "sampling",
	"noise,sampling" };

static uint32_t
crc(uint32_t seed, const char *s, size_t n)
{
	return (uint32_t)crc32(seed, (const unsigned char *)s, (uInt)n);
}

/* The canonical line of r (with its newline) into buf; returns its length,
 * or 0 if it does not fit. */
static size_t
format_row(char *buf, size_t n, const struct fl_release *r, uint32_t prev,
    uint32_t *check)
{
	char b1[FL_NUMBUF], b2[FL_NUMBUF], b3[FL_NUMBUF];
	size_t len;
	int k;

#define ADD(...) do { \
	k = snprintf(buf + len, n - len, __VA_ARGS__); \
	if (k < 0 || (size_t)k >= n - len) \
		return 0; \
	len += (size_t)k; \
} while (0)

	len = 0;
	ADD("release=%llu", (unsigned long long)r->release);
	if (r->round != FL_ROUND_NONE)
		ADD(" round=%llu", (unsigned long long)r->round);
	ADD(" mechanism=%s q=%s steps=%llu noise=%s",
	    fl_mechanism_name(r->mech), fl_format_double(b1, r->q),
	    (unsigned long long)r->steps,
	    fl_format_double(b2, fl_release_noise(r)));
	if (r->clip > 0)
		ADD(" clip=%s", fl_format_double(b1, r->clip));
	if (r->clients > 0)
		ADD(" clients=%llu", (unsigned long long)r->clients);
	if (r->colluding > 0)
		ADD(" colluding=%llu", (unsigned long long)r->colluding);
	if (r->shares > 1)
		ADD(" shares=%llu", (unsigned long long)r->shares);
	if (r->planned > 0)
		ADD(" planned-noise=%s", fl_format_double(b1, r->planned));
	if (r->mech != FL_MECH_GAUSSIAN) {
		ADD(" sigma=%s sensitivity=%s", fl_format_double(b1, r->sigma),
		    fl_format_double(b2, r->sens2));
		if (r->sens1 > 0)
			ADD(" sensitivity-l1=%s", fl_format_double(b3, r->sens1));
		ADD(" dim=%llu", (unsigned long long)r->dim);
		if (r->indicator > 0)
			ADD(" indicator-noise=%s",
			    fl_format_double(b1, r->indicator));
	}
	if (r->tree_round > 0)
		ADD(" tree=%016llx tree-round=%llu participations=%llu "
		    "separation=%llu tree-noise=%s",
		    (unsigned long long)r->tree_id,
		    (unsigned long long)r->tree_round,
		    (unsigned long long)r->tree_parts,
		    (unsigned long long)r->tree_sep,
		    fl_format_double(b1, r->tree_noise));
	if (r->tree_round > 0 && r->tree_bands > 0)
		ADD(" bands=%llu tree-rounds=%llu",
		    (unsigned long long)r->tree_bands,
		    (unsigned long long)r->tree_rounds);
	if (r->not_private != 0)
		ADD(" not-private=%s", not_private_names[r->not_private & 3]);
	*check = crc(prev, buf, len);
	ADD(" check=%08x\n", (unsigned)*check);
	return len;
#undef ADD
}

static int
grow(struct fl_ledger *l, size_t more, struct fl_error *err)
{
	size_t cap = l->cap ? l->cap : 16;
	struct fl_release *p;
	uint32_t *c;

	while (cap < l->nrows + more)
		cap *= 2;
	if (cap == l->cap)
		return 0;
	if ((p = realloc(l->rows, cap * sizeof(*p))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	l->rows = p;
	if ((c = realloc(l->checks, cap * sizeof(*c))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	l->checks = c;
	l->cap = cap;
	return 0;
}

static int
field_u64(const char *key, const char *v, uint64_t min, uint64_t *out,
    size_t line, struct fl_error *err)
{
	struct fl_error e;

	if (fl_parse_u64(v, min, UINT64_MAX, out, &e) < 0)
		return fl_error_set(err, FL_EFORMAT, "line %zu: invalid %s '%s': "
		    "%s", line, key, v, e.msg);
	return 0;
}

static int
field_double(const char *key, const char *v, double *out, size_t line,
    struct fl_error *err)
{
	struct fl_error e;

	if (fl_parse_double(v, 0, 1e300, out, &e) < 0)
		return fl_error_set(err, FL_EFORMAT, "line %zu: invalid %s '%s': "
		    "%s", line, key, v, e.msg);
	return 0;
}

/* One line (without its newline, NUL-terminated in place). */
static int
parse_row(struct fl_ledger *l, char *s, size_t len, size_t line,
    struct fl_error *err)
{
	static const char *keys[] = { "release", "round", "mechanism", "q",
		"steps", "noise", "clip", "clients", "sigma", "sensitivity",
		"sensitivity-l1", "dim", "indicator-noise", "colluding",
		"not-private", "shares", "planned-noise", "tree", "tree-round",
		"participations", "separation", "tree-noise", "bands",
		"tree-rounds", NULL };
	char canon[MAXLINE + 2], work[MAXLINE + 1], q[FL_QUOTE];
	struct fl_release r;
	struct fl_error e;
	unsigned seen = 0;
	uint32_t want, got;
	char *chk, *tok, *save;
	size_t clen;

	memset(&r, 0, sizeof(r));
	r.round = FL_ROUND_NONE;
	if (len == 0)
		return fl_error_set(err, FL_EFORMAT, "line %zu: empty line",
		    line);
	/* The check first: it tells an edit from a bad writer. */
	if ((chk = strstr(s, " check=")) == NULL || strlen(chk + 7) != 8 ||
	    strspn(chk + 7, "0123456789abcdef") != 8)
		return fl_error_set(err, FL_EFORMAT, "line %zu: no check field: "
		    "not a ledger line", line);
	want = (uint32_t)strtoul(chk + 7, NULL, 16);
	got = crc(l->chain, s, (size_t)(chk - s));
	if (got != want)
		return fl_error_set(err, FL_EFORMAT, "line %zu: check mismatch: "
		    "the line was edited, or a line before it was removed or "
		    "changed", line);
	memcpy(work, s, (size_t)(chk - s));
	work[chk - s] = '\0';
	for (tok = strtok_r(work, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '='), *v;
		int k;

		if (eq == NULL)
			return fl_error_set(err, FL_EFORMAT, "line %zu: bad field "
			    "'%s'", line, fl_escape(q, sizeof(q), tok,
			    strlen(tok)));
		*eq = '\0';
		v = eq + 1;
		for (k = 0; keys[k] != NULL; k++)
			if (strcmp(tok, keys[k]) == 0)
				break;
		if (keys[k] == NULL)
			return fl_error_set(err, FL_EFORMAT, "line %zu: unknown "
			    "field '%s'", line, fl_escape(q, sizeof(q), tok,
			    strlen(tok)));
		if (seen & 1u << k)
			return fl_error_set(err, FL_EFORMAT, "line %zu: field "
			    "'%s' twice", line, tok);
		seen |= 1u << k;
		switch (k) {
		case 0:
			if (field_u64(tok, v, 1, &r.release, line, err) < 0)
				return -1;
			break;
		case 1:
			if (field_u64(tok, v, 0, &r.round, line, err) < 0)
				return -1;
			if (r.round == FL_ROUND_NONE)
				return fl_error_set(err, FL_EFORMAT, "line %zu: "
				    "round out of range", line);
			break;
		case 2:
			if (fl_mechanism_parse(v, &r.mech) < 0)
				return fl_error_set(err, FL_EFORMAT, "line %zu: "
				    "unknown mechanism '%s'", line,
				    fl_escape(q, sizeof(q), v, strlen(v)));
			break;
		case 3:
			if (field_double(tok, v, &r.q, line, err) < 0)
				return -1;
			break;
		case 4:
			if (field_u64(tok, v, 1, &r.steps, line, err) < 0)
				return -1;
			break;
		case 5:
			if (field_double(tok, v, &r.noise, line, err) < 0)
				return -1;
			break;
		case 6:
			if (field_double(tok, v, &r.clip, line, err) < 0)
				return -1;
			break;
		case 7:
			if (field_u64(tok, v, 1, &r.clients, line, err) < 0)
				return -1;
			break;
		case 8:
			if (field_double(tok, v, &r.sigma, line, err) < 0)
				return -1;
			break;
		case 9:
			if (field_double(tok, v, &r.sens2, line, err) < 0)
				return -1;
			break;
		case 10:
			if (field_double(tok, v, &r.sens1, line, err) < 0)
				return -1;
			break;
		case 11:
			if (field_u64(tok, v, 1, &r.dim, line, err) < 0)
				return -1;
			break;
		case 12:
			if (field_double(tok, v, &r.indicator, line, err) < 0)
				return -1;
			break;
		case 13:
			if (field_u64(tok, v, 1, &r.colluding, line, err) < 0)
				return -1;
			break;
		case 14:
			for (r.not_private = 1; r.not_private < 4;
			    r.not_private++)
				if (strcmp(v, not_private_names[r.not_private])
				    == 0)
					break;
			if (r.not_private == 4)
				return fl_error_set(err, FL_EFORMAT, "line %zu: "
				    "invalid not-private '%s'", line,
				    fl_escape(q, sizeof(q), v, strlen(v)));
			break;
		case 15:
			if (field_u64(tok, v, 2, &r.shares, line, err) < 0)
				return -1;
			break;
		case 16:
			if (field_double(tok, v, &r.planned, line, err) < 0)
				return -1;
			break;
		case 17:
			if (fl_ftrl_tree_id_parse(v, &r.tree_id) < 0)
				return fl_error_set(err, FL_EFORMAT, "line %zu: "
				    "invalid tree '%s'", line,
				    fl_escape(q, sizeof(q), v, strlen(v)));
			break;
		case 18:
			if (field_u64(tok, v, 1, &r.tree_round, line, err) < 0)
				return -1;
			break;
		case 19:
			if (field_u64(tok, v, 1, &r.tree_parts, line, err) < 0)
				return -1;
			break;
		case 20:
			if (field_u64(tok, v, 1, &r.tree_sep, line, err) < 0)
				return -1;
			break;
		case 21:
			if (field_double(tok, v, &r.tree_noise, line, err) < 0)
				return -1;
			break;
		case 22:
			if (field_u64(tok, v, 1, &r.tree_bands, line, err) < 0)
				return -1;
			break;
		case 23:
			if (field_u64(tok, v, 1, &r.tree_rounds, line, err) < 0)
				return -1;
			break;
		}
	}
	/* A tree's row: all of its fields, and the noise its pattern gives
	 * after the tree's rows before (its sensitivity, not a number typed
	 * in). */
	if ((seen >> 17 & 0x1f) != 0 && (seen >> 17 & 0x1f) != 0x1f)
		return fl_error_set(err, FL_EFORMAT, "line %zu: a tree field is "
		    "missing (tree, tree-round, participations, separation, "
		    "tree-noise)", line);
	/* Banded MF's row: a tree's, and its bands and rounds. */
	if ((seen >> 22 & 3) != 0 && ((seen >> 22 & 3) != 3 ||
	    r.tree_round == 0))
		return fl_error_set(err, FL_EFORMAT, "line %zu: bands and "
		    "tree-rounds go together, in a tree's row", line);
	if (r.tree_round > 0) {
		struct fl_release x = r;

		e.msg[0] = '\0';
		if (fl_tree_charge(&x, l->rows, l->nrows, &e) != 0)
			return fl_error_set(err, FL_EFORMAT, "line %zu: %s",
			    line, e.msg[0] ? e.msg : "a tree round that "
			    "charges nothing");
		if (x.noise != r.noise || r.q != 1 || r.steps != 1 ||
		    r.mech != FL_MECH_GAUSSIAN)
			return fl_error_set(err, FL_EFORMAT, "line %zu: the tree's "
			    "charge is not its sensitivity's: noise %s, want %s "
			    "(q 1, one step)", line, fl_format_double(canon,
			    r.noise), fl_format_double(work, x.noise));
	}
	if ((seen & 0x3d) != 0x3d)
		return fl_error_set(err, FL_EFORMAT, "line %zu: a field is "
		    "missing (release, mechanism, q, steps, noise)", line);
	if (fl_release_check(&r, &e) < 0)
		return fl_error_set(err, FL_EFORMAT, "line %zu: %s", line, e.msg);
	if (r.release != l->nrows + 1)
		return fl_error_set(err, FL_EFORMAT, "line %zu: release %llu "
		    "out of sequence, want %zu", line,
		    (unsigned long long)r.release, l->nrows + 1);
	/* Anything else that is not how this program writes it. */
	clen = format_row(canon, sizeof(canon), &r, l->chain, &got);
	if (clen == 0 || clen != len + 1 || memcmp(canon, s, len) != 0)
		return fl_error_set(err, FL_EFORMAT, "line %zu: not in the form "
		    "fl-account writes (edited by hand?)", line);
	if (grow(l, 1, err) < 0)
		return -1;
	l->checks[l->nrows] = want;
	l->rows[l->nrows++] = r;
	l->chain = want;
	return 0;
}

static int
parse(struct fl_ledger *l, char *text, size_t size, struct fl_error *err)
{
	size_t pos = 0, line = 0;

	l->chain = crc(0, HEADER, strlen(HEADER));
	while (pos < size) {
		char *nl = memchr(text + pos, '\n', size - pos);
		size_t len;

		line++;
		if (nl == NULL)
			return fl_error_set(err, FL_EFORMAT, "line %zu: no newline "
			    "at the end (a write was cut short?)", line);
		len = (size_t)(nl - (text + pos));
		if (len > MAXLINE)
			return fl_error_set(err, FL_EFORMAT, "line %zu: longer "
			    "than %d bytes", line, MAXLINE);
		if (memchr(text + pos, '\0', len) != NULL)
			return fl_error_set(err, FL_EFORMAT, "line %zu: a NUL "
			    "byte", line);
		*nl = '\0';
		if (line == 1) {
			if (strcmp(text + pos, HEADER) != 0)
				return fl_error_set(err, FL_EFORMAT, "line 1: not "
				    "a ledger (want '%s')", HEADER);
		} else if (parse_row(l, text + pos, len, line, err) < 0)
			return -1;
		pos += len + 1;
	}
	return 0;
}

int
fl_ledger_open(struct fl_ledger *l, const char *path, int write,
    struct fl_error *err)
{
	struct stat st;
	char *text = NULL;
	size_t got = 0;

	memset(l, 0, sizeof(*l));
	l->fd = open(path, write ? O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC :
	    O_RDONLY | O_CLOEXEC, 0666);
	if (l->fd < 0)
		return fl_error_set(err, FL_EIO, "%s", strerror(errno));
	l->writable = write;
	if ((l->path = strdup(path)) == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto fail;
	}
	while (flock(l->fd, write ? LOCK_EX : LOCK_SH) < 0)
		if (errno != EINTR)
			goto fail_io;
	if (fstat(l->fd, &st) < 0)
		goto fail_io;
	if (!S_ISREG(st.st_mode)) {
		fl_error_set(err, FL_EINVAL, "not a regular file");
		goto fail;
	}
	if ((uint64_t)st.st_size > ((uint64_t)1 << 32)) {
		fl_error_set(err, FL_ELIMIT, "larger than 4 GiB");
		goto fail;
	}
	l->size = (size_t)st.st_size;
	if ((text = malloc(l->size + 1)) == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto fail;
	}
	while (got < l->size) {
		ssize_t n = pread(l->fd, text + got, l->size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail_io;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	l->size = got;
	if (parse(l, text, got, err) < 0)
		goto fail;
	free(text);
	return 0;
fail_io:
	fl_error_set(err, FL_EIO, "%s", strerror(errno));
fail:
	free(text);
	fl_ledger_close(l);
	return -1;
}

/* After the first write to a new ledger, make its directory entry
 * durable too. */
static void
sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (copy == NULL)
		return;
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

/* An append failed with errno e, maybe after part of its bytes: cut the
 * file back to the size it had (we hold the lock) and say what happened. */
static int
undo_append(struct fl_ledger *l, int e, struct fl_error *err)
{
	if (ftruncate(l->fd, (off_t)l->size) == 0 && fsync(l->fd) == 0)
		return fl_error_set(err, FL_EIO, "%s: nothing spent, the ledger "
		    "is as it was", strerror(e));
	return fl_error_set(err, FL_EIO, "%s, and the ledger could not be "
	    "cut back to its %llu bytes: %s", strerror(e),
	    (unsigned long long)l->size, strerror(errno));
}

int
fl_ledger_append(struct fl_ledger *l, const struct fl_release *rows,
    size_t n, struct fl_error *err)
{
	size_t cap = (n + 1) * (MAXLINE + 2), len = 0, done = 0;
	char *buf;
	uint32_t chain = l->chain;
	int fresh = l->size == 0;

	if (!l->writable)
		return fl_error_set(err, FL_EINVAL, "ledger not open for writing");
	if (grow(l, n, err) < 0)
		return -1;
	if ((buf = malloc(cap)) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	if (fresh)
		len = (size_t)snprintf(buf, cap, "%s\n", HEADER);
	for (size_t i = 0; i < n; i++) {
		struct fl_release r = rows[i];
		size_t k;

		r.release = l->nrows + 1 + i;
		if (fl_release_check(&r, err) < 0) {
			free(buf);
			return -1;
		}
		if ((k = format_row(buf + len, cap - len, &r, chain,
		    &chain)) == 0) {
			free(buf);
			return fl_error_set(err, FL_ELIMIT, "release %zu: line "
			    "too long", i + 1);
		}
		len += k;
		l->rows[l->nrows + i] = r;
		l->checks[l->nrows + i] = chain;
	}
	while (done < len) {
		ssize_t w = write(l->fd, buf + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = errno;

			free(buf);
			return undo_append(l, e, err);
		}
		done += (size_t)w;
	}
	free(buf);
	if (fsync(l->fd) < 0)
		return undo_append(l, errno, err);
	if (fresh)
		sync_dir(l->path);
	l->nrows += n;
	l->size += len;
	l->chain = chain;
	return 0;
}

void
fl_ledger_close(struct fl_ledger *l)
{
	if (l->fd >= 0)
		close(l->fd);       /* releases the lock */
	free(l->rows);
	free(l->checks);
	free(l->path);
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

/* ---- the anchor ---- */

int
fl_ledger_anchor_write(const struct fl_ledger *l, struct fl_record *rec,
    struct fl_error *err)
{
	if (fl_meta_setf(rec, err, "ledger.releases", "%zu", l->nrows) < 0 ||
	    fl_meta_setf(rec, err, "ledger.check", "%08x", l->nrows ?
	    l->checks[l->nrows - 1] : 0) < 0)
		return -1;
	return 0;
}

int
fl_ledger_anchor_read(const struct fl_record *rec, uint64_t *releases,
    uint32_t *check, struct fl_error *err)
{
	const char *n = fl_meta_get(rec, "ledger.releases");
	const char *c = fl_meta_get(rec, "ledger.check");
	char q[FL_QUOTE];

	if (n == NULL && c == NULL)
		return 0;
	if (n == NULL || c == NULL)
		return fl_error_set(err, FL_EFORMAT, "half a ledger anchor "
		    "(ledger.releases and ledger.check go together)");
	if (fl_parse_u64(n, 0, UINT64_MAX, releases, err) < 0)
		return -1;
	if (strlen(c) != 8 || strspn(c, "0123456789abcdef") != 8)
		return fl_error_set(err, FL_EFORMAT, "bad ledger.check '%s'",
		    fl_escape(q, sizeof(q), c, strlen(c)));
	*check = (uint32_t)strtoul(c, NULL, 16);
	return 1;
}

int
fl_ledger_check_anchor(const struct fl_ledger *l, uint64_t releases,
    uint32_t check, struct fl_error *err)
{
	if (l->nrows < releases)
		return fl_error_set(err, FL_EFORMAT, "%zu releases, where its "
		    "anchor says %llu: the ledger lost its past (cut, or "
		    "reset); restore it from a copy", l->nrows,
		    (unsigned long long)releases);
	if (releases > 0 && l->checks[releases - 1] != check)
		return fl_error_set(err, FL_EFORMAT, "release %llu has check "
		    "%08x, where its anchor says %08x: the ledger was rewritten",
		    (unsigned long long)releases, l->checks[releases - 1],
		    check);
	return 0;
}

int
fl_ledger_missing(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 && errno == ENOENT;
}

int
fl_ledger_check_anchor_path(const char *path, uint64_t releases,
    struct fl_error *err)
{
	if (releases > 0 && fl_ledger_missing(path))
		return fl_error_set(err, FL_EFORMAT, "no ledger, where its "
		    "anchor says %llu releases: the ledger lost its past; "
		    "restore it from a copy", (unsigned long long)releases);
	return 0;
}
