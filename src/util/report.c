/*
 * report: RFC 8460 reports from a day summary; see report.h.
 *
 * The counter lines of a summary are grouped by (normalised report
 * domain, TLSRPT record). Within a group every line is rewritten into
 * canonical, report-shaped JSON with a fixed member order, then sorted by
 * that text, so equal policies and failure-details meet and add up, and
 * the output order depends only on the content. A rebuilt report is
 * therefore byte-identical to the first one.
 *
 * Summaries may come from other hosts, so the rewriting is defensive. A
 * result-type outside the IANA registry becomes validation-failure with
 * the original name as failure-reason-code. A receiving-mx-helo with line
 * breaks is cut to its greeting name. Empty optional strings are left
 * out, and a line that cannot be reported is logged and skipped.
 *
 * Limits: report_max_failure_details rows per policy (the largest counts
 * stay) and report_max_size gzip'd bytes (the smallest rows go first).
 * Rows left out never change the session totals.
 *
 * NOTE: the whole summary and all its reports are held in memory; a day
 * with very many domains needs a streaming reader to keep memory flat.
 */
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "datagram.h"
#include "domain.h"
#include "gzip.h"
#include "msg.h"
#include "report.h"
#include "utc_time.h"
#include "utf8.h"
#include "xalloc.h"

#define REPORT_HEX_LEN	16	/* hex digits of the report's unique id */

/* One failure-details row of a policy. */
struct detail_row {
	char *json;			/* canonical detail object */
	unsigned long long count;
	bool dropped;			/* left out for report_max_size */
};

/* One policies[] entry of a report. */
struct policy_entry {
	char *json;			/* canonical policy object */
	unsigned long long success;
	unsigned long long failure;
	struct detail_row *rows;
	size_t row_count;
};

/* A counter line with the normalised domain it is reported under. */
struct keyed_counter {
	const struct summary_counter *counter;
	char *domain;			/* normalised, or as given if invalid */
	char *invalid_reason;		/* NULL when the domain is valid */
};

/* A counter line of one report, rewritten into canonical JSON. */
struct canonical_line {
	const struct summary_counter *counter;
	char *policy;
	char *detail;			/* NULL for policy lines */
};

/* State shared by the steps that build one report. */
struct build_context {
	const struct report_identity *identity;
	const char *day;
	time_t begin;
	const char *domain;
	const char *record;
	const char *report_id;
};

static struct msg_rate bad_line_rate =
	MSG_RATE_INIT("skipped summary line", 20, 60);
static struct msg_rate unknown_type_rate =
	MSG_RATE_INIT("unknown result-type", 20, 60);

static void identity_error(struct strbuf *error, const char *format, ...)
	MSG_PRINTF(2, 3);

static void identity_error(struct strbuf *error, const char *format, ...)
{
	va_list ap;

	if (error->len > 0)
		strbuf_puts(error, "; ");
	va_start(ap, format);
	strbuf_vprintf(error, format, ap);
	va_end(ap);
}

/* Return the normalised domain of contact_info, or NULL with a reason. */
static char *submitter_domain(const char *contact, struct strbuf *error)
{
	const char *at = strrchr(contact, '@');
	struct strbuf why;
	char *domain;

	if (at == NULL || at == contact) {
		identity_error(error, "contact_info \"%s\" is not an email "
			       "address: it has no '@'; set it in %s/main.cf "
			       "to an address such as tlsrpt@example.net, "
			       "whose domain becomes the report submitter",
			       contact, config_directory());
		return NULL;
	}
	strbuf_init(&why);
	if (contact[strcspn(contact, " \t\r\n")] != '\0'
	    || domain_normalise(at + 1, false, &domain, &why) != 0) {
		identity_error(error, "contact_info \"%s\" has an invalid "
			       "domain%s%s%s; set it in %s/main.cf to a plain "
			       "address such as tlsrpt@example.net", contact,
			       why.len ? " (" : "", why.data,
			       why.len ? ")" : "", config_directory());
		strbuf_free(&why);
		return NULL;
	}
	strbuf_free(&why);
	return domain;
}

int report_identity_from_config(struct report_identity *identity,
				struct strbuf *error)
{
	const char *organization = config_str("organization_name");
	const char *contact = config_str("contact_info");
	char *submitter = NULL;

	memset(identity, 0, sizeof(*identity));
	if (organization[0] == '\0')
		identity_error(error, "organization_name is not set; add "
			       "\"organization_name = ...\" to %s/main.cf",
			       config_directory());
	if (contact[0] == '\0')
		identity_error(error, "contact_info is not set; add "
			       "\"contact_info = ...\" to %s/main.cf",
			       config_directory());
	else
		submitter = submitter_domain(contact, error);
	if (organization[0] == '\0' || submitter == NULL) {
		free(submitter);
		return -1;
	}
	identity->organization_name = xstrdup(organization);
	identity->contact_info = xstrdup(contact);
	identity->submitter = submitter;
	identity->max_failure_details =
		(size_t)config_int("report_max_failure_details");
	identity->max_size = (size_t)config_size("report_max_size");
	identity->success_only_days = config_bool("report_success_only_days");
	return 0;
}

void report_identity_free(struct report_identity *identity)
{
	free((char *)identity->organization_name);
	free((char *)identity->contact_info);
	free((char *)identity->submitter);
	memset(identity, 0, sizeof(*identity));
}

/* Add without wrapping; counts stop at the largest exact I-JSON integer. */
static void add_count(unsigned long long *total, unsigned long long value)
{
	if (value > SUMMARY_MAX_COUNT - *total)
		*total = SUMMARY_MAX_COUNT;
	else
		*total += value;
}

/* Counts are printed as plain decimal integers: cJSON would print a
 * double such as 1e+15 in exponent form, which strict readers reject. */
static void add_integer(cJSON *object, const char *name,
			unsigned long long value)
{
	char text[32];

	snprintf(text, sizeof(text), "%llu", value);
	cJSON_AddItemToObject(object, name, cJSON_CreateRaw(text));
}

/* Print tree as compact JSON and delete it. */
static char *print_and_delete(cJSON *tree)
{
	char *text = cJSON_PrintUnformatted(tree);
	char *copy;

	cJSON_Delete(tree);
	if (text == NULL)
		msg_fatal("out of memory printing a report");
	copy = xstrdup(text);
	cJSON_free(text);
	return copy;
}

static const char *text_member(const cJSON *object, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);

	return cJSON_IsString(item) ? item->valuestring : NULL;
}

static bool valid_text(const char *text)
{
	return utf8_valid(text, strlen(text));
}

/* Copy the strings of an array; a missing array becomes []. */
static cJSON *copy_strings(const cJSON *array, const char **problem)
{
	cJSON *copy = cJSON_CreateArray();
	const cJSON *item;

	if (!cJSON_IsArray(array))
		return copy;
	cJSON_ArrayForEach(item, array) {
		if (!cJSON_IsString(item) || !valid_text(item->valuestring)) {
			*problem = "policy-string or mx-host entry is not a "
				   "valid UTF-8 string";
			continue;
		}
		cJSON_AddItemToArray(copy,
				     cJSON_CreateString(item->valuestring));
	}
	return copy;
}

/*
 * Rewrite a summary policy object in canonical member order. A missing or
 * empty policy-domain of an sts or no-policy-found policy is the report
 * domain. A tlsa policy-domain is the MX host's TLSA base domain, which
 * cannot be derived here, so a tlsa line without one is rejected.
 */
static char *canonical_policy(const cJSON *policy, const char *report_domain,
			      const char **problem)
{
	const char *type = text_member(policy, "policy-type");
	const char *domain = text_member(policy, "policy-domain");
	cJSON *object;

	*problem = NULL;
	if (type == NULL || (strcmp(type, "tlsa") != 0
			     && strcmp(type, "sts") != 0
			     && strcmp(type, "no-policy-found") != 0)) {
		*problem = "invalid policy-type";
		return NULL;
	}
	if (domain == NULL || domain[0] == '\0') {
		if (strcmp(type, "tlsa") == 0) {
			*problem = "tlsa policy without policy-domain";
			return NULL;
		}
		domain = report_domain;
	}
	if (!valid_text(domain)) {
		*problem = "policy-domain is not valid UTF-8";
		return NULL;
	}
	object = cJSON_CreateObject();
	cJSON_AddStringToObject(object, "policy-type", type);
	cJSON_AddItemToObject(object, "policy-string", copy_strings(
		cJSON_GetObjectItemCaseSensitive(policy, "policy-string"),
		problem));
	cJSON_AddStringToObject(object, "policy-domain", domain);
	cJSON_AddItemToObject(object, "mx-host", copy_strings(
		cJSON_GetObjectItemCaseSensitive(policy, "mx-host"), problem));
	if (*problem != NULL) {
		cJSON_Delete(object);
		return NULL;
	}
	return print_and_delete(object);
}

/* Copy an optional string member; empty or invalid values are omitted. */
static void copy_member(cJSON *to, const cJSON *from, const char *name,
			const struct build_context *ctx)
{
	const char *value = text_member(from, name);

	if (value == NULL || value[0] == '\0')
		return;
	if (!valid_text(value)) {
		if (msg_rate_allow(&bad_line_rate))
			msg_warn("day %s, domain %s: leaving out %s of a "
				 "failure-details row: invalid UTF-8", ctx->day,
				 ctx->domain, name);
		return;
	}
	cJSON_AddStringToObject(to, name, value);
}

/* Reduce a HELO value to one line: a multi-line EHLO reply such as
 * "250-mx.example.net\r\n250-PIPELINING" becomes "mx.example.net". */
static void copy_helo(cJSON *to, const cJSON *from,
		      const struct build_context *ctx)
{
	const char *value = text_member(from, "receiving-mx-helo");
	char *helo;

	if (value == NULL || strpbrk(value, "\r\n") == NULL) {
		copy_member(to, from, "receiving-mx-helo", ctx);
		return;
	}
	helo = helo_from_reply(value);
	if (helo != NULL && valid_text(helo))
		cJSON_AddStringToObject(to, "receiving-mx-helo", helo);
	free(helo);
}

/*
 * Rewrite a failure-details object in canonical member order, always with
 * a registered result-type: strict receivers reject rows without one, so
 * an unknown name is carried in failure-reason-code instead.
 */
static char *canonical_detail(const cJSON *detail,
			      const struct build_context *ctx)
{
	const char *type = text_member(detail, "result-type");
	const char *reason = text_member(detail, "failure-reason-code");
	cJSON *object = cJSON_CreateObject();
	bool known = type != NULL && result_type_known(type);

	cJSON_AddStringToObject(object, "result-type",
				known ? type : "validation-failure");
	copy_member(object, detail, "sending-mta-ip", ctx);
	copy_member(object, detail, "receiving-mx-hostname", ctx);
	copy_helo(object, detail, ctx);
	copy_member(object, detail, "receiving-ip", ctx);
	copy_member(object, detail, "additional-information", ctx);
	if (known) {
		copy_member(object, detail, "failure-reason-code", ctx);
		return print_and_delete(object);
	}

	if (type == NULL || !valid_text(type))
		type = "unknown";
	if (msg_rate_allow(&unknown_type_rate))
		msg_warn("day %s, domain %s: unknown result-type \"%.64s\" "
			 "reported as validation-failure with the name in "
			 "failure-reason-code", ctx->day, ctx->domain, type);
	if (reason != NULL && reason[0] != '\0' && valid_text(reason)) {
		char *combined = xasprintf("%s: %s", type, reason);

		cJSON_AddStringToObject(object, "failure-reason-code",
					combined);
		free(combined);
	} else {
		cJSON_AddStringToObject(object, "failure-reason-code", type);
	}
	return print_and_delete(object);
}

static int compare_keyed(const void *left, const void *right)
{
	const struct keyed_counter *a = left;
	const struct keyed_counter *b = right;
	int order = strcmp(a->domain, b->domain);

	return order != 0 ? order : strcmp(a->counter->record,
					   b->counter->record);
}

/* Tag every counter line with its normalised domain, sorted by
 * (domain, record) so that each report's lines are adjacent. */
static struct keyed_counter *key_counters(const struct summary *summary)
{
	struct keyed_counter *keyed =
		xcalloc(summary->counter_count + 1, sizeof(*keyed));
	size_t i;

	for (i = 0; i < summary->counter_count; i++) {
		const struct summary_counter *counter = &summary->counters[i];
		struct strbuf why;

		keyed[i].counter = counter;
		strbuf_init(&why);
		if (domain_normalise(counter->domain, false, &keyed[i].domain,
				     &why) != 0) {
			keyed[i].domain = xstrdup(counter->domain);
			keyed[i].invalid_reason = strbuf_detach(&why, NULL);
		} else {
			strbuf_free(&why);
		}
	}
	if (summary->counter_count > 1)
		qsort(keyed, summary->counter_count, sizeof(*keyed),
		      compare_keyed);
	return keyed;
}

static void free_keyed(struct keyed_counter *keyed, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		free(keyed[i].domain);
		free(keyed[i].invalid_reason);
	}
	free(keyed);
}

static int compare_lines(const void *left, const void *right)
{
	const struct canonical_line *a = left;
	const struct canonical_line *b = right;
	int order = strcmp(a->policy, b->policy);

	if (order != 0)
		return order;
	if (a->detail == NULL || b->detail == NULL)
		return (a->detail != NULL) - (b->detail != NULL);
	return strcmp(a->detail, b->detail);
}

/* Rewrite the lines of one report; lines that cannot be reported are
 * logged and left out. */
static struct canonical_line *canonical_lines(const struct keyed_counter
					      *group, size_t count,
					      const struct build_context *ctx,
					      size_t *used)
{
	struct canonical_line *lines = xcalloc(count + 1, sizeof(*lines));
	size_t i;

	*used = 0;
	for (i = 0; i < count; i++) {
		const struct summary_counter *counter = group[i].counter;
		struct canonical_line *line = &lines[*used];
		const char *problem;

		line->counter = counter;
		line->policy = canonical_policy(counter->policy, ctx->domain,
						&problem);
		if (line->policy == NULL) {
			if (msg_rate_allow(&bad_line_rate))
				msg_warn("day %s, domain %s: skipping a "
					 "summary line: %s", ctx->day,
					 ctx->domain, problem);
			continue;
		}
		if (counter->is_detail)
			line->detail = canonical_detail(counter->detail, ctx);
		(*used)++;
	}
	if (*used > 1)
		qsort(lines, *used, sizeof(*lines), compare_lines);
	return lines;
}

static void free_lines(struct canonical_line *lines, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		free(lines[i].policy);
		free(lines[i].detail);
	}
	free(lines);
}

/* Add sorted lines up into policies; equal texts are adjacent. The
 * canonical strings move from the lines into the policies. */
static struct policy_entry *merge_lines(struct canonical_line *lines,
					size_t count, size_t *policy_count)
{
	struct policy_entry *policies = xcalloc(count + 1, sizeof(*policies));
	struct policy_entry *entry = NULL;
	size_t i;

	*policy_count = 0;
	for (i = 0; i < count; i++) {
		struct canonical_line *line = &lines[i];
		struct detail_row *last;

		if (entry == NULL || strcmp(entry->json, line->policy) != 0) {
			entry = &policies[(*policy_count)++];
			entry->json = line->policy;
			line->policy = NULL;
		}
		if (line->detail == NULL) {
			add_count(&entry->success, line->counter->success);
			add_count(&entry->failure, line->counter->failure);
			continue;
		}
		last = entry->row_count > 0 ? &entry->rows[entry->row_count - 1]
			: NULL;
		if (last != NULL && strcmp(last->json, line->detail) == 0) {
			add_count(&last->count, line->counter->count);
			continue;
		}
		entry->rows = xreallocarray(entry->rows, entry->row_count + 1,
					    sizeof(*entry->rows));
		last = &entry->rows[entry->row_count++];
		memset(last, 0, sizeof(*last));
		last->json = line->detail;
		last->count = line->counter->count;
		line->detail = NULL;
	}
	return policies;
}

static void free_policies(struct policy_entry *policies, size_t count)
{
	size_t i;
	size_t j;

	for (i = 0; i < count; i++) {
		for (j = 0; j < policies[i].row_count; j++)
			free(policies[i].rows[j].json);
		free(policies[i].rows);
		free(policies[i].json);
	}
	free(policies);
}

static int compare_rows_by_text(const void *left, const void *right)
{
	const struct detail_row *a = left;
	const struct detail_row *b = right;

	return strcmp(a->json, b->json);
}

/* Largest count first; equal counts in text order, so the choice is
 * deterministic. */
static int compare_rows_by_count(const void *left, const void *right)
{
	const struct detail_row *a = left;
	const struct detail_row *b = right;

	if (a->count != b->count)
		return a->count < b->count ? 1 : -1;
	return strcmp(a->json, b->json);
}

/* Keep at most max rows per policy, those with the largest counts. */
static void cap_rows(struct policy_entry *policies, size_t count,
		     const struct build_context *ctx)
{
	size_t max = ctx->identity->max_failure_details;
	size_t i;
	size_t j;

	for (i = 0; i < count; i++) {
		struct policy_entry *entry = &policies[i];

		if (entry->row_count <= max)
			continue;
		msg_warn("day %s, domain %s: a policy has %zu failure-details "
			 "rows; reporting the %zu with the largest counts "
			 "(report_max_failure_details); the session totals "
			 "are unchanged", ctx->day, ctx->domain,
			 entry->row_count, max);
		qsort(entry->rows, entry->row_count, sizeof(*entry->rows),
		      compare_rows_by_count);
		for (j = max; j < entry->row_count; j++)
			free(entry->rows[j].json);
		entry->row_count = max;
		qsort(entry->rows, entry->row_count, sizeof(*entry->rows),
		      compare_rows_by_text);
	}
}

static cJSON *policy_json(const struct policy_entry *entry)
{
	cJSON *item = cJSON_CreateObject();
	cJSON *policy = cJSON_Parse(entry->json);
	cJSON *summary = cJSON_CreateObject();
	cJSON *details = cJSON_CreateArray();
	size_t i;

	if (policy == NULL)
		msg_panic("report: cannot parse canonical policy \"%.200s\"",
			  entry->json);
	cJSON_AddItemToObject(item, "policy", policy);
	add_integer(summary, "total-successful-session-count", entry->success);
	add_integer(summary, "total-failure-session-count", entry->failure);
	cJSON_AddItemToObject(item, "summary", summary);
	for (i = 0; i < entry->row_count; i++) {
		cJSON *row;

		if (entry->rows[i].dropped)
			continue;
		row = cJSON_Parse(entry->rows[i].json);
		if (row == NULL)
			msg_panic("report: cannot parse canonical detail "
				  "\"%.200s\"", entry->rows[i].json);
		add_integer(row, "failed-session-count", entry->rows[i].count);
		cJSON_AddItemToArray(details, row);
	}
	cJSON_AddItemToObject(item, "failure-details", details);
	return item;
}

static char *report_json(const struct build_context *ctx,
			 const struct policy_entry *policies, size_t count)
{
	char start[UTC_TIME_LEN + 1];
	char end[UTC_TIME_LEN + 1];
	cJSON *root = cJSON_CreateObject();
	cJSON *range = cJSON_CreateObject();
	cJSON *array = cJSON_CreateArray();
	size_t i;

	utc_time_format(ctx->begin, start);
	utc_time_format(ctx->begin + UTC_DAY_SECONDS - 1, end);
	cJSON_AddStringToObject(root, "organization-name",
				ctx->identity->organization_name);
	cJSON_AddStringToObject(range, "start-datetime", start);
	cJSON_AddStringToObject(range, "end-datetime", end);
	cJSON_AddItemToObject(root, "date-range", range);
	cJSON_AddStringToObject(root, "contact-info",
				ctx->identity->contact_info);
	cJSON_AddStringToObject(root, "report-id", ctx->report_id);
	for (i = 0; i < count; i++)
		cJSON_AddItemToArray(array, policy_json(&policies[i]));
	cJSON_AddItemToObject(root, "policies", array);
	return print_and_delete(root);
}

/* Smallest count first, the reverse of the order rows are kept in. */
static int compare_rows_to_drop(const void *left, const void *right)
{
	const struct detail_row *const *a = left;
	const struct detail_row *const *b = right;

	return compare_rows_by_count(*b, *a);
}

/* Rows in the order they are given up for size. */
static struct detail_row **rows_smallest_first(struct policy_entry *policies,
					       size_t count, size_t *total)
{
	struct detail_row **order;
	size_t i;
	size_t j;
	size_t k = 0;

	*total = 0;
	for (i = 0; i < count; i++)
		*total += policies[i].row_count;
	order = xcalloc(*total + 1, sizeof(*order));
	for (i = 0; i < count; i++)
		for (j = 0; j < policies[i].row_count; j++)
			order[k++] = &policies[i].rows[j];
	if (*total > 1)
		qsort(order, *total, sizeof(*order), compare_rows_to_drop);
	return order;
}

/*
 * Serialise and gzip the report into out. While the gzip is larger than
 * report_max_size, leave out failure-details rows, smallest counts first,
 * dropping about as large a share as the excess (at least one row).
 */
static int encode_report(const struct build_context *ctx,
			 struct policy_entry *policies, size_t count,
			 struct report *out)
{
	struct detail_row **order = NULL;
	size_t total = 0;
	size_t dropped = 0;

	for (;;) {
		size_t excess;
		size_t more;

		out->json = report_json(ctx, policies, count);
		if (gzip_compress(out->json, strlen(out->json), &out->gzip,
				  &out->gzip_len) != 0) {
			msg_error("day %s, domain %s: cannot compress the "
				  "report", ctx->day, ctx->domain);
			break;
		}
		if (out->gzip_len <= ctx->identity->max_size) {
			if (dropped > 0)
				msg_warn("day %s, domain %s: left out %zu of "
					 "%zu failure-details rows (smallest "
					 "counts) to stay within "
					 "report_max_size (%zu bytes); the "
					 "session totals are unchanged",
					 ctx->day, ctx->domain, dropped, total,
					 ctx->identity->max_size);
			free(order);
			return 0;
		}
		if (order == NULL)
			order = rows_smallest_first(policies, count, &total);
		if (dropped == total) {
			msg_error("day %s, domain %s: report is %zu bytes "
				  "gzip'd even without failure-details, more "
				  "than report_max_size (%zu bytes); not "
				  "sending it. Raise report_max_size", ctx->day,
				  ctx->domain, out->gzip_len,
				  ctx->identity->max_size);
			break;
		}
		excess = out->gzip_len - ctx->identity->max_size;
		more = (size_t)((double)(total - dropped) * (double)excess
				/ (double)out->gzip_len) + 1;
		while (more-- > 0 && dropped < total)
			order[dropped++]->dropped = true;
		free(out->json);
		free(out->gzip);
		out->json = NULL;
		out->gzip = NULL;
	}
	free(order);
	free(out->json);
	free(out->gzip);
	out->json = NULL;
	out->gzip = NULL;
	return -1;
}

/* The report's unique id: SHA-256 over day, domain and record, each
 * ending in NUL so that no two triples hash the same input. */
static void report_digest(const char *day, const char *domain,
			  const char *record, char hex[REPORT_HEX_LEN + 1])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t i;

	if (md == NULL
	    || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
	    || EVP_DigestUpdate(md, day, strlen(day) + 1) != 1
	    || EVP_DigestUpdate(md, domain, strlen(domain) + 1) != 1
	    || EVP_DigestUpdate(md, record, strlen(record) + 1) != 1
	    || EVP_DigestFinal_ex(md, digest, &digest_len) != 1
	    || digest_len < REPORT_HEX_LEN / 2)
		msg_fatal("OpenSSL SHA-256 digest failed");
	EVP_MD_CTX_free(md);
	for (i = 0; i < REPORT_HEX_LEN / 2; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

/* Build the report of one (domain, record) group. Returns 0 with out
 * filled, 1 when the report is skipped as success-only, -1 when it cannot
 * be built (logged). */
static int build_report(struct build_context *ctx,
			const struct keyed_counter *group, size_t count,
			struct report *out)
{
	struct canonical_line *lines;
	struct policy_entry *policies;
	size_t line_count;
	size_t policy_count;
	char hex[REPORT_HEX_LEN + 1];
	size_t i;
	int status = 0;

	memset(out, 0, sizeof(*out));
	report_digest(ctx->day, ctx->domain, ctx->record, hex);
	out->report_id = xasprintf("%s.%s.%s@%s", ctx->day, ctx->domain, hex,
				   ctx->identity->submitter);
	ctx->report_id = out->report_id;

	lines = canonical_lines(group, count, ctx, &line_count);
	policies = merge_lines(lines, line_count, &policy_count);
	free_lines(lines, line_count);
	for (i = 0; i < policy_count; i++) {
		add_count(&out->successes, policies[i].success);
		add_count(&out->failures, policies[i].failure);
	}
	if (policy_count == 0) {
		msg_warn("day %s, domain %s: no summary line could be "
			 "reported; no report", ctx->day, ctx->domain);
		status = -1;
	}
	else if (out->failures == 0 && !ctx->identity->success_only_days)
		status = 1;
	if (status == 0) {
		cap_rows(policies, policy_count, ctx);
		status = encode_report(ctx, policies, policy_count, out);
	}
	free_policies(policies, policy_count);
	if (status != 0) {
		free(out->report_id);
		memset(out, 0, sizeof(*out));
		return status;
	}
	out->day = xstrdup(ctx->day);
	out->report_domain = xstrdup(ctx->domain);
	out->record = xstrdup(ctx->record);
	out->filename = xasprintf("%s!%s!%lld!%lld!%s.json.gz",
				  ctx->identity->submitter, ctx->domain,
				  (long long)ctx->begin,
				  (long long)ctx->begin + UTC_DAY_SECONDS - 1,
				  hex);
	return 0;
}

static size_t group_end(const struct keyed_counter *keyed, size_t start,
			size_t count)
{
	size_t end = start + 1;

	while (end < count && compare_keyed(&keyed[start], &keyed[end]) == 0)
		end++;
	return end;
}

int report_build_all(const struct summary *summary,
		     const struct report_identity *identity,
		     struct report **reports, size_t *count,
		     struct strbuf *error)
{
	struct build_context ctx;
	struct keyed_counter *keyed;
	size_t success_only = 0;
	size_t start;
	size_t end;

	*reports = NULL;
	*count = 0;
	memset(&ctx, 0, sizeof(ctx));
	ctx.identity = identity;
	ctx.day = summary->day;
	if (utc_day_parse(summary->day, &ctx.begin) != 0) {
		strbuf_printf(error, "invalid day \"%.40s\" in summary",
			      summary->day);
		return -1;
	}
	keyed = key_counters(summary);
	*reports = xcalloc(summary->counter_count + 1, sizeof(**reports));
	for (start = 0; start < summary->counter_count; start = end) {
		int status;

		end = group_end(keyed, start, summary->counter_count);
		if (keyed[start].invalid_reason != NULL) {
			msg_warn("day %s: skipping %zu summary lines of invalid "
				 "domain \"%.100s\": %s", summary->day,
				 end - start, keyed[start].domain,
				 keyed[start].invalid_reason);
			continue;
		}
		ctx.domain = keyed[start].domain;
		ctx.record = keyed[start].counter->record;
		status = build_report(&ctx, keyed + start, end - start,
				      &(*reports)[*count]);
		if (status == 0)
			(*count)++;
		else if (status == 1)
			success_only++;
	}
	free_keyed(keyed, summary->counter_count);
	if (success_only > 0)
		msg_info("day %s: %zu reports without failures not built "
			 "(report_success_only_days = no)", summary->day,
			 success_only);
	return 0;
}

void report_free_all(struct report *reports, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		free(reports[i].day);
		free(reports[i].report_domain);
		free(reports[i].record);
		free(reports[i].report_id);
		free(reports[i].filename);
		free(reports[i].json);
		free(reports[i].gzip);
	}
	free(reports);
}
