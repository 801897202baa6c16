/*
 * smtp: a small SMTP client (RFC 5321) that hands one message for one
 * recipient to the relay host.
 *
 * The session: read the greeting, EHLO (HELO when the server replies to
 * EHLO with 5xx), MAIL FROM, RCPT TO, DATA with dot-stuffing, QUIT.
 * Multi-line replies are read whole and checked: every line must carry
 * the same three-digit code. smtp_connect_timeout bounds each connection
 * attempt; smtp_timeout bounds each reply and each wait while sending.
 *
 * Outcome: SMTP_DELIVERED when the server accepted the message; a 5xx
 * reply is SMTP_PERMANENT; a 4xx reply, any other unexpected reply, a
 * protocol error, a timeout or a network error is SMTP_TEMPORARY. The
 * reason is written the way Postfix logs it, e.g. "host
 * 127.0.0.1[127.0.0.1] said: 450 4.2.0 Try later (in reply to RCPT TO
 * command)"; on success it is the server's final reply.
 *
 * Limits: the message is sent in plain text; STARTTLS and AUTH are not
 * implemented in this version (the TODO in smtp.c marks where they go).
 */
#ifndef TLSRPTD_SMTP_H
#define TLSRPTD_SMTP_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/* A relayhost value: "[host]:port", "[host]", "host:port" or "host". */
struct smtp_relay {
	char *host;		/* name or address, brackets removed */
	char *port;		/* number or service name */
	bool no_mx;		/* written in brackets */
};

int smtp_relay_parse(const char *text, struct smtp_relay *relay,
		     struct strbuf *error);
void smtp_relay_free(struct smtp_relay *relay);

struct smtp_settings {
	const char *helo_name;
	long long connect_timeout;	/* seconds */
	long long timeout;		/* seconds */
};

enum smtp_status {
	SMTP_DELIVERED,
	SMTP_TEMPORARY,
	SMTP_PERMANENT,
};

/*
 * Send message (CRLF line ends) from sender ("" for the null sender) to
 * recipient. peer receives "host[address]:port" of the server, or
 * "none" when no connection was made. reason receives the reply or the
 * error.
 */
enum smtp_status smtp_send(const struct smtp_relay *relay,
			   const struct smtp_settings *settings,
			   const char *sender, const char *recipient,
			   const char *message, size_t message_len,
			   struct strbuf *peer, struct strbuf *reason);

#endif
