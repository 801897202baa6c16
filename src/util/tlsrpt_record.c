/*
 * tlsrpt_record: TLSRPT record parsing; see tlsrpt_record.h.
 *
 * The record is split into fields at ';', which is safe because RFC 8460
 * requires ';' inside a URI to be percent-encoded. Each rua value is split
 * into URIs at ',' for the same reason. Every URI is then checked on its
 * own, so one bad URI never costs the others.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "domain.h"
#include "tlsrpt_record.h"
#include "xalloc.h"

#define VERSION_TAG		"v=TLSRPTv1"
#define RUA_TAG			"rua="
#define EXT_NAME_MAX		32	/* ALPHA / DIGIT, then up to 31 more */
#define SHOWN_MAX		100	/* octets of input quoted in warnings */

/* One parse: the result so far and the warnings about it. */
struct parse {
	struct tlsrpt_record *result;
	struct strbuf *warnings;	/* NULL: not collected */
	size_t warning_count;
};

static void add_warning(struct parse *parse, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

/* Collect a warning. After TLSRPT_MAX_WARNINGS only the number of
 * further warnings is kept, so a hostile record makes one short line. */
static void add_warning(struct parse *parse, const char *format, ...)
{
	va_list ap;

	parse->warning_count++;
	if (parse->warnings == NULL
	    || parse->warning_count > TLSRPT_MAX_WARNINGS)
		return;
	if (parse->warnings->len > 0)
		strbuf_puts(parse->warnings, "; ");
	va_start(ap, format);
	strbuf_vprintf(parse->warnings, format, ap);
	va_end(ap);
}

static void finish_warnings(struct parse *parse)
{
	if (parse->warnings != NULL
	    && parse->warning_count > TLSRPT_MAX_WARNINGS)
		strbuf_printf(parse->warnings, "; %zu more problems",
			      parse->warning_count - TLSRPT_MAX_WARNINGS);
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static void add_destination(struct parse *parse, char *uri)
{
	struct tlsrpt_record *result = parse->result;
	size_t i;

	for (i = 0; i < result->destination_count; i++) {
		if (strcmp(result->destinations[i], uri) == 0) {
			free(uri);
			return;
		}
	}
	if (result->destination_count >= TLSRPT_MAX_DESTINATIONS) {
		add_warning(parse, "more than %d destinations; skipping "
			    "\"%.*s\"", TLSRPT_MAX_DESTINATIONS, SHOWN_MAX,
			    uri);
		free(uri);
		return;
	}
	result->destinations = xreallocarray(result->destinations,
					     result->destination_count + 1,
					     sizeof(*result->destinations));
	result->destinations[result->destination_count++] = uri;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode text[0..len); NULL when an escape is malformed or
 * decodes to NUL. */
static char *percent_decode(const char *text, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t used = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		int high;
		int low;

		if (text[i] != '%') {
			out[used++] = text[i];
			continue;
		}
		if (i + 2 >= len) {
			free(out);
			return NULL;
		}
		high = hex_value(text[i + 1]);
		low = hex_value(text[i + 2]);
		if (high < 0 || low < 0 || (high == 0 && low == 0)) {
			free(out);
			return NULL;
		}
		out[used++] = (char)(high * 16 + low);
		i += 2;
	}
	out[used] = '\0';
	return out;
}

/* RFC 5322 atext, the characters of an unquoted local part. */
static bool is_atext(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static const char *check_dot_atom(const char *local, size_t len)
{
	size_t i;

	if (local[0] == '.' || local[len - 1] == '.')
		return "local part starts or ends with '.'";
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)local[i];

		if (c == '.' && local[i + 1] == '.')
			return "local part contains \"..\"";
		if (c != '.' && !is_atext(c))
			return "invalid character in the local part";
	}
	return NULL;
}

/* A quoted local part, printable ASCII only: no white space, because the
 * destination travels in space-separated lists. */
static const char *check_quoted(const char *local, size_t len)
{
	size_t i;

	if (len < 2 || local[len - 1] != '"')
		return "unterminated quoted local part";
	for (i = 1; i < len - 1; i++) {
		unsigned char c = (unsigned char)local[i];

		if (c < 0x21 || c > 0x7e)
			return "invalid character in the local part";
		if (c == '\\') {
			i++;
			if (i >= len - 1)
				return "unterminated quoted local part";

			/* An escaped character must be printable too, or
			 * "\%0D" would put a CR into the destination. */
			c = (unsigned char)local[i];
			if (c < 0x21 || c > 0x7e)
				return "invalid character in the local part";
		} else if (c == '"') {
			return "unescaped '\"' in the local part";
		}
	}
	return NULL;
}

/*
 * Check one decoded addr-spec and return "local@domain" with the domain
 * normalised, or NULL with *problem set. Address literals ("[192.0.2.1]")
 * are rejected: a report destination names a mail domain.
 */
static char *canonical_address(const char *address, size_t len,
			       const char **problem, struct strbuf *detail)
{
	const char *at = NULL;
	const char *domain;
	char *local;
	char *domain_copy;
	char *normalised;
	char *result;
	size_t i;

	for (i = 0; i < len; i++)
		if (address[i] == '@')
			at = address + i;
	if (at == NULL || at == address || at == address + len - 1) {
		*problem = "not an address of the form local@domain";
		return NULL;
	}
	local = xstrndup(address, (size_t)(at - address));
	*problem = local[0] == '"' ? check_quoted(local, strlen(local))
		: check_dot_atom(local, strlen(local));
	if (*problem != NULL) {
		free(local);
		return NULL;
	}
	domain = at + 1;
	if (domain[0] == '[') {
		*problem = "address literals are not supported";
		free(local);
		return NULL;
	}
	domain_copy = xstrndup(domain, len - (size_t)(domain - address));
	if (domain_normalise(domain_copy, false, &normalised, detail) != 0) {
		*problem = "invalid domain";
		free(domain_copy);
		free(local);
		return NULL;
	}
	result = xasprintf("mailto:%s@%s", local, normalised);
	free(normalised);
	free(domain_copy);
	free(local);
	return result;
}

/* Split a decoded RFC 6068 "to" list at commas outside quoted strings. */
static size_t next_address_end(const char *text, size_t start, size_t len)
{
	bool quoted = false;
	size_t i;

	for (i = start; i < len; i++) {
		if (quoted && text[i] == '\\' && i + 1 < len)
			i++;
		else if (text[i] == '"')
			quoted = !quoted;
		else if (!quoted && text[i] == ',')
			return i;
	}
	return len;
}

/*
 * Add the addresses of a mailto URI (RFC 6068). Everything from '?' on
 * (hfields such as "?subject=") is dropped, never copied into a message.
 * A record must encode a comma as "%2C", so after decoding, commas
 * outside quotes separate several addresses, as in RFC 6068's "to".
 */
static void add_mailto(struct parse *parse, const char *uri,
		       const char *rest)
{
	size_t to_len = strcspn(rest, "?");
	char *decoded = percent_decode(rest, to_len);
	size_t len;
	size_t start = 0;

	if (decoded == NULL) {
		add_warning(parse, "skipping \"%.*s\": invalid percent-"
			    "encoding", SHOWN_MAX, uri);
		return;
	}
	len = strlen(decoded);
	if (len == 0) {
		add_warning(parse, "skipping \"%.*s\": mailto URI without an "
			    "address", SHOWN_MAX, uri);
		free(decoded);
		return;
	}
	while (start <= len) {
		size_t end = next_address_end(decoded, start, len);
		struct strbuf detail;
		const char *problem = NULL;
		char *address;

		strbuf_init(&detail);
		address = end > start ? canonical_address(decoded + start,
							  end - start,
							  &problem, &detail)
			: NULL;
		if (address != NULL)
			add_destination(parse, address);
		else
			add_warning(parse, "skipping \"%.*s\": %s%s%s%s",
				    SHOWN_MAX, uri, problem != NULL ? problem
				    : "empty address", detail.len ? " (" : "",
				    detail.data, detail.len ? ")" : "");
		strbuf_free(&detail);
		start = end + 1;
	}
	free(decoded);
}

/* Keep an https URI as published, with the scheme in lower case. */
static void add_https(struct parse *parse, const char *uri,
		      const char *rest)
{
	if (strncmp(rest, "//", 2) != 0 || strcspn(rest + 2, "/?#") == 0) {
		add_warning(parse, "skipping \"%.*s\": https URI without a "
			    "host", SHOWN_MAX, uri);
		return;
	}
	add_destination(parse, xasprintf("https:%s", rest));
}

/* Return the length of the RFC 3986 scheme at the start of uri, 0 if
 * there is none. */
static size_t scheme_length(const char *uri)
{
	size_t i = 0;

	if (!isalpha((unsigned char)uri[0]))
		return 0;
	while (isalnum((unsigned char)uri[i]) || uri[i] == '+'
	       || uri[i] == '-' || uri[i] == '.')
		i++;
	return uri[i] == ':' ? i : 0;
}

static void add_uri(struct parse *parse, const char *text, size_t len)
{
	char *uri = xstrndup(text, len);
	size_t scheme_len = scheme_length(uri);
	size_t i;

	/* URIs are printable ASCII; anything else would also break the
	 * space-separated destination lists in queue files. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)uri[i];

		if (c < 0x21 || c > 0x7e) {
			add_warning(parse, "skipping \"%.*s\": invalid "
				    "character 0x%02x in URI", SHOWN_MAX, uri,
				    c);
			free(uri);
			return;
		}
	}
	if (scheme_len == 0)
		add_warning(parse, "skipping \"%.*s\": no URI scheme; "
			    "expected mailto: or https:", SHOWN_MAX, uri);
	else if (scheme_len == 6 && strncasecmp(uri, "mailto", 6) == 0)
		add_mailto(parse, uri, uri + 7);
	else if (scheme_len == 5 && strncasecmp(uri, "https", 5) == 0)
		add_https(parse, uri, uri + 6);
	else
		add_warning(parse, "skipping \"%.*s\": unsupported URI "
			    "scheme \"%.*s\"; only mailto: and https: are "
			    "defined", SHOWN_MAX, uri, (int)scheme_len, uri);
	free(uri);
}

/* Add the comma-separated URIs of one rua value. */
static void parse_rua(struct parse *parse, const char *value, size_t len)
{
	size_t start = 0;

	while (start <= len) {
		const char *comma = memchr(value + start, ',', len - start);
		size_t end = comma != NULL ? (size_t)(comma - value) : len;
		size_t first = start;
		size_t last = end;

		while (first < last && is_wsp(value[first]))
			first++;
		while (last > first && is_wsp(value[last - 1]))
			last--;
		if (last == first)
			add_warning(parse, "empty URI in rua field");
		else
			add_uri(parse, value + first, last - first);
		start = end + 1;
	}
}

static bool valid_ext_name(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > EXT_NAME_MAX || !isalnum((unsigned char)name[0]))
		return false;
	for (i = 1; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isalnum(c) && c != '_' && c != '-' && c != '.')
			return false;
	}
	return true;
}

/* Handle one field; returns true if it was a rua field. */
static bool parse_field(struct parse *parse, const char *field, size_t len)
{
	const char *equals = memchr(field, '=', len);
	size_t name_len;

	if (len >= strlen(RUA_TAG) && memcmp(field, RUA_TAG,
					     strlen(RUA_TAG)) == 0) {
		parse_rua(parse, field + strlen(RUA_TAG),
			  len - strlen(RUA_TAG));
		return true;
	}
	if (equals == NULL) {
		add_warning(parse, "ignoring field \"%.*s\" without '='",
			    (int)(len > SHOWN_MAX ? SHOWN_MAX : len), field);
		return false;
	}

	/* Unknown fields are ignored, as RFC 8460 requires. A wrongly
	 * capitalised rua gets a warning because it loses the destinations. */
	name_len = (size_t)(equals - field);
	if (name_len == 3 && strncasecmp(field, "rua", 3) == 0)
		add_warning(parse, "ignoring field \"%.3s=\": the field name "
			    "is case-sensitive and must be \"rua=\"", field);
	else if (!valid_ext_name(field, name_len))
		add_warning(parse, "ignoring invalid field \"%.*s\"",
			    (int)(len > SHOWN_MAX ? SHOWN_MAX : len), field);
	return false;
}

/* Check the version and handle every field. Returns 0, or -1 when the
 * text is not a TLSRPT record. */
static int parse_record(struct parse *parse, const char *record,
			size_t *rua_count)
{
	const char *cursor;
	size_t field_count = 0;

	if (record == NULL || strncmp(record, VERSION_TAG,
				      strlen(VERSION_TAG)) != 0) {
		add_warning(parse, "not a TLSRPT record: \"%.*s\" does not "
			    "start with \"%s\"", SHOWN_MAX,
			    record != NULL ? record : "", VERSION_TAG);
		return -1;
	}
	cursor = record + strlen(VERSION_TAG);
	while (is_wsp(*cursor))
		cursor++;
	if (*cursor != ';' && *cursor != '\0') {
		add_warning(parse, "not a TLSRPT record: \"%.*s\" has no "
			    "';' after \"%s\"", SHOWN_MAX, record,
			    VERSION_TAG);
		return -1;
	}

	/* Each field runs from after one ';' to the next, without the white
	 * space around it. Empty fields (a trailing ';') are allowed. */
	while (*cursor == ';') {
		const char *end;
		size_t len;

		cursor++;
		while (is_wsp(*cursor))
			cursor++;
		end = cursor + strcspn(cursor, ";");
		len = (size_t)(end - cursor);
		while (len > 0 && is_wsp(cursor[len - 1]))
			len--;
		if (len > 0) {
			field_count++;
			if (parse_field(parse, cursor, len))
				(*rua_count)++;
		}
		cursor = end;
	}
	if (field_count == 0) {
		add_warning(parse, "not a TLSRPT record: \"%.*s\" has no "
			    "field after the version", SHOWN_MAX, record);
		return -1;
	}
	return 0;
}

int tlsrpt_record_parse(const char *record, struct tlsrpt_record *result,
			struct strbuf *warnings)
{
	struct parse parse = { result, warnings, 0 };
	size_t rua_count = 0;
	int status;

	memset(result, 0, sizeof(*result));
	status = parse_record(&parse, record, &rua_count);
	finish_warnings(&parse);
	if (status != 0 || warnings == NULL)
		return status;

	/* The outcome is always named, even after many warnings. */
	if (rua_count == 0)
		strbuf_printf(warnings, "%sno rua field in the record",
			      warnings->len > 0 ? "; " : "");
	else if (result->destination_count == 0)
		strbuf_printf(warnings, "%sno usable destination in the "
			      "record", warnings->len > 0 ? "; " : "");
	return 0;
}

void tlsrpt_record_free(struct tlsrpt_record *result)
{
	size_t i;

	for (i = 0; i < result->destination_count; i++)
		free(result->destinations[i]);
	free(result->destinations);
	memset(result, 0, sizeof(*result));
}
