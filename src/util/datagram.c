/*
 * datagram: validation of libtlsrpt datagrams and their canonical keys;
 * see datagram.h.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datagram.h"
#include "domain.h"
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

/*
 * Raw checks, before cJSON: nesting depth, and "\u0000" escapes, which
 * cJSON would decode into a NUL that silently truncates the string.
 */
static int check_raw(const char *data, size_t len, struct strbuf *reason)
{
	bool in_string = false;
	int depth = 0;
	size_t i;

	if (len == 0) {
		strbuf_puts(reason, "empty datagram");
		return -1;
	}
	if (len > DATAGRAM_MAX_SIZE) {
		strbuf_printf(reason, "datagram larger than %d bytes",
			      DATAGRAM_MAX_SIZE);
		return -1;
	}
	if (memchr(data, '\0', len) != NULL) {
		strbuf_puts(reason, "NUL byte in datagram");
		return -1;
	}
	for (i = 0; i < len; i++) {
		char c = data[i];

		if (in_string) {
			if (c == '"') {
				in_string = false;
			} else if (c == '\\' && i + 1 < len) {
				if (data[i + 1] == 'u' && i + 5 < len
				    && memcmp(data + i + 2, "0000", 4) == 0) {
					strbuf_puts(reason, "escaped NUL "
						    "character (\\u0000) in a "
						    "string");
					return -1;
				}
				i++;
			}
		} else if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			if (++depth > DATAGRAM_MAX_DEPTH) {
				strbuf_printf(reason, "JSON nested deeper than "
					      "%d levels", DATAGRAM_MAX_DEPTH);
				return -1;
			}
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 0;
}

/* Reject duplicate member names and oversized objects, at every level. */
static int check_members(const cJSON *item, struct strbuf *reason)
{
	const cJSON *child;

	if (cJSON_IsObject(item)) {
		size_t count = 0;

		for (child = item->child; child != NULL; child = child->next) {
			const cJSON *other;

			if (++count > DATAGRAM_MAX_MEMBERS) {
				strbuf_printf(reason, "JSON object with more "
					      "than %d members",
					      DATAGRAM_MAX_MEMBERS);
				return -1;
			}
			for (other = item->child; other != child;
			     other = other->next) {
				if (strcmp(other->string, child->string) == 0) {
					strbuf_printf(reason, "duplicate member "
						      "\"%.64s\"",
						      child->string);
					return -1;
				}
			}
		}
	}
	for (child = item->child; child != NULL; child = child->next)
		if (check_members(child, reason) != 0)
			return -1;
	return 0;
}

/* A member must be absent or an integer within min..max. */
static int get_integer(const cJSON *object, const char *name, bool required,
		       long long min, long long max, const char *where,
		       long long *result, struct strbuf *reason)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
	double value;

	if (item == NULL) {
		if (required) {
			strbuf_printf(reason, "%s%s: missing", where, name);
			return -1;
		}
		return 1;
	}
	value = item->valuedouble;
	if (!cJSON_IsNumber(item) || !isfinite(value) || floor(value) != value
	    || value < (double)min || value > (double)max) {
		strbuf_printf(reason, "%s%s: expected an integer from %lld to "
			      "%lld", where, name, min, max);
		return -1;
	}
	*result = (long long)value;
	return 0;
}

static int check_text(const cJSON *item, size_t max_len, const char *where,
		      const char *name, struct strbuf *reason)
{
	size_t len;

	if (!cJSON_IsString(item)) {
		strbuf_printf(reason, "%s%s: expected a string", where, name);
		return -1;
	}
	len = strlen(item->valuestring);
	if (len > max_len) {
		strbuf_printf(reason, "%s%s: string longer than %zu bytes",
			      where, name, max_len);
		return -1;
	}
	if (!utf8_valid(item->valuestring, len)) {
		strbuf_printf(reason, "%s%s: invalid UTF-8", where, name);
		return -1;
	}
	return 0;
}

/* A member must be absent or a valid string; *result is NULL if absent. */
static int get_string(const cJSON *object, const char *name, bool required,
		      size_t max_len, const char *where, const char **result,
		      struct strbuf *reason)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);

	*result = NULL;
	if (item == NULL) {
		if (required) {
			strbuf_printf(reason, "%s%s: missing", where, name);
			return -1;
		}
		return 0;
	}
	if (check_text(item, max_len, where, name, reason) != 0)
		return -1;
	*result = item->valuestring;
	return 0;
}

static int check_domain(const char *name, bool allow_wildcard,
			const char *where, const char *field,
			struct strbuf *reason)
{
	struct strbuf why;
	char *normalised;
	int status;

	strbuf_init(&why);
	status = domain_normalise(name, allow_wildcard, &normalised, &why);
	if (status != 0)
		strbuf_printf(reason, "%s%s: invalid domain name \"%.80s\" "
			      "(%s)", where, field, name, why.data);
	free(normalised);
	strbuf_free(&why);
	return status;
}

/* A member must be absent or an array of valid strings. */
static int get_string_array(const cJSON *object, const char *name,
			    bool domains, const char *where,
			    const cJSON **result, struct strbuf *reason)
{
	const cJSON *array = cJSON_GetObjectItemCaseSensitive(object, name);
	const cJSON *item;
	char label[96];
	int index = 0;

	*result = NULL;
	if (array == NULL)
		return 0;
	if (!cJSON_IsArray(array)) {
		strbuf_printf(reason, "%s%s: expected an array of strings",
			      where, name);
		return -1;
	}
	if (cJSON_GetArraySize(array) > DATAGRAM_MAX_STRINGS) {
		strbuf_printf(reason, "%s%s: more than %d entries", where,
			      name, DATAGRAM_MAX_STRINGS);
		return -1;
	}
	cJSON_ArrayForEach(item, array) {
		snprintf(label, sizeof(label), "%s[%d]", name, index++);
		if (check_text(item, DATAGRAM_MAX_TEXT, where, label, reason)
		    != 0)
			return -1;
		if (domains && check_domain(item->valuestring, true, where,
					    label, reason) != 0)
			return -1;
	}
	*result = array;
	return 0;
}

static int parse_detail(const cJSON *object, const char *where,
			struct datagram_detail *detail, struct strbuf *reason)
{
	long long code;

	if (!cJSON_IsObject(object)) {
		strbuf_printf(reason, "%s: expected an object", where);
		return -1;
	}
	if (get_integer(object, "c", true, 0, 999, where, &code, reason) != 0)
		return -1;
	if (result_type_name((int)code) == NULL) {
		strbuf_printf(reason, "%sc: unknown failure code %lld", where,
			      code);
		return -1;
	}
	detail->code = (int)code;
	if (get_string(object, "s", false, DATAGRAM_MAX_TEXT, where,
		       &detail->sending_ip, reason) != 0
	    || get_string(object, "n", false, DATAGRAM_MAX_TEXT, where,
			  &detail->mx_hostname, reason) != 0
	    || get_string(object, "h", false, DATAGRAM_MAX_TEXT, where,
			  &detail->mx_helo, reason) != 0
	    || get_string(object, "r", false, DATAGRAM_MAX_TEXT, where,
			  &detail->receiving_ip, reason) != 0
	    || get_string(object, "a", false, DATAGRAM_MAX_TEXT, where,
			  &detail->additional, reason) != 0
	    || get_string(object, "f", false, DATAGRAM_MAX_TEXT, where,
			  &detail->reason, reason) != 0)
		return -1;
	return 0;
}

static int parse_details(const cJSON *object, const char *where,
			 struct datagram_policy *policy,
			 struct strbuf *reason)
{
	const cJSON *array =
		cJSON_GetObjectItemCaseSensitive(object, "failure-details");
	const cJSON *item;
	char label[96];
	int count;

	if (array == NULL)
		return 0;
	if (!cJSON_IsArray(array)) {
		strbuf_printf(reason, "%sfailure-details: expected an array",
			      where);
		return -1;
	}
	count = cJSON_GetArraySize(array);
	if (count > DATAGRAM_MAX_DETAILS) {
		strbuf_printf(reason, "%sfailure-details: more than %d entries",
			      where, DATAGRAM_MAX_DETAILS);
		return -1;
	}
	policy->details = xcalloc((size_t)count, sizeof(*policy->details));
	cJSON_ArrayForEach(item, array) {
		snprintf(label, sizeof(label), "%sfailure-details[%zu].",
			 where, policy->detail_count);
		if (parse_detail(item, label,
				 &policy->details[policy->detail_count],
				 reason) != 0)
			return -1;
		policy->detail_count++;
	}
	return 0;
}

static int parse_policy(const cJSON *object, const char *where,
			struct datagram_policy *policy, struct strbuf *reason)
{
	long long number;

	if (!cJSON_IsObject(object)) {
		strbuf_printf(reason, "%s: expected an object", where);
		return -1;
	}
	if (get_integer(object, "policy-type", true, 0, 999, where, &number,
			reason) != 0)
		return -1;
	if (policy_type_name((int)number) == NULL) {
		strbuf_printf(reason, "%spolicy-type: unknown policy type "
			      "%lld; expected 1, 2 or 9", where, number);
		return -1;
	}
	policy->type = (int)number;

	/* The session's result is a flag, never an amount to add. */
	if (get_integer(object, "f", true, 0, 1, where, &number, reason) != 0)
		return -1;
	policy->failed = number == 1;

	policy->declared_details = -1;
	if (get_integer(object, "t", false, 0, DATAGRAM_MAX_DETAILS, where,
			&policy->declared_details, reason) < 0)
		return -1;

	if (get_string(object, "policy-domain", false, DATAGRAM_MAX_TEXT,
		       where, &policy->policy_domain, reason) != 0)
		return -1;
	if (policy->policy_domain != NULL
	    && check_domain(policy->policy_domain, false, where,
			    "policy-domain", reason) != 0)
		return -1;

	/* The DANE policy domain is the MX host's TLSA base domain, which
	 * only the MTA knows; it cannot be guessed from the recipient. */
	if (policy->type == POLICY_TLSA && policy->policy_domain == NULL) {
		strbuf_printf(reason, "%spolicy-domain: missing for a tlsa "
			      "policy", where);
		return -1;
	}
	if (get_string_array(object, "policy-string", false, where,
			     &policy->policy_strings, reason) != 0
	    || get_string_array(object, "mx-host", true, where,
				&policy->mx_hosts, reason) != 0)
		return -1;
	return parse_details(object, where, policy, reason);
}

static int parse_policies(struct datagram *dg, struct strbuf *reason)
{
	const cJSON *array =
		cJSON_GetObjectItemCaseSensitive(dg->root, "policies");
	const cJSON *item;
	char where[64];
	int count;

	if (!cJSON_IsArray(array)) {
		strbuf_puts(reason, array == NULL ? "policies: missing"
			    : "policies: expected an array");
		return -1;
	}
	count = cJSON_GetArraySize(array);
	if (count == 0 || count > DATAGRAM_MAX_POLICIES) {
		strbuf_printf(reason, "policies: expected 1 to %d entries, "
			      "got %d", DATAGRAM_MAX_POLICIES, count);
		return -1;
	}
	dg->policies = xcalloc((size_t)count, sizeof(*dg->policies));
	cJSON_ArrayForEach(item, array) {
		snprintf(where, sizeof(where), "policies[%zu].",
			 dg->policy_count);
		if (parse_policy(item, where, &dg->policies[dg->policy_count],
				 reason) != 0) {
			dg->policy_count++;
			return -1;
		}
		dg->policy_count++;
	}
	return 0;
}

static int parse_top(struct datagram *dg, struct strbuf *reason)
{
	struct strbuf why;

	if (!cJSON_IsObject(dg->root)) {
		strbuf_puts(reason, "datagram is not a JSON object");
		return -1;
	}
	if (check_members(dg->root, reason) != 0)
		return -1;
	if (get_string(dg->root, "dpv", true, 16, "", &dg->version, reason)
	    != 0
	    || get_string(dg->root, "d", true, DATAGRAM_MAX_TEXT, "",
			  &dg->domain, reason) != 0
	    || get_string(dg->root, "pr", true, DATAGRAM_MAX_RECORD, "",
			  &dg->record, reason) != 0)
		return -1;
	strbuf_init(&why);
	if (domain_normalise(dg->domain, false, &dg->normalised_domain, &why)
	    != 0) {
		strbuf_printf(reason, "d: invalid domain name \"%.80s\" (%s)",
			      dg->domain, why.data);
		strbuf_free(&why);
		return -1;
	}
	strbuf_free(&why);
	return parse_policies(dg, reason);
}

int datagram_parse(const char *data, size_t len, struct datagram *dg,
		   struct strbuf *reason)
{
	const char *end = NULL;

	memset(dg, 0, sizeof(*dg));
	if (check_raw(data, len, reason) != 0)
		return -1;
	dg->root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
	if (dg->root == NULL) {
		size_t at = end != NULL && end >= data ? (size_t)(end - data)
			: 0;

		strbuf_printf(reason, "invalid JSON near byte %zu", at);
		return -1;
	}
	while (end < data + len && isspace((unsigned char)*end))
		end++;
	if (end != data + len) {
		strbuf_printf(reason, "trailing data after the JSON object at "
			      "byte %zu", (size_t)(end - data));
		return -1;
	}
	return parse_top(dg, reason);
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

static char *print_and_delete(cJSON *object)
{
	char *text = cJSON_PrintUnformatted(object);
	char *copy;

	cJSON_Delete(object);
	if (text == NULL)
		msg_fatal("out of memory printing JSON");
	copy = xstrdup(text);
	cJSON_free(text);
	return copy;
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
	return print_and_delete(object);
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
	return print_and_delete(object);
}
