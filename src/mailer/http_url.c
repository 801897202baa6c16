/*
 * http_url: https: URI parsing (see http_url.h).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_url.h"
#include "xalloc.h"

#define HTTPS_DEFAULT_PORT	443
#define DNS_LABEL_MAX		63

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		|| (c >= '0' && c <= '9');
}

/* Check a DNS name: labels of letters, digits, '-' and '_', separated by
 * single dots. A name of digits and dots must be an IPv4 address, so
 * that "10.1" is not passed to the resolver, which would read it as
 * 10.0.0.1. */
static int check_name(const char *host, bool *is_ip, struct strbuf *error)
{
	struct in_addr address;
	size_t label_len = 0;
	bool numeric = true;
	size_t i;

	if (host[0] == '\0') {
		strbuf_puts(error, "URI has no host");
		return -1;
	}
	for (i = 0; host[i] != '\0'; i++) {
		char c = host[i];

		if (c == '.') {
			if (label_len == 0)
				goto invalid;
			label_len = 0;
			continue;
		}
		if (!is_alnum(c) && c != '-' && c != '_')
			goto invalid;
		if (++label_len > DNS_LABEL_MAX)
			goto invalid;
		if (c < '0' || c > '9')
			numeric = false;
	}
	if (i == 0 || label_len == 0 || i > HTTP_HOST_MAX)
		goto invalid;
	*is_ip = inet_pton(AF_INET, host, &address) == 1;
	if (numeric && !*is_ip)
		goto invalid;
	return 0;

invalid:
	strbuf_printf(error, "invalid host name \"%s\"", host);
	return -1;
}

static int parse_port(const char *text, size_t len, unsigned *port,
		      struct strbuf *error)
{
	unsigned long value = 0;
	size_t i;

	if (len == 0) {
		*port = HTTPS_DEFAULT_PORT;
		return 0;
	}
	for (i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9' || value > 65535)
			goto invalid;
		value = value * 10 + (unsigned long)(text[i] - '0');
	}
	if (value == 0 || value > 65535)
		goto invalid;
	*port = (unsigned)value;
	return 0;

invalid:
	strbuf_printf(error, "invalid port \"%.*s\"", (int)len, text);
	return -1;
}

/* Split the authority "host[:port]" or "[v6]:port" into url. */
static int parse_authority(const char *text, size_t len, struct http_url *url,
			   struct strbuf *error)
{
	const char *port = NULL;
	size_t host_len = len;

	if (len > 0 && text[0] == '[') {
		const char *close = memchr(text, ']', len);
		struct in6_addr address;

		if (close == NULL || (close + 1 < text + len && close[1] != ':')) {
			strbuf_printf(error, "invalid IPv6 address in \"%.*s\"",
				      (int)len, text);
			return -1;
		}
		url->host = xstrndup(text + 1, (size_t)(close - text - 1));
		if (inet_pton(AF_INET6, url->host, &address) != 1) {
			strbuf_printf(error, "invalid IPv6 address \"%s\"",
				      url->host);
			return -1;
		}
		url->host_is_ip = true;
		if (close + 1 < text + len)
			port = close + 2;
	} else {
		const char *colon = memchr(text, ':', len);

		if (colon != NULL) {
			host_len = (size_t)(colon - text);
			port = colon + 1;
		}
		url->host = xstrndup(text, host_len);

		/* "example.com." names the same host; certificates and SNI
		 * use the name without the trailing dot. */
		if (host_len > 1 && url->host[host_len - 1] == '.')
			url->host[host_len - 1] = '\0';
		if (check_name(url->host, &url->host_is_ip, error) != 0)
			return -1;
	}
	if (parse_port(port, port != NULL ? (size_t)(text + len - port) : 0,
		       &url->port, error) != 0)
		return -1;
	return 0;
}

static void make_authority(struct http_url *url)
{
	struct strbuf authority;

	strbuf_init(&authority);
	if (strchr(url->host, ':') != NULL)
		strbuf_printf(&authority, "[%s]", url->host);
	else
		strbuf_puts(&authority, url->host);
	if (url->port != HTTPS_DEFAULT_PORT)
		strbuf_printf(&authority, ":%u", url->port);
	url->authority = strbuf_detach(&authority, NULL);
}

/* The request target: path and query, without the fragment. */
static void make_target(struct http_url *url, const char *rest)
{
	size_t len = strcspn(rest, "#");
	struct strbuf target;

	strbuf_init(&target);
	if (len == 0 || rest[0] != '/')
		strbuf_putc(&target, '/');
	strbuf_append(&target, rest, len);
	url->target = strbuf_detach(&target, NULL);
}

int http_url_parse(const char *uri, struct http_url *url,
		   struct strbuf *error)
{
	const char *authority, *rest;
	size_t len = strlen(uri);
	size_t i;

	memset(url, 0, sizeof(*url));
	if (strncasecmp(uri, "https://", 8) != 0) {
		strbuf_printf(error, "\"%s\" is not an https:// URI", uri);
		return -1;
	}
	if (len > HTTP_URL_MAX) {
		strbuf_printf(error, "URI of %zu bytes is longer than the "
			      "limit of %d", len, HTTP_URL_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)uri[i];

		if (c <= ' ' || c >= 0x7f) {
			strbuf_printf(error, "URI contains byte 0x%02x at "
				      "offset %zu; only printable ASCII "
				      "without spaces is allowed", c, i);
			return -1;
		}
	}

	authority = uri + 8;
	rest = authority + strcspn(authority, "/?#");
	if (memchr(authority, '@', (size_t)(rest - authority)) != NULL) {
		strbuf_puts(error, "URI contains userinfo (user@host), which "
			    "is not allowed");
		return -1;
	}
	if (parse_authority(authority, (size_t)(rest - authority), url,
			    error) != 0) {
		http_url_free(url);
		return -1;
	}
	make_authority(url);
	make_target(url, rest);
	return 0;
}

void http_url_free(struct http_url *url)
{
	free(url->host);
	free(url->authority);
	free(url->target);
	memset(url, 0, sizeof(*url));
}
