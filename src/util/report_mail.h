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
 * than 78 characters. Headers are folded at spaces. A file name too long
 * for one line is split into RFC 2231 parameter continuations
 * (filename*0, filename*1, ...). The exception is a single word longer
 * than a line, such as a report-id with a very long domain: it stays on
 * a line of its own, within the 998 characters RFC 5322 requires.
 *
 * Values from the delivery file and main.cf are checked before they go
 * into a header: domains must be domain names, the report-id and the
 * addresses dot-atom@dot-atom, the rest printable ASCII.
 *
 * The text part is made from the report itself: the payload is
 * decompressed (at most REPORT_MAIL_JSON_MAX bytes) and parsed, so the
 * text always matches the attachment.
 */
#ifndef TLSRPTD_REPORT_MAIL_H
#define TLSRPTD_REPORT_MAIL_H

#include <time.h>

#include "delivery_file.h"
#include "strbuf.h"

#define REPORT_MAIL_JSON_MAX	(64 * 1024 * 1024)

/*
 * Append the message for delivery to out, addressed to to_address (an
 * addr-spec). message_id_left makes the Message-ID unique per message;
 * now is the Date. Returns -1 with a reason in error if the payload is
 * not a valid report.
 */
int report_mail_build(const struct delivery *delivery, const char *to_address,
		      const char *message_id_left, time_t now,
		      struct strbuf *out, struct strbuf *error);

/*
 * Store the address of a mailto: URI in address. The URI must be in the
 * canonical form of tlsrpt_record.h, "mailto:" and one decoded addr-spec
 * without hfields, so nothing is decoded here. Returns -1 with a reason in
 * error unless the address is dot-atom@dot-atom. NOTE: quoted local parts
 * ("john doe"@example.com) are valid RFC 5322 but rejected here.
 */
int report_mail_address(const char *uri, struct strbuf *address,
			struct strbuf *error);

/*
 * Store in address the envelope sender (MAIL FROM) that value, a
 * report_envelope_sender setting, names. That is the value itself, or
 * the address between the angle brackets of "Display Name <address>",
 * because report_sender may take that form. An empty value names the
 * null sender. Returns -1 with a reason in error unless the address is
 * dot-atom@dot-atom.
 */
int report_mail_envelope_sender(const char *value, struct strbuf *address,
				struct strbuf *error);

/*
 * Store in address the To address for a message that is written to a
 * file instead of being mailed: the first valid mailto: address in the
 * delivery's rua list, or postmaster@<report domain> if it has none.
 */
void report_mail_preview_to(const struct delivery *delivery,
			    struct strbuf *address);

#endif
