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
 *
 * Two readers: summary_read() loads the whole file, and the stream reader
 * returns one report group at a time, all lines of one (domain, record),
 * in memory that does not grow with the number of domains. The
 * aggregator writes its policy lines and then its detail lines, each in
 * key order, so a file is a few sorted runs, which the stream merges. A
 * file with more runs than a merge should open at once (lines appended
 * from several hosts in any order) is first sorted in chunks into a
 * scratch file, whose sorted chunks are then merged.
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

#define SUMMARY_MAX_LINE	(1024 * 1024)	/* octets of one line */
#define SUMMARY_MERGE_RUNS	64	/* sorted runs merged without sorting */
#define SUMMARY_SORT_CHUNK	(16 * 1024 * 1024) /* octets sorted at once */

/* Tuning of the stream reader; tests make them small. */
struct summary_stream_limits {
	size_t merge_runs;	/* more sorted runs than this: sort first */
	size_t sort_chunk;	/* octets of lines sorted in memory at once */
};

/*
 * The lines of one report: the same record and the same domain after
 * domain_normalise(), the key a report is built for. An invalid domain
 * keeps its text as written and has invalid_reason set. Everything
 * belongs to the stream until the next summary_stream_next() call.
 */
struct summary_group {
	const char *domain;
	const char *invalid_reason;	/* NULL when the domain is valid */
	const char *record;
	const struct summary_counter *counters;
	size_t counter_count;
};

struct summary_stream_state;

/* An open summary file read group by group. The header fields are
 * copies owned by the stream. */
struct summary_stream {
	char *day;
	char *kind;
	char *created;
	char *host;
	unsigned long long counter_count;	/* from the end record */
	size_t run_count;	/* sorted runs in the file */
	bool sorted;		/* the file was sorted into scratch space */
	struct summary_stream_state *state;
};

/*
 * Open path and check all of it as summary_read() does: header, every
 * line, the end record. Groups come out in (domain, record) order. When
 * the file has more than limits->merge_runs sorted runs, it is sorted
 * into an unlinked scratch file created from scratch_template (a
 * mkstemp() template such as "tmp/reporter.sort.XXXXXX"). limits may be
 * NULL for the defaults. Returns 0, or -1 with error set and nothing to
 * close.
 */
int summary_stream_open(struct summary_stream *stream, const char *path,
			const char *scratch_template,
			const struct summary_stream_limits *limits,
			struct strbuf *error);

/* Fill group with the next report group. Returns 1, 0 at the end, or -1
 * with error set (a read error, or the file changed after the check). */
int summary_stream_next(struct summary_stream *stream,
			struct summary_group *group, struct strbuf *error);
void summary_stream_close(struct summary_stream *stream);

#endif
