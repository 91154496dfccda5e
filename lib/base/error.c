/* SPDX-License-Identifier: ISC */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/internal.h"

int
fl_error_set(struct fl_error *err, enum fl_errcode code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Input quoted in a message: printable ASCII as is, anything else as \xNN,
 * cut to fit with "..." so a hostile header cannot drive the terminal or
 * break the one-line message shape. */
const char *
fl_escape(char *buf, size_t n, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int w = c >= 0x20 && c < 0x7f && c != '\\' ? 1 : 4;

		if (o + w + 4 > n) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (w == 1)
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}
