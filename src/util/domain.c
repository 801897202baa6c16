/*
 * domain: lower case, no trailing dot, A-labels; see domain.h.
 */
#include <ctype.h>
#include <idn2.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "xalloc.h"

static bool is_ascii(const char *text)
{
	for (; *text != '\0'; text++)
		if ((unsigned char)*text >= 0x80)
			return false;
	return true;
}

static int check_labels(const char *name, struct strbuf *reason)
{
	const char *label = name;
	size_t len = strlen(name);

	if (len == 0) {
		strbuf_puts(reason, "empty domain name");
		return -1;
	}
	if (len > DOMAIN_MAX_LEN) {
		strbuf_printf(reason, "domain name longer than %d octets",
			      DOMAIN_MAX_LEN);
		return -1;
	}
	while (*label != '\0') {
		const char *end = strchr(label, '.');
		size_t label_len = end ? (size_t)(end - label) : strlen(label);
		size_t i;

		if (label_len == 0 || label_len > 63) {
			strbuf_printf(reason, "invalid label length %zu in "
				      "domain name", label_len);
			return -1;
		}
		for (i = 0; i < label_len; i++) {
			unsigned char c = (unsigned char)label[i];

			if (!isalnum(c) && c != '-' && c != '_') {
				strbuf_printf(reason, "invalid character 0x%02x "
					      "in domain name", c);
				return -1;
			}
		}
		label += label_len + (end != NULL);
		if (end != NULL && *label == '\0') {
			strbuf_puts(reason, "empty label in domain name");
			return -1;
		}
	}
	return 0;
}

static char *to_ascii(const char *name, struct strbuf *reason)
{
	char *ascii = NULL;
	char *copy;
	int status;

	if (is_ascii(name))
		return xstrdup(name);
	status = idn2_lookup_u8((const uint8_t *)name, (uint8_t **)&ascii,
				IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (status != IDN2_OK) {
		strbuf_printf(reason, "invalid internationalised domain name "
			      "(%s)", idn2_strerror(status));
		return NULL;
	}

	/* The result is libidn2's memory; copy it so callers can use free. */
	copy = xstrdup(ascii);
	idn2_free(ascii);
	return copy;
}

int domain_normalise(const char *name, bool allow_wildcard, char **result,
		     struct strbuf *reason)
{
	bool wildcard = false;
	size_t len = strlen(name);
	char *trimmed;
	char *ascii;
	char *cursor;

	*result = NULL;
	if (allow_wildcard && strncmp(name, "*.", 2) == 0) {
		wildcard = true;
		name += 2;
		len -= 2;
	}
	if (len > 0 && name[len - 1] == '.')
		len--;
	trimmed = xstrndup(name, len);
	ascii = to_ascii(trimmed, reason);
	free(trimmed);
	if (ascii == NULL)
		return -1;
	for (cursor = ascii; *cursor != '\0'; cursor++)
		*cursor = (char)tolower((unsigned char)*cursor);
	if (check_labels(ascii, reason) != 0) {
		free(ascii);
		return -1;
	}
	if (wildcard) {
		*result = xasprintf("*.%s", ascii);
		free(ascii);
	} else {
		*result = ascii;
	}
	return 0;
}
