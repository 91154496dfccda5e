/* SPDX-License-Identifier: ISC */
/*
 * Fields of the secure-aggregation protocol's records, read strictly and
 * written in one form: the kind, ids, counts, hex digests and tensors that
 * every message (saproto.c, saident.c) is built from.  A field that is
 * missing, malformed or out of range fails here with a message naming it.
 */
#include <stdlib.h>
#include <string.h>

#include "secagg/internal.h"

int
fl_sa_need_kind(const struct fl_record *rec, const char *kind,
    struct fl_error *err)
{
	const char *k = fl_meta_get(rec, "kind");
	char q[FL_QUOTE];

	if (k == NULL)
		return fl_error_set(err, FL_EFORMAT, "no 'kind' (want %s)",
		    kind);
	if (strcmp(k, kind) != 0)
		return fl_error_set(err, FL_EFORMAT, "kind '%s', want %s",
		    fl_escape(q, sizeof(q), k, strlen(k)), kind);
	return 0;
}

int
fl_sa_need_u64(const struct fl_record *rec, const char *key, uint64_t min,
    uint64_t max, uint64_t *out, struct fl_error *err)
{
	int found = fl_meta_u64(rec, key, min, max, out, err);

	if (found == 0)
		return fl_error_set(err, FL_EFORMAT, "no '%s'", key);
	return found < 0 ? -1 : 0;
}

int
fl_sa_need_id(const struct fl_record *rec, char id[FL_SA_MAXID + 1],
    struct fl_error *err)
{
	const char *v = fl_meta_get(rec, "client");

	if (v == NULL)
		return fl_error_set(err, FL_EFORMAT, "no 'client'");
	if (fl_sa_check_id(v, err) < 0)
		return -1;
	memcpy(id, v, strlen(v) + 1);
	return 0;
}

int
fl_sa_need_hex(const struct fl_record *rec, const char *key,
    unsigned char out[FL_SA_BYTES], struct fl_error *err)
{
	const char *v = fl_meta_get(rec, key);
	size_t len;

	if (v == NULL)
		return fl_error_set(err, FL_EFORMAT, "no '%s'", key);
	if (strlen(v) != 2 * FL_SA_BYTES || sodium_hex2bin(out, FL_SA_BYTES,
	    v, strlen(v), NULL, &len, NULL) != 0 || len != FL_SA_BYTES)
		return fl_error_set(err, FL_EFORMAT, "%s is not %d hex digits",
		    key, 2 * FL_SA_BYTES);
	return 0;
}

int
fl_sa_opt_hex(const struct fl_record *rec, const char *key,
    char out[FL_SA_HEX], struct fl_error *err)
{
	unsigned char b[FL_SA_BYTES];

	out[0] = '\0';
	if (fl_meta_get(rec, key) == NULL)
		return 0;
	if (fl_sa_need_hex(rec, key, b, err) < 0)
		return -1;
	/* Lower case, as every writer makes it: one text per hash. */
	sodium_bin2hex(out, FL_SA_HEX, b, FL_SA_BYTES);
	return 0;
}

const struct fl_tensor *
fl_sa_need_tensor(const struct fl_record *rec, const char *name,
    enum fl_dtype dt, int64_t rows, uint64_t cols, struct fl_error *err)
{
	const struct fl_tensor *t = fl_tensor_find(rec, name);
	int rank = cols ? 2 : 1;

	if (t == NULL) {
		fl_error_set(err, FL_EFORMAT, "no tensor '%s'", name);
		return NULL;
	}
	if (t->dtype != dt || t->rank != rank ||
	    (rows >= 0 && t->dims[0] != (uint64_t)rows) ||
	    (cols && t->dims[1] != cols)) {
		if (cols && rows >= 0)
			fl_error_set(err, FL_EFORMAT, "tensor '%s' must be %s "
			    "[%lld,%llu]", name, fl_dtype_name(dt),
			    (long long)rows, (unsigned long long)cols);
		else if (cols)
			fl_error_set(err, FL_EFORMAT, "tensor '%s' must be %s "
			    "[N,%llu]", name, fl_dtype_name(dt),
			    (unsigned long long)cols);
		else if (rows >= 0)
			fl_error_set(err, FL_EFORMAT, "tensor '%s' must be %s "
			    "[%lld]", name, fl_dtype_name(dt), (long long)rows);
		else
			fl_error_set(err, FL_EFORMAT, "tensor '%s' must be %s "
			    "[N]", name, fl_dtype_name(dt));
		return NULL;
	}
	return t;
}

int
fl_sa_get_bytes(const struct fl_record *rec, const char *name,
    unsigned char *out, size_t len, struct fl_error *err)
{
	const struct fl_tensor *t = fl_sa_need_tensor(rec, name, FL_U8,
	    (int64_t)len, 0, err);

	if (t == NULL)
		return -1;
	memcpy(out, t->data, len);
	return 0;
}

int
fl_sa_put_bytes(struct fl_record *rec, const char *name, const void *data,
    uint64_t rows, uint64_t cols, struct fl_error *err)
{
	uint64_t dims[2] = { rows, cols };
	struct fl_tensor *t = fl_tensor_add(rec, name, FL_U8, cols ? 2 : 1,
	    dims, err);

	if (t == NULL)
		return -1;
	if (t->nbytes)
		memcpy(t->data, data, t->nbytes);
	return 0;
}

int
fl_sa_put_u32(struct fl_record *rec, const char *name, const uint32_t *v,
    uint64_t n, struct fl_error *err)
{
	struct fl_tensor *t = fl_tensor_add(rec, name, FL_U32, 1, &n, err);

	if (t == NULL)
		return -1;
	/* host order in memory; the writer makes the file little-endian */
	if (n > 0)
		memcpy(t->data, v, (size_t)n * sizeof(*v));
	return 0;
}

int
fl_sa_put_head(struct fl_record *rec, const char *kind, const char *id,
    uint64_t round, struct fl_error *err)
{
	if (fl_meta_set(rec, "kind", kind, err) < 0 ||
	    (id != NULL && fl_meta_set(rec, "client", id, err) < 0) ||
	    fl_meta_setf(rec, err, "round", "%llu",
	    (unsigned long long)round) < 0)
		return -1;
	return 0;
}

int
fl_sa_put_hex(struct fl_record *rec, const char *key,
    const unsigned char v[FL_SA_BYTES], struct fl_error *err)
{
	char hex[FL_SA_HEX];

	sodium_bin2hex(hex, sizeof(hex), v, FL_SA_BYTES);
	return fl_meta_set(rec, key, hex, err);
}

int
fl_sa_check_id(const char *id, struct fl_error *err)
{
	size_t len = strlen(id);

	if (len < 1 || len > FL_SA_MAXID)
		return fl_error_set(err, FL_EFORMAT, "client id of %zu bytes: "
		    "must be 1 to %d", len, FL_SA_MAXID);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-')) {
			char q[FL_QUOTE];

			return fl_error_set(err, FL_EFORMAT, "client id '%s': "
			    "only letters, digits, '.', '_' and '-'",
			    fl_escape(q, sizeof(q), id, len));
		}
	}
	return 0;
}
