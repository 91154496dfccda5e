/* SPDX-License-Identifier: ISC */
/*
 * Decoding a record of any of the codecs by its q.codec: what fl-quantize
 * -d does with whatever it is given.  On its own so that the codecs never
 * call one another: this file calls each of them.
 */
#include <string.h>

#include "compress/internal.h"

int
fl_codec_decode(struct fl_record *out, const struct fl_record *rec,
    struct fl_decode_run *run, struct fl_error *err)
{
	const char *codec = fl_meta_get(rec, "q.codec");
	struct fl_record mid;
	char q[FL_QUOTE];
	int rc;

	if (codec == NULL)
		return fl_error_set(err, FL_EINVAL, "not ring-encoded: missing "
		    "quantization metadata 'q.codec'");
	if (strcmp(codec, "sr") == 0)
		return fl_sr_decode(out, rec, err);
	if (strcmp(codec, "eden") == 0)
		return fl_eden_decode(out, rec, err);
	if (strcmp(codec, "randk") == 0 || strcmp(codec, "topk") == 0)
		return fl_sparse_decode(out, rec, run, codec[0] == 't', err);
	if (strcmp(codec, "ring") != 0)
		return fl_error_set(err, FL_EINVAL, "q.codec '%s': only 'ring', "
		    "'sr', 'eden', 'randk' and 'topk' records can be decoded",
		    fl_escape(q, sizeof(q), codec, strlen(codec)));
	if (fl_meta_get(rec, "q.sparse.codec") == NULL)
		return fl_ring_decode(out, rec, run, err);
	/* Rand-k through the ring: both decodings in one go. */
	fl_record_init(&mid);
	rc = fl_ring_decode(&mid, rec, run, err);
	if (rc == 0)
		rc = fl_sparse_decode(out, &mid, run, 0, err);
	fl_record_free(&mid);
	return rc;
}
