/*
 * mail_transport: deliver a report to a mailto: destination as an
 * RFC 8460 section 5.3 message, by SMTP to relayhost.
 *
 * Settings that this version cannot honour defer the delivery instead of
 * being ignored: smtp_tls_security_level = encrypt (no STARTTLS yet) and
 * smtp_sasl_username (no AUTH yet). Sending in plain text to a relay
 * that the admin wants encrypted, or without the credentials it
 * expects, would be worse than waiting for the admin to fix the
 * setting.
 */
#include <string.h>

#include "config.h"
#include "report_mail.h"
#include "smtp.h"
#include "transport.h"

/* Returns 0 when the configuration allows a plain SMTP session. */
static int check_session_settings(struct attempt *attempt)
{
	const char *level = config_str("smtp_tls_security_level");

	if (strcmp(level, "encrypt") == 0) {
		attempt_set(attempt, ATTEMPT_DEFERRED,
			    "smtp_tls_security_level = encrypt, but STARTTLS "
			    "is not implemented in this version; set it to "
			    "may or none");
		return -1;
	}
	if (strcmp(level, "may") != 0 && strcmp(level, "none") != 0) {
		attempt_set(attempt, ATTEMPT_DEFERRED,
			    "invalid smtp_tls_security_level \"%s\"; use "
			    "none, may or encrypt", level);
		return -1;
	}
	if (config_str("smtp_sasl_username")[0] != '\0') {
		attempt_set(attempt, ATTEMPT_DEFERRED,
			    "smtp_sasl_username is set, but SMTP AUTH is not "
			    "implemented in this version; clear it or use a "
			    "relay that needs no AUTH");
		return -1;
	}
	return 0;
}

static void send_message(const char *address, const struct strbuf *message,
			 struct attempt *attempt)
{
	struct smtp_settings settings;
	struct smtp_relay relay;
	struct strbuf error;
	enum smtp_status status;

	strbuf_init(&error);
	if (smtp_relay_parse(config_str("relayhost"), &relay, &error) != 0) {
		attempt_set(attempt, ATTEMPT_DEFERRED, "%s; fix relayhost in "
			    "main.cf", error.data);
		strbuf_free(&error);
		return;
	}
	strbuf_free(&error);

	settings.helo_name = config_str("smtp_helo_name");
	settings.connect_timeout = config_time("smtp_connect_timeout");
	settings.timeout = config_time("smtp_timeout");
	status = smtp_send(&relay, &settings,
			   config_str("report_envelope_sender"), address,
			   message->data, message->len, &attempt->relay,
			   &attempt->reason);
	smtp_relay_free(&relay);
	attempt->status = status == SMTP_DELIVERED ? ATTEMPT_SENT
		: status == SMTP_PERMANENT ? ATTEMPT_BOUNCED
		: ATTEMPT_DEFERRED;
}

void transport_mailto(const struct delivery *delivery, const char *uri,
		      struct attempt *attempt)
{
	struct strbuf address, message, error, message_id_left;

	if (check_session_settings(attempt) != 0)
		return;
	strbuf_init(&address);
	strbuf_init(&message);
	strbuf_init(&error);
	strbuf_init(&message_id_left);
	if (report_mail_address(uri, &address, &error) != 0) {
		attempt_set(attempt, ATTEMPT_BOUNCED, "invalid mailto: "
			    "destination: %s", error.data);
		goto done;
	}

	/* One Message-ID per attempt, as each attempt is a new message. */
	strbuf_printf(&message_id_left, "%s.%u", attempt->queue_id,
		      attempt->number);
	if (report_mail_build(delivery, address.data, message_id_left.data,
			      attempt->now, &message, &error) != 0) {
		attempt_set(attempt, ATTEMPT_BOUNCED, "cannot build the "
			    "message: %s", error.data);
		goto done;
	}
	send_message(address.data, &message, attempt);

done:
	strbuf_free(&address);
	strbuf_free(&message);
	strbuf_free(&error);
	strbuf_free(&message_id_left);
}
