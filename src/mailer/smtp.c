/*
 * smtp: the SMTP client session (see smtp.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "msg.h"
#include "net.h"
#include "smtp.h"
#include "smtp_reply.h"
#include "xalloc.h"

#define SMTP_REASON_MAX		1000	/* reason kept for log and file */
#define SMTP_QUIT_TIMEOUT	10	/* seconds to wait for the QUIT reply */

int smtp_tls_level_parse(const char *text, enum smtp_tls_level *level)
{
	if (strcmp(text, "none") == 0)
		*level = SMTP_TLS_NONE;
	else if (strcmp(text, "may") == 0)
		*level = SMTP_TLS_MAY;
	else if (strcmp(text, "encrypt") == 0)
		*level = SMTP_TLS_ENCRYPT;
	else
		return -1;
	return 0;
}

/* One client session: one connection to the relay. */
struct session {
	struct net_conn conn;
	const struct relayhost *relay;
	const struct smtp_settings *settings;
	const struct smtp_outcome *outcome;
	bool try_tls;		/* STARTTLS allowed in this session */
	bool tls_failed;	/* the TLS handshake failed */
	bool broken;		/* the connection can no longer be used */
	enum smtp_status status;	/* valid once a step failed */
	char buffer[4096];	/* bytes received but not yet parsed */
	size_t start;
	size_t end;
	struct strbuf line;
	struct smtp_reply reply;
	struct smtp_extensions ext;
};

static const char *peer_of(const struct session *s)
{
	return s->outcome->peer->data;
}

static const char *log_id(const struct session *s)
{
	return s->settings->queue_id != NULL ? s->settings->queue_id : "smtp";
}

/* End the session with status and a printf-style reason. Returns -1. */
static int fail(struct session *s, enum smtp_status status,
		const char *format, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct session *s, enum smtp_status status,
		const char *format, ...)
{
	va_list ap;

	strbuf_reset(s->outcome->reason);
	va_start(ap, format);
	strbuf_vprintf(s->outcome->reason, format, ap);
	va_end(ap);
	s->status = status;
	return -1;
}

/* Record a network failure while doing activity. err 0 means that the
 * server closed the connection. Returns -1. */
static int io_error(struct session *s, const char *activity, int err)
{
	s->broken = true;
	if (err == 0)
		return fail(s, SMTP_TEMPORARY, "lost connection with %s while "
			    "%s", peer_of(s), activity);
	if (err == ETIMEDOUT)
		return fail(s, SMTP_TEMPORARY, "conversation with %s timed out "
			    "while %s", peer_of(s), activity);
	return fail(s, SMTP_TEMPORARY, "error talking to %s while %s: %s",
		    peer_of(s), activity, net_error_text(&s->conn, err));
}

static int protocol_error(struct session *s, const char *problem,
			  const char *activity)
{
	s->broken = true;
	return fail(s, SMTP_TEMPORARY, "protocol error with %s while %s: %s",
		    peer_of(s), activity, problem);
}

/* Turn an unwanted reply into the outcome: 5xx is permanent. */
static int reply_error(struct session *s, const char *context)
{
	return fail(s, s->reply.code >= 500 ? SMTP_PERMANENT : SMTP_TEMPORARY,
		    "host %s said: %s (%s)", peer_of(s), s->reply.text.data,
		    context);
}

static int expect(struct session *s, int hundreds, const char *context)
{
	if (s->reply.code / 100 == hundreds)
		return 0;
	return reply_error(s, context);
}

/* Read one line without its line end into s->line. Returns 0, or -1
 * with errno set (0 for end of file, EMSGSIZE for an overlong line). */
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
		if (s->line.len > SMTP_REPLY_LINE_MAX) {
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

/* Read a whole reply into s->reply. Returns 0, or -1 with the reason
 * set. */
static int read_reply(struct session *s, const char *activity,
		      long long timeout)
{
	long long deadline = net_deadline(timeout);

	smtp_reply_reset(&s->reply);
	for (;;) {
		enum smtp_reply_state state;
		const char *problem;

		if (read_line(s, deadline) != 0) {
			if (errno == EMSGSIZE)
				return protocol_error(s, "reply line too long",
						      activity);
			return io_error(s, activity, errno);
		}
		state = smtp_reply_add(&s->reply, s->line.data, s->line.len,
				       &problem);
		if (state == SMTP_REPLY_INVALID)
			return protocol_error(s, problem, activity);
		if (state == SMTP_REPLY_DONE)
			return 0;
	}
}

/* Send text, a command line without its CRLF, and read the reply. name
 * stands for the command in messages, so a line that carries a secret
 * never reaches one. Returns 0, or -1 with the reason set. */
static int send_line(struct session *s, const char *name, struct strbuf *text)
{
	char activity[64];

	strbuf_puts(text, "\r\n");
	snprintf(activity, sizeof(activity), "sending %s", name);
	if (net_write(&s->conn, text->data, text->len, s->settings->timeout)
	    != 0)
		return io_error(s, activity, errno);
	snprintf(activity, sizeof(activity), "receiving the reply to %s",
		 name);
	return read_reply(s, activity, s->settings->timeout);
}

static int command(struct session *s, const char *name, const char *format,
		   ...) __attribute__((format(printf, 3, 4)));

static int command(struct session *s, const char *name, const char *format,
		   ...)
{
	struct strbuf text;
	va_list ap;
	int status;

	strbuf_init(&text);
	va_start(ap, format);
	strbuf_vprintf(&text, format, ap);
	va_end(ap);
	status = send_line(s, name, &text);
	strbuf_free(&text);
	return status;
}

/* Send a command line that carries a credential, and wipe it after. */
static int secret_command(struct session *s, const char *prefix,
			  const void *secret, size_t secret_len)
{
	struct strbuf text;
	int status;

	strbuf_init(&text);
	strbuf_reserve(&text, strlen(prefix) + secret_len / 3 * 4 + 16);
	strbuf_puts(&text, prefix);
	base64_encode_lines(secret, secret_len, secret_len / 3 * 4 + 4, "",
			    &text);
	status = send_line(s, "AUTH", &text);
	OPENSSL_cleanse(text.data, text.cap);
	strbuf_free(&text);
	return status;
}

static int hello(struct session *s)
{
	const char *name = s->settings->helo_name;

	memset(&s->ext, 0, sizeof(s->ext));
	if (command(s, "EHLO", "EHLO %s", name) != 0)
		return -1;
	if (s->reply.code / 100 == 5) {
		if (command(s, "HELO", "HELO %s", name) != 0)
			return -1;
		return expect(s, 2, "in reply to HELO command");
	}
	if (expect(s, 2, "in reply to EHLO command") != 0)
		return -1;
	smtp_reply_extensions(&s->reply, &s->ext);
	return 0;
}

static bool is_address(const char *host)
{
	unsigned char address[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, address) == 1
		|| inet_pton(AF_INET6, host, address) == 1;
}

/* Run the handshake after the server's 220 reply to STARTTLS, then
 * EHLO again, as the session starts over (RFC 3207 section 4.2). */
static int handshake(struct session *s)
{
	struct net_tls_options options;
	struct strbuf error, description;

	if (s->start != s->end)
		return protocol_error(s, "data after the reply to STARTTLS",
				      "starting TLS");
	options.host = s->relay->host;
	options.host_is_ip = is_address(s->relay->host);
	options.verify = false;
	strbuf_init(&error);
	if (net_tls_start(&s->conn, s->settings->tls_context, &options,
			  net_deadline(s->settings->timeout), &error) != 0) {
		s->tls_failed = true;
		s->broken = true;
		fail(s, SMTP_TEMPORARY, "TLS handshake with %s failed: %s",
		     peer_of(s), error.data);
		strbuf_free(&error);
		return -1;
	}
	strbuf_free(&error);

	strbuf_init(&description);
	net_tls_describe(&s->conn, &description);
	msg_info("%s: Untrusted TLS connection established to %s: %s",
		 log_id(s), peer_of(s), description.data);
	strbuf_free(&description);
	return hello(s);
}

static int start_tls(struct session *s)
{
	bool required = s->settings->tls_level == SMTP_TLS_ENCRYPT;

	if (s->settings->tls_level == SMTP_TLS_NONE || !s->try_tls)
		return 0;
	if (!s->ext.starttls) {
		if (!required)
			return 0;
		return fail(s, SMTP_TEMPORARY, "TLS is required "
			    "(smtp_tls_security_level = encrypt), but host %s "
			    "did not offer STARTTLS", peer_of(s));
	}
	if (command(s, "STARTTLS", "STARTTLS") != 0)
		return -1;
	if (s->reply.code == 220)
		return handshake(s);
	if (required)
		return fail(s, SMTP_TEMPORARY, "TLS is required "
			    "(smtp_tls_security_level = encrypt), but host %s "
			    "said: %s (in reply to STARTTLS command)",
			    peer_of(s), s->reply.text.data);

	/* The server stays in the state before STARTTLS (RFC 3207). */
	msg_info("%s: host %s refused STARTTLS: %s; continuing without TLS",
		 log_id(s), peer_of(s), s->reply.text.data);
	return 0;
}

static int auth_failed(struct session *s)
{
	return fail(s, SMTP_TEMPORARY, "SASL authentication failed: host %s "
		    "said: %s (in reply to AUTH command); check "
		    "smtp_sasl_username and smtp_sasl_password_file",
		    peer_of(s), s->reply.text.data);
}

/* AUTH PLAIN with the initial response "\0user\0password" (RFC 4616). */
static int auth_plain(struct session *s)
{
	const char *user = s->settings->sasl_username;
	const char *password = s->settings->sasl_password;
	struct strbuf response;
	int status;

	strbuf_init(&response);
	strbuf_putc(&response, '\0');
	strbuf_puts(&response, user);
	strbuf_putc(&response, '\0');
	strbuf_puts(&response, password);
	status = secret_command(s, "AUTH PLAIN ", response.data, response.len);
	OPENSSL_cleanse(response.data, response.cap);
	strbuf_free(&response);
	if (status != 0)
		return -1;
	return s->reply.code == 235 ? 0 : auth_failed(s);
}

/* AUTH LOGIN: the user name and the password, each after a 334 reply. */
static int auth_login(struct session *s)
{
	const char *user = s->settings->sasl_username;
	const char *password = s->settings->sasl_password;

	if (command(s, "AUTH", "AUTH LOGIN") != 0)
		return -1;
	if (s->reply.code != 334)
		return auth_failed(s);
	if (secret_command(s, "", user, strlen(user)) != 0)
		return -1;
	if (s->reply.code != 334)
		return auth_failed(s);
	if (secret_command(s, "", password, strlen(password)) != 0)
		return -1;
	return s->reply.code == 235 ? 0 : auth_failed(s);
}

static int authenticate(struct session *s)
{
	const char *user = s->settings->sasl_username;

	if (user == NULL || user[0] == '\0')
		return 0;
	if (s->conn.ssl == NULL)
		return fail(s, SMTP_TEMPORARY, "smtp_sasl_username is set, but "
			    "the session with %s is not encrypted, and AUTH is "
			    "only sent over TLS; enable STARTTLS on the relay "
			    "or check smtp_tls_security_level", peer_of(s));
	if (s->ext.auth_plain)
		return auth_plain(s);
	if (s->ext.auth_login)
		return auth_login(s);
	return fail(s, SMTP_TEMPORARY, "smtp_sasl_username is set, but host "
		    "%s offers neither AUTH PLAIN nor AUTH LOGIN", peer_of(s));
}

void smtp_dot_stuff(const char *message, size_t len, struct strbuf *out)
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

static int send_data(struct session *s, const char *message,
		     size_t message_len)
{
	struct strbuf body;
	int status;

	if (command(s, "DATA", "DATA") != 0)
		return -1;
	if (s->reply.code != 354)
		return reply_error(s, "in reply to DATA command");

	strbuf_init(&body);
	smtp_dot_stuff(message, message_len, &body);
	status = net_write(&s->conn, body.data, body.len, s->settings->timeout);
	strbuf_free(&body);
	if (status != 0)
		return io_error(s, "sending the message", errno);
	if (read_reply(s, "receiving the reply to the end of data",
		       s->settings->timeout) != 0)
		return -1;
	if (expect(s, 2, "in reply to end of DATA command") != 0)
		return -1;
	s->status = SMTP_DELIVERED;
	strbuf_reset(s->outcome->reason);
	strbuf_append(s->outcome->reason, s->reply.text.data,
		      s->reply.text.len);
	return 0;
}

/* Ask for the blind copy. Its rejection is noted and the message still
 * goes to the recipient. */
static int add_bcc(struct session *s, const char *bcc)
{
	if (command(s, "RCPT TO", "RCPT TO:<%s>", bcc) != 0)
		return -1;
	if (s->reply.code / 100 != 2)
		strbuf_printf(s->outcome->bcc_error, "host %s said: %s (in "
			      "reply to RCPT TO command)", peer_of(s),
			      s->reply.text.data);
	return 0;
}

static int transaction(struct session *s, const struct smtp_envelope *envelope,
		       const char *message, size_t message_len)
{
	if (command(s, "MAIL FROM", "MAIL FROM:<%s>", envelope->sender) != 0
	    || expect(s, 2, "in reply to MAIL FROM command") != 0)
		return -1;
	if (command(s, "RCPT TO", "RCPT TO:<%s>", envelope->recipient) != 0
	    || expect(s, 2, "in reply to RCPT TO command") != 0)
		return -1;
	if (envelope->bcc != NULL && envelope->bcc[0] != '\0'
	    && add_bcc(s, envelope->bcc) != 0)
		return -1;
	return send_data(s, message, message_len);
}

static int converse(struct session *s, const struct smtp_envelope *envelope,
		    const char *message, size_t message_len)
{
	if (read_reply(s, "receiving the initial server greeting",
		       s->settings->timeout) != 0)
		return -1;
	if (s->reply.code != 220)
		return reply_error(s, "in reply to the initial greeting");
	if (hello(s) != 0 || start_tls(s) != 0 || authenticate(s) != 0)
		return -1;
	return transaction(s, envelope, message, message_len);
}

/* Say goodbye politely. The outcome of QUIT changes nothing. */
static void quit(struct session *s)
{
	static const char line[] = "QUIT\r\n";
	struct strbuf saved;

	if (s->broken)
		return;
	strbuf_init(&saved);
	strbuf_append(&saved, s->outcome->reason->data,
		      s->outcome->reason->len);
	if (net_write(&s->conn, line, sizeof(line) - 1, SMTP_QUIT_TIMEOUT) == 0)
		read_reply(s, "receiving the reply to QUIT", SMTP_QUIT_TIMEOUT);
	strbuf_reset(s->outcome->reason);
	strbuf_append(s->outcome->reason, saved.data, saved.len);
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

/* One connection: connect, converse, quit. *tls_failed is set when the
 * TLS handshake failed. */
static enum smtp_status run_session(const struct relayhost *relay,
				    const struct smtp_settings *settings,
				    const struct smtp_envelope *envelope,
				    const char *message, size_t message_len,
				    const struct smtp_outcome *outcome,
				    bool try_tls, bool *tls_failed)
{
	struct session s;

	memset(&s, 0, sizeof(s));
	s.relay = relay;
	s.settings = settings;
	s.outcome = outcome;
	s.try_tls = try_tls;
	s.status = SMTP_TEMPORARY;
	strbuf_reset(outcome->bcc_error);

	/* NOTE: relay->no_mx makes no difference yet: the relay host is
	 * always resolved to its A and AAAA records, never to MX records.
	 * The administrator sets relayhost, so no address is filtered. */
	if (net_connect(relay->host, relay->port, NULL,
			settings->connect_timeout, &s.conn, outcome->peer,
			outcome->reason) != 0) {
		strbuf_reset(outcome->peer);
		strbuf_puts(outcome->peer, "none");
		*tls_failed = false;
		return SMTP_TEMPORARY;
	}
	strbuf_init(&s.line);
	smtp_reply_init(&s.reply);
	converse(&s, envelope, message, message_len);
	quit(&s);
	net_close(&s.conn);
	strbuf_free(&s.line);
	smtp_reply_free(&s.reply);
	*tls_failed = s.tls_failed;
	return s.status;
}

enum smtp_status smtp_send(const struct relayhost *relay,
			   const struct smtp_settings *settings,
			   const struct smtp_envelope *envelope,
			   const char *message, size_t message_len,
			   const struct smtp_outcome *outcome)
{
	enum smtp_status status;
	bool tls_failed;

	strbuf_reset(outcome->peer);
	strbuf_puts(outcome->peer, "none");
	strbuf_reset(outcome->reason);
	strbuf_reset(outcome->bcc_error);
	if (!valid_path(envelope->sender)) {
		strbuf_printf(outcome->reason, "invalid envelope sender \"%s\"; "
			      "fix report_envelope_sender", envelope->sender);
		return SMTP_TEMPORARY;
	}
	if (envelope->recipient[0] == '\0' || !valid_path(envelope->recipient)) {
		strbuf_printf(outcome->reason, "invalid recipient \"%s\"",
			      envelope->recipient);
		return SMTP_PERMANENT;
	}
	if (envelope->bcc != NULL && !valid_path(envelope->bcc)) {
		strbuf_printf(outcome->reason, "invalid report_bcc address "
			      "\"%s\"", envelope->bcc);
		return SMTP_TEMPORARY;
	}

	status = run_session(relay, settings, envelope, message, message_len,
			     outcome, true, &tls_failed);
	if (status != SMTP_DELIVERED && tls_failed
	    && settings->tls_level == SMTP_TLS_MAY) {
		msg_warn("%s: %s; delivering again without TLS, as "
			 "smtp_tls_security_level = may allows",
			 settings->queue_id != NULL ? settings->queue_id
			 : "smtp", outcome->reason->data);
		status = run_session(relay, settings, envelope, message,
				     message_len, outcome, false, &tls_failed);
	}
	limit_reason(outcome->reason);
	return status;
}
