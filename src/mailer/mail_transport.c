/*
 * mail_transport: deliver a report to a mailto: destination as an
 * RFC 8460 section 5.3 message, DKIM-signed when a key is configured,
 * by SMTP to relayhost or through sendmail_path when that is set.
 *
 * report_bcc adds a blind copy: one more recipient of the same message
 * (RCPT TO in the same SMTP transaction, or one more argument of the
 * sendmail program). The destination alone decides the outcome; a
 * rejected copy is logged as a warning.
 *
 * A report that cannot become a message (an invalid payload or header
 * value) bounces. A message that cannot be signed is deferred, never
 * sent unsigned, because receivers must ignore unsigned reports.
 */
#include <stdbool.h>
#include <string.h>

#include "config.h"
#include "msg.h"
#include "report_mail.h"
#include "sendmail.h"
#include "smtp.h"
#include "transport.h"

int transport_build_message(const struct delivery *delivery,
			    const char *to_address, struct attempt *attempt,
			    struct strbuf *message)
{
	struct strbuf unsigned_message, message_id_left, error;
	int status = -1;

	strbuf_init(&unsigned_message);
	strbuf_init(&message_id_left);
	strbuf_init(&error);

	/* One Message-ID per attempt, as each attempt is a new message. */
	strbuf_printf(&message_id_left, "%s.%u", attempt->queue_id,
		      attempt->number);
	if (report_mail_build(delivery, to_address, message_id_left.data,
			      attempt->now, &unsigned_message, &error) != 0) {
		attempt_set(attempt, ATTEMPT_BOUNCED, "cannot build the "
			    "message: %s", error.data);
		goto done;
	}
	if (attempt->keys->dkim == NULL) {
		strbuf_append(message, unsigned_message.data,
			      unsigned_message.len);
		status = 0;
		goto done;
	}
	if (dkim_sign(attempt->keys->dkim, unsigned_message.data,
		      unsigned_message.len, attempt->now, message,
		      &error) != 0) {
		attempt_set(attempt, ATTEMPT_DEFERRED, "cannot sign the "
			    "message with DKIM: %s", error.data);
		goto done;
	}
	strbuf_append(message, unsigned_message.data, unsigned_message.len);
	status = 0;

done:
	strbuf_free(&unsigned_message);
	strbuf_free(&message_id_left);
	strbuf_free(&error);
	return status;
}

static void warn_bcc(const struct attempt *attempt, const char *bcc,
		     const char *error)
{
	msg_warn("%s: the report_bcc copy to <%s> was not accepted: %s",
		 attempt->queue_id, bcc, error);
}

/* Store the envelope sender in sender; on an invalid setting, which only
 * a reload can bring, defer the attempt and return -1. */
static int envelope_sender(struct attempt *attempt, struct strbuf *sender)
{
	const char *value = config_str("report_envelope_sender");
	struct strbuf error;

	strbuf_init(&error);
	if (report_mail_envelope_sender(value, sender, &error) != 0) {
		attempt_set(attempt, ATTEMPT_DEFERRED, "invalid "
			    "report_envelope_sender \"%s\": %s; fix it in "
			    "main.cf", value, error.data);
		strbuf_free(&error);
		return -1;
	}
	strbuf_free(&error);
	return 0;
}

static void send_by_sendmail(const char *address, const char *bcc,
			     const struct strbuf *message,
			     struct attempt *attempt)
{
	enum sendmail_status status;

	struct strbuf sender;

	strbuf_reset(&attempt->relay);
	strbuf_puts(&attempt->relay, "sendmail");
	strbuf_init(&sender);
	if (envelope_sender(attempt, &sender) != 0) {
		strbuf_free(&sender);
		return;
	}
	status = sendmail_send(config_str("sendmail_path"), sender.data,
			       address, bcc, message->data, message->len,
			       config_time("smtp_timeout"), &attempt->reason);
	strbuf_free(&sender);
	attempt->status = status == SENDMAIL_SENT ? ATTEMPT_SENT
		: status == SENDMAIL_PERMANENT ? ATTEMPT_BOUNCED
		: ATTEMPT_DEFERRED;
}

static void settings_from_config(const struct attempt *attempt,
				 struct smtp_settings *settings)
{
	memset(settings, 0, sizeof(*settings));
	settings->helo_name = config_str("smtp_helo_name");
	settings->connect_timeout = config_time("smtp_connect_timeout");
	settings->timeout = config_time("smtp_timeout");
	settings->tls_context = attempt->keys->smtp_tls;
	settings->sasl_username = config_str("smtp_sasl_username");
	settings->sasl_password = attempt->keys->sasl_password;
	settings->queue_id = attempt->queue_id;
}

static void send_by_smtp(const char *address, const char *bcc,
			 const struct strbuf *message, struct attempt *attempt)
{
	const char *level = config_str("smtp_tls_security_level");
	struct smtp_settings settings;
	struct smtp_envelope envelope;
	struct smtp_outcome outcome;
	struct relayhost relay;
	struct strbuf error, bcc_error, sender;
	enum smtp_status status;

	settings_from_config(attempt, &settings);
	if (smtp_tls_level_parse(level, &settings.tls_level) != 0) {
		attempt_set(attempt, ATTEMPT_DEFERRED, "invalid "
			    "smtp_tls_security_level \"%s\"; use none, may or "
			    "encrypt", level);
		return;
	}
	if (settings.sasl_username[0] != '\0'
	    && settings.sasl_password == NULL) {
		attempt_set(attempt, ATTEMPT_DEFERRED, "smtp_sasl_username "
			    "was set after the mailer started, and the "
			    "password is only read at start; restart the "
			    "mailer");
		return;
	}
	strbuf_init(&sender);
	if (envelope_sender(attempt, &sender) != 0) {
		strbuf_free(&sender);
		return;
	}
	strbuf_init(&error);
	if (relayhost_parse(config_str("relayhost"), &relay, &error) != 0) {
		attempt_set(attempt, ATTEMPT_DEFERRED, "%s; fix relayhost in "
			    "main.cf", error.data);
		strbuf_free(&error);
		strbuf_free(&sender);
		return;
	}
	strbuf_free(&error);

	envelope.sender = sender.data;
	envelope.recipient = address;
	envelope.bcc = bcc;
	strbuf_init(&bcc_error);
	outcome.peer = &attempt->relay;
	outcome.reason = &attempt->reason;
	outcome.bcc_error = &bcc_error;
	status = smtp_send(&relay, &settings, &envelope, message->data,
			   message->len, &outcome);
	if (status == SMTP_DELIVERED && bcc_error.len > 0)
		warn_bcc(attempt, bcc, bcc_error.data);
	relayhost_free(&relay);
	strbuf_free(&bcc_error);
	strbuf_free(&sender);
	attempt->status = status == SMTP_DELIVERED ? ATTEMPT_SENT
		: status == SMTP_PERMANENT ? ATTEMPT_BOUNCED
		: ATTEMPT_DEFERRED;
}

/* Return report_bcc, or "" when it is not set or not valid. At start an
 * invalid value is fatal, so only a reload can bring one here. */
static const char *bcc_address(const struct attempt *attempt)
{
	const char *bcc = config_str("report_bcc");
	struct strbuf uri, address, error;
	bool valid;

	if (bcc[0] == '\0')
		return bcc;
	strbuf_init(&uri);
	strbuf_init(&address);
	strbuf_init(&error);
	strbuf_printf(&uri, "mailto:%s", bcc);
	valid = report_mail_address(uri.data, &address, &error) == 0;
	if (!valid)
		msg_warn("%s: invalid report_bcc: %s; sending no copy",
			 attempt->queue_id, error.data);
	strbuf_free(&uri);
	strbuf_free(&address);
	strbuf_free(&error);
	return valid ? bcc : "";
}

void transport_mailto(const struct delivery *delivery, const char *uri,
		      struct attempt *attempt)
{
	const char *bcc = bcc_address(attempt);
	struct strbuf address, message, error;

	strbuf_init(&address);
	strbuf_init(&message);
	strbuf_init(&error);
	if (report_mail_address(uri, &address, &error) != 0) {
		attempt_set(attempt, ATTEMPT_BOUNCED, "invalid mailto: "
			    "destination: %s", error.data);
		goto done;
	}
	if (transport_build_message(delivery, address.data, attempt,
				    &message) != 0)
		goto done;
	if (config_str("sendmail_path")[0] != '\0')
		send_by_sendmail(address.data, bcc, &message, attempt);
	else
		send_by_smtp(address.data, bcc, &message, attempt);

done:
	strbuf_free(&address);
	strbuf_free(&message);
	strbuf_free(&error);
}
