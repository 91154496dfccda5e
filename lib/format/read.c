/* SPDX-License-Identifier: ISC */
/*
 * The record reader.  Input is hostile until proven otherwise: every length
 * is bounded before it is used, the header CRC (which covers the payload
 * length and CRC) is checked before anything payload-sized is allocated, and
 * a payload claimed by a short stream never gets its full allocation.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "format/internal.h"

/* Up to this size a payload buffer is allocated at once (untouched memory
 * costs nothing); a longer claim from a stream of unknown length grows its
 * buffer as bytes arrive, so a lie cannot make us reserve gigabytes. */
#define GROW_STEP ((size_t)256 << 20)
#define SMALL_PAYLOAD ((size_t)1 << 20)

struct src {
	FILE *fp;
	const unsigned char *buf;
	size_t len, pos;
};

static size_t
src_read(struct src *s, void *dst, size_t n)
{
	size_t got;

	if (s->fp == NULL) {
		got = s->len - s->pos < n ? s->len - s->pos : n;
		if (got == 0)
			return 0;
		memcpy(dst, s->buf + s->pos, got);
		s->pos += got;
		return got;
	}
	return fread(dst, 1, n, s->fp);
}

static int
src_error(struct src *s)
{
	return s->fp != NULL && ferror(s->fp);
}

/* Bytes left in the source, or -1 when that cannot be known (a pipe). */
static int64_t
src_remaining(struct src *s)
{
	struct stat st;
	off_t pos;
	int fd;

	if (s->fp == NULL)
		return (int64_t)(s->len - s->pos);
	if ((fd = fileno(s->fp)) < 0 || fstat(fd, &st) < 0 ||
	    !S_ISREG(st.st_mode) || (pos = ftello(s->fp)) < 0)
		return -1;
	return st.st_size > pos ? (int64_t)(st.st_size - pos) : 0;
}

static int
short_read(struct src *s, const char *what, size_t got, size_t want,
    struct fl_error *err)
{
	if (src_error(s))
		return fl_error_set(err, FL_EIO, "read error: %s",
		    strerror(errno));
	return fl_error_set(err, FL_ETRUNC,
	    "truncated record: %s has %zu of %zu bytes", what, got, want);
}

/* Read n bytes into *buf (capacity *cap), growing it only as fast as the
 * bytes actually arrive when the source length is unknown. */
static int
read_payload(struct src *s, unsigned char **buf, size_t *cap, size_t n,
    struct fl_error *err)
{
	int64_t rem;
	size_t got = 0;

	/* A payload of at most 1 MiB is read at once, with no size check
	 * first: a short read names the same numbers the check would (the
	 * bytes the file has), and the check's fstat and ftello cost more
	 * than reading a small record. */
	if (n <= SMALL_PAYLOAD) {
		if (fl_grow(buf, cap, n, 0, err) < 0)
			return -1;
		if ((got = src_read(s, *buf, n)) != n)
			return short_read(s, "payload", got, n, err);
		return 0;
	}
	rem = src_remaining(s);
	if (rem >= 0 && (uint64_t)rem < n)
		return fl_error_set(err, FL_ETRUNC,
		    "truncated record: payload has %lld of %zu bytes",
		    (long long)rem, n);
	if (rem >= 0 || n <= *cap || n <= GROW_STEP) {
		if (fl_grow(buf, cap, n, 0, err) < 0)
			return -1;
		if ((got = src_read(s, *buf, n)) != n)
			return short_read(s, "payload", got, n, err);
		return 0;
	}
	while (got < n) {
		size_t target = n - got > (got > GROW_STEP ? got : GROW_STEP) ?
		    got + (got > GROW_STEP ? got : GROW_STEP) : n;
		size_t r;

		if (fl_grow(buf, cap, target, got, err) < 0)
			return -1;
		r = src_read(s, *buf + got, target - got);
		got += r;
		if (got != target)
			return short_read(s, "payload", got, n, err);
	}
	return 0;
}

static int
inflate_payload(unsigned char *dst, size_t dlen, const unsigned char *src,
    size_t slen, struct fl_error *err)
{
	unsigned char dummy;
	z_stream zs;
	size_t in_left = slen, out_left = dlen;
	int rc;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit(&zs) != Z_OK)
		return fl_error_set(err, FL_ENOMEM, "cannot start zlib");
	zs.next_in = (unsigned char *)src;
	zs.next_out = dlen ? dst : &dummy;
	for (;;) {
		/* zlib counts in 32-bit units: feed huge buffers in slices. */
		if (zs.avail_in == 0 && in_left > 0) {
			zs.avail_in = in_left > UINT_MAX ? UINT_MAX :
			    (uInt)in_left;
			in_left -= zs.avail_in;
		}
		if (zs.avail_out == 0 && out_left > 0) {
			zs.avail_out = out_left > UINT_MAX ? UINT_MAX :
			    (uInt)out_left;
			out_left -= zs.avail_out;
		}
		rc = inflate(&zs, Z_NO_FLUSH);
		if (rc == Z_STREAM_END)
			break;
		if (rc == Z_OK)
			continue;
		if (rc == Z_BUF_ERROR && zs.avail_out == 0 && out_left == 0) {
			inflateEnd(&zs);
			return fl_error_set(err, FL_EFORMAT,
			    "compressed payload inflates to more than the "
			    "%zu bytes the tensors need", dlen);
		}
		inflateEnd(&zs);
		if (rc == Z_MEM_ERROR)
			return fl_error_set(err, FL_ENOMEM,
			    "out of memory in zlib");
		return fl_error_set(err, FL_EFORMAT,
		    "corrupt compressed payload: %s",
		    zs.msg ? zs.msg : rc == Z_BUF_ERROR ?
		    "stream ends early" : "inflate failed");
	}
	if (zs.total_out != dlen) {
		size_t total = zs.total_out;

		inflateEnd(&zs);
		return fl_error_set(err, FL_EFORMAT,
		    "compressed payload inflates to %zu bytes, tensors need "
		    "%zu", total, dlen);
	}
	/* After the stream: fewer than 64 bytes of zero padding. */
	{
		size_t used = zs.total_in;

		inflateEnd(&zs);
		if (slen - used >= FL_ALIGN)
			return fl_error_set(err, FL_EFORMAT,
			    "%zu bytes after the compressed stream",
			    slen - used);
		for (size_t i = used; i < slen; i++)
			if (src[i] != 0)
				return fl_error_set(err, FL_EFORMAT,
				    "non-zero padding after the compressed "
				    "stream");
	}
	return 0;
}

/* Bytes no tensor covers must be zero: no hidden data, one canonical form. */
static int
check_padding(const struct fl_record *rec, struct fl_error *err)
{
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		size_t from = t->offset + t->nbytes;
		size_t to = i + 1 < rec->ntensors ? rec->tensors[i + 1].offset :
		    rec->rawlen;

		for (size_t j = from; j < to; j++)
			if (rec->raw[j] != 0)
				return fl_error_set(err, FL_EFORMAT,
				    "non-zero padding byte at payload offset "
				    "%zu (after tensor '%s')", j, t->name);
	}
	return 0;
}

/* The preamble and header of the next record, checked, into rec (tensor
 * data not set) and *p; *rawlen is the raw payload size.  1, 0 at a clean
 * end, -1. */
static int
read_head(struct fl_record *rec, struct src *s, const struct fl_limits *lim,
    struct fl_preamble *pp, size_t *rawlenp, struct fl_error *err)
{
	static const struct fl_limits defaults = { FL_DEFAULT_MAX_PAYLOAD };
	unsigned char pre[FL_PREAMBLE_SIZE];
	struct fl_preamble p;
	size_t got, rawlen;
	uint32_t crc;
	const char *what;

	if (lim == NULL)
		lim = &defaults;
	fl_record_clear(rec);
	got = src_read(s, pre, sizeof(pre));
	if (got == 0 && !src_error(s))
		return 0;
	/* Bytes that cannot begin a record are bad magic, however few. */
	if (got != sizeof(pre) && memcmp(pre, FL_MAGIC, got < 8 ? got : 8) == 0)
		return short_read(s, "preamble", got, sizeof(pre), err);
	if (memcmp(pre, FL_MAGIC, 8) != 0 || got != sizeof(pre)) {
		if ((what = fl_sniff_format(pre, got)) != NULL)
			return fl_error_set(err, FL_EFORMAT,
			    "not an FLT record: input is %s", what);
		return fl_error_set(err, FL_EFORMAT,
		    "not an FLT record (bad magic)");
	}
	p.version = pre[8];
	p.flags = pre[9];
	p.hlen = fl_load_le32(pre + 12);
	p.plen = fl_load_le64(pre + 16);
	p.pcrc = fl_load_le32(pre + 24);
	p.hcrc = fl_load_le32(pre + 28);
	if (p.version != FL_FORMAT_VERSION)
		return fl_error_set(err, FL_EFORMAT,
		    "unsupported format version %u", p.version);
	if (p.flags & ~FL_FLAG_ZLIB)
		return fl_error_set(err, FL_EFORMAT, "unknown flags 0x%02x",
		    p.flags);
	if (pre[10] != 0 || pre[11] != 0)
		return fl_error_set(err, FL_EFORMAT,
		    "reserved preamble bytes are not zero");
	if (p.hlen > FL_MAX_HEADER)
		return fl_error_set(err, FL_ELIMIT,
		    "header length %u above the limit of %u", p.hlen,
		    FL_MAX_HEADER);
	if ((FL_PREAMBLE_SIZE + p.hlen) % FL_ALIGN != 0)
		return fl_error_set(err, FL_EFORMAT,
		    "header length %u does not end on a 64-byte boundary",
		    p.hlen);
	if (p.plen % FL_ALIGN != 0)
		return fl_error_set(err, FL_EFORMAT,
		    "payload length %llu is not a multiple of 64",
		    (unsigned long long)p.plen);

	if (fl_grow((unsigned char **)&rec->hbuf, &rec->hcap, p.hlen, 0,
	    err) < 0)
		return -1;
	if ((got = src_read(s, rec->hbuf, p.hlen)) != p.hlen)
		return short_read(s, "header", got, p.hlen, err);
	crc = fl_crc32(fl_crc32(0, pre, 28), rec->hbuf, p.hlen);
	if (crc != p.hcrc)
		return fl_error_set(err, FL_EFORMAT,
		    "header checksum mismatch (stored %08x, computed %08x)",
		    p.hcrc, crc);
	if (fl_header_parse(rec, rec->hbuf, p.hlen, lim, err) < 0)
		goto fail;
	if (fl_tensors_rawlen(rec, &rawlen) < 0 || rawlen > lim->max_payload) {
		fl_error_set(err, FL_ELIMIT, "payload above the limit of %llu "
		    "bytes", (unsigned long long)lim->max_payload);
		goto fail;
	}
	if (!(p.flags & FL_FLAG_ZLIB) && p.plen != rawlen) {
		fl_error_set(err, FL_EFORMAT, "payload length %llu, the tensors "
		    "need %zu", (unsigned long long)p.plen, rawlen);
		goto fail;
	}
	if (p.flags & FL_FLAG_ZLIB) {
		uint64_t bound = fl_align64(compressBound(rawlen));

		/* Deflate expands at most 1032:1: a claim beyond that is a lie,
		 * refused before allocating the claimed size (rounded up:
		 * 1032 p + 1 raw bytes need more than p). */
		if (p.plen == 0 || p.plen > bound || rawlen / 1032 +
		    (rawlen % 1032 != 0) > p.plen) {
			fl_error_set(err, FL_EFORMAT, "compressed payload "
			    "length %llu impossible for %zu raw bytes",
			    (unsigned long long)p.plen, rawlen);
			goto fail;
		}
	}
	*pp = p;
	*rawlenp = rawlen;
	return 1;

fail:
	fl_record_clear(rec);
	return -1;
}

static int
read_record(struct fl_record *rec, struct src *s, const struct fl_limits *lim,
    struct fl_error *err)
{
	struct fl_preamble p;
	size_t rawlen = 0;
	uint32_t crc;
	int rc;

	if ((rc = read_head(rec, s, lim, &p, &rawlen, err)) <= 0)
		return rc;
	if (!(p.flags & FL_FLAG_ZLIB)) {
		if (read_payload(s, &rec->raw, &rec->rawcap, rawlen, err) < 0)
			goto fail;
		crc = fl_crc32(0, rec->raw, rawlen);
	} else {
		if (read_payload(s, &rec->zbuf, &rec->zcap, p.plen, err) < 0)
			goto fail;
		crc = fl_crc32(0, rec->zbuf, p.plen);
	}
	if (crc != p.pcrc) {
		fl_error_set(err, FL_EFORMAT, "payload checksum mismatch "
		    "(stored %08x, computed %08x)", p.pcrc, crc);
		goto fail;
	}
	if (p.flags & FL_FLAG_ZLIB) {
		if (fl_grow(&rec->raw, &rec->rawcap, rawlen, 0, err) < 0 ||
		    inflate_payload(rec->raw, rawlen, rec->zbuf, p.plen,
		    err) < 0)
			goto fail;
	}
	rec->rawlen = rawlen;
	if (check_padding(rec, err) < 0)
		goto fail;
	if (FL_HOST_BIG_ENDIAN)
		fl_payload_swap(rec, 0, rec->raw, rawlen);
	for (size_t i = 0; i < rec->ntensors; i++)
		rec->tensors[i].data = rec->raw + rec->tensors[i].offset;
	rec->pre = p;
	rec->size = FL_PREAMBLE_SIZE + p.hlen + p.plen;
	return 1;

fail:
	fl_record_clear(rec);
	return -1;
}

int
fl_record_read(struct fl_record *rec, FILE *fp, const struct fl_limits *lim,
    struct fl_error *err)
{
	struct src s = { fp, NULL, 0, 0 };

	return read_record(rec, &s, lim, err);
}

int
fl_record_parse(struct fl_record *rec, const void *buf, size_t len,
    const struct fl_limits *lim, struct fl_error *err)
{
	struct src s = { NULL, buf, len, 0 };
	int rc = read_record(rec, &s, lim, err);

	if (rc == 1 && s.pos != len) {
		fl_record_clear(rec);
		return fl_error_set(err, FL_EFORMAT,
		    "%zu bytes after the record", len - s.pos);
	}
	return rc;
}

/* ---- streaming ---- */

/* The piece size: a multiple of 64, so no element straddles two pieces
 * (tensors start on 64-byte boundaries and elements are 1 to 8 bytes). */
#define PIECE ((size_t)1 << 20)

/* Bytes of [off, off + len) that no tensor covers must be zero. */
static int
check_piece_padding(const struct fl_record *rec, size_t off,
    const unsigned char *p, size_t len, struct fl_error *err)
{
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		size_t from = t->offset + t->nbytes;
		size_t to = i + 1 < rec->ntensors ? rec->tensors[i + 1].offset :
		    rec->rawlen;

		if (to <= off || from >= off + len)
			continue;
		if (from < off)
			from = off;
		if (to > off + len)
			to = off + len;
		for (size_t j = from; j < to; j++)
			if (p[j - off] != 0)
				return fl_error_set(err, FL_EFORMAT,
				    "non-zero padding byte at payload offset "
				    "%zu (after tensor '%s')", j, t->name);
	}
	return 0;
}

static int
deliver(const struct fl_record *rec, const struct fl_stream *fs, size_t off,
    unsigned char *p, size_t len, struct fl_error *err)
{
	if (check_piece_padding(rec, off, p, len, err) < 0)
		return -1;
	if (FL_HOST_BIG_ENDIAN)
		fl_payload_swap(rec, off, p, len);
	return fs->piece(fs->ctx, rec, off, p, len, err);
}

/* A zlib payload: stored pieces in, raw pieces out, with the checks of
 * inflate_payload. */
static int
stream_inflate(struct fl_record *rec, struct src *s, const struct fl_stream *fs,
    uint64_t plen, size_t rawlen, unsigned char *in, unsigned char *out,
    uint32_t *crc, struct fl_error *err)
{
	z_stream zs;
	uint64_t left = plen;
	size_t off = 0, got;
	int rc, ended = 0;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit(&zs) != Z_OK)
		return fl_error_set(err, FL_ENOMEM, "cannot start zlib");
	for (;;) {
		if (zs.avail_in == 0 && left > 0) {
			size_t n = left < PIECE ? (size_t)left : PIECE;

			if ((got = src_read(s, in, n)) != n) {
				inflateEnd(&zs);
				/* Counted over the whole payload, not the
				 * piece: as the whole-record reader says. */
				return short_read(s, "payload", (size_t)(plen -
				    left) + got, (size_t)plen, err);
			}
			*crc = fl_crc32(*crc, in, n);
			left -= n;
			zs.next_in = in;
			zs.avail_in = (uInt)n;
		}
		if (ended) {
			/* After the stream: fewer than 64 bytes of zeros. */
			for (uInt i = 0; i < zs.avail_in; i++)
				if (zs.next_in[i] != 0)
					goto bad_tail;
			zs.avail_in = 0;
			if (left == 0)
				break;
			continue;
		}
		/* A piece goes out only when full (or at the end), so that
		 * pieces stay multiples of 64 bytes. */
		if (zs.avail_out == 0) {
			zs.next_out = out;
			zs.avail_out = (uInt)PIECE;
		}
		rc = inflate(&zs, Z_NO_FLUSH);
		got = (size_t)(zs.next_out - out);
		if (rc == Z_MEM_ERROR) {
			inflateEnd(&zs);
			return fl_error_set(err, FL_ENOMEM,
			    "out of memory in zlib");
		}
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
			inflateEnd(&zs);
			return fl_error_set(err, FL_EFORMAT,
			    "corrupt compressed payload: %s",
			    zs.msg ? zs.msg : "inflate failed");
		}
		if (got > rawlen - off) {
			inflateEnd(&zs);
			return fl_error_set(err, FL_EFORMAT, "compressed payload "
			    "inflates to more than the %zu bytes the tensors "
			    "need", rawlen);
		}
		ended = rc == Z_STREAM_END;
		/* No room, no input left, no end: the stream is cut. */
		if (!ended && zs.avail_out != 0 && zs.avail_in == 0 &&
		    left == 0) {
			inflateEnd(&zs);
			return fl_error_set(err, FL_EFORMAT, "corrupt "
			    "compressed payload: stream ends early");
		}
		if ((zs.avail_out == 0 || ended) && got > 0) {
			if (deliver(rec, fs, off, out, got, err) < 0) {
				inflateEnd(&zs);
				return -1;
			}
			off += got;
			zs.next_out = out;
			zs.avail_out = (uInt)PIECE;
		}
	}
	if (plen - zs.total_in >= FL_ALIGN) {
		inflateEnd(&zs);
		goto bad_tail_done;
	}
	inflateEnd(&zs);
	if (off != rawlen)
		return fl_error_set(err, FL_EFORMAT, "compressed payload "
		    "inflates to %zu bytes, tensors need %zu", off, rawlen);
	return 0;

bad_tail:
	inflateEnd(&zs);
bad_tail_done:
	return fl_error_set(err, FL_EFORMAT, "non-zero padding or more than "
	    "63 bytes after the compressed stream");
}

int
fl_record_read_stream(struct fl_record *rec, FILE *fp,
    const struct fl_limits *lim, const struct fl_stream *fs,
    struct fl_error *err)
{
	struct src s = { fp, NULL, 0, 0 };
	struct fl_preamble p;
	unsigned char *in = NULL, *out = NULL;
	size_t rawlen = 0, off, got;
	uint32_t crc = 0;
	int rc;

	if ((rc = read_head(rec, &s, lim, &p, &rawlen, err)) <= 0)
		return rc;
	rec->rawlen = rawlen;
	rec->pre = p;
	rec->size = FL_PREAMBLE_SIZE + p.hlen + p.plen;
	if (fs->head != NULL && fs->head(fs->ctx, rec, err) < 0)
		goto fail;
	/* The pieces live in the record's scratch buffers, kept from one
	 * record to the next: a buffer per call would be fresh memory each
	 * time (posix_memalign's leftovers do not fit the next request, so
	 * the heap grew by a piece a record, every page of it faulted in
	 * anew: bench/RESULTS-22.md).  A plain payload needs no more than
	 * itself, up to a piece. */
	if (p.flags & FL_FLAG_ZLIB) {
		if (fl_grow(&rec->zbuf, &rec->zcap, PIECE, 0, err) < 0 ||
		    fl_grow(&rec->raw, &rec->rawcap, PIECE, 0, err) < 0)
			goto fail;
		in = rec->zbuf;
		out = rec->raw;
	} else {
		if (fl_grow(&rec->raw, &rec->rawcap, rawlen < PIECE ? rawlen :
		    PIECE, 0, err) < 0)
			goto fail;
		in = rec->raw;
	}
	if (p.flags & FL_FLAG_ZLIB) {
		if (stream_inflate(rec, &s, fs, p.plen, rawlen, in, out, &crc,
		    err) < 0)
			goto fail;
	} else {
		for (off = 0; off < rawlen; off += got) {
			size_t n = rawlen - off < PIECE ? rawlen - off : PIECE;

			if ((got = src_read(&s, in, n)) != n) {
				short_read(&s, "payload", off + got, rawlen,
				    err);
				goto fail;
			}
			crc = fl_crc32(crc, in, n);
			if (deliver(rec, fs, off, in, n, err) < 0)
				goto fail;
		}
	}
	if (crc != p.pcrc) {
		fl_error_set(err, FL_EFORMAT, "payload checksum mismatch "
		    "(stored %08x, computed %08x)", p.pcrc, crc);
		goto fail;
	}
	return 1;

fail:
	fl_record_clear(rec);
	return -1;
}
