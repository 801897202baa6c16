/*
 * https: POST a report over HTTPS (see https.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http_response.h"
#include "http_url.h"
#include "https.h"
#include "msg.h"
#include "net.h"

#define HTTPS_REASON_MAX	1000	/* reason kept for log and file */

/* One exchange with one server. */
struct exchange {
	struct net_conn conn;
	const char *uri;
	const struct http_url *url;
	const struct https_settings *settings;
	long long deadline;
	struct strbuf *peer;
	struct strbuf *reason;
	struct strbuf received;		/* the response so far */
	struct http_response response;
};

static enum https_status io_error(struct exchange *x, const char *activity,
				  int err)
{
	strbuf_reset(x->reason);
	if (err == 0)
		strbuf_printf(x->reason, "lost connection with %s while %s",
			      x->peer->data, activity);
	else if (err == ETIMEDOUT)
		strbuf_printf(x->reason, "conversation with %s timed out "
			      "while %s (https_timeout)", x->peer->data,
			      activity);
	else
		strbuf_printf(x->reason, "error talking to %s while %s: %s",
			      x->peer->data, activity,
			      net_error_text(&x->conn, err));
	return HTTPS_TEMPORARY;
}

/*
 * Connect to the server, skipping internal addresses when the settings
 * ask for it. A host with only internal addresses is a permanent
 * failure: its DNS records, which its domain's owner controls, send
 * every attempt there.
 */
static enum https_status open_connection(struct exchange *x)
{
	const struct https_settings *settings = x->settings;
	long long connect_timeout = settings->connect_timeout;
	struct net_filter filter;
	struct strbuf skipped, error;
	char port[8];
	int status;

	if (connect_timeout > net_remaining(x->deadline))
		connect_timeout = net_remaining(x->deadline);
	snprintf(port, sizeof(port), "%u", x->url->port);
	strbuf_init(&skipped);
	strbuf_init(&error);
	filter.reject_internal = settings->reject_internal;
	filter.skipped = &skipped;
	status = net_connect(x->url->host, port, &filter, connect_timeout,
			     &x->conn, x->peer, &error);

	strbuf_reset(x->reason);
	if (status == NET_ALL_INTERNAL)
		strbuf_printf(x->reason, "%s: %s; not posting there (set "
			      "https_internal_addresses = allow to permit it)",
			      x->uri, error.data);
	else if (status != 0 && skipped.len > 0)
		strbuf_printf(x->reason, "%s; %s", error.data, skipped.data);
	else if (status != 0)
		strbuf_puts(x->reason, error.data);
	else if (skipped.len > 0)
		msg_warn("%s: %s: %s; posting to %s",
			 settings->queue_id != NULL ? settings->queue_id
			 : "https", x->uri, skipped.data, x->peer->data);
	strbuf_free(&skipped);
	strbuf_free(&error);

	if (status == 0)
		return HTTPS_DELIVERED;
	strbuf_reset(x->peer);
	strbuf_puts(x->peer, "none");
	return status == NET_ALL_INTERNAL ? HTTPS_PERMANENT : HTTPS_TEMPORARY;
}

static enum https_status connect_server(struct exchange *x)
{
	const struct https_settings *settings = x->settings;
	struct net_tls_options options;
	struct strbuf error;
	enum https_status status = open_connection(x);

	if (status != HTTPS_DELIVERED)
		return status;

	options.host = x->url->host;
	options.host_is_ip = x->url->host_is_ip;
	options.verify = settings->verify;
	strbuf_init(&error);
	if (net_tls_start(&x->conn, settings->tls_context, &options,
			  x->deadline, &error) != 0) {
		strbuf_reset(x->reason);
		strbuf_printf(x->reason, "TLS handshake with %s failed: %s%s",
			      x->peer->data, error.data, options.verify
			      ? " (https_verify = yes)" : "");
		strbuf_free(&error);
		return HTTPS_TEMPORARY;
	}
	strbuf_free(&error);
	return HTTPS_DELIVERED;
}

static enum https_status send_request(struct exchange *x, const void *body,
				      size_t body_len)
{
	struct strbuf head;
	int status;

	strbuf_init(&head);
	strbuf_printf(&head, "POST %s HTTP/1.1\r\n"
		      "Host: %s\r\n"
		      "User-Agent: %s\r\n"
		      "Content-Type: application/tlsrpt+gzip\r\n"
		      "Content-Length: %zu\r\n"
		      "Connection: close\r\n"
		      "\r\n", x->url->target, x->url->authority,
		      HTTPS_USER_AGENT, body_len);
	status = net_write_until(&x->conn, head.data, head.len, x->deadline);
	strbuf_free(&head);
	if (status == 0)
		status = net_write_until(&x->conn, body, body_len,
					 x->deadline);
	if (status != 0)
		return io_error(x, "sending the request", errno);
	return HTTPS_DELIVERED;
}

/* Read more of the response, at most limit bytes in all, until
 * deadline. Returns the bytes read, 0 at the end of the stream, or -1
 * with errno set. */
static ssize_t receive(struct exchange *x, size_t limit, long long deadline)
{
	char buffer[4096];
	size_t room = limit - x->received.len;
	ssize_t got;

	got = net_read(&x->conn, buffer, room < sizeof(buffer) ? room
		       : sizeof(buffer), deadline);
	if (got > 0)
		strbuf_append(&x->received, buffer, (size_t)got);
	return got;
}

static enum https_status read_head(struct exchange *x)
{
	for (;;) {
		const char *problem;
		enum http_parse_result result;
		ssize_t got;

		result = http_response_parse(x->received.data,
					     x->received.len, &x->response,
					     &problem);
		if (result == HTTP_PARSE_DONE)
			return HTTPS_DELIVERED;
		if (result == HTTP_PARSE_INVALID) {
			strbuf_reset(x->reason);
			strbuf_printf(x->reason, "invalid HTTP response from "
				      "%s: %s", x->peer->data, problem);
			return HTTPS_TEMPORARY;
		}
		got = receive(x, HTTP_HEAD_MAX, x->deadline);
		if (got <= 0)
			return io_error(x, "receiving the response",
					got == 0 ? 0 : errno);
	}
}

/* Append up to HTTPS_BODY_EXCERPT bytes of the body to the reason, on
 * one line of printable ASCII. */
static void add_body_excerpt(struct exchange *x)
{
	size_t limit = x->response.head_len + HTTPS_BODY_EXCERPT;
	long long deadline = net_deadline(HTTPS_EXCERPT_WAIT);
	bool space = true;
	size_t i;

	if (deadline > x->deadline)
		deadline = x->deadline;
	while (x->received.len < limit && receive(x, limit, deadline) > 0)
		continue;
	if (x->received.len <= x->response.head_len)
		return;

	strbuf_puts(x->reason, ": ");
	for (i = x->response.head_len; i < x->received.len && i < limit; i++) {
		unsigned char c = (unsigned char)x->received.data[i];
		bool blank = c == ' ' || c == '\t' || c == '\r' || c == '\n';

		if (blank && !space)
			strbuf_putc(x->reason, ' ');
		else if (!blank)
			strbuf_putc(x->reason, c > ' ' && c < 0x7f ? (char)c
				    : '?');
		space = blank;
	}
}

static enum https_status judge(struct exchange *x)
{
	const struct http_status *status = &x->response.status;

	strbuf_reset(x->reason);
	if (status->code >= 200 && status->code < 300) {
		strbuf_printf(x->reason, "HTTP/1.%d %d %s", status->minor,
			      status->code, status->reason);
		return HTTPS_DELIVERED;
	}
	strbuf_printf(x->reason, "host %s said: HTTP/1.%d %d %s",
		      x->peer->data, status->minor, status->code,
		      status->reason);
	if (status->code >= 300 && status->code < 400) {
		if (x->response.location[0] != '\0')
			strbuf_printf(x->reason, " (redirect to \"%s\" not "
				      "followed)", x->response.location);
		else
			strbuf_puts(x->reason, " (redirect not followed)");
		return HTTPS_TEMPORARY;
	}
	add_body_excerpt(x);
	return HTTPS_TEMPORARY;
}

static void limit_reason(struct strbuf *reason)
{
	if (reason->len > HTTPS_REASON_MAX) {
		strbuf_truncate(reason, HTTPS_REASON_MAX - 3);
		strbuf_puts(reason, "...");
	}
}

enum https_status https_post(const char *uri,
			     const struct https_settings *settings,
			     const void *body, size_t body_len,
			     struct strbuf *peer, struct strbuf *reason)
{
	struct http_url url;
	struct exchange x;
	struct strbuf error;
	enum https_status status;

	strbuf_reset(peer);
	strbuf_puts(peer, "none");
	strbuf_reset(reason);
	strbuf_init(&error);
	if (http_url_parse(uri, &url, &error) != 0) {
		strbuf_printf(reason, "invalid https: destination: %s",
			      error.data);
		strbuf_free(&error);
		return HTTPS_PERMANENT;
	}
	strbuf_free(&error);

	memset(&x, 0, sizeof(x));
	x.conn.fd = -1;
	x.uri = uri;
	x.url = &url;
	x.settings = settings;
	x.deadline = net_deadline(settings->timeout);
	x.peer = peer;
	x.reason = reason;
	strbuf_init(&x.received);
	status = connect_server(&x);
	if (status == HTTPS_DELIVERED)
		status = send_request(&x, body, body_len);
	if (status == HTTPS_DELIVERED)
		status = read_head(&x);
	if (status == HTTPS_DELIVERED)
		status = judge(&x);
	net_close(&x.conn);
	strbuf_free(&x.received);
	http_url_free(&url);
	limit_reason(reason);
	return status;
}
