/* SPDX-License-Identifier: ISC */
/*
 * fl.h - libfl, the library under the fltools programs.
 *
 * libfl reads and writes FLT v1 records (see flt(5)), holds their metadata
 * and tensors in memory, parses numbers strictly and writes files
 * atomically.  It never prints and never exits: every function that can fail
 * returns 0 on success and -1 on failure (readers: 1 record, 0 clean end,
 * -1 failure) and, when given one, fills a struct fl_error with a one-line,
 * lower-case message that a program prefixes with its name and the file.
 *
 * Ownership: the creator frees.  A struct fl_record owns its metadata,
 * tensor table and payload; tensor data pointers point into the payload.
 */
#ifndef FL_H
#define FL_H

#include "base/base.h"
#include "format/format.h"
#include "privacy/privacy.h"
#include "compress/compress.h"
#include "learn/learn.h"
#include "server/server.h"
#include "secagg/secagg.h"

#endif
