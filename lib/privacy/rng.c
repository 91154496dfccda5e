/* SPDX-License-Identifier: ISC */
/*
 * Randomness: one 32-byte master key per process, from the OS or (for
 * tests and simulations only) from a seed string; purpose keys derived with
 * crypto_kdf; bulk bits from ChaCha20 keystreams addressed by (key, stream,
 * block), so that chunk i of a vector gets the same bits whichever thread
 * draws it, and whatever the number of threads.
 */
#include <endian.h>
#include <string.h>
#include <sodium.h>

#include "privacy/internal.h"

int
fl_rng_seed_os(unsigned char key[FL_RNG_KEYBYTES], struct fl_error *err)
{
	if (sodium_init() < 0)
		return fl_error_set(err, FL_EIO, "cannot initialise libsodium");
	randombytes_buf(key, FL_RNG_KEYBYTES);
	return 0;
}

void
fl_rng_seed_text(unsigned char key[FL_RNG_KEYBYTES], const char *seed)
{
	static const char domain[] = "fltools seed v1";
	crypto_generichash_state st;

	/* Also picks libsodium's fastest ChaCha20 for this CPU: without it
	 * the portable code runs at a fraction of the speed. */
	if (sodium_init() < 0) {
	}
	crypto_generichash_init(&st, NULL, 0, FL_RNG_KEYBYTES);
	crypto_generichash_update(&st, (const unsigned char *)domain,
	    sizeof(domain));
	crypto_generichash_update(&st, (const unsigned char *)seed,
	    strlen(seed));
	crypto_generichash_final(&st, key, FL_RNG_KEYBYTES);
	sodium_memzero(&st, sizeof(st));
}

void
fl_rng_derive(unsigned char out[FL_RNG_KEYBYTES],
    const unsigned char master[FL_RNG_KEYBYTES], const char *purpose,
    uint64_t id)
{
	char ctx[crypto_kdf_CONTEXTBYTES] = { 0 };

	/* crypto_kdf takes an 8-byte context; longer purposes are cut. */
	memcpy(ctx, purpose, strnlen(purpose, sizeof(ctx)));
	crypto_kdf_derive_from_key(out, FL_RNG_KEYBYTES, id, ctx, master);
}

void
fl_rng_stream(void *out, size_t n, const unsigned char key[FL_RNG_KEYBYTES],
    uint64_t stream, uint64_t block)
{
	unsigned char nonce[crypto_stream_chacha20_NONCEBYTES];

	for (int i = 0; i < 8; i++)
		nonce[i] = (unsigned char)(stream >> (8 * i));
	memset(out, 0, n);
	crypto_stream_chacha20_xor_ic(out, out, n, nonce, block, key);
}

void
fl_rng_stream_u32(uint32_t *out, size_t n,
    const unsigned char key[FL_RNG_KEYBYTES], uint64_t stream, uint64_t block)
{
	fl_rng_stream(out, n * sizeof(*out), key, stream, block);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	for (size_t i = 0; i < n; i++)
		out[i] = __builtin_bswap32(out[i]);
#endif
}

void
fl_rng_init(struct fl_rng *r, const unsigned char key[FL_RNG_KEYBYTES],
    uint64_t stream)
{
	/* Idempotent, and it selects the SIMD ChaCha20; were it to fail,
	 * the portable code gives the same bytes, only slower. */
	if (sodium_init() < 0) {
	}
	memcpy(r->key, key, FL_RNG_KEYBYTES);
	r->stream = stream;
	r->block = 0;
	r->pos = sizeof(r->buf);
}

void
fl_rng_refill(struct fl_rng *r)
{
	fl_rng_stream(r->buf, sizeof(r->buf), r->key, r->stream, r->block);
	r->block += sizeof(r->buf) / 64;
	r->pos = 0;
}

uint64_t
fl_rng_u64(struct fl_rng *r)
{
	uint64_t v;

	if (r->pos + 8 > sizeof(r->buf))
		fl_rng_refill(r);
	memcpy(&v, r->buf + r->pos, 8);
	r->pos += 8;
	return le64toh(v);      /* the same numbers on any byte order */
}

uint64_t
fl_rng_u48(struct fl_rng *r)
{
	uint64_t v;

	/* 8 bytes are read, 6 consumed: keep 2 spare at the buffer's end. */
	if (r->pos + 8 > sizeof(r->buf))
		fl_rng_refill(r);
	memcpy(&v, r->buf + r->pos, 8);
	r->pos += 6;
	return le64toh(v) & ((UINT64_C(1) << 48) - 1);
}

/* Lemire's multiply-shift with rejection: exactly uniform on [0, bound),
 * never `x % bound`, about one 64-bit word per draw. */
uint64_t
fl_rng_below(struct fl_rng *r, uint64_t bound)
{
	unsigned __int128 m;
	uint64_t lo, threshold;

	if (bound == 0)
		return fl_rng_u64(r);
	m = (unsigned __int128)fl_rng_u64(r) * bound;
	lo = (uint64_t)m;
	if (lo < bound) {
		threshold = -bound % bound;
		while (lo < threshold) {
			m = (unsigned __int128)fl_rng_u64(r) * bound;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

void
fl_rng_wipe(struct fl_rng *r)
{
	sodium_memzero(r, sizeof(*r));
}
