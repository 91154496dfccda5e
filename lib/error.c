/* SPDX-License-Identifier: ISC */
#include <stdarg.h>
#include <stdio.h>

#include "fl.h"

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
