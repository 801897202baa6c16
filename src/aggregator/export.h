/*
 * export: write a day's counters as a summary file (summary_file.h).
 *
 * export_store_day() writes every counter the store holds for a day
 * ("final" when closing it, "preview" or "final" for a request);
 * export_fold_day() writes one batch's counters for a day ("supplement"
 * for a day already closed). The file is committed as dir/name, where name
 * is a queue ID that the caller chose and, for a final summary, recorded
 * in the store first, so a retry after a crash writes the same name.
 *
 * A count above SUMMARY_MAX_COUNT, the largest integer that a report can
 * carry exactly, is written as SUMMARY_MAX_COUNT with a warning.
 *
 * Both return 0 when the file was written, and 1 without a change when
 * dir/name exists already because it was written before a crash. They
 * return -1 with a message in error on failure. *lines receives the
 * number of counter lines.
 */
#ifndef TLSRPTD_EXPORT_H
#define TLSRPTD_EXPORT_H

#include "fold.h"
#include "store.h"
#include "strbuf.h"

/* The owner part of temporary file names, "tmp/aggregator.<ID>". */
#define EXPORT_TMP_OWNER "aggregator"

int export_store_day(struct store *store, const char *day, const char *kind,
		     const char *dir, const char *name,
		     unsigned long long *lines, struct strbuf *error);
int export_fold_day(const struct fold *fold, const char *day, const char *dir,
		    const char *name, unsigned long long *lines,
		    struct strbuf *error);

#endif
