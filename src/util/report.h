/*
 * report: build RFC 8460 reports from a day summary.
 *
 * One report per (report domain, TLSRPT record) of the summary. Counter
 * lines with the same key are added together (summaries from several
 * hosts merge this way). Each report carries organization-name,
 * date-range (YYYY-MM-DDT00:00:00Z to YYYY-MM-DDT23:59:59Z), contact-info,
 * report-id and policies, each with policy, summary and failure-details,
 * serialised with cJSON and gzip'd as one member. Policies and
 * failure-details are sorted by their canonical JSON, so a rebuilt report
 * is byte-identical.
 *
 * Size control: a policy reports at most report_max_failure_details rows.
 * Beyond that the rows with the smallest counts are folded into one row
 * per result-type that carries only result-type and failed-session-count.
 * While the gzip is larger than report_max_size, the cap shrinks for
 * every policy. Rows are left out only when the cap is below the number
 * of result-types. The session totals never change. A report too large
 * even without rows is logged and not built. With
 * report_success_only_days = no, reports without any failed session or
 * failure-details row are not built.
 *
 * report-id is stable: the same (day, domain, record) always gives the
 * same id, so a rebuilt report is recognisably the same report. It has no
 * ':' or spaces, so it fits the Subject's "<id-left@id-right>" form:
 * "<day>.<domain>.<16 hex digits>@<submitter>". The file name follows
 * RFC 8460 section 5.1:
 * "<submitter>!<domain>!<begin>!<end>!<16 hex digits>.json.gz", with the
 * day's first and last second in UTC epoch seconds.
 */
#ifndef TLSRPTD_REPORT_H
#define TLSRPTD_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"
#include "summary_file.h"

/* Who is reporting; taken from main.cf. The strings are copies owned by
 * the identity, so a configuration reload cannot pull them away;
 * report_identity_free() releases them. */
struct report_identity {
	const char *organization_name;
	const char *contact_info;
	const char *submitter;		/* domain of contact_info, normalised */
	size_t max_failure_details;	/* report_max_failure_details */
	size_t max_size;		/* report_max_size, gzip'd bytes */
	bool success_only_days;		/* report_success_only_days */
};

struct report {
	char *day;
	char *report_domain;	/* TLS-Report-Domain */
	char *record;		/* the TLSRPT record the report answers */
	char *report_id;
	char *filename;
	char *json;		/* the report, compact JSON */
	unsigned char *gzip;	/* the report, one gzip member */
	size_t gzip_len;
	unsigned long long successes;	/* totals over all policies */
	unsigned long long failures;
};

/*
 * Fill identity from organization_name, contact_info and the report_*
 * limits. Returns -1 with a message naming the parameter and main.cf
 * when a required value is missing or contact_info has no valid domain.
 */
int report_identity_from_config(struct report_identity *identity,
				struct strbuf *error);
void report_identity_free(struct report_identity *identity);

/* Check that main.cf names a usable reporting identity, for programs that
 * start the suite; returns -1 with the reason in error. */
int report_identity_check(struct strbuf *error);

/*
 * Build the reports of summary into a new array that the caller releases
 * with report_free_all(). Problems that concern one domain, record or
 * counter line are logged and cost only that report or line; -1 (with
 * error set) means the summary as a whole cannot be reported.
 */
int report_build_all(const struct summary *summary,
		     const struct report_identity *identity,
		     struct report **reports, size_t *count,
		     struct strbuf *error);
void report_free_all(struct report *reports, size_t count);

/*
 * Build the report of one group of a summary stream into report, which
 * the caller releases with report_free() after a 0 return. Returns 0, 1
 * when the report is not built because it has no failures and
 * report_success_only_days is no, or -1 when it cannot be built (logged:
 * an invalid domain, no line that can be reported, too large).
 */
int report_build_group(const struct summary_group *group, const char *day,
		       const struct report_identity *identity,
		       struct report *report);
void report_free(struct report *report);

#endif
