/*
 * report: RFC 8460 reports from a day summary; see report.h.
 *
 * The counter lines of one report, all of one (normalised report domain,
 * TLSRPT record), are rewritten into canonical, report-shaped JSON with a
 * fixed member order and sorted by that text. So equal policies and
 * failure-details meet and add up, and the output order depends only on
 * the content. A rebuilt report is therefore byte-identical to the first
 * one, whether its lines came from summary_read() or from the stream.
 *
 * Summaries may come from other hosts, so the rewriting is defensive. A
 * result-type outside the IANA registry becomes validation-failure with
 * the original name as failure-reason-code. A receiving-mx-helo with line
 * breaks is cut to its greeting name. Empty optional strings are left
 * out, and a line that cannot be reported is logged and skipped.
 *
 * Size control folds rows rather than losing their counts. Over
 * report_max_failure_details rows, a policy keeps the rows with the
 * largest counts, and the others are added up per result-type into rows
 * that carry only result-type and failed-session-count (joining a kept
 * row that is already just that). The cap counts those rows too. When
 * the gzip is over report_max_size, the cap shrinks for every policy
 * until it fits. Only when the cap is smaller than the number of
 * result-types are rows left out, the smallest totals first. The session
 * totals never change.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "datagram.h"
#include "domain.h"
#include "json_print.h"
#include "gzip.h"
#include "msg.h"
#include "report.h"
#include "utc_time.h"
#include "utf8.h"
#include "xalloc.h"

#define REPORT_HEX_LEN	16	/* hex digits of the report's unique id */
#define REPORT_MAX_TYPES 16	/* the IANA result-type registry has 11 */

/* One failure-details row of a policy. */
struct detail_row {
	char *json;			/* canonical detail object */
	char *type;			/* its result-type */
	unsigned long long count;
};

/* One policies[] entry of a report. */
struct policy_entry {
	char *json;			/* canonical policy object */
	unsigned long long success;
	unsigned long long failure;
	struct detail_row *rows;	/* every row of the policy */
	size_t row_count;
	struct detail_row *shown;	/* the rows reported under the cap */
	size_t shown_count;
	size_t folded;			/* rows added into per-type rows */
	size_t dropped;			/* rows left out entirely */
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
	char *detail_type;		/* result-type of detail */
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

/* The rows of one result-type outside the kept rows of a policy. */
struct type_total {
	const char *type;
	unsigned long long count;	/* their failed sessions */
	size_t rows;			/* how many rows are folded */
	size_t bare;			/* index of the row {"result-type":type}
					 * in the policy's rows, or SIZE_MAX */
};

static struct msg_rate bad_line_rate =
	MSG_RATE_INIT("skipped summary line", 20, 60);
static struct msg_rate unknown_type_rate =
	MSG_RATE_INIT("unknown result-type", 20, 60);
static struct msg_rate fold_rate =
	MSG_RATE_INIT("folded failure-details", 100, 60);

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

/* RFC 5322 dot-atom: atext characters, with single dots between them. */
static bool valid_local_part(const char *local, size_t len)
{
	size_t i;

	if (len == 0 || local[0] == '.' || local[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)local[i];

		if (c == '.' && local[i + 1] == '.')
			return false;
		if (c != '.' && !isalnum(c)
		    && strchr("!#$%&'*+-/=?^_`{|}~", c) == NULL)
			return false;
	}
	return true;
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
	if (!valid_local_part(contact, (size_t)(at - contact))) {
		identity_error(error, "contact_info \"%s\" has an invalid "
			       "local part before the '@'; set it in "
			       "%s/main.cf to a plain address such as "
			       "tlsrpt@example.net",
			       contact, config_directory());
		return NULL;
	}
	strbuf_init(&why);
	if (domain_normalise(at + 1, false, &domain, &why) != 0) {
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

int report_identity_check(struct strbuf *error)
{
	struct report_identity identity;

	if (report_identity_from_config(&identity, error) != 0)
		return -1;
	report_identity_free(&identity);
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

static const char *text_member(const cJSON *object, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);

	return cJSON_IsString(item) ? item->valuestring : NULL;
}

static bool valid_text(const char *text)
{
	return utf8_valid(text, strlen(text));
}

static void warn_left_out(const struct build_context *ctx, const char *name,
			  const char *value, const char *why)
{
	if (!msg_rate_allow(&bad_line_rate))
		return;
	if (valid_text(value))
		msg_warn("day %s, domain %s: leaving out %s \"%.100s\": %s",
			 ctx->day, ctx->domain, name, value, why);
	else
		msg_warn("day %s, domain %s: leaving out %s: %s", ctx->day,
			 ctx->domain, name, why);
}

/* Copy the policy-string array; a missing array becomes []. */
static cJSON *copy_strings(const cJSON *array, const char **problem)
{
	cJSON *copy = cJSON_CreateArray();
	const cJSON *item;

	if (!cJSON_IsArray(array))
		return copy;
	cJSON_ArrayForEach(item, array) {
		if (!cJSON_IsString(item) || !valid_text(item->valuestring)) {
			*problem = "policy-string entry is not a valid UTF-8 "
				   "string";
			continue;
		}
		cJSON_AddItemToArray(copy,
				     cJSON_CreateString(item->valuestring));
	}
	return copy;
}

/* Copy the mx-host array with every entry normalised to A-labels; an
 * entry that is no host name or "*." pattern is left out. */
static cJSON *copy_hosts(const cJSON *array, const struct build_context *ctx)
{
	cJSON *copy = cJSON_CreateArray();
	const cJSON *item;

	if (!cJSON_IsArray(array))
		return copy;
	cJSON_ArrayForEach(item, array) {
		struct strbuf why;
		char *host;

		if (!cJSON_IsString(item))
			continue;
		strbuf_init(&why);
		if (domain_normalise(item->valuestring, true, &host, &why)
		    == 0) {
			cJSON_AddItemToArray(copy, cJSON_CreateString(host));
			free(host);
		} else {
			warn_left_out(ctx, "mx-host entry", item->valuestring,
				      why.data);
		}
		strbuf_free(&why);
	}
	return copy;
}

static bool is_policy_type(const char *type)
{
	return type != NULL && (strcmp(type, "tlsa") == 0
				|| strcmp(type, "sts") == 0
				|| strcmp(type, "no-policy-found") == 0);
}

/*
 * Rewrite a summary policy object in canonical member order. A missing or
 * empty policy-domain of an sts or no-policy-found policy is the report
 * domain. A tlsa policy-domain is the MX host's TLSA base domain, which
 * cannot be derived here, so a tlsa line without one is rejected.
 */
static char *canonical_policy(const cJSON *policy,
			      const struct build_context *ctx,
			      const char **problem)
{
	const char *type = text_member(policy, "policy-type");
	const char *domain = text_member(policy, "policy-domain");
	struct strbuf why;
	char *normalised;
	cJSON *object;

	*problem = NULL;
	if (!is_policy_type(type)) {
		*problem = "invalid policy-type";
		return NULL;
	}
	if ((domain == NULL || domain[0] == '\0')
	    && strcmp(type, "tlsa") == 0) {
		*problem = "tlsa policy without policy-domain";
		return NULL;
	}
	if (domain == NULL || domain[0] == '\0')
		domain = ctx->domain;
	strbuf_init(&why);
	if (domain_normalise(domain, false, &normalised, &why) != 0) {
		strbuf_free(&why);
		*problem = "invalid policy-domain";
		return NULL;
	}
	strbuf_free(&why);

	object = cJSON_CreateObject();
	cJSON_AddStringToObject(object, "policy-type", type);
	cJSON_AddItemToObject(object, "policy-string", copy_strings(
		cJSON_GetObjectItemCaseSensitive(policy, "policy-string"),
		problem));
	cJSON_AddStringToObject(object, "policy-domain", normalised);
	cJSON_AddItemToObject(object, "mx-host", copy_hosts(
		cJSON_GetObjectItemCaseSensitive(policy, "mx-host"), ctx));
	free(normalised);
	if (*problem != NULL) {
		cJSON_Delete(object);
		return NULL;
	}
	return json_print_and_delete(object);
}

/* Copy an optional string member; empty or invalid values are omitted. */
static void copy_member(cJSON *to, const cJSON *from, const char *name,
			const struct build_context *ctx)
{
	const char *value = text_member(from, name);

	if (value == NULL || value[0] == '\0')
		return;
	if (!valid_text(value)) {
		warn_left_out(ctx, name, value, "invalid UTF-8");
		return;
	}
	cJSON_AddStringToObject(to, name, value);
}

/* Copy an IP address in canonical form (RFC 5952 for IPv6). */
static void copy_address(cJSON *to, const cJSON *from, const char *name,
			 const struct build_context *ctx)
{
	const char *value = text_member(from, name);
	unsigned char binary[16];
	char text[INET6_ADDRSTRLEN];
	int family = AF_INET;

	if (value == NULL || value[0] == '\0')
		return;
	if (inet_pton(AF_INET, value, binary) != 1) {
		family = AF_INET6;
		if (inet_pton(AF_INET6, value, binary) != 1) {
			warn_left_out(ctx, name, value, "not an IP address");
			return;
		}
	}
	cJSON_AddStringToObject(to, name, inet_ntop(family, binary, text,
						    sizeof(text)));
}

/* Copy a host name normalised to A-labels. */
static void copy_host(cJSON *to, const cJSON *from, const char *name,
		      const struct build_context *ctx)
{
	const char *value = text_member(from, name);
	struct strbuf why;
	char *host;

	if (value == NULL || value[0] == '\0')
		return;
	strbuf_init(&why);
	if (domain_normalise(value, false, &host, &why) == 0) {
		cJSON_AddStringToObject(to, name, host);
		free(host);
	} else {
		warn_left_out(ctx, name, value, why.data);
	}
	strbuf_free(&why);
}

/* Reduce a HELO value to one line: a multi-line EHLO reply such as
 * "250-mx.example.net\r\n250-PIPELINING" becomes "mx.example.net". */
static void copy_helo(cJSON *to, const cJSON *from,
		      const struct build_context *ctx)
{
	const char *value = text_member(from, "receiving-mx-helo");
	char *helo;

	if (value == NULL || value[0] == '\0')
		return;
	helo = helo_from_reply(value);
	if (helo != NULL && valid_text(helo))
		cJSON_AddStringToObject(to, "receiving-mx-helo", helo);
	else if (helo != NULL)
		warn_left_out(ctx, "receiving-mx-helo", helo, "invalid UTF-8");
	free(helo);
}

/*
 * Rewrite a failure-details object in canonical member order, always with
 * a registered result-type: strict receivers reject rows without one, so
 * an unknown name is carried in failure-reason-code instead.
 */
static char *canonical_detail(const cJSON *detail,
			      const struct build_context *ctx,
			      char **reported_type)
{
	const char *type = text_member(detail, "result-type");
	const char *reason = text_member(detail, "failure-reason-code");
	cJSON *object = cJSON_CreateObject();
	bool known = type != NULL && result_type_known(type);

	*reported_type = xstrdup(known ? type : "validation-failure");
	cJSON_AddStringToObject(object, "result-type", *reported_type);
	copy_address(object, detail, "sending-mta-ip", ctx);
	copy_host(object, detail, "receiving-mx-hostname", ctx);
	copy_helo(object, detail, ctx);
	copy_address(object, detail, "receiving-ip", ctx);
	copy_member(object, detail, "additional-information", ctx);
	if (known) {
		copy_member(object, detail, "failure-reason-code", ctx);
		return json_print_and_delete(object);
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
	return json_print_and_delete(object);
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
static struct canonical_line *canonical_lines(
	const struct summary_counter *const *counters, size_t count,
	const struct build_context *ctx, size_t *used)
{
	struct canonical_line *lines = xcalloc(count + 1, sizeof(*lines));
	size_t i;

	*used = 0;
	for (i = 0; i < count; i++) {
		const struct summary_counter *counter = counters[i];
		struct canonical_line *line = &lines[*used];
		const char *problem;

		line->counter = counter;
		line->policy = canonical_policy(counter->policy, ctx,
						&problem);
		if (line->policy == NULL) {
			if (msg_rate_allow(&bad_line_rate))
				msg_warn("day %s, domain %s: skipping a "
					 "summary line: %s", ctx->day,
					 ctx->domain, problem);
			continue;
		}
		if (counter->is_detail)
			line->detail = canonical_detail(counter->detail, ctx,
							&line->detail_type);
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
		free(lines[i].detail_type);
	}
	free(lines);
}

/* Start a new row of entry from a detail line, taking its strings. */
static void add_row(struct policy_entry *entry, struct canonical_line *line)
{
	struct detail_row *row;

	entry->rows = xreallocarray(entry->rows, entry->row_count + 1,
				    sizeof(*entry->rows));
	row = &entry->rows[entry->row_count++];
	row->json = line->detail;
	row->type = line->detail_type;
	row->count = line->counter->count;
	line->detail = NULL;
	line->detail_type = NULL;
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
		if (last != NULL && strcmp(last->json, line->detail) == 0)
			add_count(&last->count, line->counter->count);
		else
			add_row(entry, line);
	}
	return policies;
}

static void free_rows(struct detail_row *rows, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		free(rows[i].json);
		free(rows[i].type);
	}
	free(rows);
}

static void free_policies(struct policy_entry *policies, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		free_rows(policies[i].rows, policies[i].row_count);
		free_rows(policies[i].shown, policies[i].shown_count);
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

static int compare_totals(const void *left, const void *right)
{
	const struct type_total *a = left;
	const struct type_total *b = right;

	if (a->count != b->count)
		return a->count < b->count ? 1 : -1;
	return strcmp(a->type, b->type);
}

/* The text of a row that contains nothing but its result-type. */
static char *bare_row_json(const char *type)
{
	return xasprintf("{\"result-type\":\"%s\"}", type);
}

/* Make the table of result-types of entry's rows, each with the index of
 * its bare row. Returns the number of types. */
static size_t list_types(const struct policy_entry *entry,
			 struct type_total totals[REPORT_MAX_TYPES])
{
	size_t count = 0;
	size_t i;
	size_t t;

	for (i = 0; i < entry->row_count; i++) {
		const struct detail_row *row = &entry->rows[i];
		char *bare;

		for (t = 0; t < count; t++)
			if (strcmp(totals[t].type, row->type) == 0)
				break;
		if (t == count) {
			if (count == REPORT_MAX_TYPES)
				msg_panic("report: more than %d result-types "
					  "in one policy", REPORT_MAX_TYPES);
			memset(&totals[t], 0, sizeof(totals[t]));
			totals[t].type = row->type;
			totals[t].bare = SIZE_MAX;
			count++;
		}
		bare = bare_row_json(row->type);
		if (totals[t].bare == SIZE_MAX && strcmp(row->json, bare) == 0)
			totals[t].bare = i;
		free(bare);
	}
	return count;
}

/* Add up the rows from index kept on per result-type. Returns how many
 * types need a row of their own, because their bare row is not kept. */
static size_t total_from(const struct policy_entry *entry, size_t kept,
			 struct type_total *totals, size_t type_count)
{
	size_t extra = 0;
	size_t i;
	size_t t;

	for (t = 0; t < type_count; t++) {
		totals[t].count = 0;
		totals[t].rows = 0;
	}
	for (i = kept; i < entry->row_count; i++) {
		for (t = 0; strcmp(totals[t].type, entry->rows[i].type) != 0;
		     t++)
			continue;
		add_count(&totals[t].count, entry->rows[i].count);
		totals[t].rows++;
	}
	for (t = 0; t < type_count; t++)
		if (totals[t].rows > 0 && totals[t].bare >= kept)
			extra++;
	return extra;
}

static void add_shown(struct policy_entry *entry, const char *json,
		      const char *type, unsigned long long count)
{
	struct detail_row *row = &entry->shown[entry->shown_count++];

	row->json = xstrdup(json);
	row->type = xstrdup(type);
	row->count = count;
}

/*
 * Fill entry->shown with at most cap rows: the kept rows, then one row
 * per folded result-type, joined into the kept bare row when there is
 * one. When even the per-type rows are more than cap, the ones with the
 * smallest totals are left out. entry->rows must be sorted by count.
 */
static void fold_rows(struct policy_entry *entry, size_t cap)
{
	struct type_total totals[REPORT_MAX_TYPES];
	size_t type_count = list_types(entry, totals);
	size_t kept_rows = cap;
	size_t extra = total_from(entry, kept_rows, totals, type_count);
	size_t t;

	/* Each row given up adds at most one per-type row, so the first
	 * kept_rows count that fits, counting down, is the largest one. */
	while (kept_rows > 0 && kept_rows + extra > cap)
		extra = total_from(entry, --kept_rows, totals, type_count);

	entry->shown = xcalloc(kept_rows + type_count + 1,
			       sizeof(*entry->shown));
	entry->shown_count = 0;
	entry->folded = entry->row_count - kept_rows;
	entry->dropped = 0;
	for (t = 0; t < kept_rows; t++)
		add_shown(entry, entry->rows[t].json, entry->rows[t].type,
			  entry->rows[t].count);
	qsort(totals, type_count, sizeof(*totals), compare_totals);
	for (t = 0; t < type_count; t++) {
		char *bare;

		if (totals[t].rows == 0)
			continue;
		if (totals[t].bare < kept_rows) {
			add_count(&entry->shown[totals[t].bare].count,
				  totals[t].count);
			continue;
		}
		if (entry->shown_count >= cap) {
			entry->dropped += totals[t].rows;
			continue;
		}
		bare = bare_row_json(totals[t].type);
		add_shown(entry, bare, totals[t].type, totals[t].count);
		free(bare);
	}
	entry->folded -= entry->dropped;
}

/* Choose the rows of every policy under a cap; rows are reported in
 * text order. */
static void apply_cap(struct policy_entry *policies, size_t count,
		      size_t cap)
{
	size_t i;
	size_t j;

	for (i = 0; i < count; i++) {
		struct policy_entry *entry = &policies[i];

		free_rows(entry->shown, entry->shown_count);
		entry->shown = NULL;
		entry->shown_count = 0;
		entry->folded = 0;
		entry->dropped = 0;
		if (entry->row_count > cap) {
			qsort(entry->rows, entry->row_count,
			      sizeof(*entry->rows), compare_rows_by_count);
			fold_rows(entry, cap);
		} else {
			entry->shown = xcalloc(entry->row_count + 1,
					       sizeof(*entry->shown));
			for (j = 0; j < entry->row_count; j++)
				add_shown(entry, entry->rows[j].json,
					  entry->rows[j].type,
					  entry->rows[j].count);
		}
		if (entry->shown_count > 1)
			qsort(entry->shown, entry->shown_count,
			      sizeof(*entry->shown), compare_rows_by_text);
	}
}

/* Log what a cap did to the rows, once per report. */
static void log_cap(const struct build_context *ctx,
		    const struct policy_entry *policies, size_t count,
		    size_t cap, const char *reason)
{
	size_t folded = 0;
	size_t dropped = 0;
	size_t rows = 0;
	size_t i;

	for (i = 0; i < count; i++) {
		folded += policies[i].folded;
		dropped += policies[i].dropped;
		rows += policies[i].row_count;
	}
	if ((folded > 0 || dropped > 0) && msg_rate_allow(&fold_rate))
		msg_warn("day %s, domain %s: %s: at most %zu failure-details "
			 "rows per policy; %zu of %zu rows folded into one row "
			 "per result-type, %zu left out; the session totals "
			 "are unchanged", ctx->day, ctx->domain, reason, cap,
			 folded, rows, dropped);
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
	for (i = 0; i < entry->shown_count; i++) {
		cJSON *row = cJSON_Parse(entry->shown[i].json);

		if (row == NULL)
			msg_panic("report: cannot parse canonical detail "
				  "\"%.200s\"", entry->shown[i].json);
		add_integer(row, "failed-session-count", entry->shown[i].count);
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
	return json_print_and_delete(root);
}

static size_t largest_row_count(const struct policy_entry *policies,
				size_t count)
{
	size_t largest = 0;
	size_t i;

	for (i = 0; i < count; i++)
		if (policies[i].shown_count > largest)
			largest = policies[i].shown_count;
	return largest;
}

/* Serialise and gzip the report into out. Returns 1 when it fits
 * report_max_size, 0 when it does not, -1 when compression failed. */
static int encode_once(const struct build_context *ctx,
		       const struct policy_entry *policies, size_t count,
		       struct report *out)
{
	free(out->json);
	free(out->gzip);
	out->gzip = NULL;
	out->json = report_json(ctx, policies, count);
	if (gzip_compress(out->json, strlen(out->json), &out->gzip,
			  &out->gzip_len) != 0) {
		msg_error("day %s, domain %s: cannot compress the report",
			  ctx->day, ctx->domain);
		return -1;
	}
	return out->gzip_len <= ctx->identity->max_size ? 1 : 0;
}

/*
 * Serialise and gzip the report into out, applying the row cap. While the
 * gzip is larger than report_max_size, shrink the cap of every policy in
 * proportion to the excess, by at least one row.
 */
static int encode_report(const struct build_context *ctx,
			 struct policy_entry *policies, size_t count,
			 struct report *out)
{
	size_t cap = ctx->identity->max_failure_details;
	bool shrunk = false;
	int fits;

	apply_cap(policies, count, cap);
	log_cap(ctx, policies, count, cap, "report_max_failure_details");
	cap = largest_row_count(policies, count);
	while ((fits = encode_once(ctx, policies, count, out)) == 0
	       && cap > 0) {
		double share = (double)ctx->identity->max_size
			/ (double)out->gzip_len;
		size_t smaller = (size_t)((double)cap * share * 0.9);

		cap = smaller < cap ? smaller : cap - 1;
		apply_cap(policies, count, cap);
		shrunk = true;
	}
	if (fits == 1 && shrunk)
		log_cap(ctx, policies, count, cap, "report_max_size");
	if (fits == 0)
		msg_error("day %s, domain %s: report is %zu bytes gzip'd even "
			  "without failure-details, more than report_max_size "
			  "(%zu bytes); not sending it. Raise report_max_size",
			  ctx->day, ctx->domain, out->gzip_len,
			  ctx->identity->max_size);
	if (fits == 1)
		return 0;
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

static bool has_rows(const struct policy_entry *policies, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (policies[i].row_count > 0)
			return true;
	return false;
}

/*
 * Build the report of one (domain, record) group. Returns 0 with out
 * filled, 1 when the report is skipped because it has no failures (no
 * failed session and no failure-details row) and report_success_only_days
 * is no, -1 when it cannot be built (logged).
 */
static int build_report(struct build_context *ctx,
			const struct summary_counter *const *counters,
			size_t count, struct report *out)
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

	lines = canonical_lines(counters, count, ctx, &line_count);
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
	} else if (out->failures == 0 && !has_rows(policies, policy_count)
		   && !ctx->identity->success_only_days) {
		status = 1;
	}
	if (status == 0)
		status = encode_report(ctx, policies, policy_count, out);
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

int report_build_group(const struct summary_group *group, const char *day,
		       const struct report_identity *identity,
		       struct report *report)
{
	const struct summary_counter **counters;
	struct build_context ctx;
	size_t i;
	int status;

	memset(report, 0, sizeof(*report));
	memset(&ctx, 0, sizeof(ctx));
	if (utc_day_parse(day, &ctx.begin) != 0) {
		msg_error("invalid day \"%.40s\" in a summary; no report",
			  day);
		return -1;
	}
	if (group->invalid_reason != NULL) {
		msg_warn("day %s: skipping %zu summary lines of invalid domain "
			 "\"%.100s\": %s", day, group->counter_count,
			 group->domain, group->invalid_reason);
		return -1;
	}
	ctx.identity = identity;
	ctx.day = day;
	ctx.domain = group->domain;
	ctx.record = group->record;
	counters = xcalloc(group->counter_count + 1, sizeof(*counters));
	for (i = 0; i < group->counter_count; i++)
		counters[i] = &group->counters[i];
	status = build_report(&ctx, counters, group->counter_count, report);
	free(counters);
	return status;
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
	const struct summary_counter **counters;
	struct build_context ctx;
	struct keyed_counter *keyed;
	size_t success_only = 0;
	size_t start;
	size_t end;
	size_t i;

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
	counters = xcalloc(summary->counter_count + 1, sizeof(*counters));
	for (i = 0; i < summary->counter_count; i++)
		counters[i] = keyed[i].counter;
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
		status = build_report(&ctx, counters + start, end - start,
				      &(*reports)[*count]);
		if (status == 0)
			(*count)++;
		else if (status == 1)
			success_only++;
	}
	free(counters);
	free_keyed(keyed, summary->counter_count);
	if (success_only > 0)
		msg_info("day %s: %zu reports without failures not built "
			 "(report_success_only_days = no)", summary->day,
			 success_only);
	return 0;
}

void report_free(struct report *report)
{
	free(report->day);
	free(report->report_domain);
	free(report->record);
	free(report->report_id);
	free(report->filename);
	free(report->json);
	free(report->gzip);
	memset(report, 0, sizeof(*report));
}

void report_free_all(struct report *reports, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		report_free(&reports[i]);
	free(reports);
}
