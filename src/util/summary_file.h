/*
 * summary_file: every counter of one UTC day (days/, export/).
 *
 *	tlsrptd-summary 1
 *	day: 2026-12-04
 *	kind: final
 *	created: 2026-12-05T00:30:00Z
 *	host: mx1.example.net
 *
 *	policy {"domain":D,"record":R,"policy":{...},"success":N,"failure":N}
 *	detail {"domain":D,"record":R,"policy":{...},"detail":{...},"count":N}
 *	end 2
 *
 * The aggregator writes one when it closes a day ("final"), when an
 * administrator asks for a day's counters so far ("preview"), and when a
 * batch arrives for a day already closed ("supplement"). The reporter is
 * the only reader in normal operation. Each line stands alone, so summary
 * files from several hosts merge by adding lines.
 *
 * "policy" and "detail" hold the canonical, report-shaped JSON of
 * datagram_policy_key() and datagram_detail_key(). The reader treats a
 * summary file as untrusted input: every line is type-checked, and a file
 * with one bad line is rejected whole.
 */
#ifndef TLSRPTD_SUMMARY_FILE_H
#define TLSRPTD_SUMMARY_FILE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "queue_file.h"
#include "strbuf.h"

#define SUMMARY_KIND		"summary"
#define SUMMARY_VERSION		1
#define SUMMARY_MAX_FILE	(1024 * 1024 * 1024)

#define SUMMARY_FINAL		"final"
#define SUMMARY_PREVIEW		"preview"
#define SUMMARY_SUPPLEMENT	"supplement"

/* The largest count a report may carry: I-JSON integers are exact up to
 * 2^53 - 1. */
#define SUMMARY_MAX_COUNT	9007199254740991ULL

struct summary_writer {
	struct queue_file file;
	unsigned long long count;	/* counter lines written */
};

int summary_writer_open(struct summary_writer *summary, const char *owner,
			const char *day, const char *kind);
int summary_writer_add_policy(struct summary_writer *summary,
			      const char *domain, const char *record,
			      const char *policy_json,
			      unsigned long long success,
			      unsigned long long failure);
int summary_writer_add_detail(struct summary_writer *summary,
			      const char *domain, const char *record,
			      const char *policy_json, const char *detail_json,
			      unsigned long long count);
int summary_writer_commit(struct summary_writer *summary, const char *dir,
			  const char *name);
void summary_writer_abort(struct summary_writer *summary);

/* One counter line. Strings and trees belong to the summary. */
struct summary_counter {
	bool is_detail;
	const char *domain;
	const char *record;
	const cJSON *policy;
	const cJSON *detail;	/* detail lines only */
	unsigned long long success;	/* policy lines only */
	unsigned long long failure;	/* policy lines only */
	unsigned long long count;	/* detail lines only */
	cJSON *tree;		/* the parsed line */
};

struct summary {
	char *day;
	char *kind;
	char *created;
	char *host;
	struct summary_counter *counters;
	size_t counter_count;
};

int summary_read(const char *path, struct summary *summary,
		 struct strbuf *error);
void summary_free(struct summary *summary);

#endif
