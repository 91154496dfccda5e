/* SPDX-License-Identifier: ISC */
/*
 * The floor under DP-SGD's noise in bench/90-train.sh: seconds to make
 * BYTES of ChaCha20 keystream with libsodium, in 64 KiB chunks addressed
 * by block as fl-train makes them (fl_rng_stream: zero the buffer, XOR
 * the keystream in).  Prints the best of 5 runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

int
main(int argc, char **argv)
{
	unsigned char key[crypto_stream_chacha20_KEYBYTES] = { 1 };
	unsigned char nonce[crypto_stream_chacha20_NONCEBYTES] = { 0 };
	size_t chunk = 65536, total = argc > 1 ? strtoull(argv[1], NULL, 10) :
	    (size_t)1 << 30;
	unsigned char *buf = malloc(chunk);
	double best = 1e30;

	if (buf == NULL || sodium_init() < 0)
		return 1;
	for (int run = 0; run < 5; run++) {
		struct timespec t0, t1;
		double s;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (size_t done = 0; done < total; done += chunk) {
			memset(buf, 0, chunk);
			crypto_stream_chacha20_xor_ic(buf, buf, chunk, nonce,
			    done / 64, key);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		s = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
		if (s < best)
			best = s;
	}
	printf("%.4f\n", best);
	free(buf);
	return 0;
}
