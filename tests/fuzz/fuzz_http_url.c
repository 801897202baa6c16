/*
 * fuzz_http_url: libFuzzer target for the https: destination parser. The
 * URIs come from the rua= of TLSRPT records in DNS, so any domain owner
 * chooses them.
 *
 * A URI that parses is checked for what http_url.h promises. The host
 * has at most HTTP_HOST_MAX octets and no trailing dot, and the port is
 * from 1 to 65535. Host, authority and request target are printable
 * ASCII without spaces, and the target starts with "/" and has no
 * fragment.
 * "https://" followed by the authority and the target must parse again
 * to the same parts. A rejected URI must come with a reason. A violation
 * aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "http_url.h"
#include "strbuf.h"
#include "xalloc.h"

static _Noreturn void broken(const char *problem, const char *uri)
{
	fprintf(stderr, "fuzz_http_url: %s: \"%s\"\n", problem, uri);
	abort();
}

static void check_visible(const char *text, const char *uri)
{
	const unsigned char *cursor;

	for (cursor = (const unsigned char *)text; *cursor != '\0'; cursor++)
		if (*cursor <= 0x20 || *cursor >= 0x7f)
			broken("space, control or non-ASCII byte kept", uri);
}

static void check_parts(const struct http_url *url, const char *uri)
{
	size_t host_len = strlen(url->host);

	if (host_len == 0 || host_len > HTTP_HOST_MAX)
		broken("host empty or too long", uri);
	if (url->host[host_len - 1] == '.')
		broken("host kept its trailing dot", uri);
	if (url->port < 1 || url->port > 65535)
		broken("port out of range", uri);
	if (url->target[0] != '/' || strchr(url->target, '#') != NULL)
		broken("target without \"/\" or with a fragment", uri);
	check_visible(url->host, uri);
	check_visible(url->authority, uri);
	check_visible(url->target, uri);
}

/* Parse "https://" + authority + target and compare the parts. */
static void check_round_trip(const struct http_url *url, const char *uri)
{
	char *again = xasprintf("https://%s%s", url->authority, url->target);
	struct http_url second;
	struct strbuf error;

	strbuf_init(&error);
	if (http_url_parse(again, &second, &error) != 0)
		broken("the parts of a parsed URI do not parse again", uri);
	if (strcmp(second.host, url->host) != 0 ||
	    second.host_is_ip != url->host_is_ip ||
	    second.port != url->port ||
	    strcmp(second.authority, url->authority) != 0 ||
	    strcmp(second.target, url->target) != 0)
		broken("the parts of a parsed URI parse differently", uri);
	http_url_free(&second);
	strbuf_free(&error);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *uri = fuzz_copy_text(data, size);
	struct http_url url;
	struct strbuf error;

	strbuf_init(&error);
	if (http_url_parse(uri, &url, &error) == 0) {
		check_parts(&url, uri);
		check_round_trip(&url, uri);
		http_url_free(&url);
	} else if (error.len == 0) {
		broken("rejected without a reason", uri);
	}
	strbuf_free(&error);
	free(uri);
	return 0;
}
