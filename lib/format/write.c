/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "format/internal.h"

static int
write_all(FILE *fp, const void *buf, size_t n, struct fl_error *err)
{
	if (n > 0 && fwrite(buf, 1, n, fp) != n)
		return fl_error_set(err, FL_EIO, "write error: %s",
		    strerror(errno));
	return 0;
}

int
fl_record_write(FILE *fp, const struct fl_record *rec, int zlevel,
    struct fl_error *err)
{
	static const unsigned char zeros[FL_ALIGN];
	unsigned char pre[FL_PREAMBLE_SIZE];
	const unsigned char *payload;
	unsigned char *zbuf = NULL, *swapped = NULL;
	char *header = NULL;
	size_t hlen, rawlen, plen, stored;
	int rc = -1;

	if (zlevel < 0 || zlevel > 9)
		return fl_error_set(err, FL_EINVAL,
		    "compression level %d is not 0-9", zlevel);
	if (fl_tensors_rawlen(rec, &rawlen) < 0 || rawlen != rec->rawlen)
		return fl_error_set(err, FL_EINVAL,
		    "record payload does not match its tensors");
	if (fl_header_format(rec, &header, &hlen, err) < 0)
		return -1;
	payload = rec->raw;
	stored = plen = rawlen;
	if (FL_HOST_BIG_ENDIAN && rawlen > 0) {
		if ((swapped = malloc(rawlen)) == NULL) {
			fl_error_set(err, FL_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(swapped, rec->raw, rawlen);
		fl_payload_swap(rec, 0, swapped, rawlen);
		payload = swapped;
	}
	if (zlevel > 0) {
		uLongf zlen = compressBound(rawlen);

		if ((zbuf = malloc(zlen ? zlen : 1)) == NULL) {
			fl_error_set(err, FL_ENOMEM, "out of memory");
			goto out;
		}
		/* compress2 slices buffers above 4 GiB itself (zlib >= 1.2.9). */
		if (compress2(zbuf, &zlen, rawlen ? payload : zeros, rawlen,
		    zlevel) != Z_OK) {
			fl_error_set(err, FL_ENOMEM, "zlib compression failed");
			goto out;
		}
		payload = zbuf;
		stored = zlen;
		plen = fl_align64(zlen);
	}
	memcpy(pre, FL_MAGIC, 8);
	pre[8] = FL_FORMAT_VERSION;
	pre[9] = zlevel > 0 ? FL_FLAG_ZLIB : 0;
	pre[10] = pre[11] = 0;
	fl_store_le32(pre + 12, (uint32_t)hlen);
	fl_store_le64(pre + 16, plen);
	fl_store_le32(pre + 24, fl_crc32(fl_crc32(0, payload, stored), zeros,
	    plen - stored));
	fl_store_le32(pre + 28, fl_crc32(fl_crc32(0, pre, 28), header, hlen));
	if (write_all(fp, pre, sizeof(pre), err) < 0 ||
	    write_all(fp, header, hlen, err) < 0 ||
	    write_all(fp, payload, stored, err) < 0 ||
	    write_all(fp, zeros, plen - stored, err) < 0)
		goto out;
	rc = 0;
out:
	free(header);
	free(zbuf);
	free(swapped);
	return rc;
}
