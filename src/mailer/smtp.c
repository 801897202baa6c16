/*
 * smtp: relayhost parsing and the SMTP client session (see smtp.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net.h"
#include "smtp.h"
#include "xalloc.h"

#define SMTP_DEFAULT_PORT	"25"
#define SMTP_LINE_MAX		2048	/* RFC 5321 needs only 512 */
#define SMTP_REPLY_MAX		65536	/* all lines of one reply */
#define SMTP_REASON_MAX		1000	/* reason kept for log and file */
#define SMTP_QUIT_TIMEOUT	10	/* seconds to wait for the QUIT reply */

static bool valid_host(const char *host, bool bracketed)
{
	size_t i;

	if (host[0] == '\0')
		return false;
	for (i = 0; host[i] != '\0'; i++) {
		unsigned char c = (unsigned char)host[i];

		/* A colon only appears in a bracketed IPv6 address. */
		if (!isalnum(c) && c != '.' && c != '-' && c != '_'
		    && !(bracketed && c == ':'))
			return false;
	}
	return true;
}

static bool valid_port(const char *port)
{
	size_t i;

	if (port[0] == '\0')
		return false;
	for (i = 0; port[i] != '\0'; i++) {
		if (!isalnum((unsigned char)port[i]) && port[i] != '-')
			return false;
	}
	return true;
}

/*
 * Parse relayhost in Postfix syntax. Brackets mean "no MX lookup", and
 * a bracketed IPv6 address may carry Postfix's "ipv6:" prefix.
 */
int smtp_relay_parse(const char *text, struct smtp_relay *relay,
		     struct strbuf *error)
{
	const char *host = text;
	const char *port = SMTP_DEFAULT_PORT;
	size_t host_len;

	memset(relay, 0, sizeof(*relay));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			strbuf_printf(error, "invalid relayhost \"%s\": expected "
				      "[host] or [host]:port", text);
			return -1;
		}
		host = text + 1;
		host_len = (size_t)(close - host);
		if (close[1] == ':')
			port = close + 2;
		if (host_len > 5 && strncasecmp(host, "ipv6:", 5) == 0) {
			host += 5;
			host_len -= 5;
		}
		relay->no_mx = true;
	} else {
		const char *colon = strchr(text, ':');

		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			strbuf_printf(error, "invalid relayhost \"%s\": put an "
				      "IPv6 address in brackets, as in "
				      "[2001:db8::1]:25", text);
			return -1;
		}
		host_len = colon != NULL ? (size_t)(colon - text)
			: strlen(text);
		if (colon != NULL)
			port = colon + 1;
	}
	relay->host = xstrndup(host, host_len);
	relay->port = xstrdup(port);
	if (!valid_host(relay->host, relay->no_mx)
	    || !valid_port(relay->port)) {
		strbuf_printf(error, "invalid relayhost \"%s\": expected "
			      "[host]:port, [host], host:port or host", text);
		smtp_relay_free(relay);
		return -1;
	}
	return 0;
}

void smtp_relay_free(struct smtp_relay *relay)
{
	free(relay->host);
	free(relay->port);
	relay->host = relay->port = NULL;
}

/* One client session. */
struct session {
	struct net_conn conn;
	const struct smtp_settings *settings;
	struct strbuf *peer;
	struct strbuf *reason;
	bool broken;		/* the connection can no longer be used */
	char buffer[4096];	/* bytes received but not yet parsed */
	size_t start;
	size_t end;
	struct strbuf line;
	struct strbuf reply;	/* the last reply, lines joined by spaces */
	int code;		/* the code of the last reply */
};

/* Record a network failure while doing activity. err 0 means that the
 * server closed the connection. */
static enum smtp_status io_error(struct session *s, const char *activity,
				 int err)
{
	strbuf_reset(s->reason);
	if (err == 0)
		strbuf_printf(s->reason, "lost connection with %s while %s",
			      s->peer->data, activity);
	else if (err == ETIMEDOUT)
		strbuf_printf(s->reason, "conversation with %s timed out "
			      "while %s", s->peer->data, activity);
	else
		strbuf_printf(s->reason, "error talking to %s while %s: %s",
			      s->peer->data, activity, strerror(err));
	s->broken = true;
	return SMTP_TEMPORARY;
}

static enum smtp_status protocol_error(struct session *s, const char *what,
				       const char *activity)
{
	strbuf_reset(s->reason);
	strbuf_printf(s->reason, "protocol error with %s while %s: %s",
		      s->peer->data, activity, what);
	s->broken = true;
	return SMTP_TEMPORARY;
}

/* Read one line without its CRLF into s->line. Returns 0, or -1 with
 * errno set (0 for end of file, EMSGSIZE for an overlong line). */
static int read_line(struct session *s, long long deadline)
{
	strbuf_reset(&s->line);
	for (;;) {
		char *newline = memchr(s->buffer + s->start, '\n',
				       s->end - s->start);
		size_t take = newline != NULL
			? (size_t)(newline - (s->buffer + s->start))
			: s->end - s->start;
		ssize_t got;

		strbuf_append(&s->line, s->buffer + s->start, take);
		s->start += take;
		if (s->line.len > SMTP_LINE_MAX) {
			errno = EMSGSIZE;
			return -1;
		}
		if (newline != NULL) {
			s->start++;
			if (s->line.len > 0
			    && s->line.data[s->line.len - 1] == '\r')
				strbuf_truncate(&s->line, s->line.len - 1);
			return 0;
		}
		s->start = s->end = 0;
		got = net_read(&s->conn, s->buffer, sizeof(s->buffer),
			       deadline);
		if (got <= 0) {
			if (got == 0)
				errno = 0;
			return -1;
		}
		s->end = (size_t)got;
	}
}

/* A reply line starts with a code from 200 to 599, then ' ', '-' or
 * nothing. Returns the code, or -1. */
static int line_code(const char *line, size_t len)
{
	if (len < 3 || line[0] < '2' || line[0] > '5'
	    || !isdigit((unsigned char)line[1])
	    || !isdigit((unsigned char)line[2]))
		return -1;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return -1;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/* Read a whole reply into s->reply and s->code. Returns 0, or -1 with
 * the reason set. */
static int read_reply(struct session *s, const char *activity,
		      long long timeout)
{
	long long deadline = net_deadline(timeout);

	strbuf_reset(&s->reply);
	s->code = -1;
	for (;;) {
		int code;

		if (read_line(s, deadline) != 0) {
			if (errno == EMSGSIZE)
				protocol_error(s, "reply line too long",
					       activity);
			else
				io_error(s, activity, errno);
			return -1;
		}
		code = line_code(s->line.data, s->line.len);
		if (code < 0 || (s->code >= 0 && code != s->code)) {
			protocol_error(s, "malformed reply", activity);
			return -1;
		}
		s->code = code;
		if (s->reply.len > 0)
			strbuf_putc(&s->reply, ' ');
		strbuf_append(&s->reply, s->line.data, s->line.len);
		if (s->reply.len > SMTP_REPLY_MAX) {
			protocol_error(s, "reply too long", activity);
			return -1;
		}
		if (s->line.len == 3 || s->line.data[3] == ' ')
			return 0;
	}
}

/* Send one command line and read the reply. Returns 0, or -1 with the
 * reason set. */
static int command(struct session *s, const char *name, const char *format,
		   ...) __attribute__((format(printf, 3, 4)));

static int command(struct session *s, const char *name, const char *format,
		   ...)
{
	struct strbuf text, activity;
	va_list ap;
	int status = -1;

	strbuf_init(&text);
	strbuf_init(&activity);
	va_start(ap, format);
	strbuf_vprintf(&text, format, ap);
	va_end(ap);
	strbuf_puts(&text, "\r\n");

	strbuf_printf(&activity, "sending %s", name);
	if (net_write(&s->conn, text.data, text.len, s->settings->timeout)
	    != 0) {
		io_error(s, activity.data, errno);
		goto done;
	}
	strbuf_reset(&activity);
	strbuf_printf(&activity, "receiving the reply to %s", name);
	status = read_reply(s, activity.data, s->settings->timeout);

done:
	strbuf_free(&text);
	strbuf_free(&activity);
	return status;
}

/* Turn an unwanted reply into the outcome: 5xx is permanent. */
static enum smtp_status reply_error(struct session *s, const char *context)
{
	strbuf_reset(s->reason);
	strbuf_printf(s->reason, "host %s said: %s (%s)", s->peer->data,
		      s->reply.data, context);
	return s->code >= 500 ? SMTP_PERMANENT : SMTP_TEMPORARY;
}

static bool reply_is(const struct session *s, int hundreds)
{
	return s->code / 100 == hundreds;
}

/* Copy the message with CRLF line ends, a '.' doubled at the start of
 * each line (RFC 5321 section 4.5.2), and the final ".". */
static void dot_stuff(const char *message, size_t len, struct strbuf *out)
{
	bool line_start = true;
	size_t i;

	strbuf_reserve(out, len + len / 32 + 8);
	for (i = 0; i < len; i++) {
		char c = message[i];

		if (line_start && c == '.')
			strbuf_putc(out, '.');
		if (c == '\n' && (i == 0 || message[i - 1] != '\r'))
			strbuf_putc(out, '\r');
		strbuf_putc(out, c);
		line_start = c == '\n';
	}
	if (!line_start)
		strbuf_puts(out, "\r\n");
	strbuf_puts(out, ".\r\n");
}

static enum smtp_status send_data(struct session *s, const char *message,
				  size_t message_len)
{
	struct strbuf body;
	int status;

	if (command(s, "DATA", "DATA") != 0)
		return SMTP_TEMPORARY;
	if (s->code != 354)
		return reply_error(s, "in reply to DATA command");

	strbuf_init(&body);
	dot_stuff(message, message_len, &body);
	status = net_write(&s->conn, body.data, body.len, s->settings->timeout);
	strbuf_free(&body);
	if (status != 0)
		return io_error(s, "sending the message", errno);
	if (read_reply(s, "receiving the reply to the end of data",
		       s->settings->timeout) != 0)
		return SMTP_TEMPORARY;
	if (!reply_is(s, 2))
		return reply_error(s, "in reply to end of DATA command");
	strbuf_reset(s->reason);
	strbuf_append(s->reason, s->reply.data, s->reply.len);
	return SMTP_DELIVERED;
}

static enum smtp_status converse(struct session *s, const char *sender,
				 const char *recipient, const char *message,
				 size_t message_len)
{
	if (read_reply(s, "receiving the initial server greeting",
		       s->settings->timeout) != 0)
		return SMTP_TEMPORARY;
	if (s->code != 220)
		return reply_error(s, "in reply to the initial greeting");

	if (command(s, "EHLO", "EHLO %s", s->settings->helo_name) != 0)
		return SMTP_TEMPORARY;
	if (reply_is(s, 5)
	    && command(s, "HELO", "HELO %s", s->settings->helo_name) != 0)
		return SMTP_TEMPORARY;
	if (!reply_is(s, 2))
		return reply_error(s, "in reply to EHLO/HELO command");

	/* TODO: STARTTLS (when the EHLO reply offers it and
	 * smtp_tls_security_level is may or encrypt) and then AUTH (when
	 * smtp_sasl_username is set) go here, before MAIL FROM. */

	if (command(s, "MAIL FROM", "MAIL FROM:<%s>", sender) != 0)
		return SMTP_TEMPORARY;
	if (!reply_is(s, 2))
		return reply_error(s, "in reply to MAIL FROM command");
	if (command(s, "RCPT TO", "RCPT TO:<%s>", recipient) != 0)
		return SMTP_TEMPORARY;
	if (!reply_is(s, 2))
		return reply_error(s, "in reply to RCPT TO command");
	return send_data(s, message, message_len);
}

/* Say goodbye politely. The outcome of QUIT changes nothing. */
static void quit(struct session *s)
{
	static const char line[] = "QUIT\r\n";
	struct strbuf saved;

	if (s->broken)
		return;
	strbuf_init(&saved);
	strbuf_append(&saved, s->reason->data, s->reason->len);
	if (net_write(&s->conn, line, sizeof(line) - 1, SMTP_QUIT_TIMEOUT) == 0)
		read_reply(s, "receiving the reply to QUIT", SMTP_QUIT_TIMEOUT);
	strbuf_reset(s->reason);
	strbuf_append(s->reason, saved.data, saved.len);
	strbuf_free(&saved);
}

/* An address goes between angle brackets in a command line: printable
 * ASCII without spaces or brackets. */
static bool valid_path(const char *address)
{
	size_t i;

	for (i = 0; address[i] != '\0'; i++) {
		unsigned char c = (unsigned char)address[i];

		if (c <= ' ' || c >= 0x7f || c == '<' || c == '>')
			return false;
	}
	return true;
}

static void limit_reason(struct strbuf *reason)
{
	if (reason->len > SMTP_REASON_MAX) {
		strbuf_truncate(reason, SMTP_REASON_MAX - 3);
		strbuf_puts(reason, "...");
	}
}

enum smtp_status smtp_send(const struct smtp_relay *relay,
			   const struct smtp_settings *settings,
			   const char *sender, const char *recipient,
			   const char *message, size_t message_len,
			   struct strbuf *peer, struct strbuf *reason)
{
	struct session s;
	enum smtp_status status;

	strbuf_reset(peer);
	strbuf_puts(peer, "none");
	strbuf_reset(reason);
	if (!valid_path(sender)) {
		strbuf_printf(reason, "invalid envelope sender \"%s\"; fix "
			      "report_envelope_sender", sender);
		return SMTP_TEMPORARY;
	}
	if (recipient[0] == '\0' || !valid_path(recipient)) {
		strbuf_printf(reason, "invalid recipient \"%s\"", recipient);
		return SMTP_PERMANENT;
	}

	/* NOTE: relay->no_mx makes no difference yet: the relay host is
	 * always resolved to its A and AAAA records, never to MX records. */
	memset(&s, 0, sizeof(s));
	s.settings = settings;
	s.peer = peer;
	s.reason = reason;
	if (net_connect(relay->host, relay->port, settings->connect_timeout,
			&s.conn, peer, reason) != 0) {
		strbuf_reset(peer);
		strbuf_puts(peer, "none");
		return SMTP_TEMPORARY;
	}
	strbuf_init(&s.line);
	strbuf_init(&s.reply);
	status = converse(&s, sender, recipient, message, message_len);
	quit(&s);
	net_close(&s.conn);
	strbuf_free(&s.line);
	strbuf_free(&s.reply);
	limit_reason(reason);
	return status;
}
