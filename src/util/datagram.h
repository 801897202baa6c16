/*
 * datagram: parse and validate one libtlsrpt datagram (wire version "1").
 *
 *   {"dpv":"1","d":DOMAIN,"pr":RECORD,"policies":[{"policy-type":1|2|9,
 *    "policy-domain":..,"policy-string":[..],"mx-host":[..],
 *    "failure-details":[{"c":CODE,"s":..,"n":..,"h":..,"r":..,"a":..,
 *    "f":..}],"t":N,"f":0|1}]}
 *
 * Everything that arrives on the receiver socket is hostile until this
 * module says otherwise. datagram_parse() checks size, nesting, JSON
 * syntax (RFC 8259, stricter than cJSON; see json_text.h), duplicate
 * member names, the entries of every array and the members of every
 * object, every field's type and range, UTF-8 and length limits. When it
 * rejects, it returns a reason naming the offending field and sets
 * dg->error to the class of the problem. Unknown members are ignored but
 * must still be valid JSON within the limits.
 *
 * The rules: "dpv" a string (the caller logs versions other than "1"),
 * "d" a plausible domain name (no label that starts or ends with '-', a
 * last label that is not all digits), "pr" a string, "policies" 1 to
 * DATAGRAM_MAX_POLICIES objects, "policy-type" 1, 2 or 9, "f" 0 or 1
 * (a flag, never an amount), "t" an integer from 0 to INT_MAX (only
 * compared with the failure-details; a mismatch is the caller's to log,
 * the datagram is kept), failure codes "c" from the registered set, a
 * tlsa policy with a "policy-domain".
 *
 * datagram_line() returns the form the receiver writes to its batch
 * files: the datagram's own text, with CR and LF (which datagram_parse()
 * allows only as white space between tokens) turned into spaces. It is
 * not printed again from the cJSON tree, because that took about as long
 * as the parse itself (timed with cJSON 1.7.15 on a 420-byte datagram)
 * and would give a line with the same meaning.
 *
 * The same parser reads the receiver's batch lines in the aggregator, so
 * a batch file is validated twice, once on each side of the trust
 * boundary.
 *
 * datagram_policy_key() and datagram_detail_key() build the canonical,
 * report-shaped JSON that the aggregator counts by: fixed member order,
 * normalised domains, RFC 5952 addresses, policy and result type names.
 */
#ifndef TLSRPTD_DATAGRAM_H
#define TLSRPTD_DATAGRAM_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

#define DATAGRAM_MAX_SIZE	65536	/* largest datagram accepted */
#define DATAGRAM_MAX_VERSION	16	/* octets of "dpv" */
#define DATAGRAM_MAX_DEPTH	8	/* JSON nesting; the format needs 5 */
#define DATAGRAM_MAX_MEMBERS	64	/* members of one JSON object */
#define DATAGRAM_MAX_ENTRIES	256	/* entries of any JSON array */
#define DATAGRAM_MAX_POLICIES	32
#define DATAGRAM_MAX_DETAILS	256	/* failure-details of one policy */
#define DATAGRAM_MAX_STRINGS	256	/* policy-string and mx-host entries */
#define DATAGRAM_MAX_RECORD	8192	/* octets of the "pr" record */
#define DATAGRAM_MAX_TEXT	2048	/* octets of any other string */

enum policy_type {
	POLICY_TLSA = 1,
	POLICY_STS = 2,
	POLICY_NO_POLICY_FOUND = 9,
};

/* Classes of datagram_parse() rejections, which the receiver counts. */
enum datagram_error {
	DATAGRAM_VALID,
	DATAGRAM_ERROR_SIZE,	/* empty, or larger than DATAGRAM_MAX_SIZE */
	DATAGRAM_ERROR_JSON,	/* not JSON, or not one JSON object */
	DATAGRAM_ERROR_UTF8,	/* invalid UTF-8 */
	DATAGRAM_ERROR_LIMIT,	/* nesting, members, entries or a string
				 * length over its limit */
	DATAGRAM_ERROR_SCHEMA,	/* a field missing or of the wrong type or
				 * range */
};

/* One failure-detail; string members are NULL when absent. */
struct datagram_detail {
	int code;			/* c */
	const char *sending_ip;		/* s */
	const char *mx_hostname;	/* n */
	const char *mx_helo;		/* h: the whole EHLO reply */
	const char *receiving_ip;	/* r */
	const char *additional;		/* a */
	const char *reason;		/* f */
};

struct datagram_policy {
	int type;
	bool failed;			/* f: the session's final result */
	const char *policy_domain;	/* NULL when absent */
	const cJSON *policy_strings;	/* array of strings, or NULL */
	const cJSON *mx_hosts;		/* array of strings, or NULL */
	struct datagram_detail *details;
	size_t detail_count;
	long long declared_details;	/* t, or -1 when absent */
};

/* A parsed datagram. Strings point into root, which the datagram owns. */
struct datagram {
	cJSON *root;
	const char *version;		/* dpv */
	const char *domain;		/* d, as sent */
	char *normalised_domain;	/* d, lower case A-labels */
	const char *record;		/* pr */
	struct datagram_policy *policies;
	size_t policy_count;
	enum datagram_error error;	/* set when datagram_parse() fails */
};

int datagram_parse(const char *data, size_t len, struct datagram *dg,
		   struct strbuf *reason);
void datagram_free(struct datagram *dg);
const char *datagram_error_name(enum datagram_error error);
char *datagram_to_json(const struct datagram *dg);
const char *datagram_line(const char *data, size_t len, char *spare);
bool datagram_detail_count_mismatch(const struct datagram *dg,
				    size_t *policy_index);

const char *policy_type_name(int type);
const char *result_type_name(int code);
bool result_type_known(const char *name);

char *datagram_policy_key(const struct datagram *dg, size_t index);
char *datagram_detail_key(const struct datagram_detail *detail);
char *helo_from_reply(const char *reply);

#endif
