/*
 * report_mail: the RFC 8460 section 5.3 message for one report delivery.
 *
 * Headers: Date, From (report_sender), To, Subject "Report Domain: D
 * Submitter: S Report-ID: <id>", Message-ID, MIME-Version,
 * Auto-Submitted: auto-generated, TLS-Report-Domain, TLS-Report-Submitter,
 * TLS-Required: No; body multipart/report; report-type="tlsrpt" with a
 * text/plain part (domain, period, session and failure counts per policy)
 * and the application/tlsrpt+gzip part in base64 with name and filename.
 * Lines end in CRLF, the message is 7-bit clean and no line is longer
 * than 78 characters.
 *
 * The text part is made from the report itself: the payload is
 * decompressed (bounded) and parsed, so the text always matches the
 * attachment.
 */
#ifndef TLSRPTD_REPORT_MAIL_H
#define TLSRPTD_REPORT_MAIL_H

#include <time.h>

#include "delivery_file.h"
#include "strbuf.h"

/*
 * Append the message for delivery to out, addressed to to_address (an
 * addr-spec). message_id_left makes the Message-ID unique per message;
 * now is the Date. Returns -1 with a reason in error if the payload is
 * not a valid report.
 */
int report_mail_build(const struct delivery *delivery, const char *to_address,
		      const char *message_id_left, time_t now,
		      struct strbuf *out, struct strbuf *error);

#endif
