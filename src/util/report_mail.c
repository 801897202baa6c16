/*
 * report_mail: build the RFC 8460 section 5.3 message for one delivery
 * (see report_mail.h).
 *
 * The message is assembled in three steps. The header fields come
 * first, folded at white space. The text part follows, written from the
 * decompressed and parsed report, and the report part in base64 comes
 * last. Every value that comes from a queue file or from main.cf is
 * checked before it goes into a header, so a hostile domain or report-id
 * can neither add a header line nor break the MIME structure.
 */
#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "config.h"
#include "gzip.h"
#include "report_mail.h"
#include "xalloc.h"

#define MAIL_LINE_MAX	78		/* RFC 5322: lines SHOULD fit */
#define MAIL_LINE_LIMIT	998		/* RFC 5322: lines MUST fit */
#define TEXT_WIDTH	72		/* text part, before the indent */
#define BASE64_LINE_LEN	76		/* RFC 2045 maximum */
#define PARAM_SEGMENT	60		/* RFC 2231 continuation segment */
#define BOUNDARY_RANDOM	12		/* random bytes in a MIME boundary */
#define BOUNDARY_TRIES	8
#define JSON_SAFE_MAX	9007199254740991.0	/* 2^53 - 1, I-JSON */

/* Characters of RFC 5322 atext besides letters and digits. */
static const char atext_specials[] = "!#$%&'*+-/=?^_`{|}~";

static bool is_ascii_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		|| (c >= '0' && c <= '9');
}

static bool is_atext(int c)
{
	return is_ascii_alnum(c) || (c != '\0' && strchr(atext_specials, c));
}

/* Tell whether text[0..len) is RFC 5322 dot-atom-text. */
static bool is_dot_atom(const char *text, size_t len)
{
	size_t i;

	if (len == 0 || text[0] == '.' || text[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		if (text[i] == '.' && text[i + 1] == '.')
			return false;
		if (text[i] != '.' && !is_atext((unsigned char)text[i]))
			return false;
	}
	return true;
}

/* Tell whether text is "dot-atom@dot-atom": an addr-spec or a msg-id
 * without its angle brackets. */
static bool is_dot_atom_pair(const char *text)
{
	const char *at = strchr(text, '@');

	return at != NULL && strchr(at + 1, '@') == NULL
		&& is_dot_atom(text, (size_t)(at - text))
		&& is_dot_atom(at + 1, strlen(at + 1));
}

/* Check that value is non-empty printable ASCII, spaces allowed only
 * with allow_space. */
static int check_printable(const char *what, const char *value,
			   bool allow_space, struct strbuf *error)
{
	size_t i;

	if (value == NULL || value[0] == '\0') {
		strbuf_printf(error, "%s is empty", what);
		return -1;
	}
	for (i = 0; value[i] != '\0'; i++) {
		unsigned char c = (unsigned char)value[i];

		if ((c > ' ' && c < 0x7f) || (c == ' ' && allow_space))
			continue;
		strbuf_printf(error, "%s contains byte 0x%02x at offset %zu; "
			      "only printable ASCII is allowed in a header",
			      what, c, i);
		return -1;
	}
	return 0;
}

/* Check a domain name as domain_normalise() leaves it. */
static int check_domain(const char *what, const char *value,
			struct strbuf *error)
{
	size_t i;

	if (check_printable(what, value, false, error) != 0)
		return -1;
	for (i = 0; value[i] != '\0'; i++) {
		char c = value[i];

		if (!is_ascii_alnum(c) && c != '-' && c != '.' && c != '_') {
			strbuf_printf(error, "%s \"%s\" is not a domain name",
				      what, value);
			return -1;
		}
	}
	return 0;
}

/* The file name goes into quoted MIME parameters and, for file:
 * destinations, into a path, so it is limited to the characters of
 * RFC 8460 section 5.1 file names. */
static int check_filename(const char *value, struct strbuf *error)
{
	size_t i;

	if (check_printable("filename", value, false, error) != 0)
		return -1;
	if (value[0] == '.') {
		strbuf_printf(error, "filename \"%s\" starts with a dot", value);
		return -1;
	}
	for (i = 0; value[i] != '\0'; i++) {
		char c = value[i];

		if (!is_ascii_alnum(c) && !strchr("!.-_", c)) {
			strbuf_printf(error, "filename \"%s\" contains '%c'; "
				      "only letters, digits and \"!.-_\" are "
				      "allowed", value, c);
			return -1;
		}
	}
	return 0;
}

static int check_fields(const struct delivery *delivery,
			const char *to_address, const char *message_id_left,
			const char *sender, struct strbuf *error)
{
	if (check_domain("report-domain", delivery->report_domain, error) != 0
	    || check_domain("submitter", delivery->submitter, error) != 0
	    || check_filename(delivery->filename, error) != 0
	    || check_printable("report_sender", sender, true, error) != 0
	    || check_printable("report-id", delivery->report_id, false,
			       error) != 0)
		return -1;
	if (!is_dot_atom_pair(delivery->report_id)) {
		strbuf_printf(error, "report-id \"%s\" is not of the form "
			      "id-left@id-right", delivery->report_id);
		return -1;
	}
	if (!is_dot_atom(message_id_left, strlen(message_id_left))) {
		strbuf_printf(error, "Message-ID part \"%s\" is not a "
			      "dot-atom", message_id_left);
		return -1;
	}
	if (check_printable("recipient address", to_address, false,
			    error) != 0)
		return -1;
	if (!is_dot_atom_pair(to_address)) {
		strbuf_printf(error, "recipient address \"%s\" is not of the "
			      "form local@domain", to_address);
		return -1;
	}
	return 0;
}

/*
 * Append "name: value" folded at spaces, so that lines stay within 78
 * characters. Even the first word moves to a continuation line when that
 * makes it fit ("Name:" CRLF SP word is valid RFC 5322 folding). A word
 * longer than a line stays whole on a continuation line of its own;
 * report_mail_build() checks it against the 998 character limit.
 */
static void put_header(struct strbuf *out, const char *name,
		       const char *value)
{
	size_t line_len = strlen(name) + 1;
	const char *word = value;

	strbuf_printf(out, "%s:", name);
	while (*word != '\0') {
		size_t len = strcspn(word, " ");

		if (len > 0) {
			if (line_len > 0
			    && line_len + 1 + len > MAIL_LINE_MAX) {
				strbuf_puts(out, "\r\n");
				line_len = 0;
			}
			strbuf_putc(out, ' ');
			strbuf_append(out, word, len);
			line_len += 1 + len;
		}
		word += len;
		word += strspn(word, " ");
	}
	strbuf_puts(out, "\r\n");
}

/*
 * Append '; name="value"' to a header value. A parameter too long for
 * one folded line is split into RFC 2231 continuations name*0, name*1,
 * ... so that the header still folds within 78 characters.
 */
static void put_param(struct strbuf *value, const char *name,
		      const char *text)
{
	size_t len = strlen(text);
	size_t offset;
	unsigned index = 0;

	if (strlen(name) + len + 4 < MAIL_LINE_MAX) {
		strbuf_printf(value, "; %s=\"%s\"", name, text);
		return;
	}
	for (offset = 0; offset < len; offset += PARAM_SEGMENT) {
		size_t take = len - offset < PARAM_SEGMENT ? len - offset
			: PARAM_SEGMENT;

		strbuf_printf(value, "; %s*%u=\"%.*s\"", name, index++,
			      (int)take, text + offset);
	}
}

static void format_date(time_t now, struct strbuf *out)
{
	static const char *const days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	struct tm tm;

	gmtime_r(&now, &tm);
	strbuf_printf(out, "%s, %02d %s %04d %02d:%02d:%02d +0000",
		      days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
		      tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void put_headers(struct strbuf *out, const struct delivery *delivery,
			const char *to_address, const char *message_id_left,
			const char *sender, time_t now, const char *boundary)
{
	struct strbuf value;

	strbuf_init(&value);
	format_date(now, &value);
	put_header(out, "Date", value.data);
	put_header(out, "From", sender);
	put_header(out, "To", to_address);

	strbuf_reset(&value);
	strbuf_printf(&value, "Report Domain: %s Submitter: %s Report-ID: <%s>",
		      delivery->report_domain, delivery->submitter,
		      delivery->report_id);
	put_header(out, "Subject", value.data);

	strbuf_reset(&value);
	strbuf_printf(&value, "<%s@%s>", message_id_left,
		      delivery->submitter);
	put_header(out, "Message-ID", value.data);
	put_header(out, "MIME-Version", "1.0");
	put_header(out, "Auto-Submitted", "auto-generated");
	put_header(out, "TLS-Report-Domain", delivery->report_domain);
	put_header(out, "TLS-Report-Submitter", delivery->submitter);
	put_header(out, "TLS-Required", "No");

	strbuf_reset(&value);
	strbuf_puts(&value, "multipart/report; report-type=\"tlsrpt\"");
	put_param(&value, "boundary", boundary);
	put_header(out, "Content-Type", value.data);
	strbuf_free(&value);
}

/* The failed sessions of one result-type, summed for the text part. */
struct result_count {
	char *result_type;
	double sessions;
};

struct text_part {
	struct strbuf text;
	struct strbuf line;	/* the line being composed */
};

/* Append a string from the report with every byte outside printable
 * ASCII replaced by '?', so the part stays 7-bit. */
static void put_sanitised(struct strbuf *out, const char *text)
{
	for (; *text != '\0'; text++) {
		unsigned char c = (unsigned char)*text;

		strbuf_putc(out, c >= ' ' && c < 0x7f ? (char)c : '?');
	}
}

/*
 * Move the composed line into the text, wrapped at TEXT_WIDTH columns:
 * breaks go at spaces, a word longer than a line is cut, and continuation
 * lines are indented two columns more than the line.
 */
static void flush_line(struct text_part *part, size_t indent)
{
	const char *rest = part->line.data;
	size_t margin = indent;

	do {
		size_t room = TEXT_WIDTH > margin ? TEXT_WIDTH - margin : 1;
		size_t take = strlen(rest);

		if (take > room) {
			size_t cut = room;

			while (cut > 0 && rest[cut] != ' ')
				cut--;
			take = cut > 0 ? cut : room;
		}
		strbuf_printf(&part->text, "%*s%.*s\r\n", (int)margin, "",
			      (int)take, rest);
		rest += take;
		rest += strspn(rest, " ");
		margin = indent + 2;
	} while (*rest != '\0');
	strbuf_reset(&part->line);
}

static void text_line(struct text_part *part, size_t indent,
		      const char *format, ...)
	__attribute__((format(printf, 3, 4)));

static void text_line(struct text_part *part, size_t indent,
		      const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	strbuf_vprintf(&part->line, format, ap);
	va_end(ap);
	flush_line(part, indent);
}

static const char *json_string(const cJSON *object, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);

	return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Read a session count: a JSON integer from 0 to 2^53 - 1. */
static int json_count(const cJSON *object, const char *key, double *count)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);

	if (!cJSON_IsNumber(item) || item->valuedouble < 0
	    || item->valuedouble > JSON_SAFE_MAX
	    || item->valuedouble != (double)(long long)item->valuedouble)
		return -1;
	*count = item->valuedouble;
	return 0;
}

static void add_result(struct result_count **counts, size_t *used,
		       const char *result_type, double sessions)
{
	size_t i;

	for (i = 0; i < *used; i++) {
		if (strcmp((*counts)[i].result_type, result_type) == 0) {
			(*counts)[i].sessions += sessions;
			return;
		}
	}
	*counts = xreallocarray(*counts, *used + 1, sizeof(**counts));
	(*counts)[*used].result_type = xstrdup(result_type);
	(*counts)[*used].sessions = sessions;
	(*used)++;
}

/* Sum failed-session-count per result-type, in order of appearance. */
static int collect_failures(const cJSON *details, struct result_count **counts,
			    size_t *used, struct strbuf *error)
{
	const cJSON *detail;

	if (details == NULL)
		return 0;
	if (!cJSON_IsArray(details)) {
		strbuf_puts(error, "failure-details is not an array");
		return -1;
	}
	cJSON_ArrayForEach(detail, details) {
		const char *result_type = json_string(detail, "result-type");
		double sessions;

		if (result_type == NULL
		    || json_count(detail, "failed-session-count",
				  &sessions) != 0) {
			strbuf_puts(error, "a failure-details entry lacks "
				    "result-type or failed-session-count");
			return -1;
		}
		add_result(counts, used, result_type, sessions);
	}
	return 0;
}

static void free_results(struct result_count *counts, size_t used)
{
	size_t i;

	for (i = 0; i < used; i++)
		free(counts[i].result_type);
	free(counts);
}

static int describe_policy(struct text_part *part, const cJSON *entry,
			   unsigned number, struct strbuf *error)
{
	const cJSON *policy = cJSON_GetObjectItemCaseSensitive(entry, "policy");
	const cJSON *summary = cJSON_GetObjectItemCaseSensitive(entry,
								"summary");
	const char *type = json_string(policy, "policy-type");
	const char *domain = json_string(policy, "policy-domain");
	struct result_count *counts = NULL;
	size_t used = 0;
	double successes, failures;
	size_t i;

	if (type == NULL
	    || json_count(summary, "total-successful-session-count",
			  &successes) != 0
	    || json_count(summary, "total-failure-session-count",
			  &failures) != 0) {
		strbuf_printf(error, "policy %u lacks policy-type or a "
			      "summary count", number);
		return -1;
	}
	if (collect_failures(cJSON_GetObjectItemCaseSensitive(entry,
							      "failure-details"),
			     &counts, &used, error) != 0) {
		free_results(counts, used);
		return -1;
	}

	strbuf_printf(&part->line, "Policy %u: ", number);
	put_sanitised(&part->line, type);
	if (domain != NULL) {
		strbuf_puts(&part->line, ", policy domain ");
		put_sanitised(&part->line, domain);
	}
	flush_line(part, 0);
	text_line(part, 2, "Successful sessions: %.0f", successes);
	text_line(part, 2, "Failed sessions: %.0f", failures);
	if (used > 0)
		text_line(part, 2, "Failures by result type:");
	for (i = 0; i < used; i++) {
		put_sanitised(&part->line, counts[i].result_type);
		strbuf_printf(&part->line, ": %.0f", counts[i].sessions);
		flush_line(part, 4);
	}
	text_line(part, 0, "%s", "");
	free_results(counts, used);
	return 0;
}

static int describe_report(struct text_part *part, const cJSON *report,
			   const struct delivery *delivery,
			   struct strbuf *error)
{
	const cJSON *range = cJSON_GetObjectItemCaseSensitive(report,
							      "date-range");
	const cJSON *policies = cJSON_GetObjectItemCaseSensitive(report,
								 "policies");
	const char *organization = json_string(report, "organization-name");
	const char *start = json_string(range, "start-datetime");
	const char *end = json_string(range, "end-datetime");
	const cJSON *entry;
	unsigned number = 0;

	if (!cJSON_IsObject(report) || start == NULL || end == NULL
	    || !cJSON_IsArray(policies)) {
		strbuf_puts(error, "report lacks date-range or policies");
		return -1;
	}
	text_line(part, 0, "This is an aggregate TLS report from %s.",
		  delivery->submitter);
	text_line(part, 0, "%s", "");
	text_line(part, 0, "Report domain: %s", delivery->report_domain);
	strbuf_puts(&part->line, "Period: ");
	put_sanitised(&part->line, start);
	strbuf_puts(&part->line, " to ");
	put_sanitised(&part->line, end);
	flush_line(part, 0);
	if (organization != NULL) {
		strbuf_puts(&part->line, "Organization: ");
		put_sanitised(&part->line, organization);
		flush_line(part, 0);
	}
	text_line(part, 0, "Report-ID: %s", delivery->report_id);
	text_line(part, 0, "%s", "");

	cJSON_ArrayForEach(entry, policies) {
		if (describe_policy(part, entry, ++number, error) != 0)
			return -1;
	}
	if (number == 0)
		text_line(part, 0, "The report lists no policies.");
	text_line(part, 0, "The full report is attached as gzip'd JSON.");
	return 0;
}

/* Write the text part from the payload: decompress, parse, describe. */
static int make_text(const struct delivery *delivery, struct strbuf *text,
		     struct strbuf *error)
{
	struct text_part part;
	cJSON *report;
	char *json;
	size_t json_len;
	int status;

	if (gzip_decompress(delivery->payload, delivery->payload_len,
			    REPORT_MAIL_JSON_MAX, &json, &json_len) != 0) {
		strbuf_printf(error, "payload is not a single gzip member "
			      "of at most %d MiB", REPORT_MAIL_JSON_MAX >> 20);
		return -1;
	}
	report = cJSON_ParseWithLength(json, json_len);
	free(json);
	if (report == NULL) {
		strbuf_puts(error, "payload is not valid JSON");
		return -1;
	}

	part.text = *text;
	strbuf_init(&part.line);
	status = describe_report(&part, report, delivery, error);
	*text = part.text;
	strbuf_free(&part.line);
	cJSON_Delete(report);
	return status;
}

/* Choose a boundary that occurs nowhere in the text part. Base64 lines
 * cannot contain it, because '_' is not in the base64 alphabet. */
static int make_boundary(const struct strbuf *text, struct strbuf *boundary,
			 struct strbuf *error)
{
	unsigned char bytes[BOUNDARY_RANDOM];
	int tries;
	size_t i;

	for (tries = 0; tries < BOUNDARY_TRIES; tries++) {
		if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
			strbuf_puts(error, "cannot get random bytes for the "
				    "MIME boundary from OpenSSL");
			return -1;
		}
		strbuf_reset(boundary);
		strbuf_puts(boundary, "=_tlsrpt_");
		for (i = 0; i < sizeof(bytes); i++)
			strbuf_printf(boundary, "%02x", bytes[i]);
		if (strstr(text->data, boundary->data) == NULL)
			return 0;
	}
	strbuf_puts(error, "cannot find a MIME boundary absent from the text");
	return -1;
}

static void put_report_part(struct strbuf *out, const struct delivery *delivery,
			    const char *boundary)
{
	struct strbuf value;

	strbuf_printf(out, "\r\n--%s\r\n", boundary);
	strbuf_init(&value);
	strbuf_puts(&value, "application/tlsrpt+gzip");
	put_param(&value, "name", delivery->filename);
	put_header(out, "Content-Type", value.data);
	put_header(out, "Content-Transfer-Encoding", "base64");
	strbuf_reset(&value);
	strbuf_puts(&value, "attachment");
	put_param(&value, "filename", delivery->filename);
	put_header(out, "Content-Disposition", value.data);
	strbuf_free(&value);
	strbuf_puts(out, "\r\n");
	base64_encode_lines(delivery->payload, delivery->payload_len,
			    BASE64_LINE_LEN, "\r\n", out);
	strbuf_printf(out, "\r\n--%s--\r\n", boundary);
}

/* Check the one limit that folding cannot guarantee: 998 characters. */
static int check_line_lengths(const struct strbuf *message,
			      struct strbuf *error)
{
	const char *line = message->data;
	const char *end;

	while ((end = strstr(line, "\r\n")) != NULL) {
		if ((size_t)(end - line) > MAIL_LINE_LIMIT) {
			strbuf_printf(error, "a header word makes a line of "
				      "%zu characters, over the limit of %d",
				      (size_t)(end - line), MAIL_LINE_LIMIT);
			return -1;
		}
		line = end + 2;
	}
	return 0;
}

int report_mail_build(const struct delivery *delivery, const char *to_address,
		      const char *message_id_left, time_t now,
		      struct strbuf *out, struct strbuf *error)
{
	const char *sender = config_str("report_sender");
	struct strbuf text, boundary, message;
	int status = -1;

	if (check_fields(delivery, to_address, message_id_left, sender,
			 error) != 0)
		return -1;
	strbuf_init(&text);
	strbuf_init(&boundary);
	strbuf_init(&message);
	if (make_text(delivery, &text, error) != 0
	    || make_boundary(&text, &boundary, error) != 0)
		goto done;

	put_headers(&message, delivery, to_address, message_id_left, sender,
		    now, boundary.data);
	strbuf_puts(&message, "\r\nThis is a MIME-formatted message.\r\n");
	strbuf_printf(&message, "\r\n--%s\r\n", boundary.data);
	put_header(&message, "Content-Type", "text/plain; charset=us-ascii");
	put_header(&message, "Content-Transfer-Encoding", "7bit");
	strbuf_puts(&message, "\r\n");
	strbuf_append(&message, text.data, text.len);
	put_report_part(&message, delivery, boundary.data);
	if (check_line_lengths(&message, error) != 0)
		goto done;
	strbuf_append(out, message.data, message.len);
	status = 0;

done:
	strbuf_free(&text);
	strbuf_free(&boundary);
	strbuf_free(&message);
	return status;
}

/* Check that address is one dot-atom@dot-atom address. */
static int check_address(const char *address, struct strbuf *error)
{
	size_t i;

	for (i = 0; address[i] != '\0'; i++) {
		unsigned char c = (unsigned char)address[i];

		if (c <= ' ' || c >= 0x7f) {
			strbuf_printf(error, "address \"%s\" contains byte "
				      "0x%02x at offset %zu; an address is "
				      "printable ASCII without spaces",
				      address, c, i);
			return -1;
		}
	}
	if (!is_dot_atom_pair(address)) {
		strbuf_printf(error, "\"%s\" is not one address of the form "
			      "local@domain", address);
		return -1;
	}
	return 0;
}

int report_mail_address(const char *uri, struct strbuf *address,
			struct strbuf *error)
{
	if (strncasecmp(uri, "mailto:", 7) != 0) {
		strbuf_printf(error, "\"%s\" is not a mailto: URI", uri);
		return -1;
	}

	/* The reporter has already decoded the URI, so a '%' or '?' left in
	 * it belongs to the address (both are atext) and is not decoded
	 * again. */
	strbuf_reset(address);
	strbuf_puts(address, uri + 7);
	return check_address(address->data, error);
}

int report_mail_envelope_sender(const char *value, struct strbuf *address,
				struct strbuf *error)
{
	const char *open = strrchr(value, '<');
	size_t len = strlen(value);

	strbuf_reset(address);
	if (len == 0)
		return 0;
	if (open != NULL && value[len - 1] == '>')
		strbuf_append(address, open + 1,
			      (size_t)(value + len - 1 - (open + 1)));
	else
		strbuf_puts(address, value);
	return check_address(address->data, error);
}

void report_mail_preview_to(const struct delivery *delivery,
			    struct strbuf *address)
{
	const char *rua = delivery->rua != NULL ? delivery->rua : "";
	struct strbuf uri, ignored;

	strbuf_init(&uri);
	strbuf_init(&ignored);
	while (*rua != '\0') {
		size_t len = strcspn(rua, " ");

		strbuf_reset(&uri);
		strbuf_append(&uri, rua, len);
		if (len > 0 && report_mail_address(uri.data, address,
						   &ignored) == 0)
			goto done;
		rua += len;
		rua += strspn(rua, " ");
	}
	strbuf_reset(address);
	strbuf_printf(address, "postmaster@%s", delivery->report_domain);

done:
	strbuf_free(&uri);
	strbuf_free(&ignored);
}
