/*
 * datagram: validation of libtlsrpt datagrams and their canonical keys;
 * see datagram.h.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datagram.h"
#include "domain.h"
#include "json_print.h"
#include "json_text.h"
#include "msg.h"
#include "utf8.h"
#include "xalloc.h"

static const struct {
	int code;
	const char *name;
} result_types[] = {
	{201, "starttls-not-supported"},
	{202, "certificate-host-mismatch"},
	{203, "certificate-not-trusted"},
	{204, "certificate-expired"},
	{205, "validation-failure"},
	{301, "sts-policy-fetch-error"},
	{302, "sts-policy-invalid"},
	{303, "sts-webpki-invalid"},
	{304, "tlsa-invalid"},
	{305, "dnssec-invalid"},
	{306, "dane-required"},
};

#define RESULT_TYPE_COUNT (sizeof(result_types) / sizeof(result_types[0]))

const char *policy_type_name(int type)
{
	switch (type) {
	case POLICY_TLSA:
		return "tlsa";
	case POLICY_STS:
		return "sts";
	case POLICY_NO_POLICY_FOUND:
		return "no-policy-found";
	}
	return NULL;
}

const char *result_type_name(int code)
{
	size_t i;

	for (i = 0; i < RESULT_TYPE_COUNT; i++)
		if (result_types[i].code == code)
			return result_types[i].name;
	return NULL;
}

bool result_type_known(const char *name)
{
	size_t i;

	for (i = 0; i < RESULT_TYPE_COUNT; i++)
		if (strcmp(result_types[i].name, name) == 0)
			return true;
	return false;
}

/* The state of one datagram_parse() call. */
struct check {
	struct strbuf *reason;
	enum datagram_error error;	/* the class of the rejection */

	/* Indexes of the policy and failure-detail being checked, -1
	 * outside one. A rejection names the field with them. */
	int policy;
	int detail;

	/* The raw text is valid UTF-8. cJSON decodes "\u" escapes only
	 * into valid UTF-8 (it rejects unpaired surrogates), so then every
	 * decoded string is valid too and need not be checked again. */
	bool raw_utf8_valid;
};

static int reject(struct check *check, enum datagram_error error,
		  const char *format, ...) MSG_PRINTF(3, 4);
static int reject_field(struct check *check, enum datagram_error error,
			const char *name, int index, const char *format, ...)
	MSG_PRINTF(5, 6);

/* Record why the datagram is rejected; returns -1. */
static int reject(struct check *check, enum datagram_error error,
		  const char *format, ...)
{
	va_list ap;

	check->error = error;
	va_start(ap, format);
	strbuf_vprintf(check->reason, format, ap);
	va_end(ap);
	return -1;
}

/* Record why a field is rejected, after its path such as
 * "policies[0].failure-details[1].c: "; index >= 0 adds "[index]" to the
 * name. Returns -1. */
static int reject_field(struct check *check, enum datagram_error error,
			const char *name, int index, const char *format, ...)
{
	va_list ap;

	check->error = error;
	if (check->policy >= 0)
		strbuf_printf(check->reason, "policies[%d].", check->policy);
	if (check->detail >= 0)
		strbuf_printf(check->reason, "failure-details[%d].",
			      check->detail);
	strbuf_puts(check->reason, name);
	if (index >= 0)
		strbuf_printf(check->reason, "[%d]", index);
	strbuf_puts(check->reason, ": ");
	va_start(ap, format);
	strbuf_vprintf(check->reason, format, ap);
	va_end(ap);
	return -1;
}

/*
 * Checks on the raw bytes, before cJSON: size, NUL bytes, the lexical
 * rules cJSON does not enforce and the nesting depth (cJSON recurses).
 */
static int check_raw(const char *data, size_t len, size_t *bad_utf8,
		     struct check *check)
{
	enum json_text_error status;

	if (len == 0)
		return reject(check, DATAGRAM_ERROR_SIZE, "empty datagram");
	if (len > DATAGRAM_MAX_SIZE)
		return reject(check, DATAGRAM_ERROR_SIZE,
			      "datagram larger than %d bytes",
			      DATAGRAM_MAX_SIZE);
	if (memchr(data, '\0', len) != NULL)
		return reject(check, DATAGRAM_ERROR_JSON,
			      "NUL byte in datagram");
	status = json_text_check(data, len, DATAGRAM_MAX_DEPTH, bad_utf8,
				 check->reason);
	if (status == JSON_TEXT_INVALID)
		check->error = DATAGRAM_ERROR_JSON;
	else if (status == JSON_TEXT_TOO_DEEP)
		check->error = DATAGRAM_ERROR_LIMIT;
	return status == JSON_TEXT_VALID ? 0 : -1;
}

/* Whether an earlier member of the object has the name of member. */
static bool duplicate_member(const cJSON *object, const cJSON *member)
{
	const char *name = member->string;
	const cJSON *other;

	for (other = object->child; other != member; other = other->next)
		if (other->string[0] == name[0] &&
		    strcmp(other->string, name) == 0)
			return true;
	return false;
}

/* Reject duplicate member names, and objects and arrays over their
 * limits, at every level. */
static int check_members(const cJSON *item, struct check *check)
{
	const cJSON *child;
	size_t count = 0;

	for (child = item->child; child != NULL; child = child->next) {
		count++;
		if (cJSON_IsArray(item) && count > DATAGRAM_MAX_ENTRIES)
			return reject(check, DATAGRAM_ERROR_LIMIT,
				      "%s%.64s%sarray with more than %d "
				      "entries",
				      item->string ? "\"" : "",
				      item->string ? item->string : "",
				      item->string ? "\": " : "",
				      DATAGRAM_MAX_ENTRIES);
		if (!cJSON_IsObject(item))
			continue;
		if (count > DATAGRAM_MAX_MEMBERS)
			return reject(check, DATAGRAM_ERROR_LIMIT,
				      "JSON object with more than %d members",
				      DATAGRAM_MAX_MEMBERS);
		if (duplicate_member(item, child))
			return reject(check, DATAGRAM_ERROR_JSON,
				      "duplicate member \"%.64s\"",
				      child->string);
	}
	for (child = item->child; child != NULL; child = child->next)
		if (child->child != NULL && check_members(child, check) != 0)
			return -1;
	return 0;
}

/* A member must be absent or an integer within min..max. Returns 1 when
 * it is absent and not required. */
static int get_integer(const cJSON *object, const char *name, bool required,
		       long long min, long long max, long long *result,
		       struct check *check)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
	double value;

	if (item == NULL) {
		if (required)
			return reject_field(check, DATAGRAM_ERROR_SCHEMA, name,
					    -1, "required member missing");
		return 1;
	}
	value = item->valuedouble;
	if (!cJSON_IsNumber(item) || !isfinite(value) || floor(value) != value
	    || value < (double)min || value > (double)max)
		return reject_field(check, DATAGRAM_ERROR_SCHEMA, name, -1,
				    "expected an integer from %lld to %lld",
				    min, max);
	*result = (long long)value;
	return 0;
}

/* Check that item is a string of at most max_len octets in valid UTF-8.
 * name and index identify it in the reason. */
static int check_text(const cJSON *item, size_t max_len, const char *name,
		      int index, struct check *check)
{
	size_t len;

	if (!cJSON_IsString(item))
		return reject_field(check, DATAGRAM_ERROR_SCHEMA, name, index,
				    "expected a string");
	len = strlen(item->valuestring);
	if (len > max_len)
		return reject_field(check, DATAGRAM_ERROR_LIMIT, name, index,
				    "string longer than %zu bytes", max_len);
	if (!check->raw_utf8_valid && !utf8_valid(item->valuestring, len))
		return reject_field(check, DATAGRAM_ERROR_UTF8, name, index,
				    "invalid UTF-8");
	return 0;
}

/* A member must be absent or a valid string; *result is NULL if absent. */
static int get_string(const cJSON *object, const char *name, bool required,
		      size_t max_len, const char **result, struct check *check)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);

	*result = NULL;
	if (item == NULL) {
		if (required)
			return reject_field(check, DATAGRAM_ERROR_SCHEMA, name,
					    -1, "required member missing");
		return 0;
	}
	if (check_text(item, max_len, name, -1, check) != 0)
		return -1;
	*result = item->valuestring;
	return 0;
}

/* Return what makes a normalised domain name implausible, or NULL:
 * domain_normalise() accepts a label that starts or ends with '-', and
 * an all-numeric last label, which is how an IPv4 address reads, but no
 * mail domain has them. */
static const char *implausible_domain(const char *name)
{
	const char *label = name;
	const char *last = name;

	while (label != NULL) {
		const char *end = strchr(label, '.');
		size_t len = end != NULL ? (size_t)(end - label) : strlen(label);

		if (label[0] == '-' || label[len - 1] == '-')
			return "a label starts or ends with '-'";
		last = label;
		label = end != NULL ? end + 1 : NULL;
	}
	if (strspn(last, "0123456789") == strlen(last))
		return "the last label is all digits";
	return NULL;
}

/* Normalise a domain name into *result (when result is not NULL);
 * strict adds the checks of implausible_domain(). */
static int check_domain(const char *name, bool allow_wildcard, bool strict,
			const char *field, int index, char **result,
			struct check *check)
{
	const char *problem = NULL;
	struct strbuf why;
	char *normalised;

	strbuf_init(&why);
	if (domain_normalise(name, allow_wildcard, &normalised, &why) != 0)
		problem = why.data;
	else if (strict)
		problem = implausible_domain(normalised);
	if (problem != NULL) {
		reject_field(check, DATAGRAM_ERROR_SCHEMA, field, index,
			     "invalid domain name \"%.80s\" (%s)", name,
			     problem);
		free(normalised);
		normalised = NULL;
	}
	strbuf_free(&why);
	if (result != NULL)
		*result = normalised;
	else
		free(normalised);
	return problem != NULL ? -1 : 0;
}

/* A member must be absent or an array of valid strings. */
static int get_string_array(const cJSON *object, const char *name,
			    bool domains, const cJSON **result,
			    struct check *check)
{
	const cJSON *array = cJSON_GetObjectItemCaseSensitive(object, name);
	const cJSON *item;
	int index = 0;

	*result = NULL;
	if (array == NULL)
		return 0;
	if (!cJSON_IsArray(array))
		return reject_field(check, DATAGRAM_ERROR_SCHEMA, name, -1,
				    "expected an array of strings");
	if (cJSON_GetArraySize(array) > DATAGRAM_MAX_STRINGS)
		return reject_field(check, DATAGRAM_ERROR_LIMIT, name, -1,
				    "more than %d entries",
				    DATAGRAM_MAX_STRINGS);
	cJSON_ArrayForEach(item, array) {
		if (check_text(item, DATAGRAM_MAX_TEXT, name, index, check)
		    != 0)
			return -1;
		if (domains && check_domain(item->valuestring, true, false,
					    name, index, NULL, check) != 0)
			return -1;
		index++;
	}
	*result = array;
	return 0;
}

static int parse_detail(const cJSON *object, int index,
			struct datagram_detail *detail, struct check *check)
{
	long long code;

	if (!cJSON_IsObject(object))
		return reject_field(check, DATAGRAM_ERROR_SCHEMA,
				    "failure-details", index,
				    "expected an object");
	check->detail = index;
	if (get_integer(object, "c", true, 0, 999, &code, check) != 0)
		return -1;
	if (result_type_name((int)code) == NULL)
		return reject_field(check, DATAGRAM_ERROR_SCHEMA, "c", -1,
				    "unknown failure code %lld", code);
	detail->code = (int)code;
	if (get_string(object, "s", false, DATAGRAM_MAX_TEXT,
		       &detail->sending_ip, check) != 0
	    || get_string(object, "n", false, DATAGRAM_MAX_TEXT,
			  &detail->mx_hostname, check) != 0
	    || get_string(object, "h", false, DATAGRAM_MAX_TEXT,
			  &detail->mx_helo, check) != 0
	    || get_string(object, "r", false, DATAGRAM_MAX_TEXT,
			  &detail->receiving_ip, check) != 0
	    || get_string(object, "a", false, DATAGRAM_MAX_TEXT,
			  &detail->additional, check) != 0
	    || get_string(object, "f", false, DATAGRAM_MAX_TEXT,
			  &detail->reason, check) != 0)
		return -1;
	return 0;
}

static int parse_details(const cJSON *object, struct datagram_policy *policy,
			 struct check *check)
{
	const cJSON *array =
		cJSON_GetObjectItemCaseSensitive(object, "failure-details");
	const cJSON *item;
	int count;

	if (array == NULL)
		return 0;
	if (!cJSON_IsArray(array))
		return reject_field(check, DATAGRAM_ERROR_SCHEMA,
				    "failure-details", -1,
				    "expected an array");
	count = cJSON_GetArraySize(array);
	if (count > DATAGRAM_MAX_DETAILS)
		return reject_field(check, DATAGRAM_ERROR_LIMIT,
				    "failure-details", -1,
				    "more than %d entries",
				    DATAGRAM_MAX_DETAILS);
	policy->details = xcalloc((size_t)count, sizeof(*policy->details));
	cJSON_ArrayForEach(item, array) {
		if (parse_detail(item, (int)policy->detail_count,
				 &policy->details[policy->detail_count],
				 check) != 0)
			return -1;
		check->detail = -1;
		policy->detail_count++;
	}
	return 0;
}

static int parse_policy_domain(const cJSON *object,
			       struct datagram_policy *policy,
			       struct check *check)
{
	if (get_string(object, "policy-domain", false, DATAGRAM_MAX_TEXT,
		       &policy->policy_domain, check) != 0)
		return -1;
	if (policy->policy_domain != NULL
	    && check_domain(policy->policy_domain, false, true,
			    "policy-domain", -1, NULL, check) != 0)
		return -1;

	/* The DANE policy domain is the MX host's TLSA base domain, which
	 * only the MTA knows; it cannot be guessed from the recipient. */
	if (policy->type == POLICY_TLSA && policy->policy_domain == NULL)
		return reject_field(check, DATAGRAM_ERROR_SCHEMA,
				    "policy-domain", -1,
				    "required member missing (a tlsa policy "
				    "needs it)");
	return 0;
}

static int parse_policy(const cJSON *object, int index,
			struct datagram_policy *policy, struct check *check)
{
	long long number;

	if (!cJSON_IsObject(object))
		return reject_field(check, DATAGRAM_ERROR_SCHEMA, "policies",
				    index, "expected an object");
	check->policy = index;
	if (get_integer(object, "policy-type", true, 0, 999, &number, check)
	    != 0)
		return -1;
	if (policy_type_name((int)number) == NULL)
		return reject_field(check, DATAGRAM_ERROR_SCHEMA,
				    "policy-type", -1, "unknown policy type "
				    "%lld; expected 1, 2 or 9", number);
	policy->type = (int)number;

	/* The session's result is a flag, never an amount to add. */
	if (get_integer(object, "f", true, 0, 1, &number, check) != 0)
		return -1;
	policy->failed = number == 1;

	/* "t" is only compared with the failure-details, so any count
	 * that libtlsrpt can print (an int) is kept. */
	policy->declared_details = -1;
	if (get_integer(object, "t", false, 0, INT_MAX,
			&policy->declared_details, check) < 0)
		return -1;

	if (parse_policy_domain(object, policy, check) != 0)
		return -1;
	if (get_string_array(object, "policy-string", false,
			     &policy->policy_strings, check) != 0
	    || get_string_array(object, "mx-host", true, &policy->mx_hosts,
				check) != 0)
		return -1;
	return parse_details(object, policy, check);
}

static int parse_policies(struct datagram *dg, struct check *check)
{
	const cJSON *array =
		cJSON_GetObjectItemCaseSensitive(dg->root, "policies");
	const cJSON *item;
	int count;

	if (array == NULL)
		return reject(check, DATAGRAM_ERROR_SCHEMA,
			      "policies: required member missing");
	if (!cJSON_IsArray(array))
		return reject(check, DATAGRAM_ERROR_SCHEMA,
			      "policies: expected an array");
	count = cJSON_GetArraySize(array);
	if (count == 0 || count > DATAGRAM_MAX_POLICIES)
		return reject(check, count == 0 ? DATAGRAM_ERROR_SCHEMA
						: DATAGRAM_ERROR_LIMIT,
			      "policies: expected 1 to %d entries, got %d",
			      DATAGRAM_MAX_POLICIES, count);
	dg->policies = xcalloc((size_t)count, sizeof(*dg->policies));
	cJSON_ArrayForEach(item, array) {
		struct datagram_policy *policy =
			&dg->policies[dg->policy_count];
		int status = parse_policy(item, (int)dg->policy_count, policy,
					  check);

		/* A policy counts even when it failed half-way, so that
		 * datagram_free() frees its failure-details. */
		dg->policy_count++;
		if (status != 0)
			return -1;
		check->policy = -1;
	}
	return 0;
}

static int parse_top(struct datagram *dg, struct check *check)
{
	if (!cJSON_IsObject(dg->root))
		return reject(check, DATAGRAM_ERROR_JSON,
			      "datagram is not a JSON object");
	if (check_members(dg->root, check) != 0)
		return -1;
	if (get_string(dg->root, "dpv", true, DATAGRAM_MAX_VERSION,
		       &dg->version, check) != 0
	    || get_string(dg->root, "d", true, DATAGRAM_MAX_TEXT, &dg->domain,
			  check) != 0
	    || get_string(dg->root, "pr", true, DATAGRAM_MAX_RECORD,
			  &dg->record, check) != 0)
		return -1;
	if (dg->version[0] == '\0')
		return reject(check, DATAGRAM_ERROR_SCHEMA,
			      "dpv: empty protocol version");
	if (check_domain(dg->domain, false, true, "d", -1,
			 &dg->normalised_domain, check) != 0)
		return -1;
	return parse_policies(dg, check);
}

int datagram_parse(const char *data, size_t len, struct datagram *dg,
		   struct strbuf *reason)
{
	struct check check = {reason, DATAGRAM_VALID, -1, -1, false};
	const char *end = NULL;
	size_t bad_utf8;

	memset(dg, 0, sizeof(*dg));
	if (check_raw(data, len, &bad_utf8, &check) != 0)
		goto rejected;
	check.raw_utf8_valid = bad_utf8 == SIZE_MAX;
	dg->root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
	if (dg->root == NULL) {
		size_t at = end != NULL && end >= data ? (size_t)(end - data)
			: 0;

		reject(&check, DATAGRAM_ERROR_JSON, "invalid JSON near byte "
		       "%zu", at);
		goto rejected;
	}
	while (end < data + len && isspace((unsigned char)*end))
		end++;
	if (end != data + len) {
		reject(&check, DATAGRAM_ERROR_JSON, "trailing data after the "
		       "JSON object at byte %zu", (size_t)(end - data));
		goto rejected;
	}
	if (parse_top(dg, &check) != 0)
		goto rejected;

	/* Invalid UTF-8 in a known field was reported with its name above;
	 * what is left is in a member name or an unknown member. */
	if (bad_utf8 != SIZE_MAX) {
		reject(&check, DATAGRAM_ERROR_UTF8, "invalid UTF-8 at byte "
		       "%zu", bad_utf8);
		goto rejected;
	}
	return 0;

rejected:
	dg->error = check.error;
	return -1;
}

void datagram_free(struct datagram *dg)
{
	size_t i;

	for (i = 0; i < dg->policy_count; i++)
		free(dg->policies[i].details);
	free(dg->policies);
	free(dg->normalised_domain);
	cJSON_Delete(dg->root);
	memset(dg, 0, sizeof(*dg));
}

const char *datagram_error_name(enum datagram_error error)
{
	switch (error) {
	case DATAGRAM_VALID:
		return "valid";
	case DATAGRAM_ERROR_SIZE:
		return "size";
	case DATAGRAM_ERROR_JSON:
		return "json";
	case DATAGRAM_ERROR_UTF8:
		return "utf8";
	case DATAGRAM_ERROR_LIMIT:
		return "limit";
	case DATAGRAM_ERROR_SCHEMA:
		return "schema";
	}
	return "unknown";
}

/* Return the text of an accepted datagram as one line: data itself, or a
 * copy in spare (len bytes) with CR and LF turned into spaces. */
const char *datagram_line(const char *data, size_t len, char *spare)
{
	size_t i;

	if (memchr(data, '\n', len) == NULL && memchr(data, '\r', len) == NULL)
		return data;
	memcpy(spare, data, len);
	for (i = 0; i < len; i++)
		if (spare[i] == '\n' || spare[i] == '\r')
			spare[i] = ' ';
	return spare;
}

char *datagram_to_json(const struct datagram *dg)
{
	char *text = cJSON_PrintUnformatted(dg->root);
	char *copy;

	if (text == NULL)
		return NULL;
	copy = xstrdup(text);
	cJSON_free(text);
	return copy;
}

bool datagram_detail_count_mismatch(const struct datagram *dg,
				    size_t *policy_index)
{
	size_t i;

	for (i = 0; i < dg->policy_count; i++) {
		const struct datagram_policy *policy = &dg->policies[i];

		if (policy->declared_details >= 0
		    && (size_t)policy->declared_details
		    != policy->detail_count) {
			*policy_index = i;
			return true;
		}
	}
	return false;
}

/* Return the domain normalised, or a lower-case copy if it is invalid. */
static char *normalise_or_copy(const char *name, bool allow_wildcard)
{
	struct strbuf why;
	char *result;
	char *cursor;

	strbuf_init(&why);
	if (domain_normalise(name, allow_wildcard, &result, &why) != 0) {
		result = xstrdup(name);
		for (cursor = result; *cursor != '\0'; cursor++)
			*cursor = (char)tolower((unsigned char)*cursor);
	}
	strbuf_free(&why);
	return result;
}

static void add_owned_string(cJSON *object, const char *name, char *value)
{
	cJSON_AddItemToObject(object, name, cJSON_CreateString(value));
	free(value);
}

char *datagram_policy_key(const struct datagram *dg, size_t index)
{
	const struct datagram_policy *policy = &dg->policies[index];
	cJSON *object = cJSON_CreateObject();
	cJSON *strings = cJSON_CreateArray();
	cJSON *hosts = cJSON_CreateArray();
	const cJSON *item;

	cJSON_AddStringToObject(object, "policy-type",
				policy_type_name(policy->type));

	/* Policy strings are kept verbatim, as the RFC asks. */
	if (policy->policy_strings != NULL) {
		cJSON_ArrayForEach(item, policy->policy_strings)
			cJSON_AddItemToArray(strings,
					     cJSON_CreateString(item->valuestring));
	}
	cJSON_AddItemToObject(object, "policy-string", strings);

	/* A missing policy-domain of an sts or no-policy-found policy is the
	 * recipient domain; the parser rejects tlsa policies without one. */
	if (policy->policy_domain != NULL)
		add_owned_string(object, "policy-domain",
				 normalise_or_copy(policy->policy_domain,
						   false));
	else
		cJSON_AddStringToObject(object, "policy-domain",
					dg->normalised_domain);

	if (policy->mx_hosts != NULL) {
		cJSON_ArrayForEach(item, policy->mx_hosts) {
			char *host = normalise_or_copy(item->valuestring,
						       true);

			cJSON_AddItemToArray(hosts, cJSON_CreateString(host));
			free(host);
		}
	}
	cJSON_AddItemToObject(object, "mx-host", hosts);
	return json_print_and_delete(object);
}

/* Return an address in canonical text (RFC 5952 for IPv6), or NULL. */
static char *canonical_address(const char *text)
{
	unsigned char binary[16];
	char out[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET, text, binary) == 1)
		return xstrdup(inet_ntop(AF_INET, binary, out, sizeof(out)));
	if (inet_pton(AF_INET6, text, binary) == 1)
		return xstrdup(inet_ntop(AF_INET6, binary, out, sizeof(out)));
	return NULL;
}

/*
 * Postfix puts the whole multi-line EHLO reply into "h"; the report wants
 * the server's greeting name: the first line without its reply code.
 */
char *helo_from_reply(const char *reply)
{
	size_t len = strcspn(reply, "\r\n");
	const char *start = reply;

	if (len >= 4 && isdigit((unsigned char)reply[0])
	    && isdigit((unsigned char)reply[1])
	    && isdigit((unsigned char)reply[2])
	    && (reply[3] == '-' || reply[3] == ' ')) {
		start += 4;
		len -= 4;
	}
	while (len > 0 && isspace((unsigned char)*start)) {
		start++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)start[len - 1]))
		len--;
	return len > 0 ? xstrndup(start, len) : NULL;
}

static void add_address(cJSON *object, const char *name, const char *text)
{
	char *address;

	/* An address that does not parse is left out rather than emitted in
	 * a field whose syntax the RFC fixes. */
	if (text == NULL || (address = canonical_address(text)) == NULL)
		return;
	add_owned_string(object, name, address);
}

char *datagram_detail_key(const struct datagram_detail *detail)
{
	cJSON *object = cJSON_CreateObject();
	char *helo;

	cJSON_AddStringToObject(object, "result-type",
				result_type_name(detail->code));
	add_address(object, "sending-mta-ip", detail->sending_ip);
	if (detail->mx_hostname != NULL && detail->mx_hostname[0] != '\0')
		add_owned_string(object, "receiving-mx-hostname",
				 normalise_or_copy(detail->mx_hostname, false));
	if (detail->mx_helo != NULL
	    && (helo = helo_from_reply(detail->mx_helo)) != NULL)
		add_owned_string(object, "receiving-mx-helo", helo);
	add_address(object, "receiving-ip", detail->receiving_ip);
	if (detail->additional != NULL && detail->additional[0] != '\0')
		cJSON_AddStringToObject(object, "additional-information",
					detail->additional);
	if (detail->reason != NULL && detail->reason[0] != '\0')
		cJSON_AddStringToObject(object, "failure-reason-code",
					detail->reason);
	return json_print_and_delete(object);
}
