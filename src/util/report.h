/*
 * report: build RFC 8460 reports from a day summary.
 *
 * One report per (report domain, TLSRPT record) of the summary. Counter
 * lines with the same key are added together (summaries from several
 * hosts merge this way). Each report carries organization-name,
 * date-range (YYYY-MM-DDT00:00:00Z to YYYY-MM-DDT23:59:59Z), contact-info,
 * report-id and policies, each with policy, summary and failure-details,
 * serialised with cJSON and gzip'd as one member.
 *
 * report-id is stable: the same (day, domain, record) always gives the
 * same id, so a rebuilt report is recognisably the same report. It has no
 * ':' or spaces, so it fits the Subject's "<id-left@id-right>" form:
 * "<day>.<domain>.<16 hex digits>@<submitter>". The file name follows
 * RFC 8460 section 5.1:
 * "<submitter>!<domain>!<begin>!<end>!<16 hex digits>.json.gz".
 */
#ifndef TLSRPTD_REPORT_H
#define TLSRPTD_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"
#include "summary_file.h"

/* Who is reporting; taken from main.cf. */
struct report_identity {
	const char *organization_name;
	const char *contact_info;
	const char *submitter;		/* domain of contact_info */
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

int report_identity_from_config(struct report_identity *identity,
				struct strbuf *error);
int report_build_all(const struct summary *summary,
		     const struct report_identity *identity,
		     struct report **reports, size_t *count,
		     struct strbuf *error);
void report_free_all(struct report *reports, size_t count);

#endif
