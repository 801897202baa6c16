/*
 * smtp: a small SMTP client (RFC 5321) that hands one message to the
 * relay host, for one recipient and optionally a blind copy.
 *
 * The session reads the greeting and sends EHLO (HELO when the server
 * replies to EHLO with 5xx), then STARTTLS and EHLO again (see below),
 * and AUTH when a user name is set. MAIL FROM, RCPT TO for the recipient
 * and then the copy, DATA with dot-stuffing and QUIT follow. Multi-line replies are read whole and
 * checked by smtp_reply.c. smtp_connect_timeout bounds each connection
 * attempt; smtp_timeout bounds each reply and each wait while sending.
 *
 * TLS, as Postfix's smtp_tls_security_level: "none" never uses
 * STARTTLS; "may" uses it when the server offers it, and when the
 * handshake fails, delivers once more in plain text on a new connection,
 * because reports must reach their destination despite TLS problems;
 * "encrypt" requires STARTTLS and defers the delivery without it. No
 * level verifies the server's certificate. Data that the server sends
 * after its reply to STARTTLS is a protocol error, so that no command
 * can be injected in plain text into the encrypted session.
 *
 * AUTH PLAIN or LOGIN (RFC 4954), PLAIN when both are offered, is only
 * sent over TLS. Every AUTH problem defers the delivery: it is a
 * configuration matter that the admin can fix, and the reports wait.
 * The password never appears in a reason or a log line.
 *
 * Outcome: SMTP_DELIVERED when the server accepted the message; a 5xx
 * reply is SMTP_PERMANENT, except to STARTTLS and AUTH; a 4xx reply, any
 * other unexpected reply, a protocol error, a timeout or a network
 * error is SMTP_TEMPORARY. The reason is written the way Postfix logs
 * it, e.g. "host 127.0.0.1[127.0.0.1] said: 450 4.2.0 Try later (in
 * reply to RCPT TO command)"; on success it is the server's final
 * reply. A rejected blind copy does not change the outcome; its reason
 * goes to bcc_error.
 */
#ifndef TLSRPTD_SMTP_H
#define TLSRPTD_SMTP_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "relayhost.h"
#include "strbuf.h"

enum smtp_tls_level {
	SMTP_TLS_NONE,
	SMTP_TLS_MAY,
	SMTP_TLS_ENCRYPT,
};

/* Parse "none", "may" or "encrypt". Returns 0, or -1. */
int smtp_tls_level_parse(const char *text, enum smtp_tls_level *level);

struct smtp_settings {
	const char *helo_name;
	long long connect_timeout;	/* seconds */
	long long timeout;		/* seconds */
	enum smtp_tls_level tls_level;
	SSL_CTX *tls_context;		/* required unless SMTP_TLS_NONE */
	const char *sasl_username;	/* NULL or "": no AUTH */
	const char *sasl_password;
	const char *queue_id;		/* for the session's log lines */
};

struct smtp_envelope {
	const char *sender;	/* "" for the null sender */
	const char *recipient;
	const char *bcc;	/* NULL or "": no copy */
};

enum smtp_status {
	SMTP_DELIVERED,
	SMTP_TEMPORARY,
	SMTP_PERMANENT,
};

/* Outputs of smtp_send(): the server "host[address]:port" or "none"
 * when no connection was made, the reply or the error, and the reason
 * a blind copy was rejected ("" when it was not). */
struct smtp_outcome {
	struct strbuf *peer;
	struct strbuf *reason;
	struct strbuf *bcc_error;
};

/* Send message (CRLF line ends) to the recipients of envelope. */
enum smtp_status smtp_send(const struct relayhost *relay,
			   const struct smtp_settings *settings,
			   const struct smtp_envelope *envelope,
			   const char *message, size_t message_len,
			   const struct smtp_outcome *outcome);

/* Append message to out as the DATA content: CRLF line ends, a '.'
 * doubled at the start of each line (RFC 5321 section 4.5.2), and the
 * final ".". */
void smtp_dot_stuff(const char *message, size_t len, struct strbuf *out);

#endif
