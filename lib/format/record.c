/* SPDX-License-Identifier: ISC */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "format/format.h"

void
fl_record_init(struct fl_record *rec)
{
	memset(rec, 0, sizeof(*rec));
}

void
fl_record_clear(struct fl_record *rec)
{
	for (size_t i = 0; i < rec->nmeta; i++) {
		free(rec->meta[i].key);
		free(rec->meta[i].value);
	}
	rec->nmeta = 0;
	for (size_t i = 0; i < rec->ntensors; i++)
		free(rec->tensors[i].name);
	rec->ntensors = 0;
	rec->rawlen = 0;
	memset(&rec->pre, 0, sizeof(rec->pre));
	rec->size = 0;
}

void
fl_record_free(struct fl_record *rec)
{
	if (rec == NULL)
		return;
	fl_record_clear(rec);
	free(rec->meta);
	free(rec->tensors);
	free(rec->raw);
	free(rec->hbuf);
	free(rec->zbuf);
	fl_record_init(rec);
}

void
fl_record_wipe(struct fl_record *rec)
{
	if (rec == NULL)
		return;
	if (rec->raw != NULL)
		sodium_memzero(rec->raw, rec->rawcap);
	if (rec->zbuf != NULL)
		sodium_memzero(rec->zbuf, rec->zcap);
	if (rec->hbuf != NULL)
		sodium_memzero(rec->hbuf, rec->hcap);
	fl_record_free(rec);
}
